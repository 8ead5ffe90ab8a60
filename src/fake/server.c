/* server.c - HTTP endpoints of bo1-fake-llm on libmicrohttpd.
 *
 * MHD pool threads parse a request, decide its answer and any fault under the state lock,
 * and either reply at once or suspend the connection. Simulated latency never holds a
 * thread: a suspended connection sits in a min-heap owned by one timer thread, which
 * resumes it when due; MHD then calls the access handler again and the prepared reply is
 * queued. See docs/internals/fake-llm.md. */
#include "server.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "bo1/buf.h"
#include "bo1/log.h"

#define MAX_BODY (16u << 20)

enum conn_state {
    CONN_NEW,
    CONN_WAITING, /* suspended, in the timer heap */
    CONN_READY,   /* resumed: send the prepared reply */
    CONN_ABORT,   /* resumed for shutdown or after a hang: close without a reply */
};

struct reply {
    unsigned status;
    char *body; /* malloc'd */
    size_t len;
    enum fake_error mode; /* NONE, MALFORMED: send as is; TRUNCATED, RESET, HANG: misbehave */
    char request_id[40];
    char retry_after[24], retry_after_ms[24], should_retry[8];
};

struct conn {
    struct fake_server *srv;
    struct MHD_Connection *mhd;
    struct bo1_buf body;
    int too_large;
    enum conn_state state;
    long long due_ms;
    long delay_ms; /* simulated latency (or hang time) before the reply */
    struct reply reply;
};

struct timer {
    pthread_t thread;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    struct conn **heap;
    size_t len, cap;
    int stop;
    int started;
};

struct fake_server {
    struct MHD_Daemon *daemon;
    struct fake_state *st;
    struct timer timer;
};

static uint64_t id_counter;

static long long now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- timer heap ---- */

static void heap_swap(struct conn **h, size_t a, size_t b)
{
    struct conn *t = h[a];

    h[a] = h[b];
    h[b] = t;
}

static int heap_push(struct timer *t, struct conn *k)
{
    size_t i;

    if (t->len == t->cap) {
        size_t ncap = t->cap ? t->cap * 2 : 256;
        struct conn **n = realloc(t->heap, ncap * sizeof(*n));
        if (!n)
            return -1;
        t->heap = n;
        t->cap = ncap;
    }
    i = t->len++;
    t->heap[i] = k;
    while (i > 0 && t->heap[(i - 1) / 2]->due_ms > t->heap[i]->due_ms) {
        heap_swap(t->heap, i, (i - 1) / 2);
        i = (i - 1) / 2;
    }
    return 0;
}

static struct conn *heap_pop(struct timer *t)
{
    struct conn *top = t->heap[0];
    size_t i = 0;

    t->heap[0] = t->heap[--t->len];
    for (;;) {
        size_t l = 2 * i + 1;
        size_t r = l + 1;
        size_t m = i;
        if (l < t->len && t->heap[l]->due_ms < t->heap[m]->due_ms)
            m = l;
        if (r < t->len && t->heap[r]->due_ms < t->heap[m]->due_ms)
            m = r;
        if (m == i)
            break;
        heap_swap(t->heap, i, m);
        i = m;
    }
    return top;
}

static void *timer_main(void *arg)
{
    struct timer *t = arg;

    pthread_mutex_lock(&t->mu);
    while (!t->stop) {
        long long now = now_ms();
        if (t->len == 0) {
            pthread_cond_wait(&t->cv, &t->mu);
            continue;
        }
        if (t->heap[0]->due_ms <= now) {
            struct conn *k = heap_pop(t);
            k->state = k->reply.mode == FAKE_ERR_HANG ? CONN_ABORT : CONN_READY;
            /* Resuming from this thread is allowed for a suspended connection; MHD then
             * calls the access handler again on its own thread. */
            MHD_resume_connection(k->mhd);
            continue;
        }
        {
            long long due = t->heap[0]->due_ms;
            struct timespec ts;
            clock_gettime(CLOCK_MONOTONIC, &ts);
            long long wait = due - now;
            ts.tv_sec += wait / 1000;
            ts.tv_nsec += (wait % 1000) * 1000000L;
            if (ts.tv_nsec >= 1000000000L) {
                ts.tv_sec++;
                ts.tv_nsec -= 1000000000L;
            }
            pthread_cond_timedwait(&t->cv, &t->mu, &ts);
        }
    }
    /* Shutting down: every waiting connection is resumed to be closed. */
    while (t->len) {
        struct conn *k = heap_pop(t);
        k->state = CONN_ABORT;
        MHD_resume_connection(k->mhd);
    }
    pthread_mutex_unlock(&t->mu);
    return NULL;
}

static int timer_init(struct timer *t)
{
    pthread_condattr_t ca;

    memset(t, 0, sizeof(*t));
    pthread_mutex_init(&t->mu, NULL);
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&t->cv, &ca);
    pthread_condattr_destroy(&ca);
    if (pthread_create(&t->thread, NULL, timer_main, t) != 0)
        return -1;
    t->started = 1;
    return 0;
}

static void timer_fini(struct timer *t)
{
    if (t->started) {
        pthread_mutex_lock(&t->mu);
        t->stop = 1;
        pthread_cond_signal(&t->cv);
        pthread_mutex_unlock(&t->mu);
        pthread_join(t->thread, NULL);
    }
    free(t->heap);
    pthread_cond_destroy(&t->cv);
    pthread_mutex_destroy(&t->mu);
}

/* Suspend @k until @delay_ms from now. Returns 0, or -1 when shutting down. */
static int timer_wait(struct timer *t, struct conn *k, long delay_ms)
{
    int rc = -1;

    pthread_mutex_lock(&t->mu);
    if (t->stop)
        goto out;
    k->due_ms = now_ms() + delay_ms;
    k->state = CONN_WAITING;
    /* Suspend before the timer can see the connection, so a resume never precedes it. */
    MHD_suspend_connection(k->mhd);
    if (heap_push(t, k) != 0) {
        k->state = CONN_READY;
        MHD_resume_connection(k->mhd);
    }
    pthread_cond_signal(&t->cv);
    rc = 0;
out:
    pthread_mutex_unlock(&t->mu);
    return rc;
}

/* ---- small helpers ---- */

static void reply_set(struct reply *r, unsigned status, char *body)
{
    free(r->body);
    r->status = status;
    r->body = body;
    r->len = body ? strlen(body) : 0;
}

static void reply_json(struct reply *r, unsigned status, json_t *j)
{
    reply_set(r, status, j ? json_dumps(j, JSON_COMPACT | JSON_REAL_PRECISION(9)) : NULL);
    json_decref(j);
}

static void anthropic_error(struct reply *r, unsigned status, const char *type, const char *msg,
                            const char *error_code)
{
    json_t *err = json_pack("{s:s, s:s}", "type", type, "message", msg);

    if (err && error_code)
        json_object_set_new(err, "details", json_pack("{s:s}", "error_code", error_code));
    reply_json(
        r, status,
        json_pack("{s:s, s:o, s:s}", "type", "error", "error", err, "request_id", r->request_id));
}

static void openai_error(struct reply *r, unsigned status, const char *type, const char *msg,
                         const char *code, const char *error_code)
{
    json_t *err =
        json_pack("{s:s, s:s, s:n, s:s}", "message", msg, "type", type, "param", "code", code);

    if (err && error_code)
        json_object_set_new(err, "details", json_pack("{s:s}", "error_code", error_code));
    reply_json(r, status, json_pack("{s:o}", "error", err));
}

enum wire { WIRE_ANTHROPIC, WIRE_OPENAI };

static void wire_error(struct reply *r, enum wire w, unsigned status, const char *msg)
{
    const char *type;
    const char *code = NULL;

    switch (status) {
    case 400:
        type = "invalid_request_error";
        break;
    case 401:
        type = "authentication_error";
        code = "invalid_api_key";
        break;
    case 404:
        type = "not_found_error";
        break;
    case 429:
        type = "rate_limit_error";
        code = "rate_limit_exceeded";
        break;
    case 529:
        type = "overloaded_error";
        break;
    default:
        type = "api_error";
        break;
    }
    if (w == WIRE_ANTHROPIC)
        anthropic_error(r, status, type, msg, NULL);
    else
        openai_error(r, status, w == WIRE_OPENAI && status >= 500 ? "server_error" : type, msg,
                     code ? code : type, NULL);
}

static long tokens_of(size_t chars)
{
    return (long)((chars + 3) / 4);
}

struct collect {
    json_t *obj;
};

static enum MHD_Result on_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                 const char *value)
{
    struct collect *c = cls;
    char name[128];
    size_t i;
    json_t *old;

    (void)kind;
    for (i = 0; key[i] && i + 1 < sizeof(name); i++)
        name[i] = (char)tolower((unsigned char)key[i]);
    name[i] = '\0';
    old = json_object_get(c->obj, name);
    if (json_is_string(old)) {
        struct bo1_buf b;
        bo1_buf_init(&b, 0);
        bo1_buf_printf(&b, "%s, %s", json_string_value(old), value ? value : "");
        json_object_set_new(c->obj, name, json_string(bo1_buf_str(&b)));
        bo1_buf_fini(&b);
    } else {
        json_t *v = json_string(value ? value : "");
        json_object_set_new(c->obj, name, v ? v : json_string("(not UTF-8)"));
    }
    return MHD_YES;
}

/* ---- prompt segments: the text a model would read, in order, with cache breakpoints ---- */

struct segment {
    const char *text; /* borrowed from the request JSON */
    int marked;       /* cache_control on this block */
};

struct prompt {
    struct segment *seg;
    size_t n, cap;
    size_t n_system; /* leading segments that are system text */
};

static int prompt_add(struct prompt *p, const char *text, int marked)
{
    if (p->n == p->cap) {
        size_t ncap = p->cap ? p->cap * 2 : 16;
        struct segment *s = realloc(p->seg, ncap * sizeof(*s));
        if (!s)
            return -1;
        p->seg = s;
        p->cap = ncap;
    }
    p->seg[p->n].text = text;
    p->seg[p->n].marked = marked;
    p->n++;
    return 0;
}

/* Content is a string or an array of {type:"text", text, cache_control?} blocks. */
static int prompt_add_content(struct prompt *p, const json_t *content)
{
    size_t i;
    json_t *blk;

    if (json_is_string(content))
        return prompt_add(p, json_string_value(content), 0);
    if (!json_is_array(content))
        return content && !json_is_null(content) ? -1 : 0;
    json_array_foreach(content, i, blk)
    {
        const char *text = json_string_value(json_object_get(blk, "text"));
        if (!json_is_object(blk))
            return -1;
        if (!text)
            continue; /* images, tool results: no text to count */
        if (prompt_add(p, text, json_object_get(blk, "cache_control") != NULL) != 0)
            return -1;
    }
    return 0;
}

static char *prompt_join(const struct prompt *p)
{
    struct bo1_buf b;

    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < p->n; i++) {
        bo1_buf_puts(&b, p->seg[i].text);
        bo1_buf_puts(&b, "\n");
    }
    return bo1_buf_take(&b);
}

/* Cut @text at the first stop sequence or at @max_tokens. Sets *reason to 0 (natural end),
 * 1 (max tokens) or 2 (stop sequence; *which is the sequence). */
static void apply_limits(char *text, const json_t *stops, long max_tokens, int *reason,
                         const char **which)
{
    size_t i;
    json_t *s;
    char *cut = NULL;

    *reason = 0;
    *which = NULL;
    if (json_is_string(stops)) {
        char *hit = strstr(text, json_string_value(stops));
        if (hit && json_string_length(stops) > 0) {
            cut = hit;
            *which = json_string_value(stops);
        }
    }
    json_array_foreach(stops, i, s)
    {
        const char *seq = json_string_value(s);
        char *hit = seq && *seq ? strstr(text, seq) : NULL;
        if (hit && (!cut || hit < cut)) {
            cut = hit;
            *which = seq;
        }
    }
    if (max_tokens > 0 && strlen(text) > (size_t)max_tokens * 4 &&
        (!cut || (size_t)(cut - text) > (size_t)max_tokens * 4)) {
        size_t n = (size_t)max_tokens * 4;
        while (n > 0 && ((unsigned char)text[n] & 0xC0) == 0x80)
            n--; /* never split a UTF-8 sequence */
        text[n] = '\0';
        *reason = 1;
        *which = NULL;
        return;
    }
    if (cut) {
        *cut = '\0';
        *reason = 2;
    }
}

/* ---- model endpoints ---- */

struct model_req {
    struct fake_server *srv;
    struct conn *k;
    const char *path;
    enum wire wire;
    const char *task;
    const char *session;
    json_t *body; /* parsed request, or NULL */
    struct fake_decision d;
    char *script; /* scripted answer text, or NULL */
};

static int auth_ok(const struct fake_state *st, const json_t *headers)
{
    const char *key = json_string_value(json_object_get(headers, "x-api-key"));
    const char *bearer = json_string_value(json_object_get(headers, "authorization"));

    if (!st->api_key)
        return 1;
    if (key && strcmp(key, st->api_key) == 0)
        return 1;
    if (bearer && strncmp(bearer, "Bearer ", 7) == 0 && strcmp(bearer + 7, st->api_key) == 0)
        return 1;
    return 0;
}

static void fault_reply(struct model_req *m)
{
    struct reply *r = &m->k->reply;
    const struct fake_decision *d = &m->d;

    if (d->retry_after_s >= 0)
        snprintf(r->retry_after, sizeof(r->retry_after), "%ld", d->retry_after_s);
    if (d->retry_after_ms >= 0)
        snprintf(r->retry_after_ms, sizeof(r->retry_after_ms), "%ld", d->retry_after_ms);
    if (d->should_retry >= 0)
        snprintf(r->should_retry, sizeof(r->should_retry), "%s",
                 d->should_retry ? "true" : "false");
    switch (d->error) {
    case FAKE_ERR_429:
        wire_error(r, m->wire, 429,
                   "Number of request tokens has exceeded your rate limit "
                   "(simulated by bo1-fake-llm).");
        break;
    case FAKE_ERR_SPEND:
        if (m->wire == WIRE_ANTHROPIC)
            anthropic_error(r, 429, "rate_limit_error",
                            "Your workspace has reached its spend limit (simulated).",
                            "enforced_spend_limit_reached");
        else
            openai_error(r, 429, "insufficient_quota",
                         "You exceeded your current quota (simulated).", "insufficient_quota",
                         "enforced_spend_limit_reached");
        break;
    case FAKE_ERR_500:
        wire_error(r, m->wire, 500, "Internal server error (simulated by bo1-fake-llm).");
        break;
    case FAKE_ERR_529:
        if (m->wire == WIRE_ANTHROPIC)
            anthropic_error(r, 529, "overloaded_error", "Overloaded (simulated).", NULL);
        else
            openai_error(r, 529, "overloaded_error", "Overloaded (simulated).", "overloaded", NULL);
        break;
    default:
        break;
    }
    r->mode = FAKE_ERR_NONE;
}

static void answer_messages(struct model_req *m, struct prompt *p)
{
    struct reply *r = &m->k->reply;
    json_t *b = m->body;
    json_t *model = json_object_get(b, "model");
    json_t *system = json_object_get(b, "system");
    json_t *messages = json_object_get(b, "messages");
    json_t *max_tokens = json_object_get(b, "max_tokens");
    uint64_t *marks = NULL;
    long *prefix_tokens = NULL;
    long total = 0, cache_read = 0, cache_write = 0, last_marked_tokens = 0;
    size_t i;
    json_t *msg;
    char *prompt_text = NULL;
    char *text = NULL;
    int reason;
    const char *which;
    char id[48];
    static const char *const reasons[] = {"end_turn", "max_tokens", "stop_sequence"};

    if (!json_is_string(model) || !json_is_array(messages) || !json_is_integer(max_tokens) ||
        json_integer_value(max_tokens) < 1) {
        wire_error(r, WIRE_ANTHROPIC, 400,
                   "model (string), messages (array) and max_tokens (integer >= 1) are required");
        goto out;
    }
    if (json_is_true(json_object_get(b, "stream"))) {
        wire_error(r, WIRE_ANTHROPIC, 400, "stream: not supported by bo1-fake-llm");
        goto out;
    }
    if (prompt_add_content(p, system) != 0) {
        wire_error(r, WIRE_ANTHROPIC, 400, "system: must be a string or an array of blocks");
        goto out;
    }
    p->n_system = p->n;
    json_array_foreach(messages, i, msg)
    {
        if (!json_is_object(msg) || prompt_add_content(p, json_object_get(msg, "content")) != 0) {
            wire_error(r, WIRE_ANTHROPIC, 400, "messages: each needs role and content");
            goto out;
        }
    }

    /* Prompt caching: each marked block closes a prefix; its hash identifies the prefix. */
    marks = calloc(p->n + 1, sizeof(*marks));
    prefix_tokens = calloc(p->n + 1, sizeof(*prefix_tokens));
    if (!marks || !prefix_tokens) {
        wire_error(r, WIRE_ANTHROPIC, 500, "out of memory");
        goto out;
    }
    {
        uint64_t h = fake_hash_str(FAKE_HASH_INIT, json_string_value(model));
        for (i = 0; i < p->n; i++) {
            h = fake_hash(fake_hash_str(h, p->seg[i].text), "\x1e", 1);
            total += tokens_of(strlen(p->seg[i].text));
            marks[i] = p->seg[i].marked ? h : 0;
            prefix_tokens[i] = total;
            if (p->seg[i].marked)
                last_marked_tokens = total;
        }
    }
    pthread_mutex_lock(&m->srv->st->lock);
    for (i = p->n; i-- > 0;) {
        if (marks[i] && fake_state_cache_has_locked(m->srv->st, marks[i])) {
            cache_read = prefix_tokens[i];
            break;
        }
    }
    for (i = 0; i < p->n; i++)
        if (marks[i])
            fake_state_cache_seen_locked(m->srv->st, marks[i]);
    pthread_mutex_unlock(&m->srv->st->lock);
    cache_write = last_marked_tokens - cache_read;
    if (cache_write < 0)
        cache_write = 0;

    prompt_text = prompt_join(p);
    text = m->script
               ? strdup(m->script)
               : fake_answer_generate(m->srv->st->seed, m->task, prompt_text ? prompt_text : "");
    if (!text) {
        wire_error(r, WIRE_ANTHROPIC, 500, "out of memory");
        goto out;
    }
    apply_limits(text, json_object_get(b, "stop_sequences"), (long)json_integer_value(max_tokens),
                 &reason, &which);
    snprintf(id, sizeof(id), "msg_fake%016llx",
             (unsigned long long)fake_hash_str(fake_hash(FAKE_HASH_INIT, r->request_id, 8), text));
    reply_json(r, 200,
               json_pack("{s:s, s:s, s:s, s:O, s:[{s:s, s:s}], s:s, s:s?, s:{s:I, s:I, s:I, s:I}}",
                         "id", id, "type", "message", "role", "assistant", "model", model,
                         "content", "type", "text", "text", text, "stop_reason", reasons[reason],
                         "stop_sequence", which, "usage", "input_tokens",
                         (json_int_t)(total - cache_read - cache_write), "output_tokens",
                         (json_int_t)tokens_of(strlen(text)), "cache_creation_input_tokens",
                         (json_int_t)cache_write, "cache_read_input_tokens",
                         (json_int_t)cache_read));
    if (!r->body)
        wire_error(r, WIRE_ANTHROPIC, 500, "could not encode the answer");
out:
    free(marks);
    free(prefix_tokens);
    free(prompt_text);
    free(text);
}

static void answer_chat(struct model_req *m, struct prompt *p)
{
    struct reply *r = &m->k->reply;
    json_t *b = m->body;
    json_t *model = json_object_get(b, "model");
    json_t *messages = json_object_get(b, "messages");
    json_t *max_tokens = json_object_get(b, "max_completion_tokens");
    long total = 0, prefix = 0, cached = 0;
    size_t i;
    json_t *msg;
    int in_prefix = 1;
    char *prompt_text = NULL;
    char *text = NULL;
    int reason;
    const char *which;
    char id[48];
    uint64_t h;

    if (!max_tokens)
        max_tokens = json_object_get(b, "max_tokens");
    if (!json_is_string(model) || !json_is_array(messages)) {
        wire_error(r, WIRE_OPENAI, 400, "model (string) and messages (array) are required");
        goto out;
    }
    if (json_is_true(json_object_get(b, "stream"))) {
        wire_error(r, WIRE_OPENAI, 400, "stream: not supported by bo1-fake-llm");
        goto out;
    }
    h = fake_hash_str(FAKE_HASH_INIT, json_string_value(model));
    json_array_foreach(messages, i, msg)
    {
        const char *role = json_string_value(json_object_get(msg, "role"));
        size_t before = p->n;
        if (!role || prompt_add_content(p, json_object_get(msg, "content")) != 0) {
            wire_error(r, WIRE_OPENAI, 400, "messages: each needs role and content");
            goto out;
        }
        /* Automatic prefix caching: the leading system/developer messages. */
        in_prefix = in_prefix && (strcmp(role, "system") == 0 || strcmp(role, "developer") == 0);
        for (size_t s = before; s < p->n; s++) {
            total += tokens_of(strlen(p->seg[s].text));
            if (in_prefix) {
                h = fake_hash(fake_hash_str(h, p->seg[s].text), "\x1e", 1);
                prefix = total;
            }
        }
    }
    if (prefix > 0) {
        pthread_mutex_lock(&m->srv->st->lock);
        if (fake_state_cache_seen_locked(m->srv->st, h ^ 0x6f70656e6169ULL))
            cached = prefix;
        pthread_mutex_unlock(&m->srv->st->lock);
    }
    prompt_text = prompt_join(p);
    text = m->script
               ? strdup(m->script)
               : fake_answer_generate(m->srv->st->seed, m->task, prompt_text ? prompt_text : "");
    if (!text) {
        wire_error(r, WIRE_OPENAI, 500, "out of memory");
        goto out;
    }
    apply_limits(text, json_object_get(b, "stop"),
                 json_is_integer(max_tokens) ? (long)json_integer_value(max_tokens) : 0, &reason,
                 &which);
    snprintf(id, sizeof(id), "chatcmpl-fake%016llx",
             (unsigned long long)fake_hash_str(fake_hash(FAKE_HASH_INIT, r->request_id, 8), text));
    reply_json(r, 200,
               json_pack("{s:s, s:s, s:I, s:O, s:[{s:i, s:{s:s, s:s}, s:s, s:n}], "
                         "s:{s:I, s:I, s:I, s:{s:I}}}",
                         "id", id, "object", "chat.completion", "created", (json_int_t)time(NULL),
                         "model", model, "choices", "index", 0, "message", "role", "assistant",
                         "content", text, "finish_reason", reason == 1 ? "length" : "stop",
                         "logprobs", "usage", "prompt_tokens", (json_int_t)total,
                         "completion_tokens", (json_int_t)tokens_of(strlen(text)), "total_tokens",
                         (json_int_t)(total + tokens_of(strlen(text))), "prompt_tokens_details",
                         "cached_tokens", (json_int_t)cached));
    if (!r->body)
        wire_error(r, WIRE_OPENAI, 500, "could not encode the answer");
out:
    free(prompt_text);
    free(text);
}

static char *base64_floats(const float *v, size_t n)
{
    static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    size_t len = n * 4;
    unsigned char *raw = malloc(len ? len : 1);
    char *out = malloc((len + 2) / 3 * 4 + 1);
    size_t o = 0;

    if (!raw || !out) {
        free(raw);
        free(out);
        return NULL;
    }
    for (size_t i = 0; i < n; i++) { /* little-endian float32, as the SDKs decode */
        uint32_t u;
        memcpy(&u, &v[i], 4);
        raw[i * 4] = (unsigned char)u;
        raw[i * 4 + 1] = (unsigned char)(u >> 8);
        raw[i * 4 + 2] = (unsigned char)(u >> 16);
        raw[i * 4 + 3] = (unsigned char)(u >> 24);
    }
    for (size_t i = 0; i < len; i += 3) {
        uint32_t x = (uint32_t)raw[i] << 16;
        if (i + 1 < len)
            x |= (uint32_t)raw[i + 1] << 8;
        if (i + 2 < len)
            x |= raw[i + 2];
        out[o++] = tab[(x >> 18) & 63];
        out[o++] = tab[(x >> 12) & 63];
        out[o++] = i + 1 < len ? tab[(x >> 6) & 63] : '=';
        out[o++] = i + 2 < len ? tab[x & 63] : '=';
    }
    out[o] = '\0';
    free(raw);
    return out;
}

static void answer_embeddings(struct model_req *m)
{
    struct reply *r = &m->k->reply;
    json_t *b = m->body;
    json_t *input = json_object_get(b, "input");
    json_t *dim_j = json_object_get(b, "dimensions");
    const char *fmt = json_string_value(json_object_get(b, "encoding_format"));
    json_t *model = json_object_get(b, "model");
    json_t *data = json_array();
    size_t dim = m->srv->st->embed_dim;
    float *vec = NULL;
    long tokens = 0;
    size_t i, n;

    if (!dim_j)
        dim_j = json_object_get(b, "output_dimension"); /* Voyage's name */
    if (json_is_integer(dim_j)) {
        if (json_integer_value(dim_j) < 1 || json_integer_value(dim_j) > 8192) {
            wire_error(r, WIRE_OPENAI, 400, "dimensions must be between 1 and 8192");
            goto out;
        }
        dim = (size_t)json_integer_value(dim_j);
    }
    n = json_is_array(input) ? json_array_size(input) : 1;
    if (!(json_is_string(input) || json_is_array(input)) || n == 0) {
        wire_error(r, WIRE_OPENAI, 400, "input must be a string or a non-empty array of strings");
        goto out;
    }
    vec = malloc(dim * sizeof(*vec));
    if (!vec || !data) {
        wire_error(r, WIRE_OPENAI, 500, "out of memory");
        goto out;
    }
    for (i = 0; i < n; i++) {
        json_t *item = json_is_array(input) ? json_array_get(input, i) : input;
        const char *text = json_string_value(item);
        json_t *emb;
        if (!text) {
            wire_error(r, WIRE_OPENAI, 400, "input items must be strings");
            goto out;
        }
        tokens += tokens_of(strlen(text));
        fake_embed(text, vec, dim);
        if (fmt && strcmp(fmt, "base64") == 0) {
            char *s = base64_floats(vec, dim);
            emb = s ? json_string(s) : NULL;
            free(s);
        } else {
            emb = json_array();
            for (size_t d = 0; emb && d < dim; d++)
                json_array_append_new(emb, json_real(vec[d]));
        }
        json_array_append_new(data, json_pack("{s:s, s:o, s:I}", "object", "embedding", "embedding",
                                              emb, "index", (json_int_t)i));
    }
    reply_json(r, 200,
               json_pack("{s:s, s:O, s:s, s:{s:I, s:I}}", "object", "list", "data", data, "model",
                         json_is_string(model) ? json_string_value(model) : "fake-embed", "usage",
                         "prompt_tokens", (json_int_t)tokens, "total_tokens", (json_int_t)tokens));
out:
    json_decref(data);
    free(vec);
}

static const char *err_label(const struct model_req *m)
{
    return m->d.error == FAKE_ERR_NONE ? NULL : fake_error_name(m->d.error);
}

static void handle_model(struct fake_server *srv, struct conn *k, const char *path)
{
    struct fake_state *st = srv->st;
    struct model_req m = {.srv = srv, .k = k, .path = path};
    struct prompt p = {0};
    struct collect hdr = {.obj = json_object()};
    json_t *rec = NULL;
    json_error_t jerr;
    int authed;

    m.wire = strcmp(path, "/v1/messages") == 0 ? WIRE_ANTHROPIC : WIRE_OPENAI;
    MHD_get_connection_values(k->mhd, MHD_HEADER_KIND, on_header, &hdr);
    m.task = json_string_value(json_object_get(hdr.obj, "x-bo1-task"));
    m.session = json_string_value(json_object_get(hdr.obj, "x-bo1-session"));
    if (!k->too_large)
        m.body = json_loadb(bo1_buf_str(&k->body), k->body.len, 0, &jerr);
    authed = auth_ok(st, hdr.obj);

    rec = json_pack("{s:s, s:s, s:s?, s:s?, s:O}", "method", "POST", "path", path, "task", m.task,
                    "session", m.session, "headers", hdr.obj);
    if (rec) {
        json_t *body = m.body ? json_incref(m.body) : json_string(bo1_buf_str(&k->body));
        json_object_set_new(rec, "body", body ? body : json_string("(body not UTF-8)"));
    }
    pthread_mutex_lock(&st->lock);
    if (rec)
        fake_state_record_locked(st, rec);
    rec = NULL;
    if (authed && m.body) {
        fake_state_decide_locked(st, path, m.task, m.session, bo1_buf_str(&k->body), &m.d);
        if (m.d.error == FAKE_ERR_NONE && strcmp(path, "/v1/embeddings") != 0)
            m.script = fake_state_pop_script_locked(st, m.task, m.session);
    }
    pthread_mutex_unlock(&st->lock);

    if (!authed) {
        if (m.wire == WIRE_ANTHROPIC)
            anthropic_error(&k->reply, 401, "authentication_error", "invalid x-api-key", NULL);
        else
            openai_error(&k->reply, 401, "invalid_request_error", "Incorrect API key provided.",
                         "invalid_api_key", NULL);
    } else if (k->too_large) {
        wire_error(&k->reply, m.wire, 413, "request body too large");
    } else if (!m.body) {
        wire_error(&k->reply, m.wire, 400, "request body is not valid JSON");
    } else if (m.d.error == FAKE_ERR_429 || m.d.error == FAKE_ERR_SPEND ||
               m.d.error == FAKE_ERR_500 || m.d.error == FAKE_ERR_529) {
        fault_reply(&m);
    } else if (m.wire == WIRE_ANTHROPIC) {
        answer_messages(&m, &p);
    } else if (strcmp(path, "/v1/chat/completions") == 0) {
        answer_chat(&m, &p);
    } else {
        answer_embeddings(&m);
    }
    if (m.d.error == FAKE_ERR_MALFORMED || m.d.error == FAKE_ERR_TRUNCATED ||
        m.d.error == FAKE_ERR_RESET || m.d.error == FAKE_ERR_HANG)
        k->reply.mode = m.d.error;
    if (m.d.error == FAKE_ERR_MALFORMED && k->reply.body) {
        /* Keep a plausible start, then break the JSON: cut in the middle and add junk. */
        k->reply.len = k->reply.len / 2;
        k->reply.body[k->reply.len] = '\0';
        char *junk = malloc(k->reply.len + 32);
        if (junk) {
            snprintf(junk, k->reply.len + 32, "%s<<not json", k->reply.body);
            reply_set(&k->reply, 200, junk);
        }
        k->reply.status = 200;
    }
    if (m.d.error == FAKE_ERR_TRUNCATED)
        k->reply.status = 200;
    k->delay_ms = m.d.latency_ms;
    if (m.d.error == FAKE_ERR_HANG)
        k->delay_ms = m.d.hang_ms > 0 ? m.d.hang_ms : 1;

    bo1_log_info(k->reply.request_id,
                 json_pack("{s:s, s:s, s:s?, s:s?, s:i, s:s?, s:I}", "method", "POST", "path", path,
                           "task", m.task, "session", m.session, "status", (int)k->reply.status,
                           "fault", err_label(&m), "latency_ms", (json_int_t)m.d.latency_ms),
                 "request");
    free(m.script);
    free(p.seg);
    json_decref(m.body);
    json_decref(hdr.obj);
}

/* ---- admin endpoints ---- */

static void handle_faults(struct fake_server *srv, struct conn *k, const char *method)
{
    struct fake_state *st = srv->st;
    struct reply *r = &k->reply;
    json_t *body = NULL;
    json_t *list = NULL;
    json_t *out = NULL;
    char *why = NULL;
    struct fake_fault *parsed[64];
    size_t n = 0;

    if (strcmp(method, "DELETE") == 0) {
        pthread_mutex_lock(&st->lock);
        fake_state_clear_faults_locked(st);
        pthread_mutex_unlock(&st->lock);
        reply_json(r, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (strcmp(method, "POST") == 0) {
        size_t i;
        json_t *f;
        body = json_loadb(bo1_buf_str(&k->body), k->body.len, 0, NULL);
        if (!body) {
            reply_json(r, 400, json_pack("{s:s}", "error", "body is not JSON"));
            goto out;
        }
        /* One rule, an array of rules, or {"faults":[...], "replace":bool}. */
        list = json_is_array(body) ? json_incref(body)
               : json_is_array(json_object_get(body, "faults"))
                   ? json_incref(json_object_get(body, "faults"))
                   : json_pack("[O]", body);
        json_array_foreach(list, i, f)
        {
            if (n == sizeof(parsed) / sizeof(parsed[0])) {
                why = strdup("at most 64 rules per request");
                break;
            }
            if (fake_fault_from_json(f, &parsed[n], &why) != BO1_OK)
                break;
            n++;
        }
        if (why || n != json_array_size(list)) {
            reply_json(r, 400, json_pack("{s:s}", "error", why ? why : "bad fault"));
            while (n)
                fake_fault_free(parsed[--n]);
            goto out;
        }
        pthread_mutex_lock(&st->lock);
        if (json_is_true(json_object_get(body, "replace")))
            fake_state_clear_faults_locked(st);
        for (i = 0; i < n; i++)
            fake_state_add_fault_locked(st, parsed[i]);
        pthread_mutex_unlock(&st->lock);
    } else if (strcmp(method, "GET") != 0) {
        reply_json(r, 405, json_pack("{s:s}", "error", "use GET, POST or DELETE"));
        goto out;
    }
    out = json_array();
    pthread_mutex_lock(&st->lock);
    for (struct fake_fault *f = st->faults; f && out; f = f->next)
        json_array_append_new(out, fake_fault_to_json(f));
    pthread_mutex_unlock(&st->lock);
    reply_json(r, 200, json_pack("{s:o}", "faults", out));
out:
    free(why);
    json_decref(list);
    json_decref(body);
}

static void handle_script(struct fake_server *srv, struct conn *k, const char *method)
{
    struct fake_state *st = srv->st;
    struct reply *r = &k->reply;
    json_t *body = NULL;
    const char *task = NULL;
    const char *session = NULL;
    json_t *texts = NULL;
    json_t *t;
    size_t i;

    if (strcmp(method, "DELETE") == 0) {
        pthread_mutex_lock(&st->lock);
        fake_state_clear_scripts_locked(st);
        pthread_mutex_unlock(&st->lock);
        reply_json(r, 200, json_pack("{s:b}", "ok", 1));
        return;
    }
    if (strcmp(method, "POST") != 0) {
        reply_json(r, 405, json_pack("{s:s}", "error", "use POST or DELETE"));
        return;
    }
    body = json_loadb(bo1_buf_str(&k->body), k->body.len, 0, NULL);
    if (!body ||
        json_unpack(body, "{s:s, s?s, s:o}", "task", &task, "session", &session, "texts", &texts) !=
            0 ||
        !json_is_array(texts)) {
        reply_json(r, 400,
                   json_pack("{s:s}", "error", "want {\"task\":s, \"session\"?:s, \"texts\":[s]}"));
        goto out;
    }
    json_array_foreach(texts, i, t)
    {
        if (!json_is_string(t)) {
            reply_json(r, 400, json_pack("{s:s}", "error", "texts must be strings"));
            goto out;
        }
    }
    pthread_mutex_lock(&st->lock);
    json_array_foreach(texts, i, t)
        fake_state_add_script_locked(st, task, session, json_string_value(t));
    pthread_mutex_unlock(&st->lock);
    reply_json(r, 200, json_pack("{s:b, s:I}", "ok", 1, "queued", (json_int_t)i));
out:
    json_decref(body);
}

static void handle_requests(struct fake_server *srv, struct conn *k, const char *method)
{
    struct fake_state *st = srv->st;
    const char *task = MHD_lookup_connection_value(k->mhd, MHD_GET_ARGUMENT_KIND, "task");
    const char *session = MHD_lookup_connection_value(k->mhd, MHD_GET_ARGUMENT_KIND, "session");
    const char *path = MHD_lookup_connection_value(k->mhd, MHD_GET_ARGUMENT_KIND, "path");
    json_t *list = NULL;

    pthread_mutex_lock(&st->lock);
    if (strcmp(method, "DELETE") == 0)
        fake_state_clear_requests_locked(st);
    else if (strcmp(method, "GET") == 0)
        list = fake_state_requests_locked(st, task, session, path);
    pthread_mutex_unlock(&st->lock);
    if (strcmp(method, "DELETE") == 0)
        reply_json(&k->reply, 200, json_pack("{s:b}", "ok", 1));
    else if (list)
        reply_json(&k->reply, 200, list);
    else
        reply_json(&k->reply, 405, json_pack("{s:s}", "error", "use GET or DELETE"));
}

static void handle(struct fake_server *srv, struct conn *k, const char *url, const char *method)
{
    int is_model = strcmp(url, "/v1/messages") == 0 || strcmp(url, "/v1/chat/completions") == 0 ||
                   strcmp(url, "/v1/embeddings") == 0;

    if (!id_counter)
        __atomic_store_n(&id_counter, (uint64_t)getpid() << 32 ^ (uint64_t)time(NULL) << 8,
                         __ATOMIC_RELAXED);
    snprintf(k->reply.request_id, sizeof(k->reply.request_id), "req_fake%016llx",
             (unsigned long long)fake_hash(
                 srv->st->seed ^ 0x72657175657374ULL,
                 &(uint64_t){__atomic_add_fetch(&id_counter, 1, __ATOMIC_RELAXED)}, 8));
    if (is_model && strcmp(method, "POST") == 0) {
        handle_model(srv, k, url);
    } else if (is_model) {
        wire_error(&k->reply, strcmp(url, "/v1/messages") == 0 ? WIRE_ANTHROPIC : WIRE_OPENAI, 405,
                   "use POST");
        k->reply.status = 405;
    } else if (strcmp(url, "/_fake/health") == 0) {
        reply_json(&k->reply, 200, json_pack("{s:s}", "status", "ok"));
    } else if (strcmp(url, "/_fake/requests") == 0) {
        handle_requests(srv, k, method);
    } else if (strcmp(url, "/_fake/faults") == 0) {
        handle_faults(srv, k, method);
    } else if (strcmp(url, "/_fake/script") == 0) {
        handle_script(srv, k, method);
    } else if (strcmp(url, "/_fake/reset") == 0 && strcmp(method, "POST") == 0) {
        pthread_mutex_lock(&srv->st->lock);
        fake_state_clear_faults_locked(srv->st);
        fake_state_clear_scripts_locked(srv->st);
        fake_state_clear_requests_locked(srv->st);
        fake_state_clear_cache_locked(srv->st);
        pthread_mutex_unlock(&srv->st->lock);
        reply_json(&k->reply, 200, json_pack("{s:b}", "ok", 1));
    } else if (strncmp(url, "/v1/", 4) == 0) {
        anthropic_error(&k->reply, 404, "not_found_error", "no such endpoint", NULL);
    } else {
        reply_json(&k->reply, 404, json_pack("{s:s}", "error", "not found"));
    }
    if (!k->reply.body)
        reply_set(&k->reply, 500, strdup("{\"error\":\"internal\"}"));
    if (!(is_model && strcmp(method, "POST") == 0))
        bo1_log_info(k->reply.request_id,
                     json_pack("{s:s, s:s, s:i}", "method", method, "path", url, "status",
                               (int)k->reply.status),
                     "request");
}

/* ---- sending ---- */

static ssize_t on_truncated_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct conn *k = cls;
    size_t half = k->reply.len / 2;
    size_t n;

    if (pos >= half)
        return MHD_CONTENT_READER_END_WITH_ERROR; /* MHD closes the connection */
    n = half - (size_t)pos;
    if (n > max)
        n = max;
    memcpy(buf, k->reply.body + pos, n);
    return (ssize_t)n;
}

static enum MHD_Result send_reply(struct conn *k)
{
    struct reply *r = &k->reply;
    struct MHD_Response *resp;
    enum MHD_Result ret;

    if (r->mode == FAKE_ERR_RESET) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(k->mhd, MHD_CONNECTION_INFO_CONNECTION_FD);
        if (ci) {
            struct linger lg = {.l_onoff = 1, .l_linger = 0};
            struct sockaddr unspec = {.sa_family = AF_UNSPEC};
            setsockopt(ci->connect_fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
            /* MHD shuts the write side down before closing, which would send a FIN first;
             * on Linux, connect(AF_UNSPEC) aborts the connection with an RST at once. */
            (void)connect(ci->connect_fd, &unspec, sizeof(unspec));
        }
        return MHD_NO;
    }
    if (r->mode == FAKE_ERR_TRUNCATED)
        resp = MHD_create_response_from_callback(r->len, 4096, on_truncated_read, k, NULL);
    else
        resp = MHD_create_response_from_buffer(r->len, r->body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, "Content-Type", "application/json");
    MHD_add_response_header(resp, "request-id", r->request_id);
    MHD_add_response_header(resp, "x-request-id", r->request_id);
    if (r->retry_after[0])
        MHD_add_response_header(resp, "retry-after", r->retry_after);
    if (r->retry_after_ms[0])
        MHD_add_response_header(resp, "retry-after-ms", r->retry_after_ms);
    if (r->should_retry[0])
        MHD_add_response_header(resp, "x-should-retry", r->should_retry);
    ret = MHD_queue_response(k->mhd, r->status, resp);
    MHD_destroy_response(resp);
    return ret;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url,
                                  const char *method, const char *version, const char *upload_data,
                                  size_t *upload_data_size, void **con_cls)
{
    struct fake_server *srv = cls;
    struct conn *k = *con_cls;

    (void)version;
    if (!k) {
        k = calloc(1, sizeof(*k));
        if (!k)
            return MHD_NO;
        k->srv = srv;
        k->mhd = c;
        bo1_buf_init(&k->body, MAX_BODY);
        *con_cls = k;
        return MHD_YES;
    }
    if (*upload_data_size) {
        if (bo1_buf_append(&k->body, upload_data, *upload_data_size) != BO1_OK)
            k->too_large = 1;
        *upload_data_size = 0;
        return MHD_YES;
    }
    switch (k->state) {
    case CONN_NEW:
        break;
    case CONN_READY:
        return send_reply(k);
    case CONN_WAITING: /* not expected: MHD calls us only after a resume */
        return MHD_YES;
    case CONN_ABORT:
        return MHD_NO;
    }
    handle(srv, k, url, method);
    if (k->delay_ms > 0) {
        if (timer_wait(&srv->timer, k, k->delay_ms) != 0)
            return MHD_NO;
        return MHD_YES;
    }
    return send_reply(k);
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct conn *k = *con_cls;

    (void)cls;
    (void)c;
    (void)toe;
    if (!k)
        return;
    bo1_buf_fini(&k->body);
    free(k->reply.body);
    free(k);
    *con_cls = NULL;
}

enum bo1_status fake_server_start(const struct fake_server_opts *opts, struct fake_state *st,
                                  struct fake_server **out)
{
    struct fake_server *srv = calloc(1, sizeof(*srv));
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)opts->port)};

    if (!srv)
        return BO1_NO_MEMORY;
    srv->st = st;
    if (inet_pton(AF_INET, opts->host, &sa.sin_addr) != 1) {
        free(srv);
        return BO1_BAD_FIELD;
    }
    if (timer_init(&srv->timer) != 0) {
        free(srv);
        return BO1_INTERNAL;
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC,
        (uint16_t)opts->port, NULL, NULL, on_request, srv, MHD_OPTION_SOCK_ADDR,
        (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, (unsigned)opts->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned)16000, MHD_OPTION_LISTEN_BACKLOG_SIZE,
        (unsigned)4096, MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)300, MHD_OPTION_NOTIFY_COMPLETED,
        on_completed, srv, MHD_OPTION_END);
    if (!srv->daemon) {
        timer_fini(&srv->timer);
        free(srv);
        return BO1_INTERNAL;
    }
    *out = srv;
    return BO1_OK;
}

void fake_server_stop(struct fake_server *srv)
{
    if (!srv)
        return;
    /* Stop the timer first: it resumes every waiting connection marked for closing, as
     * MHD forbids stopping a daemon that still has suspended connections. */
    timer_fini(&srv->timer);
    MHD_stop_daemon(srv->daemon);
    free(srv);
}
