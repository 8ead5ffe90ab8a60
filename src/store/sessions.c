/* The session data model: C side of the Lua scripts in scripts.c. Each operation is one
 * EVAL; the reply is decoded into a struct bo1_sessions_result for the caller. */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "bo1/clock.h"
#include "bo1/sessions.h"
#include "bo1/sha256.h"
#include "bo1/store.h"
#include "scripts.h"

#define MAX_ARGS 24

typedef void decode_fn(const redisReply *r, struct bo1_sessions_result *res);

struct op {
    bo1_sessions_cb *cb;
    void *arg;
    decode_fn *decode;
    char *owner; /* get: the caller, compared with the session's owner */
};

/* Serialise and release @j. Returns: malloc'd text, or NULL. */
static char *dump_new(json_t *j)
{
    char *text = j ? json_dumps(j, JSON_COMPACT) : NULL;

    json_decref(j);
    return text;
}

struct argv {
    int n;
    const char *v[MAX_ARGS];
    char own[MAX_ARGS][128]; /* storage for formatted arguments */
};

static void arg_add(struct argv *a, const char *s)
{
    if (a->n < MAX_ARGS)
        a->v[a->n++] = s;
}

static void arg_fmt(struct argv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void arg_fmt(struct argv *a, const char *fmt, ...)
{
    va_list ap;

    if (a->n >= MAX_ARGS)
        return;
    va_start(ap, fmt);
    vsnprintf(a->own[a->n], sizeof(a->own[0]), fmt, ap);
    va_end(ap);
    a->v[a->n] = a->own[a->n];
    a->n++;
}

static const char *elem_str(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    if (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS)
        return r->str;
    return NULL;
}

/* Codes shared by every script. Returns 1 when the code was an error it handled. */
static int decode_common(const redisReply *r, struct bo1_sessions_result *res)
{
    const char *code = elem_str(r, 0);

    if (!code) {
        res->st = BO1_INTERNAL;
        res->detail = "unexpected reply from Redis";
        return 1;
    }
    if (strcmp(code, "NOT_FOUND") == 0) {
        res->st = BO1_NOT_FOUND;
        res->detail = "no such session";
    } else if (strcmp(code, "WRONG_STATE") == 0) {
        res->st = BO1_WRONG_STATE;
        res->detail = elem_str(r, 1);
    } else if (strcmp(code, "RATE_LIMITED") == 0) {
        const char *ms = elem_str(r, 1);
        res->st = BO1_RATE_LIMITED;
        res->retry_after_ms = ms ? atoll(ms) : 1000;
        res->detail = "rate limit exceeded for this API key";
    } else if (strcmp(code, "TOO_MANY_ACTIVE") == 0) {
        res->st = BO1_RATE_LIMITED;
        res->retry_after_ms = 5000;
        res->detail = "too many sessions queued or running for this API key";
    } else if (strcmp(code, "IDEMPOTENCY_MISMATCH") == 0) {
        res->st = BO1_IDEMPOTENCY_MISMATCH;
        res->detail = "this Idempotency-Key was used with a different request body";
    } else if (strcmp(code, "LOST_LEASE") == 0) {
        res->st = BO1_WRONG_STATE;
        res->detail = "lease lost";
    } else {
        return 0;
    }
    return 1;
}

/* A session document from (doc, status, updated-ms), with status and updated_at merged. */
static json_t *doc_merge(const char *doc, const char *status, const char *updated)
{
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    char iso[40];

    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    if (status)
        json_object_set_new(j, "status", json_string(status));
    if (updated) {
        bo1_clock_iso(atoll(updated), iso);
        json_object_set_new(j, "updated_at", json_string(iso));
    }
    return j;
}

static void decode_doc(const redisReply *r, struct bo1_sessions_result *res)
{
    const char *code = elem_str(r, 0);

    if (decode_common(r, res))
        return;
    if (strcmp(code, "DELETED") == 0) {
        res->st = BO1_OK;
        res->detail = elem_str(r, 2);
        return;
    }
    res->replayed = strcmp(code, "REPLAY") == 0;
    res->result = doc_merge(elem_str(r, 1), elem_str(r, 2), elem_str(r, 3));
    res->st = res->result ? BO1_OK : BO1_INTERNAL;
}

static void decode_ok(const redisReply *r, struct bo1_sessions_result *res)
{
    if (decode_common(r, res))
        return;
    res->st = BO1_OK;
    res->detail = elem_str(r, 2);
}

static void decode_events(const redisReply *r, struct bo1_sessions_result *res)
{
    json_t *events;
    const char *last = NULL;

    if (decode_common(r, res))
        return;
    events = json_array();
    for (size_t i = 1; i + 1 < r->elements; i += 2) {
        const char *id = elem_str(r, i);
        const char *e = elem_str(r, i + 1);
        json_t *ev = e ? json_loads(e, 0, NULL) : NULL;
        if (!id || !json_is_object(ev)) {
            json_decref(ev);
            continue;
        }
        json_object_set_new(ev, "id", json_string(id));
        json_array_append_new(events, ev);
        last = id;
    }
    res->result = json_pack("{s:o, s:s?}", "events", events, "last_id", last);
    res->st = res->result ? BO1_OK : BO1_NO_MEMORY;
}

/* Milliseconds as text ('' or NULL = none) to an ISO 8601 string, or JSON null. */
static json_t *iso_or_null(const char *ms)
{
    char iso[40];

    if (!ms || !*ms)
        return json_null();
    bo1_clock_iso(atoll(ms), iso);
    return json_string(iso);
}

/* One list item: a summary, not the document (the ledger and the transcript stay out).
 * The fields come from the session hash; a session stored before the hash had them
 * carries its document instead, and they are taken from there. */
static json_t *summary(const redisReply *r, size_t i)
{
    const char *id = elem_str(r, i);
    const char *finished = elem_str(r, i + 4);
    const char *phase = elem_str(r, i + 5);
    const char *stmt = elem_str(r, i + 6);
    const char *cost = elem_str(r, i + 7);
    const char *doc_text = elem_str(r, i + 8);
    json_t *doc = doc_text && *doc_text ? json_loads(doc_text, 0, NULL) : NULL;
    char excerpt[BO1_SESSIONS_EXCERPT_BYTES];
    char cost_buf[40];
    char fin_buf[32];
    json_t *s;
    json_t *fin;

    if (!id)
        return NULL;
    if (doc) {
        json_t *fs = json_object_get(doc, "finished_at");
        phase = json_string_value(json_object_get(doc, "phase"));
        bo1_sessions_excerpt(
            json_string_value(json_object_get(json_object_get(doc, "problem"), "statement")),
            excerpt);
        stmt = excerpt;
        if (json_is_number(json_object_get(json_object_get(doc, "costs"), "total_usd"))) {
            snprintf(
                cost_buf, sizeof(cost_buf), "%.17g",
                json_number_value(json_object_get(json_object_get(doc, "costs"), "total_usd")));
            cost = cost_buf;
        }
        if ((!finished || !*finished) && json_is_number(fs)) {
            snprintf(fin_buf, sizeof(fin_buf), "%lld", (long long)(json_number_value(fs) * 1000.0));
            finished = fin_buf;
        }
    }
    fin = iso_or_null(finished);
    s = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:f}", "id", id, "status",
                  elem_str(r, i + 1), "phase", phase && *phase ? phase : "intake", "statement",
                  stmt ? stmt : "", "created_at", iso_or_null(elem_str(r, i + 3)), "updated_at",
                  iso_or_null(elem_str(r, i + 2)), "finished_at", fin, "cost_usd",
                  cost && *cost ? strtod(cost, NULL) : 0.0);
    json_decref(doc);
    return s;
}

static void decode_list(const redisReply *r, struct bo1_sessions_result *res)
{
    json_t *items;
    const char *score = elem_str(r, 1);
    const char *next = elem_str(r, 2);
    char cursor[160] = "";

    if (decode_common(r, res))
        return;
    items = json_array();
    for (size_t i = 3; i + 8 < r->elements; i += 9) {
        json_t *s = summary(r, i);
        if (s)
            json_array_append_new(items, s);
    }
    if (score && *score && next && *next)
        snprintf(cursor, sizeof(cursor), "%s.%s", score, next);
    res->result = json_pack("{s:o}", "items", items);
    if (res->result)
        json_object_set_new(res->result, "next_cursor",
                            cursor[0] ? json_string(cursor) : json_null());
    res->st = res->result ? BO1_OK : BO1_NO_MEMORY;
}

static void on_script_reply(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct op *op = arg;
    struct bo1_sessions_result res = {.st = st};

    if (st == BO1_OK)
        op->decode(reply, &res);
    else if (st == BO1_IO_ERROR) {
        res.st = BO1_INTERNAL;
        res.detail = reply && reply->str ? reply->str : "Redis error";
    } else {
        res.detail = "the session store is unavailable";
    }
    op->cb(&res, op->arg);
    json_decref(res.result);
    free(op);
}

static enum bo1_status eval(struct bo1_store *store, const char *script, struct argv *keys,
                            struct argv *args, decode_fn *decode, bo1_sessions_cb *cb, void *arg)
{
    const char *v[2 + 2 * MAX_ARGS + 1];
    char nkeys[16];
    int n = 0;
    struct op *op;
    enum bo1_status st;

    snprintf(nkeys, sizeof(nkeys), "%d", keys->n);
    v[n++] = "EVAL";
    v[n++] = script;
    v[n++] = nkeys;
    for (int i = 0; i < keys->n; i++)
        v[n++] = keys->v[i];
    for (int i = 0; i < args->n; i++)
        v[n++] = args->v[i];
    op = calloc(1, sizeof(*op));
    if (!op)
        return BO1_NO_MEMORY;
    op->cb = cb;
    op->arg = arg;
    op->decode = decode;
    st = bo1_store_command_argv(store, on_script_reply, op, n, v, NULL);
    if (st != BO1_OK)
        free(op);
    return st;
}

static const char *rate_class_name(enum bo1_rate_class cls)
{
    return cls == BO1_RATE_CREATE ? "create" : cls == BO1_RATE_CONTROL ? "control" : "read";
}

enum bo1_status bo1_sessions_create(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                    const char *owner, const char *id, json_t *doc, int start,
                                    const char *idem_key, const char *body_hash,
                                    bo1_sessions_cb *cb, void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};
    char *doc_text = NULL;
    char *ev_created = NULL;
    char *ev_queued = NULL;
    char iso[40];
    char idem_hash[65];
    char excerpt[BO1_SESSIONS_EXCERPT_BYTES];
    int64_t now = bo1_clock_wall_ms();
    enum bo1_status st = BO1_NO_MEMORY;

    bo1_clock_iso(now, iso);
    json_object_set_new(doc, "created_at", json_string(iso));
    doc_text = json_dumps(doc, JSON_COMPACT);
    ev_created = dump_new(json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "session.status",
                                    "session_id", id, "ts", iso, "data", "status", "created"));
    ev_queued =
        dump_new(json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "session.status", "session_id",
                           id, "ts", iso, "data", "status", "queued", "previous", "created"));
    if (!doc_text || !ev_created || !ev_queued)
        goto out;

    arg_fmt(&keys, "bo1:{%s}:session", id);
    arg_fmt(&keys, "bo1:{%s}:events", id);
    arg_fmt(&keys, "bo1:owner:%s:sessions", owner);
    arg_add(&keys, "bo1:jobs");
    /* The key is hashed: two Idempotency-Keys sharing a long prefix must not collide. */
    bo1_sha256_hex(idem_key ? idem_key : "-", strlen(idem_key ? idem_key : "-"), idem_hash);
    arg_fmt(&keys, "bo1:idem:%s:%s", owner, idem_hash);
    arg_fmt(&keys, "bo1:rl:%s:create", owner);
    arg_fmt(&keys, "bo1:owner:%s:active", owner);

    arg_add(&args, id);
    arg_add(&args, owner);
    arg_add(&args, doc_text);
    arg_add(&args, body_hash ? body_hash : "");
    arg_fmt(&args, "%lld", (long long)now);
    arg_add(&args, start ? "1" : "0");
    arg_fmt(&args, "%u", lim->create_per_window);
    arg_fmt(&args, "%u", lim->window_ms);
    arg_fmt(&args, "%u", lim->max_active);
    bo1_sessions_excerpt(
        json_string_value(json_object_get(json_object_get(doc, "problem"), "statement")), excerpt);
    arg_add(&args, excerpt);
    arg_add(&args, "86400");
    arg_add(&args, idem_key ? "1" : "0");
    arg_fmt(&args, "%u", lim->events_max);
    arg_add(&args, ev_created);
    arg_add(&args, ev_queued);
    arg_fmt(&args, "%u", lim->unstarted_ttl_s ? lim->unstarted_ttl_s : 604800);
    st = eval(store, bo1_lua_create, &keys, &args, decode_doc, cb, arg);
out:
    json_decref(doc);
    free(doc_text);
    free(ev_created);
    free(ev_queued);
    return st;
}

enum bo1_status bo1_sessions_rate(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                  const char *owner, enum bo1_rate_class cls, bo1_sessions_cb *cb,
                                  void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};

    arg_fmt(&keys, "bo1:rl:%s:%s", owner, rate_class_name(cls));
    arg_fmt(&args, "%u",
            cls == BO1_RATE_CREATE    ? lim->create_per_window
            : cls == BO1_RATE_CONTROL ? lim->control_per_window
                                      : lim->reads_per_window);
    arg_fmt(&args, "%u", lim->window_ms);
    return eval(store, bo1_lua_rate, &keys, &args, decode_ok, cb, arg);
}

static void on_hmget(enum bo1_status st, const redisReply *r, void *arg)
{
    struct op *op = arg;
    struct bo1_sessions_result res = {.st = st};
    const char *owner = elem_str(r, 3);
    const char *want = op->owner;

    if (st == BO1_OK) {
        if (!elem_str(r, 0) || !owner || strcmp(owner, want) != 0) {
            res.st = BO1_NOT_FOUND;
            res.detail = "no such session";
        } else {
            res.result = doc_merge(elem_str(r, 0), elem_str(r, 1), elem_str(r, 2));
            res.st = res.result ? BO1_OK : BO1_INTERNAL;
        }
    } else if (st == BO1_IO_ERROR) {
        res.st = BO1_INTERNAL;
    }
    op->cb(&res, op->arg);
    json_decref(res.result);
    free(op->owner);
    free(op);
}

enum bo1_status bo1_sessions_get(struct bo1_store *store, const char *owner, const char *id,
                                 bo1_sessions_cb *cb, void *arg)
{
    struct op *op = calloc(1, sizeof(*op));
    char *want = strdup(owner);
    char key[128];
    enum bo1_status st;

    if (!op || !want) {
        free(op);
        free(want);
        return BO1_NO_MEMORY;
    }
    op->cb = cb;
    op->arg = arg;
    op->owner = want;
    snprintf(key, sizeof(key), "bo1:{%s}:session", id);
    st = bo1_store_command(store, on_hmget, op, "HMGET %s doc status updated owner", key);
    if (st != BO1_OK) {
        free(want);
        free(op);
    }
    return st;
}

enum bo1_status bo1_sessions_list(struct bo1_store *store, const char *owner, const char *status,
                                  const char *cursor, unsigned limit, bo1_sessions_cb *cb,
                                  void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};
    const char *dot = cursor ? strchr(cursor, '.') : NULL;

    arg_fmt(&keys, "bo1:owner:%s:sessions", owner);
    if (dot) {
        arg_fmt(&args, "%.*s", (int)(dot - cursor), cursor);
        arg_add(&args, dot + 1);
    } else {
        arg_add(&args, "+inf");
        arg_add(&args, "");
    }
    arg_fmt(&args, "%u", limit);
    arg_add(&args, status ? status : "");
    return eval(store, bo1_lua_list, &keys, &args, decode_list, cb, arg);
}

enum bo1_status bo1_sessions_control(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                     const char *owner, const char *id, const char *action,
                                     bo1_sessions_cb *cb, void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};
    char iso[40];
    int64_t now = bo1_clock_wall_ms();

    bo1_clock_iso(now, iso);
    arg_fmt(&keys, "bo1:{%s}:session", id);
    arg_fmt(&keys, "bo1:{%s}:events", id);
    arg_add(&keys, "bo1:jobs");
    arg_fmt(&keys, "bo1:owner:%s:active", owner);
    arg_fmt(&keys, "bo1:rl:%s:control", owner);
    arg_fmt(&keys, "bo1:{%s}:lease", id);
    arg_fmt(&keys, "bo1:{%s}:inbox", id);
    arg_fmt(&keys, "bo1:owner:%s:sessions", owner);
    arg_fmt(&keys, "bo1:{%s}:report", id);
    arg_add(&args, id);
    arg_add(&args, owner);
    arg_add(&args, action);
    arg_fmt(&args, "%lld", (long long)now);
    arg_fmt(&args, "%u", lim->control_per_window);
    arg_fmt(&args, "%u", lim->window_ms);
    arg_fmt(&args, "%u", lim->max_active);
    arg_fmt(&args, "%u", lim->events_max);
    arg_fmt(&args, "%u", lim->ttl_s);
    arg_add(&args, iso);
    return eval(store, bo1_lua_control, &keys, &args, decode_doc, cb, arg);
}

enum bo1_status bo1_sessions_input(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                   const char *owner, const char *id, const char *kind,
                                   json_t *payload, bo1_sessions_cb *cb, void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};
    char iso[40];
    int64_t now = bo1_clock_wall_ms();
    char *text = NULL;
    char *ev = NULL;
    enum bo1_status st = BO1_NO_MEMORY;

    bo1_clock_iso(now, iso);
    json_object_set_new(payload, "kind", json_string(kind));
    json_object_set_new(payload, "ts", json_string(iso));
    text = json_dumps(payload, JSON_COMPACT);
    ev =
        dump_new(json_pack("{s:s, s:s, s:s, s:O}", "type",
                           strcmp(kind, "answers") == 0 ? "clarification.answered" : "interjection",
                           "session_id", id, "ts", iso, "data", payload));
    if (!text || !ev)
        goto out;
    arg_fmt(&keys, "bo1:{%s}:session", id);
    arg_fmt(&keys, "bo1:{%s}:events", id);
    arg_fmt(&keys, "bo1:{%s}:inbox", id);
    arg_add(&args, owner);
    arg_add(&args, kind);
    arg_add(&args, text);
    arg_fmt(&args, "%lld", (long long)now);
    arg_add(&args, ev);
    arg_fmt(&args, "%u", lim->events_max);
    arg_add(&args, id);
    st = eval(store, bo1_lua_input, &keys, &args, decode_ok, cb, arg);
out:
    json_decref(payload);
    free(text);
    free(ev);
    return st;
}

enum bo1_status bo1_sessions_events(struct bo1_store *store, const char *owner, const char *id,
                                    const char *after, unsigned limit, bo1_sessions_cb *cb,
                                    void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};

    arg_fmt(&keys, "bo1:{%s}:session", id);
    arg_fmt(&keys, "bo1:{%s}:events", id);
    arg_add(&args, owner);
    arg_add(&args, after && *after ? after : "0");
    arg_fmt(&args, "%u", limit);
    return eval(store, bo1_lua_events, &keys, &args, decode_events, cb, arg);
}

static void decode_artifacts(const redisReply *r, struct bo1_sessions_result *res)
{
    const char *json = elem_str(r, 3);
    const char *md = elem_str(r, 4);

    if (decode_common(r, res))
        return;
    res->result = json_pack("{s:s?, s:o?, s:o?, s:s?}", "status", elem_str(r, 1), "doc",
                            doc_merge(elem_str(r, 2), elem_str(r, 1), NULL), "report_json",
                            json && *json ? json_loads(json, 0, NULL) : NULL, "report_md",
                            md && *md ? md : NULL);
    res->st = res->result ? BO1_OK : BO1_INTERNAL;
}

enum bo1_status bo1_sessions_artifacts(struct bo1_store *store, const char *owner, const char *id,
                                       bo1_sessions_cb *cb, void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};

    arg_fmt(&keys, "bo1:{%s}:session", id);
    arg_fmt(&keys, "bo1:{%s}:report", id);
    arg_add(&args, owner);
    return eval(store, bo1_lua_artifacts, &keys, &args, decode_artifacts, cb, arg);
}

const char *const bo1_sessions_statuses[BO1_SESSIONS_N_STATUSES] = {
    "created", "queued", "running", "awaiting_input", "paused", "completed", "failed", "cancelled"};

/* {status: count} in bo1_sessions_statuses order; a negative counter (sessions that predate
 * the counters and changed status since) reads as 0. */
static void decode_stats(const redisReply *r, struct bo1_sessions_result *res)
{
    json_t *o;

    if (r->type != REDIS_REPLY_ARRAY || r->elements != BO1_SESSIONS_N_STATUSES) {
        res->st = BO1_INTERNAL;
        res->detail = "unexpected reply from the session store";
        return;
    }
    o = json_object();
    for (size_t i = 0; o && i < r->elements; i++) {
        long long n = r->element[i]->type == REDIS_REPLY_INTEGER ? r->element[i]->integer : 0;
        json_object_set_new(o, bo1_sessions_statuses[i], json_integer(n > 0 ? n : 0));
    }
    res->result = o;
    res->st = o ? BO1_OK : BO1_NO_MEMORY;
}

enum bo1_status bo1_sessions_stats(struct bo1_store *store, bo1_sessions_cb *cb, void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};

    arg_add(&keys, "bo1:stats:sessions");
    return eval(store, bo1_lua_stats, &keys, &args, decode_stats, cb, arg);
}

enum bo1_status bo1_sessions_notify_parse(const char *channel, char out[32])
{
    static const char prefix[] = "bo1:{";
    static const char suffix[] = "}:notify";
    size_t len = strlen(channel);
    size_t n;

    if (len < sizeof(prefix) - 1 + sizeof(suffix) - 1 ||
        strncmp(channel, prefix, sizeof(prefix) - 1) != 0 ||
        strcmp(channel + len - (sizeof(suffix) - 1), suffix) != 0)
        return BO1_BAD_FIELD;
    n = len - (sizeof(prefix) - 1) - (sizeof(suffix) - 1);
    if (n == 0 || n >= 32)
        return BO1_BAD_FIELD;
    memcpy(out, channel + sizeof(prefix) - 1, n);
    out[n] = '\0';
    return bo1_sessions_id_valid(out) ? BO1_OK : BO1_BAD_FIELD;
}

void bo1_sessions_excerpt(const char *text, char out[BO1_SESSIONS_EXCERPT_BYTES])
{
    size_t chars = 0;
    size_t n = 0;

    out[0] = '\0';
    if (!text)
        return;
    /* Cut at a character boundary: count lead bytes, stop before the one past the limit. */
    for (; text[n]; n++) {
        if (((unsigned char)text[n] & 0xC0) != 0x80 && chars++ == BO1_SESSIONS_EXCERPT_CHARS)
            break;
    }
    if (!text[n]) {
        memcpy(out, text, n + 1);
        return;
    }
    while (n > 0 && (text[n - 1] == ' ' || text[n - 1] == '\n' || text[n - 1] == '\t'))
        n--;
    memcpy(out, text, n);
    memcpy(out + n, "\xe2\x80\xa6", 4); /* U+2026 HORIZONTAL ELLIPSIS */
}

void bo1_sessions_new_id(char out[32])
{
    static const char alphabet[] =
        "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    unsigned char r[22];

    /* 22 symbols of 6 bits = 132 random bits (>= 122 required). */
    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
        abort(); /* no entropy: never hand out a guessable id */
    for (size_t i = 0; i < sizeof(r); i++)
        out[i] = alphabet[r[i] & 63];
    out[sizeof(r)] = '\0';
}

int bo1_sessions_id_valid(const char *id)
{
    size_t n = 0;

    for (; id[n]; n++) {
        char c = id[n];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return 0;
    }
    return n == 22;
}
