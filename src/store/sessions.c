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

/* The answer of a multi-step operation whose step failed with @st (@r its reply): the
 * script's own refusal when it is one, else an internal error (an error or unexpected
 * reply) or the store being unavailable. */
static void step_failed(enum bo1_status st, const redisReply *r, struct bo1_sessions_result *res)
{
    *res = (struct bo1_sessions_result){.st = st};
    if (st == BO1_OK && decode_common(r, res))
        return;
    if (st == BO1_IO_ERROR || st == BO1_OK) {
        res->st = BO1_INTERNAL;
        res->detail = r && r->str ? r->str : "unexpected reply from Redis";
    } else {
        res->detail = "the session store is unavailable";
    }
}

/* The create document's members the session document keeps, in this order, ahead of the
 * engine state's (a state member of the same name is the engine's own copy: its
 * `created_at` is in seconds, its problem and options are normalised). */
static const char *const doc_base_keys[] = {"id", "problem", "options", "created_at",
                                            "simulated_model"};

/* The session document once the engine has checkpointed: the base members of the create
 * document @doc, then every member of the checkpoint @state not among them, then `status`
 * (@status, or the create document's) and `phase` (the engine state, else "intake").
 * Members are shared with @doc and @state, not copied. Returns a new object or NULL. */
static json_t *doc_from_state(json_t *doc, json_t *state, const char *status)
{
    json_t *out = json_object();
    json_t *phase = json_object_get(state, "state");
    const char *key;
    json_t *v;
    int rc = out ? 0 : -1;
    size_t n = sizeof(doc_base_keys) / sizeof(doc_base_keys[0]);

    for (size_t i = 0; rc == 0 && i < n; i++) {
        v = json_object_get(doc, doc_base_keys[i]);
        rc = json_object_set_new(out, doc_base_keys[i], v ? json_incref(v) : json_null());
    }
    json_object_foreach(state, key, v)
    {
        if (rc == 0 && !json_object_get(out, key) && strcmp(key, "status") != 0 &&
            strcmp(key, "phase") != 0)
            rc = json_object_set(out, key, v);
    }
    if (rc == 0)
        rc = status ? json_object_set_new(out, "status", json_string(status))
                    : json_object_set(out, "status", json_object_get(doc, "status"));
    if (rc == 0)
        rc = json_object_set_new(
            out, "phase", json_is_string(phase) ? json_incref(phase) : json_string("intake"));
    if (rc != 0) {
        json_decref(out);
        return NULL;
    }
    return out;
}

/* A session document from the hash's fields: the create document @doc, the engine
 * checkpoint @ckpt (NULL or "" before the first one), @status and @updated (ms), which are
 * merged as `status` and `updated_at`. The runner stores the engine state once, as the
 * checkpoint; the document is built from it here (store.md). */
static json_t *doc_merge(const char *doc, const char *ckpt, const char *status, const char *updated)
{
    json_t *j = doc ? json_loads(doc, 0, NULL) : NULL;
    char iso[40];

    if (!json_is_object(j)) {
        json_decref(j);
        return NULL;
    }
    if (ckpt && *ckpt) {
        json_t *state = json_loads(ckpt, 0, NULL);
        json_t *merged = json_is_object(state) ? doc_from_state(j, state, status) : NULL;
        json_decref(state);
        json_decref(j);
        if (!merged)
            return NULL;
        j = merged;
    } else if (status) {
        json_object_set_new(j, "status", json_string(status));
    }
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
    res->result = doc_merge(elem_str(r, 1), elem_str(r, 5), elem_str(r, 2), elem_str(r, 3));
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
 * @f: id, status, updated, created, finished, phase, stmt, cost, doc (borrowed strings, ''
 * when absent). The fields come from the session hash; a session stored before the hash
 * had them carries its document instead, and they are taken from there. */
static json_t *summary(const char *const f[9])
{
    const char *id = f[0];
    const char *finished = f[4];
    const char *phase = f[5];
    const char *stmt = f[6];
    const char *cost = f[7];
    const char *doc_text = f[8];
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
    s = json_pack("{s:s, s:s?, s:s, s:s, s:o, s:o, s:o, s:f}", "id", id, "status", f[1], "phase",
                  phase && *phase ? phase : "intake", "statement", stmt ? stmt : "", "created_at",
                  iso_or_null(f[3]), "updated_at", iso_or_null(f[2]), "finished_at", fin,
                  "cost_usd", cost && *cost ? strtod(cost, NULL) : 0.0);
    json_decref(doc);
    return s;
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

/* EVAL @script with @keys and @args; @cb gets the raw reply. */
static enum bo1_status eval_raw(struct bo1_store *store, const char *script,
                                const struct argv *keys, const struct argv *args,
                                bo1_store_reply_cb *cb, void *arg)
{
    const char *v[3 + 2 * MAX_ARGS];
    char nkeys[16];
    int n = 0;

    snprintf(nkeys, sizeof(nkeys), "%d", keys->n);
    v[n++] = "EVAL";
    v[n++] = script;
    v[n++] = nkeys;
    for (int i = 0; i < keys->n; i++)
        v[n++] = keys->v[i];
    for (int i = 0; i < args->n; i++)
        v[n++] = args->v[i];
    return bo1_store_command_argv(store, cb, arg, n, v, NULL);
}

static enum bo1_status eval(struct bo1_store *store, const char *script, struct argv *keys,
                            struct argv *args, decode_fn *decode, bo1_sessions_cb *cb, void *arg)
{
    struct op *op = calloc(1, sizeof(*op));
    enum bo1_status st;

    if (!op)
        return BO1_NO_MEMORY;
    op->cb = cb;
    op->arg = arg;
    op->decode = decode;
    st = eval_raw(store, script, keys, args, on_script_reply, op);
    if (st != BO1_OK)
        free(op);
    return st;
}

static void on_ignored(enum bo1_status st, const redisReply *reply, void *arg)
{
    (void)st;
    (void)reply;
    (void)arg;
}

/* --- key names: one hash tag per session, per owner, for the stats --- */

static void key_owner(struct argv *a, const char *owner, const char *what)
{
    arg_fmt(a, "bo1:{o:%s}:%s", owner, what);
}

static void key_session(struct argv *a, const char *id, const char *what)
{
    arg_fmt(a, "bo1:{%s}:%s", id, what);
}

static void keys_stats(struct argv *a)
{
    arg_add(a, "bo1:{stats}:sessions");
    arg_add(a, "bo1:{stats}:sessions:created");
    arg_add(a, "bo1:{stats}:sessions:completed");
    arg_add(a, "bo1:{stats}:sessions:failed");
    arg_add(a, "bo1:{stats}:sessions:cancelled");
}

static int status_active(const char *st)
{
    return st && (strcmp(st, "queued") == 0 || strcmp(st, "running") == 0 ||
                  strcmp(st, "awaiting_input") == 0);
}

void bo1_sessions_stat_move(struct bo1_store *store, const char *id, const char *old,
                            const char *new_status, unsigned ttl_s)
{
    struct argv keys = {0};
    struct argv args = {0};

    keys_stats(&keys);
    arg_add(&args, id);
    arg_add(&args, old ? old : "");
    arg_add(&args, new_status ? new_status : "");
    arg_fmt(&args, "%u", ttl_s);
    eval_raw(store, bo1_lua_stat_move, &keys, &args, on_ignored, NULL);
}

/* Free @id's active slot; @before_ms > 0: only a slot taken before then (a resume since
 * took a new one); @index: also leave the owner index (delete). Fire and forget. */
static void active_leave(struct bo1_store *store, const char *owner, const char *id,
                         long long before_ms, int index)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_owner(&keys, owner, "active");
    key_owner(&keys, owner, "sessions");
    arg_add(&args, id);
    if (before_ms > 0)
        arg_fmt(&args, "%lld", before_ms);
    else
        arg_add(&args, "");
    arg_add(&args, index ? "1" : "0");
    eval_raw(store, bo1_lua_active_leave, &keys, &args, on_ignored, NULL);
}

void bo1_sessions_active_leave(struct bo1_store *store, const char *owner, const char *id)
{
    active_leave(store, owner, id, 0, 0);
}

static const char *rate_class_name(enum bo1_rate_class cls)
{
    return cls == BO1_RATE_CREATE ? "create" : cls == BO1_RATE_CONTROL ? "control" : "read";
}

/* --- the active cap's lazy repair ---
 *
 * At the cap, the gate answers every member of the owner's active set with the ms its slot
 * was taken. A slot is stale when its session is no longer queued, running or awaiting
 * input (a step that frees slots never ran: a crash, a lost reply), or when the session
 * does not exist and the slot is older than BO1_SESSIONS_STEP_GRACE_MS (a create that died
 * between its steps, or a delete that did). Stale slots are removed only if their score is
 * unchanged (active_prune), then the gate runs once more. */

struct prune {
    struct bo1_store *store;
    void (*done)(void *ctx, int freed);
    void *ctx;
    char owner[64];
    size_t n, pending;
    long long now_ms;
    char **member;
    char **score;
    int *stale;
    int failed;
};

static void prune_free(struct prune *p)
{
    for (size_t i = 0; i < p->n; i++) {
        free(p->member[i]);
        free(p->score[i]);
    }
    free(p->member);
    free(p->score);
    free(p->stale);
    free(p);
}

static void on_pruned(enum bo1_status st, const redisReply *r, void *arg)
{
    struct prune *p = arg;
    const char *n = elem_str(r, 1);

    p->done(p->ctx, st == BO1_OK && n && atoi(n) > 0);
    prune_free(p);
}

struct prune_probe {
    struct prune *p;
    size_t i;
};

static void prune_apply(struct prune *p)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_owner(&keys, p->owner, "active");
    for (size_t i = 0; i < p->n && args.n + 2 <= MAX_ARGS; i++) {
        if (!p->stale[i])
            continue;
        arg_add(&args, p->member[i]);
        arg_add(&args, p->score[i]);
    }
    if (p->failed || args.n == 0 ||
        eval_raw(p->store, bo1_lua_active_prune, &keys, &args, on_pruned, p) != BO1_OK) {
        p->done(p->ctx, 0);
        prune_free(p);
    }
}

static void on_probe(enum bo1_status st, const redisReply *r, void *arg)
{
    struct prune_probe *pp = arg;
    struct prune *p = pp->p;
    size_t i = pp->i;

    free(pp);
    if (st != BO1_OK)
        p->failed = 1;
    else if (r->type == REDIS_REPLY_NIL)
        p->stale[i] = p->now_ms - atoll(p->score[i]) > BO1_SESSIONS_STEP_GRACE_MS;
    else if (r->type == REDIS_REPLY_STRING)
        p->stale[i] = !status_active(r->str);
    if (--p->pending == 0)
        prune_apply(p);
}

/* Check the sessions of a TOO_MANY_ACTIVE answer (member, score, ...) from index 1 of @r,
 * free the stale slots, then @done(@ctx, freed: 1 when a slot was freed). Returns BO1_OK
 * when @done will be called. */
static enum bo1_status prune_start(struct bo1_store *store, const char *owner, const redisReply *r,
                                   void (*done)(void *ctx, int freed), void *ctx)
{
    struct prune *p;
    size_t n = r && r->type == REDIS_REPLY_ARRAY && r->elements > 1 ? (r->elements - 1) / 2 : 0;

    if (n == 0)
        return BO1_NOT_FOUND;
    p = calloc(1, sizeof(*p));
    if (!p)
        return BO1_NO_MEMORY;
    p->store = store;
    p->done = done;
    p->ctx = ctx;
    snprintf(p->owner, sizeof(p->owner), "%s", owner);
    p->now_ms = bo1_clock_wall_ms();
    p->member = calloc(n, sizeof(*p->member));
    p->score = calloc(n, sizeof(*p->score));
    p->stale = calloc(n, sizeof(*p->stale));
    if (!p->member || !p->score || !p->stale) {
        prune_free(p);
        return BO1_NO_MEMORY;
    }
    for (size_t i = 0; i < n; i++) {
        const char *m = elem_str(r, 1 + 2 * i);
        const char *sc = elem_str(r, 2 + 2 * i);
        p->member[i] = strdup(m ? m : "");
        p->score[i] = strdup(sc ? sc : "0");
        p->n++;
        if (!p->member[i] || !p->score[i]) {
            prune_free(p);
            return BO1_NO_MEMORY;
        }
    }
    p->pending = n + 1; /* +1 until every probe is sent */
    for (size_t i = 0; i < n; i++) {
        struct prune_probe *pp = malloc(sizeof(*pp));
        char key[160];
        if (!pp) {
            p->failed = 1;
            p->pending--;
            continue;
        }
        pp->p = p;
        pp->i = i;
        snprintf(key, sizeof(key), "bo1:{%s}:session", p->member[i]);
        if (bo1_store_command(store, on_probe, pp, "HGET %s status", key) != BO1_OK) {
            free(pp);
            p->failed = 1;
            p->pending--;
        }
    }
    if (--p->pending == 0)
        prune_apply(p);
    return BO1_OK;
}

/* --- create: owner gate, job, session, counts --- */

struct create {
    struct bo1_store *store;
    bo1_sessions_cb *cb;
    void *arg;
    struct bo1_sessions_limits lim;
    char id[32];
    char owner[64];
    char body_hash[72];
    char idem_hash[65];
    int has_idem;
    int start;
    int count_rate;
    int pruned;
    long long now;
    char *doc_text;
    char *ev_created;
    char *ev_queued;
    char excerpt[BO1_SESSIONS_EXCERPT_BYTES];
    char record[200]; /* the idempotency record step 1 wrote */
    char stale[200];  /* a record whose session was found gone */
};

static void create_free(struct create *c)
{
    free(c->doc_text);
    free(c->ev_created);
    free(c->ev_queued);
    free(c);
}

static void create_finish(struct create *c, struct bo1_sessions_result *res)
{
    c->cb(res, c->arg);
    json_decref(res->result);
    create_free(c);
}

/* A step failed: @st from the store, or a reply the step did not expect. */
static void create_fail(struct create *c, enum bo1_status st, const redisReply *r)
{
    struct bo1_sessions_result res;

    step_failed(st, r, &res);
    create_finish(c, &res);
}

/* Undo step 1 (the session was not written). The job, if added, finds no session. */
static void create_undo(struct create *c)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_owner(&keys, c->owner, "sessions");
    key_owner(&keys, c->owner, "active");
    arg_fmt(&keys, "bo1:{o:%s}:idem:%s", c->owner, c->idem_hash);
    arg_add(&args, c->id);
    arg_add(&args, c->record);
    eval_raw(c->store, bo1_lua_create_undo, &keys, &args, on_ignored, NULL);
}

static enum bo1_status create_gate(struct create *c);

static void on_create_session(enum bo1_status st, const redisReply *r, void *arg)
{
    struct create *c = arg;
    struct bo1_sessions_result res = {.st = BO1_OK};
    const char *code = elem_str(r, 0);

    if (st != BO1_OK || !code || strcmp(code, "OK") != 0) {
        create_undo(c);
        create_fail(c, st, r);
        return;
    }
    bo1_sessions_stat_move(c->store, c->id, NULL, c->start ? "queued" : "created",
                           c->lim.unstarted_ttl_s ? c->lim.unstarted_ttl_s : 604800);
    decode_doc(r, &res);
    create_finish(c, &res);
}

static void create_session(struct create *c)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_session(&keys, c->id, "session");
    key_session(&keys, c->id, "events");
    arg_add(&args, c->id);
    arg_add(&args, c->owner);
    arg_add(&args, c->doc_text);
    arg_fmt(&args, "%lld", c->now);
    arg_add(&args, c->start ? "queued" : "created");
    arg_add(&args, c->excerpt);
    arg_fmt(&args, "%u", c->lim.events_max);
    arg_add(&args, c->ev_created);
    arg_add(&args, c->ev_queued);
    arg_fmt(&args, "%u", c->lim.unstarted_ttl_s ? c->lim.unstarted_ttl_s : 604800);
    if (eval_raw(c->store, bo1_lua_create_session, &keys, &args, on_create_session, c) != BO1_OK) {
        create_undo(c);
        create_fail(c, BO1_STORE_DOWN, NULL);
    }
}

static void on_create_job(enum bo1_status st, const redisReply *r, void *arg)
{
    struct create *c = arg;

    if (st != BO1_OK) {
        create_undo(c);
        create_fail(c, st, r);
        return;
    }
    create_session(c);
}

static void on_create_pruned(void *ctx, int freed)
{
    struct create *c = ctx;
    struct bo1_sessions_result res = {.st = BO1_RATE_LIMITED};

    if (freed) {
        if (create_gate(c) != BO1_OK)
            create_fail(c, BO1_STORE_DOWN, NULL);
        return;
    }
    res.retry_after_ms = 5000;
    res.detail = "too many sessions queued or running for this API key";
    create_finish(c, &res);
}

/* The session an idempotency record names: replayed if it is there. */
static void on_create_check(enum bo1_status st, const redisReply *r, void *arg)
{
    struct create *c = arg;
    struct bo1_sessions_result res = {.st = BO1_OK};
    const char *ms = strrchr(c->stale, ' ');

    if (st != BO1_OK) {
        create_fail(c, st, r);
        return;
    }
    if (elem_str(r, 0) && elem_str(r, 3) && strcmp(elem_str(r, 3), c->owner) == 0) {
        res.replayed = 1;
        res.result = doc_merge(elem_str(r, 0), elem_str(r, 4), elem_str(r, 1), elem_str(r, 2));
        res.st = res.result ? BO1_OK : BO1_INTERNAL;
        create_finish(c, &res);
        return;
    }
    /* No session: a request with this key is between its steps (a young record), or it
     * died or the session is gone since (an old one: replaced by this request). */
    if (ms && bo1_clock_wall_ms() - atoll(ms + 1) < BO1_SESSIONS_JOB_GRACE_MS) {
        res.st = BO1_WRONG_STATE;
        res.detail = "being created by an earlier request with this Idempotency-Key";
        create_finish(c, &res);
        return;
    }
    if (create_gate(c) != BO1_OK)
        create_fail(c, BO1_STORE_DOWN, NULL);
}

static void on_create_gate(enum bo1_status st, const redisReply *r, void *arg)
{
    struct create *c = arg;
    const char *code = elem_str(r, 0);

    if (st != BO1_OK || !code) {
        create_fail(c, st, r);
        return;
    }
    if (strcmp(code, "OK") == 0) {
        if (c->has_idem)
            snprintf(c->record, sizeof(c->record), "%s %s %lld", c->body_hash, c->id, c->now);
        if (!c->start) {
            create_session(c);
            return;
        }
        /* The job goes first: a session is never queued without one. */
        if (bo1_store_command(c->store, on_create_job, c, "XADD %s * session %s",
                              BO1_SESSIONS_JOBS_KEY, c->id) != BO1_OK) {
            create_undo(c);
            create_fail(c, BO1_STORE_DOWN, NULL);
        }
        return;
    }
    if (strcmp(code, "CHECK") == 0 && elem_str(r, 1)) {
        const char *rec = elem_str(r, 1);
        const char *sp = strchr(rec, ' ');
        char key[160];
        int n = sp ? (int)strcspn(sp + 1, " ") : 0;
        snprintf(c->stale, sizeof(c->stale), "%s", rec);
        snprintf(key, sizeof(key), "bo1:{%.*s}:session", n < 64 ? n : 64, sp ? sp + 1 : "");
        if (!sp || bo1_store_command(c->store, on_create_check, c,
                                     "HMGET %s doc status updated owner ckpt", key) != BO1_OK)
            create_fail(c, sp ? BO1_STORE_DOWN : BO1_OK, r);
        return;
    }
    if (strcmp(code, "TOO_MANY_ACTIVE") == 0 && !c->pruned) {
        c->pruned = 1;
        c->count_rate = 0; /* this request is counted already */
        if (prune_start(c->store, c->owner, r, on_create_pruned, c) == BO1_OK)
            return;
    }
    create_fail(c, st, r);
}

/* Step 1: on the owner's slot, every check, then the owner's share of the session. */
static enum bo1_status create_gate(struct create *c)
{
    struct argv keys = {0};
    struct argv args = {0};

    arg_fmt(&keys, "bo1:{o:%s}:idem:%s", c->owner, c->idem_hash);
    key_owner(&keys, c->owner, "rl:create");
    key_owner(&keys, c->owner, "active");
    key_owner(&keys, c->owner, "sessions");
    arg_add(&args, c->id);
    arg_add(&args, c->body_hash);
    arg_fmt(&args, "%lld", c->now);
    arg_add(&args, c->start ? "1" : "0");
    arg_fmt(&args, "%u", c->lim.create_per_window);
    arg_fmt(&args, "%u", c->lim.window_ms);
    arg_fmt(&args, "%u", c->lim.max_active);
    arg_add(&args, "86400");
    arg_add(&args, c->has_idem ? "1" : "0");
    arg_add(&args, c->stale);
    arg_add(&args, c->count_rate ? "1" : "0");
    return eval_raw(c->store, bo1_lua_create_owner, &keys, &args, on_create_gate, c);
}

enum bo1_status bo1_sessions_create(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                    const char *owner, const char *id, json_t *doc, int start,
                                    const char *idem_key, const char *body_hash,
                                    bo1_sessions_cb *cb, void *arg)
{
    struct create *c = calloc(1, sizeof(*c));
    char iso[40];
    int64_t now = bo1_clock_wall_ms();
    enum bo1_status st;

    if (!c) {
        json_decref(doc);
        return BO1_NO_MEMORY;
    }
    c->store = store;
    c->cb = cb;
    c->arg = arg;
    c->lim = *lim;
    c->start = start;
    c->count_rate = 1;
    c->now = now;
    c->has_idem = idem_key != NULL;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    snprintf(c->body_hash, sizeof(c->body_hash), "%s", body_hash ? body_hash : "");
    /* The key is hashed: two Idempotency-Keys sharing a long prefix must not collide. */
    bo1_sha256_hex(idem_key ? idem_key : "-", strlen(idem_key ? idem_key : "-"), c->idem_hash);
    bo1_clock_iso(now, iso);
    json_object_set_new(doc, "created_at", json_string(iso));
    c->doc_text = json_dumps(doc, JSON_COMPACT);
    c->ev_created = dump_new(json_pack("{s:s, s:s, s:s, s:{s:s}}", "type", "session.status",
                                       "session_id", id, "ts", iso, "data", "status", "created"));
    c->ev_queued =
        dump_new(json_pack("{s:s, s:s, s:s, s:{s:s, s:s}}", "type", "session.status", "session_id",
                           id, "ts", iso, "data", "status", "queued", "previous", "created"));
    bo1_sessions_excerpt(
        json_string_value(json_object_get(json_object_get(doc, "problem"), "statement")),
        c->excerpt);
    json_decref(doc);
    if (!c->doc_text || !c->ev_created || !c->ev_queued) {
        create_free(c);
        return BO1_NO_MEMORY;
    }
    st = create_gate(c);
    if (st != BO1_OK)
        create_free(c);
    return st;
}

enum bo1_status bo1_sessions_rate(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                  const char *owner, enum bo1_rate_class cls, bo1_sessions_cb *cb,
                                  void *arg)
{
    struct argv keys = {0};
    struct argv args = {0};
    char what[16];

    snprintf(what, sizeof(what), "rl:%s", rate_class_name(cls));
    key_owner(&keys, owner, what);
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
            res.result = doc_merge(elem_str(r, 0), elem_str(r, 4), elem_str(r, 1), elem_str(r, 2));
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
    st = bo1_store_command(store, on_hmget, op, "HMGET %s doc status updated owner ckpt", key);
    if (st != BO1_OK) {
        free(want);
        free(op);
    }
    return st;
}

/* --- list: the owner index, then each session's summary on its own slot ---
 *
 * Walks the index newest first in batches of 100 (at most 2000 scanned per call; then the
 * cursor is the last member scanned), skipping the cursor position, reads each session's
 * summary (list_item), drops from the index ids whose session is gone (older than the step
 * grace: a younger one may be a create between its steps), filters by status, and stops at
 * the first match past the page size (cursor = the page's last item) or at the end of the
 * index (no cursor). */

#define LIST_BATCH    100
#define LIST_SCAN_MAX 2000

struct list_entry {
    char id[64];
    char score[48];
    int skipped;
    json_t *f; /* the list_item answer: 8 strings, or NULL (missing or failed) */
};

struct list {
    struct bo1_store *store;
    bo1_sessions_cb *cb;
    void *arg;
    char owner[64];
    char status[32];
    unsigned want, found, scanned;
    char max[48];
    char skip[64];
    char last_score[48], last_id[64];
    char scan_score[48], scan_id[64];
    json_t *items;
    struct list_entry e[LIST_BATCH];
    size_t n, pending;
    int failed;
};

static void list_done(struct list *l, enum bo1_status st, const char *score, const char *id)
{
    struct bo1_sessions_result res = {.st = st};
    char cursor[160] = "";

    for (size_t i = 0; i < l->n; i++)
        json_decref(l->e[i].f);
    l->n = 0;
    if (st == BO1_OK) {
        if (score && *score && id && *id)
            snprintf(cursor, sizeof(cursor), "%s.%s", score, id);
        res.result = json_pack("{s:O, s:o}", "items", l->items, "next_cursor",
                               cursor[0] ? json_string(cursor) : json_null());
        res.st = res.result ? BO1_OK : BO1_NO_MEMORY;
    } else {
        res.detail =
            st == BO1_INTERNAL ? "unexpected reply from Redis" : "the session store is unavailable";
    }
    l->cb(&res, l->arg);
    json_decref(res.result);
    json_decref(l->items);
    free(l);
}

static enum bo1_status list_fetch(struct list *l);

/* Every summary of the batch is in: walk it as one step of the scan. */
static void list_process(struct list *l)
{
    const char *gone[2 + LIST_BATCH];
    char key[128];
    int ngone = 0;
    long long now = bo1_clock_wall_ms();
    size_t n = l->n;

    if (l->failed) {
        list_done(l, BO1_STORE_DOWN, NULL, NULL);
        return;
    }
    snprintf(key, sizeof(key), "bo1:{o:%s}:sessions", l->owner);
    gone[ngone++] = "ZREM";
    gone[ngone++] = key;
    for (size_t i = 0; i < n; i++) {
        struct list_entry *e = &l->e[i];
        if (!e->skipped) {
            const char *st = json_string_value(json_array_get(e->f, 0));
            if (!st || !*st) {
                if (now - atoll(e->score) > BO1_SESSIONS_STEP_GRACE_MS)
                    gone[ngone++] = e->id;
            } else if (!l->status[0] || strcmp(l->status, st) == 0) {
                const char *f[9];
                json_t *s;
                if (l->found == l->want) {
                    if (ngone > 2)
                        bo1_store_command_argv(l->store, on_ignored, NULL, ngone, gone, NULL);
                    list_done(l, BO1_OK, l->last_score, l->last_id);
                    return;
                }
                f[0] = e->id;
                for (size_t k = 0; k < 8; k++)
                    f[k + 1] = json_string_value(json_array_get(e->f, k));
                s = summary(f);
                if (s)
                    json_array_append_new(l->items, s);
                l->found++;
                snprintf(l->last_score, sizeof(l->last_score), "%s", e->score);
                snprintf(l->last_id, sizeof(l->last_id), "%s", e->id);
            }
        }
        l->scanned++;
        snprintf(l->scan_score, sizeof(l->scan_score), "%s", e->score);
        snprintf(l->scan_id, sizeof(l->scan_id), "%s", e->id);
    }
    if (ngone > 2)
        bo1_store_command_argv(l->store, on_ignored, NULL, ngone, gone, NULL);
    for (size_t i = 0; i < n; i++)
        json_decref(l->e[i].f);
    l->n = 0;
    if (n < LIST_BATCH) {
        list_done(l, BO1_OK, NULL, NULL);
        return;
    }
    if (l->scanned >= LIST_SCAN_MAX) {
        list_done(l, BO1_OK, l->scan_score, l->scan_id);
        return;
    }
    snprintf(l->max, sizeof(l->max), "%s", l->scan_score);
    snprintf(l->skip, sizeof(l->skip), "%s", l->scan_id);
    if (list_fetch(l) != BO1_OK)
        list_done(l, BO1_STORE_DOWN, NULL, NULL);
}

struct list_probe {
    struct list *l;
    size_t i;
};

static void on_list_item(enum bo1_status st, const redisReply *r, void *arg)
{
    struct list_probe *lp = arg;
    struct list *l = lp->l;

    if (st != BO1_OK || !r || r->type != REDIS_REPLY_ARRAY || r->elements != 8) {
        l->failed = 1;
    } else {
        json_t *f = json_array();
        for (size_t k = 0; f && k < 8; k++)
            json_array_append_new(f, json_string(elem_str(r, k) ? elem_str(r, k) : ""));
        l->e[lp->i].f = f;
    }
    free(lp);
    if (--l->pending == 0)
        list_process(l);
}

static void on_list_batch(enum bo1_status st, const redisReply *r, void *arg)
{
    struct list *l = arg;

    if (st != BO1_OK || !r || r->type != REDIS_REPLY_ARRAY) {
        list_done(l, st == BO1_OK || st == BO1_IO_ERROR ? BO1_INTERNAL : st, NULL, NULL);
        return;
    }
    l->n = 0;
    l->failed = 0;
    l->pending = 1; /* until every probe is sent */
    for (size_t i = 0; i + 1 < r->elements && l->n < LIST_BATCH; i += 2) {
        struct list_entry *e = &l->e[l->n++];
        const char *id = elem_str(r, i);
        const char *score = elem_str(r, i + 1);
        struct argv keys = {0};
        struct argv args = {0};
        struct list_probe *lp;
        snprintf(e->id, sizeof(e->id), "%s", id ? id : "");
        snprintf(e->score, sizeof(e->score), "%s", score ? score : "0");
        e->f = NULL;
        e->skipped = l->skip[0] && strcmp(e->score, l->max) == 0 && strcmp(e->id, l->skip) >= 0;
        if (e->skipped)
            continue;
        lp = malloc(sizeof(*lp));
        if (!lp) {
            l->failed = 1;
            continue;
        }
        lp->l = l;
        lp->i = l->n - 1;
        key_session(&keys, e->id, "session");
        l->pending++;
        if (eval_raw(l->store, bo1_lua_list_item, &keys, &args, on_list_item, lp) != BO1_OK) {
            free(lp);
            l->pending--;
            l->failed = 1;
        }
    }
    if (--l->pending == 0)
        list_process(l);
}

static enum bo1_status list_fetch(struct list *l)
{
    char key[128];

    snprintf(key, sizeof(key), "bo1:{o:%s}:sessions", l->owner);
    return bo1_store_command(l->store, on_list_batch, l,
                             "ZREVRANGEBYSCORE %s %s -inf WITHSCORES LIMIT 0 %d", key, l->max,
                             LIST_BATCH);
}

enum bo1_status bo1_sessions_list(struct bo1_store *store, const char *owner, const char *status,
                                  const char *cursor, unsigned limit, bo1_sessions_cb *cb,
                                  void *arg)
{
    struct list *l = calloc(1, sizeof(*l));
    const char *dot = cursor ? strchr(cursor, '.') : NULL;
    enum bo1_status st;

    if (!l || !(l->items = json_array())) {
        free(l);
        return BO1_NO_MEMORY;
    }
    l->store = store;
    l->cb = cb;
    l->arg = arg;
    l->want = limit;
    snprintf(l->owner, sizeof(l->owner), "%s", owner);
    snprintf(l->status, sizeof(l->status), "%s", status ? status : "");
    if (dot) {
        snprintf(l->max, sizeof(l->max), "%.*s", (int)(dot - cursor), cursor);
        snprintf(l->skip, sizeof(l->skip), "%s", dot + 1);
    } else {
        snprintf(l->max, sizeof(l->max), "+inf");
    }
    st = list_fetch(l);
    if (st != BO1_OK) {
        json_decref(l->items);
        free(l);
    }
    return st;
}

/* --- control: owner check, owner gate, job, session, then the owner's and the counts ---
 *
 * A read of the session first (another key's session is NOT_FOUND, counting nothing); the
 * owner's gate (control rate limit; start and resume also take an active slot); for start
 * and resume the job, before the session becomes queued; the action on the session's slot
 * (authoritative: owner and state are checked again there); then pause, cancel and delete
 * free the slot (delete also leaves the index) and the status counts move. A start or
 * resume the session refused gives its slot back. */

struct control {
    struct bo1_store *store;
    bo1_sessions_cb *cb;
    void *arg;
    struct bo1_sessions_limits lim;
    char id[32];
    char owner[64];
    char action[16];
    char iso[40];
    long long now;
    int take;
    int count_rate;
    int pruned;
};

static void control_finish(struct control *c, struct bo1_sessions_result *res)
{
    c->cb(res, c->arg);
    json_decref(res->result);
    free(c);
}

static void control_fail(struct control *c, enum bo1_status st, const redisReply *r)
{
    struct bo1_sessions_result res;

    step_failed(st, r, &res);
    control_finish(c, &res);
}

static void on_control_apply(enum bo1_status st, const redisReply *r, void *arg)
{
    struct control *c = arg;
    struct bo1_sessions_result res = {.st = BO1_OK};
    const char *code = elem_str(r, 0);

    if (st != BO1_OK || !code) {
        if (c->take && st == BO1_IO_ERROR)
            active_leave(c->store, c->owner, c->id, c->now + 1, 0);
        control_fail(c, st, r);
        return;
    }
    if (strcmp(code, "OK") == 0) {
        const char *new_status = elem_str(r, 2);
        if (new_status && !status_active(new_status))
            active_leave(c->store, c->owner, c->id, c->now, 0);
        bo1_sessions_stat_move(c->store, c->id, elem_str(r, 4), new_status, c->lim.ttl_s);
    } else if (strcmp(code, "DELETED") == 0) {
        active_leave(c->store, c->owner, c->id, 0, 1);
        bo1_sessions_stat_move(c->store, c->id, elem_str(r, 2), NULL, 0);
    } else if (c->take) {
        /* Refused: give the slot back unless the session is active anyway. */
        const char *now_status = strcmp(code, "WRONG_STATE") == 0 ? elem_str(r, 1) : NULL;
        if (!status_active(now_status))
            active_leave(c->store, c->owner, c->id, c->now + 1, 0);
    }
    decode_doc(r, &res);
    control_finish(c, &res);
}

static void control_apply(struct control *c)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_session(&keys, c->id, "session");
    key_session(&keys, c->id, "events");
    key_session(&keys, c->id, "lease");
    key_session(&keys, c->id, "inbox");
    key_session(&keys, c->id, "report");
    arg_add(&args, c->id);
    arg_add(&args, c->owner);
    arg_add(&args, c->action);
    arg_fmt(&args, "%lld", c->now);
    arg_fmt(&args, "%u", c->lim.events_max);
    arg_fmt(&args, "%u", c->lim.ttl_s);
    arg_add(&args, c->iso);
    if (eval_raw(c->store, bo1_lua_control, &keys, &args, on_control_apply, c) != BO1_OK)
        control_fail(c, BO1_STORE_DOWN, NULL);
}

static void on_control_job(enum bo1_status st, const redisReply *r, void *arg)
{
    struct control *c = arg;

    if (st != BO1_OK) {
        if (st == BO1_IO_ERROR)
            active_leave(c->store, c->owner, c->id, c->now + 1, 0);
        control_fail(c, st, r);
        return;
    }
    control_apply(c);
}

static enum bo1_status control_gate(struct control *c);

static void on_control_pruned(void *ctx, int freed)
{
    struct control *c = ctx;
    struct bo1_sessions_result res = {.st = BO1_RATE_LIMITED};

    if (freed) {
        if (control_gate(c) != BO1_OK)
            control_fail(c, BO1_STORE_DOWN, NULL);
        return;
    }
    res.retry_after_ms = 5000;
    res.detail = "too many sessions queued or running for this API key";
    control_finish(c, &res);
}

static void on_control_gate(enum bo1_status st, const redisReply *r, void *arg)
{
    struct control *c = arg;
    const char *code = elem_str(r, 0);

    if (st != BO1_OK || !code) {
        control_fail(c, st, r);
        return;
    }
    if (strcmp(code, "OK") == 0) {
        if (!c->take)
            control_apply(c);
        else if (bo1_store_command(c->store, on_control_job, c, "XADD %s * session %s",
                                   BO1_SESSIONS_JOBS_KEY, c->id) != BO1_OK)
            control_fail(c, BO1_STORE_DOWN, NULL);
        return;
    }
    if (strcmp(code, "TOO_MANY_ACTIVE") == 0 && !c->pruned) {
        c->pruned = 1;
        c->count_rate = 0;
        if (prune_start(c->store, c->owner, r, on_control_pruned, c) == BO1_OK)
            return;
    }
    control_fail(c, st, r);
}

static enum bo1_status control_gate(struct control *c)
{
    struct argv keys = {0};
    struct argv args = {0};

    key_owner(&keys, c->owner, "rl:control");
    key_owner(&keys, c->owner, "active");
    arg_add(&args, c->id);
    arg_fmt(&args, "%lld", c->now);
    arg_fmt(&args, "%u", c->lim.control_per_window);
    arg_fmt(&args, "%u", c->lim.window_ms);
    arg_fmt(&args, "%u", c->lim.max_active);
    arg_add(&args, c->take ? "1" : "0");
    arg_add(&args, c->count_rate ? "1" : "0");
    return eval_raw(c->store, bo1_lua_control_owner, &keys, &args, on_control_gate, c);
}

static void on_control_owner(enum bo1_status st, const redisReply *r, void *arg)
{
    struct control *c = arg;
    struct bo1_sessions_result res = {.st = BO1_NOT_FOUND, .detail = "no such session"};
    const char *owner = elem_str(r, 0);

    if (st != BO1_OK) {
        control_fail(c, st, r);
        return;
    }
    if (!owner || strcmp(owner, c->owner) != 0) {
        control_finish(c, &res);
        return;
    }
    if (control_gate(c) != BO1_OK)
        control_fail(c, BO1_STORE_DOWN, NULL);
}

enum bo1_status bo1_sessions_control(struct bo1_store *store, const struct bo1_sessions_limits *lim,
                                     const char *owner, const char *id, const char *action,
                                     bo1_sessions_cb *cb, void *arg)
{
    struct control *c = calloc(1, sizeof(*c));
    char key[128];
    enum bo1_status st;

    if (!c)
        return BO1_NO_MEMORY;
    c->store = store;
    c->cb = cb;
    c->arg = arg;
    c->lim = *lim;
    c->now = bo1_clock_wall_ms();
    c->count_rate = 1;
    c->take = strcmp(action, "start") == 0 || strcmp(action, "resume") == 0;
    bo1_clock_iso(c->now, c->iso);
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    snprintf(c->action, sizeof(c->action), "%s", action);
    snprintf(key, sizeof(key), "bo1:{%s}:session", id);
    st = bo1_store_command(store, on_control_owner, c, "HMGET %s owner", key);
    if (st != BO1_OK)
        free(c);
    return st;
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
                            doc_merge(elem_str(r, 2), elem_str(r, 5), elem_str(r, 1), NULL),
                            "report_json", json && *json ? json_loads(json, 0, NULL) : NULL,
                            "report_md", md && *md ? md : NULL);
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

    keys_stats(&keys);
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
