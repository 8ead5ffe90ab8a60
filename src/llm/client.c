/* The model gateway: calls, the in-flight cap and its FIFO queue, attempts and retries,
 * circuit breakers, cost and counters. Everything here runs on the loop thread except
 * bo1_llm_metrics(), which reads counters under stats_lock.
 *
 * A call is always in exactly one state:
 *   QUEUED    waiting for an in-flight slot (in gw->q_*; wakes at its deadline to time out)
 *   RUNNING   an HTTP attempt is in the transport
 *   WAITING   backing off before the next attempt (wakes at wake_at)
 *   FINISHING the result is known; the callback runs from the next tick (in gw->done_*)
 * User callbacks run only from on_tick() or bo1_llm_cancel()/bo1_llm_free(), never from
 * inside curl processing, so a callback may start or cancel calls freely. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bo1/loop.h"
#include "bo1/pricing.h"
#include "llm_internal.h"

enum call_state {
    C_QUEUED,
    C_RUNNING,
    C_WAITING,
    C_FINISHING,
};

enum call_kind {
    K_CHAT,
    K_POST,
};

enum {
    BR_ANTHROPIC,
    BR_OPENAI,
    BR_VOYAGE,
    BR_OTHER,
    BR_COUNT,
};

struct bo1_llm_call {
    struct bo1_llm *gw;
    struct bo1_llm_call *prev, *next;   /* gw->calls: every live call */
    struct bo1_llm_call *qprev, *qnext; /* gw->q_head (QUEUED) or gw->done_head (FINISHING) */
    uint64_t seq;
    enum call_state state;
    enum call_kind kind;
    uint64_t started_at, deadline_at, wake_at;

    /* The HTTP request, copied at call time. */
    char *url;
    char **headers;
    size_t n_headers;
    char *body;
    size_t body_len;
    int breaker;
    const char *provider; /* static string */
    char *task;
    char *model;

    /* The current or last attempt. */
    struct llm_xfer xfer;
    int probe;
    int limited_by_deadline;
    unsigned attempts;
    unsigned failures;

    /* The outcome. */
    enum bo1_status status;
    long http_status;
    char *resp_body;
    size_t resp_len;
    char *request_id;
    char message[640];

    bo1_llm_done_cb *chat_cb;
    bo1_llm_http_cb *post_cb;
    void *arg;
};

struct stat_entry {
    char *provider, *model, *task;
    enum bo1_status outcome;
    unsigned long long calls, attempts;
    unsigned long long input, output, cache_write, cache_read;
    double cost_usd;
    unsigned long long cost_unknown; /* calls whose model had no price */
    double latency_ms_sum;
};

struct bo1_llm {
    struct bo1_loop *loop;
    uv_loop_t *uv;
    struct bo1_llm_options opt;
    char *strings[16]; /* owned copies behind opt's string fields */
    size_t n_strings;
    struct bo1_pricing *pricing;
    struct llm_transport *tr;
    uv_timer_t *tick;
    struct llm_breaker breakers[BR_COUNT];
    char breaker_last[BR_COUNT][400]; /* the failure that last counted, for CIRCUIT_OPEN */

    struct bo1_llm_call *calls;
    struct bo1_llm_call *q_head, *q_tail;
    struct bo1_llm_call *done_head, *done_tail;
    unsigned inflight;
    unsigned queued;
    uint64_t seq;
    uint64_t rng;
    uint64_t tick_at; /* when the tick timer is due; UINT64_MAX when idle */
    int in_tick;
    int busy; /* > 0 while callbacks may run from on_tick() or bo1_llm_cancel() */
    int freeing;
    int free_after_tick;

    pthread_mutex_t stats_lock;
    struct stat_entry *stats;
    size_t n_stats, cap_stats;
    atomic_uint g_inflight, g_queued;
    atomic_int g_breaker_state[BR_COUNT];
    atomic_ullong g_breaker_opened[BR_COUNT];
    atomic_ullong g_retries;
    atomic_ullong g_connects;
};

static const char *const breaker_names[BR_COUNT] = {"anthropic", "openai", "voyage", "other"};

static void reschedule(struct bo1_llm *gw);
static void pump(struct bo1_llm *gw);
static void gw_destroy(struct bo1_llm *gw);

/* ---- small helpers --------------------------------------------------------------- */

static char *dup_clean(const char *s)
{
    char *d = strdup(s ? s : "");

    /* Header values must not carry CR/LF or other control bytes. */
    for (char *p = d; p && *p; p++)
        if ((unsigned char)*p < 0x20 || *p == 0x7f)
            *p = '_';
    return d;
}

static char *join_url(const char *base, const char *path)
{
    size_t n = strlen(base);
    char *u;

    while (n && base[n - 1] == '/')
        n--;
    u = malloc(n + strlen(path) + 1);
    if (!u)
        return NULL;
    memcpy(u, base, n);
    strcpy(u + n, path);
    return u;
}

static int breaker_index(const char *provider)
{
    for (int i = 0; i < BR_OTHER; i++)
        if (provider && strcmp(provider, breaker_names[i]) == 0)
            return i;
    return BR_OTHER;
}

static void mirror_breaker(struct bo1_llm *gw, int i)
{
    atomic_store(&gw->g_breaker_state[i], (int)gw->breakers[i].state);
    atomic_store(&gw->g_breaker_opened[i], gw->breakers[i].opened_count);
}

/* ---- lists ------------------------------------------------------------------------ */

static void q_remove(struct bo1_llm_call **head, struct bo1_llm_call **tail, struct bo1_llm_call *c)
{
    if (c->qprev)
        c->qprev->qnext = c->qnext;
    else
        *head = c->qnext;
    if (c->qnext)
        c->qnext->qprev = c->qprev;
    else
        *tail = c->qprev;
    c->qprev = c->qnext = NULL;
}

static void q_append(struct bo1_llm_call **head, struct bo1_llm_call **tail, struct bo1_llm_call *c)
{
    c->qnext = NULL;
    c->qprev = *tail;
    if (*tail)
        (*tail)->qnext = c;
    else
        *head = c;
    *tail = c;
}

/* Keep the wait queue in arrival order: a call coming back from backoff goes ahead of
 * calls that arrived after it. */
static void queue_insert(struct bo1_llm *gw, struct bo1_llm_call *c)
{
    struct bo1_llm_call *at = gw->q_tail;

    while (at && at->seq > c->seq)
        at = at->qprev;
    if (!at) {
        c->qprev = NULL;
        c->qnext = gw->q_head;
        if (gw->q_head)
            gw->q_head->qprev = c;
        else
            gw->q_tail = c;
        gw->q_head = c;
    } else {
        c->qprev = at;
        c->qnext = at->qnext;
        if (at->qnext)
            at->qnext->qprev = c;
        else
            gw->q_tail = c;
        at->qnext = c;
    }
    c->state = C_QUEUED;
    c->wake_at = c->deadline_at;
    gw->queued++;
    atomic_store(&gw->g_queued, gw->queued);
}

static void queue_remove(struct bo1_llm *gw, struct bo1_llm_call *c)
{
    q_remove(&gw->q_head, &gw->q_tail, c);
    gw->queued--;
    atomic_store(&gw->g_queued, gw->queued);
}

static void call_free(struct bo1_llm_call *c)
{
    if (!c)
        return;
    llm_xfer_fini(&c->xfer);
    free(c->url);
    for (size_t i = 0; i < c->n_headers; i++)
        free(c->headers[i]);
    free(c->headers);
    free(c->body);
    free(c->task);
    free(c->model);
    free(c->resp_body);
    free(c->request_id);
    free(c);
}

/* ---- stats ---------------------------------------------------------------------- */

static struct stat_entry *stat_find(struct bo1_llm *gw, const char *provider, const char *model,
                                    const char *task, enum bo1_status outcome)
{
    struct stat_entry *e;

    for (size_t i = 0; i < gw->n_stats; i++) {
        e = &gw->stats[i];
        if (e->outcome == outcome && strcmp(e->model, model) == 0 && strcmp(e->task, task) == 0 &&
            strcmp(e->provider, provider) == 0)
            return e;
    }
    if (gw->n_stats == gw->cap_stats) {
        size_t cap = gw->cap_stats ? gw->cap_stats * 2 : 32;
        struct stat_entry *grown = realloc(gw->stats, cap * sizeof(*grown));

        if (!grown)
            return NULL;
        gw->stats = grown;
        gw->cap_stats = cap;
    }
    e = &gw->stats[gw->n_stats];
    memset(e, 0, sizeof(*e));
    e->provider = strdup(provider);
    e->model = strdup(model);
    e->task = strdup(task);
    e->outcome = outcome;
    if (!e->provider || !e->model || !e->task) {
        free(e->provider);
        free(e->model);
        free(e->task);
        return NULL;
    }
    gw->n_stats++;
    return e;
}

static void stat_record(struct bo1_llm *gw, const struct bo1_llm_call *c, const char *model,
                        const struct bo1_llm_usage *u, double cost, int cost_known,
                        unsigned latency_ms, enum bo1_status outcome)
{
    struct stat_entry *e;

    pthread_mutex_lock(&gw->stats_lock);
    e = stat_find(gw, c->provider, model ? model : "", c->task ? c->task : "", outcome);
    if (e) {
        e->calls++;
        e->attempts += c->attempts;
        if (u) {
            e->input += (unsigned long long)u->input;
            e->output += (unsigned long long)u->output;
            e->cache_write += (unsigned long long)u->cache_write;
            e->cache_read += (unsigned long long)u->cache_read;
        }
        if (cost_known)
            e->cost_usd += cost;
        else if (u)
            e->cost_unknown++;
        e->latency_ms_sum += latency_ms;
    }
    pthread_mutex_unlock(&gw->stats_lock);
}

static enum bo1_status put_label(struct bo1_buf *out, const char *name, const char *v, int first)
{
    enum bo1_status st = bo1_buf_printf(out, "%s%s=\"", first ? "" : ",", name);

    for (const char *p = v; st == BO1_OK && *p; p++) {
        if (*p == '\\' || *p == '"')
            st = bo1_buf_printf(out, "\\%c", *p);
        else if (*p == '\n')
            st = bo1_buf_puts(out, "\\n");
        else
            st = bo1_buf_append(out, p, 1);
    }
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "\"");
    return st;
}

static enum bo1_status put_series(struct bo1_buf *out, const char *metric,
                                  const struct stat_entry *e, const char *kind, int with_task,
                                  double value)
{
    enum bo1_status st = bo1_buf_printf(out, "%s{", metric);

    if (st == BO1_OK)
        st = put_label(out, "provider", e->provider, 1);
    if (st == BO1_OK)
        st = put_label(out, "model", e->model, 0);
    if (st == BO1_OK && with_task)
        st = put_label(out, "task", e->task, 0);
    if (st == BO1_OK && with_task)
        st = put_label(out, "outcome", bo1_status_name(e->outcome), 0);
    if (st == BO1_OK && kind)
        st = put_label(out, "kind", kind, 0);
    if (st == BO1_OK)
        st = bo1_buf_printf(out, "} %.10g\n", value);
    return st;
}

enum bo1_status bo1_llm_metrics(struct bo1_llm *gw, struct bo1_buf *out)
{
    enum bo1_status st = BO1_OK;
    static const char *const kinds[4] = {"input", "output", "cache_write", "cache_read"};

    pthread_mutex_lock(&gw->stats_lock);
    st = bo1_buf_puts(out, "# HELP bo1_llm_calls_total Model calls finished, by outcome.\n"
                           "# TYPE bo1_llm_calls_total counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++)
        st = put_series(out, "bo1_llm_calls_total", &gw->stats[i], NULL, 1,
                        (double)gw->stats[i].calls);
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_attempts_total HTTP attempts made by finished "
                               "calls (retries included).\n"
                               "# TYPE bo1_llm_attempts_total counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++)
        st = put_series(out, "bo1_llm_attempts_total", &gw->stats[i], NULL, 1,
                        (double)gw->stats[i].attempts);
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_latency_ms_sum Milliseconds from call to "
                               "callback, summed.\n"
                               "# TYPE bo1_llm_latency_ms_sum counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++)
        st = put_series(out, "bo1_llm_latency_ms_sum", &gw->stats[i], NULL, 1,
                        gw->stats[i].latency_ms_sum);
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_tokens_total Tokens used, by kind.\n"
                               "# TYPE bo1_llm_tokens_total counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++) {
        const struct stat_entry *e = &gw->stats[i];
        unsigned long long v[4] = {e->input, e->output, e->cache_write, e->cache_read};

        if (e->outcome != BO1_OK)
            continue;
        for (int k = 0; st == BO1_OK && k < 4; k++)
            st = put_series(out, "bo1_llm_tokens_total", e, kinds[k], 1, (double)v[k]);
    }
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_cost_usd_total Cost of successful calls whose "
                               "model has a price.\n"
                               "# TYPE bo1_llm_cost_usd_total counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++)
        if (gw->stats[i].outcome == BO1_OK)
            st = put_series(out, "bo1_llm_cost_usd_total", &gw->stats[i], NULL, 1,
                            gw->stats[i].cost_usd);
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_cost_unknown_total Successful calls whose "
                               "model has no price.\n"
                               "# TYPE bo1_llm_cost_unknown_total counter\n");
    for (size_t i = 0; st == BO1_OK && i < gw->n_stats; i++)
        if (gw->stats[i].outcome == BO1_OK)
            st = put_series(out, "bo1_llm_cost_unknown_total", &gw->stats[i], NULL, 1,
                            (double)gw->stats[i].cost_unknown);
    pthread_mutex_unlock(&gw->stats_lock);
    if (st == BO1_OK)
        st = bo1_buf_printf(out,
                            "# HELP bo1_llm_in_flight HTTP exchanges with a provider now.\n"
                            "# TYPE bo1_llm_in_flight gauge\n"
                            "bo1_llm_in_flight %u\n"
                            "# HELP bo1_llm_queued Calls waiting for an in-flight slot.\n"
                            "# TYPE bo1_llm_queued gauge\n"
                            "bo1_llm_queued %u\n"
                            "# HELP bo1_llm_retries_total Attempts after the first.\n"
                            "# TYPE bo1_llm_retries_total counter\n"
                            "bo1_llm_retries_total %llu\n"
                            "# HELP bo1_llm_connections_opened_total Connections opened to "
                            "providers (keep-alive reuse keeps this low).\n"
                            "# TYPE bo1_llm_connections_opened_total counter\n"
                            "bo1_llm_connections_opened_total %llu\n"
                            "# HELP bo1_llm_breaker_state Circuit breaker: 0 closed, 1 open, "
                            "2 half-open.\n"
                            "# TYPE bo1_llm_breaker_state gauge\n",
                            atomic_load(&gw->g_inflight), atomic_load(&gw->g_queued),
                            (unsigned long long)atomic_load(&gw->g_retries),
                            (unsigned long long)atomic_load(&gw->g_connects));
    for (int i = 0; st == BO1_OK && i < BR_OTHER; i++)
        st = bo1_buf_printf(out, "bo1_llm_breaker_state{provider=\"%s\"} %d\n", breaker_names[i],
                            atomic_load(&gw->g_breaker_state[i]));
    if (st == BO1_OK)
        st = bo1_buf_puts(out, "# HELP bo1_llm_breaker_opened_total Times a breaker opened.\n"
                               "# TYPE bo1_llm_breaker_opened_total counter\n");
    for (int i = 0; st == BO1_OK && i < BR_OTHER; i++)
        st = bo1_buf_printf(out, "bo1_llm_breaker_opened_total{provider=\"%s\"} %llu\n",
                            breaker_names[i],
                            (unsigned long long)atomic_load(&gw->g_breaker_opened[i]));
    return st;
}

/* ---- finishing and delivery ------------------------------------------------------ */

static void finish(struct bo1_llm_call *c, enum bo1_status st, const char *message)
{
    struct bo1_llm *gw = c->gw;

    c->status = st;
    if (message && message != c->message)
        snprintf(c->message, sizeof(c->message), "%s", message);
    c->state = C_FINISHING;
    c->wake_at = 0;
    q_append(&gw->done_head, &gw->done_tail, c);
    reschedule(gw);
}

static void deliver_chat(struct bo1_llm_call *c, unsigned latency)
{
    struct bo1_llm *gw = c->gw;
    struct bo1_llm_response r;
    struct llm_answer ans;
    char why[300];
    enum bo1_status st = c->status;
    const char *model = c->model;

    memset(&r, 0, sizeof(r));
    memset(&ans, 0, sizeof(ans));
    if (st == BO1_OK) {
        if (gw->opt.provider == BO1_LLM_PROVIDER_ANTHROPIC)
            st = llm_anthropic_decode(c->resp_body, c->resp_len, &ans, why, sizeof(why));
        else
            st = llm_openai_decode(c->resp_body, c->resp_len, &ans, why, sizeof(why));
        if (st != BO1_OK)
            snprintf(c->message, sizeof(c->message), "%s sent an unreadable reply: %s", c->provider,
                     why);
    }
    r.status = st;
    r.text = "";
    r.stop_reason = "";
    if (st == BO1_OK) {
        r.text = ans.text;
        r.stop_reason = ans.stop_reason;
        r.usage = ans.usage;
        /* Price by the model the provider says it ran, else by the one we asked for. */
        if (ans.model[0] && bo1_pricing_get(gw->pricing, ans.model))
            model = ans.model;
        r.cost_known = bo1_pricing_cost(gw->pricing, model, r.usage.input, r.usage.output,
                                        r.usage.cache_write, r.usage.cache_read, &r.cost_usd);
    }
    r.model = model;
    r.provider = c->provider;
    r.request_id = c->request_id && c->request_id[0] ? c->request_id
                   : (st == BO1_OK && ans.id)        ? ans.id
                                                     : "";
    r.latency_ms = latency;
    r.attempts = c->attempts;
    r.http_status = c->http_status;
    llm_utf8_sanitize(c->message); /* cut to size, it may end mid-character */
    r.error_message = st == BO1_OK ? "" : c->message;
    stat_record(gw, c, model, st == BO1_OK ? &r.usage : NULL, r.cost_usd, r.cost_known, latency,
                st);
    c->chat_cb(&r, c->arg);
    llm_answer_fini(&ans);
}

static void deliver_post(struct bo1_llm_call *c, unsigned latency)
{
    struct bo1_llm_http_result r;

    memset(&r, 0, sizeof(r));
    r.status = c->status;
    r.http_status = c->http_status;
    r.body = c->resp_body ? c->resp_body : "";
    r.body_len = c->resp_body ? c->resp_len : 0;
    r.request_id = c->request_id ? c->request_id : "";
    r.attempts = c->attempts;
    r.latency_ms = latency;
    llm_utf8_sanitize(c->message);
    r.error_message = c->status == BO1_OK ? "" : c->message;
    stat_record(c->gw, c, c->model, NULL, 0, 0, latency, c->status);
    c->post_cb(&r, c->arg);
}

/* Unlink @c from the gateway, run its callback, free it. */
static void deliver(struct bo1_llm_call *c)
{
    struct bo1_llm *gw = c->gw;
    uint64_t now = llm_now_ms();
    unsigned latency = (unsigned)(now - c->started_at);

    if (c->prev)
        c->prev->next = c->next;
    else
        gw->calls = c->next;
    if (c->next)
        c->next->prev = c->prev;
    if (c->kind == K_CHAT)
        deliver_chat(c, latency);
    else
        deliver_post(c, latency);
    call_free(c);
}

/* ---- attempts ---------------------------------------------------------------------- */

static void on_attempt_done(struct llm_xfer *x, int curl_code, void *arg);

/* How often a call that found the breaker half-open looks again for the probe's verdict. */
#define HALF_OPEN_POLL_MS 100

static enum bo1_status start_attempt(struct bo1_llm_call *c)
{
    struct bo1_llm *gw = c->gw;
    struct llm_breaker *br = &gw->breakers[c->breaker];
    struct curl_slist *hdrs = NULL;
    uint64_t now = llm_now_ms();
    uint64_t left;
    long timeout;

    if (now >= c->deadline_at) {
        char last[450];

        snprintf(last, sizeof(last), "%.440s", c->message);
        if (c->attempts == 0)
            snprintf(c->message, sizeof(c->message),
                     "%s call waited past its deadline before it could be sent", c->provider);
        else
            snprintf(c->message, sizeof(c->message),
                     "%s call reached its deadline after %u attempts; last error: %s", c->provider,
                     c->attempts, last[0] ? last : "none");
        finish(c, BO1_UPSTREAM_TIMEOUT, NULL);
        return BO1_OK;
    }
    if (!llm_breaker_allow(br, now, &c->probe)) {
        char last[450];

        if (br->state == LLM_BREAKER_HALF_OPEN && now + HALF_OPEN_POLL_MS < c->deadline_at) {
            /* A probe is out: wait for its verdict instead of failing a call the provider
             * may serve again (calls that raced the probe used to fail their session). */
            mirror_breaker(gw, c->breaker);
            c->state = C_WAITING;
            c->wake_at = now + HALF_OPEN_POLL_MS;
            reschedule(gw);
            return BO1_OK;
        }

        snprintf(last, sizeof(last), "%.440s",
                 c->message[0] ? c->message : gw->breaker_last[c->breaker]);
        snprintf(c->message, sizeof(c->message),
                 "%s calls are paused after %u consecutive failures (circuit breaker open; next "
                 "probe in %llu ms)%s%s",
                 c->provider, br->failures, (unsigned long long)llm_breaker_retry_in(br, now),
                 last[0] ? "; last error: " : "", last);
        mirror_breaker(gw, c->breaker);
        finish(c, BO1_CIRCUIT_OPEN, NULL);
        return BO1_OK;
    }
    mirror_breaker(gw, c->breaker);
    for (size_t i = 0; i < c->n_headers; i++) {
        struct curl_slist *n = curl_slist_append(hdrs, c->headers[i]);

        if (!n) {
            curl_slist_free_all(hdrs);
            llm_breaker_release_probe(br, c->probe);
            return BO1_NO_MEMORY;
        }
        hdrs = n;
    }
    left = c->deadline_at - now;
    timeout = (long)gw->opt.timeout_ms;
    c->limited_by_deadline = 0;
    if ((uint64_t)timeout >= left) {
        timeout = (long)left;
        c->limited_by_deadline = 1;
    }
    if (llm_transport_post(gw->tr, &c->xfer, c->url, hdrs, c->body, c->body_len, timeout,
                           gw->opt.max_reply_bytes, on_attempt_done, c) != BO1_OK) {
        llm_breaker_release_probe(br, c->probe);
        return BO1_NO_MEMORY;
    }
    if (c->attempts > 0)
        atomic_fetch_add(&gw->g_retries, 1);
    c->attempts++;
    c->state = C_RUNNING;
    c->wake_at = 0;
    gw->inflight++;
    atomic_store(&gw->g_inflight, gw->inflight);
    return BO1_OK;
}

/* Start queued calls while there are free slots. */
static void pump(struct bo1_llm *gw)
{
    while (!gw->freeing && gw->q_head && gw->inflight < gw->opt.max_inflight) {
        struct bo1_llm_call *c = gw->q_head;

        queue_remove(gw, c);
        if (start_attempt(c) != BO1_OK)
            finish(c, BO1_NO_MEMORY, "out of memory starting a model call");
    }
}

static void on_attempt_done(struct llm_xfer *x, int curl_code, void *arg)
{
    struct bo1_llm_call *c = arg;
    struct bo1_llm *gw = c->gw;
    struct llm_breaker *br = &gw->breakers[c->breaker];
    struct llm_attempt a;
    struct llm_verdict v;
    uint64_t now = llm_now_ms();
    long wait;

    gw->inflight--;
    atomic_store(&gw->g_inflight, gw->inflight);
    if (x->new_connections > 0)
        atomic_fetch_add(&gw->g_connects, (unsigned long long)x->new_connections);
    memset(&a, 0, sizeof(a));
    a.curl_code = curl_code;
    a.deadline_hit = c->limited_by_deadline;
    a.http_status = curl_code == 0 ? x->http_status : 0;
    a.should_retry = x->should_retry;
    a.retry_after_ms = x->retry_after_ms;
    a.retry_after = x->retry_after;
    a.body = x->resp.data;
    a.body_len = x->resp.len;
    a.provider = c->provider;
    a.curl_error = x->errbuf;
    llm_classify(&a, time(NULL), &v);
    llm_breaker_record(br, v.breaker, c->probe, now);
    if (v.breaker == LLM_BREAKER_FAILURE)
        snprintf(gw->breaker_last[c->breaker], sizeof(gw->breaker_last[0]), "%.390s", v.message);
    mirror_breaker(gw, c->breaker);
    c->probe = 0;
    c->http_status = curl_code == 0 ? x->http_status : 0;
    free(c->request_id);
    c->request_id = x->request_id ? strdup(x->request_id) : NULL;
    free(c->resp_body);
    c->resp_len = x->resp.len;
    c->resp_body = bo1_buf_take(&x->resp);

    if (v.status == BO1_OK) {
        llm_xfer_fini(x);
        finish(c, BO1_OK, "");
        goto out;
    }
    snprintf(c->message, sizeof(c->message), "%s", v.message);
    c->failures++;
    llm_xfer_fini(x);
    if (!v.retry || c->attempts >= gw->opt.max_attempts) {
        if (v.retry)
            snprintf(c->message + strlen(c->message), sizeof(c->message) - strlen(c->message),
                     " (gave up after %u attempts)", c->attempts);
        finish(c, v.status, NULL);
        goto out;
    }
    wait = v.wait_ms >= 0 ? v.wait_ms
                          : (long)llm_backoff_ms(c->failures, gw->opt.backoff_base_ms,
                                                 gw->opt.backoff_cap_ms, llm_rand01(&gw->rng));
    if (now + (uint64_t)wait >= c->deadline_at) {
        snprintf(c->message + strlen(c->message), sizeof(c->message) - strlen(c->message),
                 " (no retry: waiting %ld ms would pass the call's deadline)", wait);
        finish(c, v.status, NULL);
        goto out;
    }
    c->status = v.status;
    c->state = C_WAITING;
    c->wake_at = now + (uint64_t)wait;
    reschedule(gw);
out:
    pump(gw);
}

/* ---- the tick: timed wake-ups and deliveries -------------------------------------- */

static void on_tick(uv_timer_t *t)
{
    struct bo1_llm *gw = t->data;
    struct bo1_llm_call *c;

    gw->in_tick = 1;
    gw->busy++;
    gw->tick_at = UINT64_MAX;
    for (;;) {
        uint64_t now;

        if (gw->done_head) {
            c = gw->done_head;
            q_remove(&gw->done_head, &gw->done_tail, c);
            deliver(c);
            continue;
        }
        if (gw->free_after_tick)
            break;
        now = llm_now_ms();
        for (c = gw->calls; c; c = c->next)
            if (c->wake_at && c->wake_at <= now && (c->state == C_WAITING || c->state == C_QUEUED))
                break;
        if (!c)
            break;
        if (c->state == C_WAITING) {
            c->wake_at = 0;
            queue_insert(gw, c);
            pump(gw);
        } else {
            queue_remove(gw, c);
            if (c->attempts == 0)
                snprintf(c->message, sizeof(c->message),
                         "%s call waited past its deadline for a free slot (%u calls in flight)",
                         c->provider, gw->inflight);
            finish(c, BO1_UPSTREAM_TIMEOUT, NULL);
        }
    }
    gw->in_tick = 0;
    gw->busy--;
    if (gw->free_after_tick && gw->busy == 0) {
        gw_destroy(gw);
        return;
    }
    gw->tick_at = UINT64_MAX;
    reschedule(gw);
}

/* Arm the tick timer for the earliest wake-up (now if something is finishing). */
static void reschedule(struct bo1_llm *gw)
{
    uint64_t next = UINT64_MAX;
    uint64_t now;

    if (gw->in_tick || gw->freeing)
        return;
    if (gw->done_head) {
        next = 0;
    } else {
        for (struct bo1_llm_call *c = gw->calls; c; c = c->next)
            if (c->wake_at && c->wake_at < next && c->state != C_RUNNING)
                next = c->wake_at;
    }
    if (next == gw->tick_at)
        return;
    gw->tick_at = next;
    if (next == UINT64_MAX) {
        uv_timer_stop(gw->tick);
        return;
    }
    now = llm_now_ms();
    uv_timer_start(gw->tick, on_tick, next > now ? next - now : 0, 0);
}

/* ---- public: calls ------------------------------------------------------------------ */

static enum bo1_status add_header(struct bo1_llm_call *c, const char *name, const char *value)
{
    char *clean = dup_clean(value);
    char *h;
    char **grown;

    if (!clean)
        return BO1_NO_MEMORY;
    grown = realloc(c->headers, (c->n_headers + 1) * sizeof(*grown));
    if (!grown) {
        free(clean);
        return BO1_NO_MEMORY;
    }
    c->headers = grown;
    h = malloc(strlen(name) + strlen(clean) + 3);
    if (!h) {
        free(clean);
        return BO1_NO_MEMORY;
    }
    sprintf(h, "%s: %s", name, clean);
    free(clean);
    c->headers[c->n_headers++] = h;
    return BO1_OK;
}

static struct bo1_llm_call *call_alloc(struct bo1_llm *gw, const char *task, const char *session,
                                       unsigned deadline_ms)
{
    struct bo1_llm_call *c = calloc(1, sizeof(*c));

    if (!c)
        return NULL;
    c->gw = gw;
    c->task = strdup(task ? task : "");
    c->started_at = llm_now_ms();
    c->deadline_at = c->started_at + (deadline_ms ? deadline_ms : gw->opt.deadline_ms);
    if (!c->task || add_header(c, "Content-Type", "application/json") != BO1_OK ||
        add_header(c, "Expect", "") != BO1_OK || add_header(c, "X-Bo1-Task", c->task) != BO1_OK ||
        add_header(c, "X-Bo1-Session", session ? session : "") != BO1_OK) {
        call_free(c);
        return NULL;
    }
    /* "Expect: " with an empty value makes curl drop its 100-continue round trip. */
    c->headers[1][strlen("Expect:")] = '\0';
    return c;
}

static void submit(struct bo1_llm *gw, struct bo1_llm_call *c, struct bo1_llm_call **handle_out)
{
    c->seq = ++gw->seq;
    c->next = gw->calls;
    if (gw->calls)
        gw->calls->prev = c;
    gw->calls = c;
    queue_insert(gw, c);
    if (handle_out)
        *handle_out = c;
    pump(gw);
    reschedule(gw);
}

static int valid_role(const char *role)
{
    return role && (strcmp(role, "user") == 0 || strcmp(role, "assistant") == 0);
}

enum bo1_status bo1_llm_call(struct bo1_llm *gw, const struct bo1_llm_request *rq,
                             bo1_llm_done_cb *cb, void *arg, struct bo1_llm_call **handle_out)
{
    enum bo1_status st = BO1_BAD_REQUEST;
    struct bo1_llm_call *c = NULL;
    struct bo1_buf body;
    const char *model;
    char auth[1024];

    bo1_buf_init(&body, 0);
    if (gw && gw->freeing) {
        st = BO1_UNAVAILABLE;
        goto out;
    }
    if (!gw || !rq || !cb || rq->n_messages == 0 || !rq->messages)
        goto out;
    for (size_t i = 0; i < rq->n_messages; i++)
        if (!valid_role(rq->messages[i].role) || !rq->messages[i].content)
            goto out;
    if (rq->n_system && !rq->system)
        goto out;
    if (rq->n_stop && !rq->stop)
        goto out;
    model = rq->model ? rq->model : bo1_llm_tier_model(gw, rq->tier);
    st = BO1_NO_MEMORY;
    c = call_alloc(gw, rq->task, rq->session_id, rq->deadline_ms);
    if (!c)
        goto out;
    c->kind = K_CHAT;
    c->chat_cb = cb;
    c->arg = arg;
    c->model = strdup(model);
    if (!c->model)
        goto out;
    if (gw->opt.provider == BO1_LLM_PROVIDER_ANTHROPIC) {
        c->provider = "anthropic";
        c->breaker = BR_ANTHROPIC;
        c->url = join_url(gw->opt.anthropic_base_url, "/v1/messages");
        st = llm_anthropic_encode(rq, model, &body);
        if (st != BO1_OK)
            goto out;
        st = BO1_NO_MEMORY;
        if (add_header(c, "anthropic-version", gw->opt.anthropic_version) != BO1_OK)
            goto out;
        if (gw->opt.anthropic_api_key && gw->opt.anthropic_api_key[0] &&
            add_header(c, "x-api-key", gw->opt.anthropic_api_key) != BO1_OK)
            goto out;
    } else {
        c->provider = "openai";
        c->breaker = BR_OPENAI;
        c->url = join_url(gw->opt.openai_base_url, "/v1/chat/completions");
        st = llm_openai_encode(rq, model, &body);
        if (st != BO1_OK)
            goto out;
        st = BO1_NO_MEMORY;
        if (gw->opt.openai_api_key && gw->opt.openai_api_key[0]) {
            snprintf(auth, sizeof(auth), "Bearer %s", gw->opt.openai_api_key);
            if (add_header(c, "Authorization", auth) != BO1_OK)
                goto out;
        }
    }
    if (!c->url)
        goto out;
    c->body_len = body.len;
    c->body = bo1_buf_take(&body);
    if (!c->body)
        goto out;
    submit(gw, c, handle_out);
    c = NULL;
    st = BO1_OK;
out:
    call_free(c);
    bo1_buf_fini(&body);
    return st;
}

enum bo1_status bo1_llm_post_json(struct bo1_llm *gw, const struct bo1_llm_post *p,
                                  bo1_llm_http_cb *cb, void *arg, struct bo1_llm_call **handle_out)
{
    enum bo1_status st = BO1_BAD_REQUEST;
    struct bo1_llm_call *c = NULL;

    if (gw && gw->freeing) {
        st = BO1_UNAVAILABLE;
        goto out;
    }
    if (!gw || !p || !p->url || !p->body || !cb)
        goto out;
    st = BO1_NO_MEMORY;
    c = call_alloc(gw, p->task, p->session_id, p->deadline_ms);
    if (!c)
        goto out;
    c->kind = K_POST;
    c->post_cb = cb;
    c->arg = arg;
    c->breaker = breaker_index(p->provider);
    c->provider = breaker_names[c->breaker];
    c->url = strdup(p->url);
    c->model = strdup(p->model ? p->model : "");
    c->body = malloc(p->body_len + 1);
    if (!c->url || !c->model || !c->body)
        goto out;
    memcpy(c->body, p->body, p->body_len);
    c->body[p->body_len] = '\0';
    c->body_len = p->body_len;
    for (size_t i = 0; p->headers && p->headers[i]; i++) {
        const char *colon = strchr(p->headers[i], ':');
        char name[128];

        if (!colon || (size_t)(colon - p->headers[i]) >= sizeof(name)) {
            st = BO1_BAD_REQUEST;
            goto out;
        }
        memcpy(name, p->headers[i], (size_t)(colon - p->headers[i]));
        name[colon - p->headers[i]] = '\0';
        colon++;
        while (*colon == ' ')
            colon++;
        if (add_header(c, name, colon) != BO1_OK)
            goto out;
    }
    submit(gw, c, handle_out);
    c = NULL;
    st = BO1_OK;
out:
    call_free(c);
    return st;
}

static void cancel_one(struct bo1_llm_call *c)
{
    struct bo1_llm *gw = c->gw;

    switch (c->state) {
    case C_RUNNING:
        llm_transport_abort(gw->tr, &c->xfer);
        llm_breaker_release_probe(&gw->breakers[c->breaker], c->probe);
        mirror_breaker(gw, c->breaker);
        gw->inflight--;
        atomic_store(&gw->g_inflight, gw->inflight);
        break;
    case C_QUEUED:
        queue_remove(gw, c);
        break;
    case C_FINISHING:
        q_remove(&gw->done_head, &gw->done_tail, c);
        break;
    case C_WAITING:
        break;
    }
    free(c->resp_body);
    c->resp_body = NULL;
    c->resp_len = 0;
    c->status = BO1_CANCELLED;
    snprintf(c->message, sizeof(c->message), "the %s call was cancelled", c->provider);
    deliver(c);
}

void bo1_llm_cancel(struct bo1_llm_call *call)
{
    struct bo1_llm *gw;

    if (!call)
        return;
    gw = call->gw;
    gw->busy++;
    cancel_one(call);
    gw->busy--;
    if (gw->free_after_tick) {
        if (gw->busy == 0)
            gw_destroy(gw);
        return;
    }
    pump(gw);
    reschedule(gw);
}

/* ---- public: lifecycle -------------------------------------------------------------- */

const char *bo1_llm_tier_model(const struct bo1_llm *gw, enum bo1_llm_tier tier)
{
    return tier == BO1_LLM_TIER_DEEP ? gw->opt.model_deep : gw->opt.model_fast;
}

const char *bo1_llm_provider_name(const struct bo1_llm *gw)
{
    return gw->opt.provider == BO1_LLM_PROVIDER_ANTHROPIC ? "anthropic" : "openai";
}

const struct bo1_llm_options *bo1_llm_options_get(const struct bo1_llm *gw)
{
    return &gw->opt;
}

struct bo1_loop *bo1_llm_loop(const struct bo1_llm *gw)
{
    return gw->loop;
}

static void set_why(char **why, const char *msg)
{
    if (why) {
        free(*why);
        *why = strdup(msg);
    }
}

static int keep_string(struct bo1_llm *gw, const char **field, const char *dflt)
{
    const char *v = *field && (*field)[0] ? *field : dflt;
    char *copy;

    if (!v) {
        *field = NULL;
        return 0;
    }
    if (gw->n_strings == sizeof(gw->strings) / sizeof(gw->strings[0]))
        return -1;
    copy = strdup(v);
    if (!copy)
        return -1;
    gw->strings[gw->n_strings++] = copy;
    *field = copy;
    return 0;
}

static void on_tick_closed(uv_handle_t *h)
{
    free(h);
}

static void gw_destroy(struct bo1_llm *gw)
{
    /* Handles are closed here and released by their close callbacks the next time the loop
     * runs (bo1_loop_free() runs it), never by a nested uv_run(): we may be inside one. */
    llm_transport_free(gw->tr);
    if (gw->tick) {
        if (uv_is_closing((uv_handle_t *)gw->tick)) {
            free(gw->tick); /* closed by a loop-wide walk already */
        } else {
            uv_timer_stop(gw->tick);
            uv_close((uv_handle_t *)gw->tick, on_tick_closed);
        }
    }
    bo1_pricing_free(gw->pricing);
    for (size_t i = 0; i < gw->n_strings; i++)
        free(gw->strings[i]);
    pthread_mutex_lock(&gw->stats_lock);
    for (size_t i = 0; i < gw->n_stats; i++) {
        free(gw->stats[i].provider);
        free(gw->stats[i].model);
        free(gw->stats[i].task);
    }
    free(gw->stats);
    pthread_mutex_unlock(&gw->stats_lock);
    pthread_mutex_destroy(&gw->stats_lock);
    free(gw);
}

void bo1_llm_free(struct bo1_llm *gw)
{
    if (!gw || gw->freeing)
        return;
    gw->freeing = 1;
    while (gw->calls)
        cancel_one(gw->calls);
    if (gw->busy) {
        /* Called from a callback: the outermost on_tick()/bo1_llm_cancel() frees it. */
        gw->free_after_tick = 1;
        return;
    }
    gw_destroy(gw);
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;

static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

enum bo1_status bo1_llm_new(struct bo1_loop *loop, const struct bo1_llm_options *opt,
                            struct bo1_llm **out, char **why)
{
    enum bo1_status st = BO1_NO_MEMORY;
    struct bo1_llm *gw = NULL;
    const struct bo1_llm_options d = BO1_LLM_OPTIONS_DEFAULTS;

    pthread_once(&curl_once, curl_init_once);
    gw = calloc(1, sizeof(*gw));
    if (!gw)
        goto out;
    pthread_mutex_init(&gw->stats_lock, NULL);
    gw->loop = loop;
    gw->uv = bo1_loop_uv(loop);
    gw->opt = *opt;
    gw->tick_at = UINT64_MAX;
    if (!gw->opt.timeout_ms)
        gw->opt.timeout_ms = d.timeout_ms;
    if (!gw->opt.deadline_ms)
        gw->opt.deadline_ms = d.deadline_ms;
    if (!gw->opt.max_inflight)
        gw->opt.max_inflight = d.max_inflight;
    if (!gw->opt.max_attempts)
        gw->opt.max_attempts = d.max_attempts;
    if (!gw->opt.backoff_base_ms)
        gw->opt.backoff_base_ms = d.backoff_base_ms;
    if (!gw->opt.backoff_cap_ms)
        gw->opt.backoff_cap_ms = d.backoff_cap_ms;
    if (!gw->opt.breaker_threshold)
        gw->opt.breaker_threshold = d.breaker_threshold;
    if (!gw->opt.breaker_cooldown_ms)
        gw->opt.breaker_cooldown_ms = d.breaker_cooldown_ms;
    if (!gw->opt.max_reply_bytes)
        gw->opt.max_reply_bytes = d.max_reply_bytes;
    if (!gw->opt.embed_dim)
        gw->opt.embed_dim = d.embed_dim;
    if (!gw->opt.embed_batch)
        gw->opt.embed_batch = d.embed_batch;
    if (keep_string(gw, &gw->opt.anthropic_base_url, d.anthropic_base_url) ||
        keep_string(gw, &gw->opt.anthropic_api_key, NULL) ||
        keep_string(gw, &gw->opt.anthropic_version, d.anthropic_version) ||
        keep_string(gw, &gw->opt.openai_base_url, d.openai_base_url) ||
        keep_string(gw, &gw->opt.openai_api_key, NULL) ||
        keep_string(gw, &gw->opt.model_fast, NULL) || keep_string(gw, &gw->opt.model_deep, NULL) ||
        keep_string(gw, &gw->opt.pricing_path, d.pricing_path) ||
        keep_string(gw, &gw->opt.voyage_base_url, d.voyage_base_url) ||
        keep_string(gw, &gw->opt.voyage_api_key, NULL) ||
        keep_string(gw, &gw->opt.embed_model, d.embed_model))
        goto out;
    st = BO1_CONFIG_INVALID;
    if (gw->opt.provider != BO1_LLM_PROVIDER_ANTHROPIC &&
        gw->opt.provider != BO1_LLM_PROVIDER_OPENAI) {
        set_why(why, "llm: unknown provider");
        goto out;
    }
    if (!gw->opt.model_fast || !gw->opt.model_deep) {
        set_why(why, "llm: both the fast and the deep model ids must be set");
        goto out;
    }
    if (gw->opt.max_attempts > 5) {
        set_why(why, "llm: max_attempts must be between 1 and 5");
        goto out;
    }
    if (gw->opt.backoff_cap_ms < gw->opt.backoff_base_ms) {
        set_why(why, "llm: backoff_cap_ms must not be below backoff_base_ms");
        goto out;
    }
    st = bo1_pricing_load(gw->opt.pricing_path, &gw->pricing, why);
    if (st != BO1_OK)
        goto out;
    st = BO1_INTERNAL;
    gw->rng = opt->rng_seed ? opt->rng_seed : (uint64_t)time(NULL) ^ (uint64_t)(uintptr_t)gw;
    for (int i = 0; i < BR_COUNT; i++) {
        llm_breaker_init(&gw->breakers[i], breaker_names[i], gw->opt.breaker_threshold,
                         gw->opt.breaker_cooldown_ms);
        mirror_breaker(gw, i);
    }
    gw->tick = calloc(1, sizeof(*gw->tick));
    if (!gw->tick)
        goto out;
    if (uv_timer_init(gw->uv, gw->tick) != 0) {
        free(gw->tick);
        gw->tick = NULL;
        goto out;
    }
    gw->tick->data = gw;
    st = llm_transport_new(gw->uv, gw->opt.max_inflight, &gw->tr);
    if (st != BO1_OK)
        goto out;
    *out = gw;
    gw = NULL;
    st = BO1_OK;
out:
    if (gw)
        gw_destroy(gw);
    return st;
}
