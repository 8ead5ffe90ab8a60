/* SSE: GET /api/v1/sessions/{id}/events with Accept: text/event-stream, and the hub that
 * feeds it (see bo1/hub.h). Ownership of a client: the loop holds one reference until the
 * client is detached, MHD's response holds one until its free callback runs. */
#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/auth.h"
#include "bo1/buf.h"
#include "bo1/handlers.h"
#include "bo1/hub.h"
#include "bo1/log.h"
#include "bo1/sessions.h"
#include "bo1/store.h"
#include "handlers_internal.h"

#define REPLAY_PAGE 500
/* The hub's tick. While the Pub/Sub subscriber is down (or a topic's channel was not
 * confirmed yet), the topic reads its stream at each tick (the old polling, as a
 * fallback); a read that could not be made is retried at the next tick. */
#define TICK_MS 250
/* While the subscriber is up, a topic that heard nothing reads its stream this often
 * anyway: a lost message (a subscriber that died silently) delays events, never loses them. */
#define SAFETY_POLL_MS   3000
#define HEARTBEAT_MS     15000 /* default; BO1_SSE_HEARTBEAT_S */
#define CLIENT_BUF_LIMIT (4u << 20)
/* Bytes MHD asks on_sse_read for at once; a round's burst of events (several contributions
 * and their cost updates, ~10 KiB) goes out in one send instead of one per 4 KiB. MHD takes
 * the block from the connection's memory pool (32 KiB by default), so this costs no memory. */
#define SSE_BLOCK 16384

struct topic;

struct client {
    atomic_int refs;
    pthread_mutex_t lock;
    struct bo1_buf out; /* bytes not yet handed to MHD; under lock */
    size_t out_off;
    int suspended; /* under lock */
    int closed;    /* under lock: end the stream once out is drained */
    int gone;      /* under lock: MHD freed the response */
    struct MHD_Connection *conn;
    /* loop thread only */
    struct bo1_hub *hub;
    struct bo1_http_req *req; /* until the response is queued */
    struct topic *topic;
    struct client *next;
    char owner[17];
    char id[32];
    char last_id[48];
    int streaming;
};

struct topic {
    struct bo1_hub *hub;
    struct topic *next;
    struct client *clients;
    char id[32];
    char owner[17];
    char last_id[48];
    char channel[48];      /* bo1:{<id>}:notify, in the subscriber's set while the topic lives */
    char want_id[48];      /* the newest event announced while a read was in flight */
    uint64_t last_read_ms; /* when the last read was sent */
    int fetching;
    int again;      /* read again once the read in flight returns (if want_id is not covered) */
    int again_any;  /* ... in any case (an announcement without an event id) */
    int retry;      /* a wanted read failed or could not be sent: the next tick retries */
    int closing;    /* unlinked and finished; freed when the read in flight returns */
    int subscribed; /* Redis confirmed the channel's subscription (at least once) */
};

struct bo1_hub {
    struct bo1_loop *loop;
    struct bo1_store *store;
    struct topic *topics;
    uv_timer_t heartbeat;
    unsigned heartbeat_ms;
    uv_timer_t tick;
    int started;
    int stopping;
    atomic_uint n_clients;
    atomic_ullong reads;
    atomic_ullong wakeups;
};

/* "ms-seq" stream ids compare numerically, part by part. */
static int id_cmp(const char *a, const char *b)
{
    unsigned long long am = strtoull(a, NULL, 10), bm = strtoull(b, NULL, 10);
    const char *ad = strchr(a, '-'), *bd = strchr(b, '-');
    unsigned long long as = ad ? strtoull(ad + 1, NULL, 10) : 0;
    unsigned long long bs = bd ? strtoull(bd + 1, NULL, 10) : 0;

    if (am != bm)
        return am < bm ? -1 : 1;
    if (as != bs)
        return as < bs ? -1 : 1;
    return 0;
}

static void client_unref(struct client *c)
{
    if (atomic_fetch_sub(&c->refs, 1) != 1)
        return;
    bo1_buf_fini(&c->out);
    pthread_mutex_destroy(&c->lock);
    free(c);
}

/* Append bytes for MHD to send and wake the connection. Thread: the loop's. */
static void client_push(struct client *c, const char *data, size_t len, int close_after)
{
    int wake = 0;

    pthread_mutex_lock(&c->lock);
    if (!c->gone && !c->closed) {
        if (len && bo1_buf_append(&c->out, data, len) != BO1_OK)
            c->closed = 1; /* a client that stopped reading is cut off */
        if (close_after)
            c->closed = 1;
        wake = c->suspended;
        c->suspended = 0;
    }
    pthread_mutex_unlock(&c->lock);
    if (wake)
        MHD_resume_connection(c->conn);
}

static ssize_t on_sse_read(void *cls, uint64_t pos, char *buf, size_t max)
{
    struct client *c = cls;
    ssize_t n;

    (void)pos;
    pthread_mutex_lock(&c->lock);
    if (c->out.len > c->out_off) {
        size_t avail = c->out.len - c->out_off;
        n = (ssize_t)(avail < max ? avail : max);
        memcpy(buf, c->out.data + c->out_off, (size_t)n);
        c->out_off += (size_t)n;
        if (c->out_off == c->out.len) {
            bo1_buf_reset(&c->out);
            c->out_off = 0;
        }
    } else if (c->closed) {
        n = MHD_CONTENT_READER_END_OF_STREAM;
    } else {
        /* Nothing to send: park the connection until the loop pushes more. Suspending
         * under the lock means the loop's resume can only come after this suspend. */
        c->suspended = 1;
        MHD_suspend_connection(c->conn);
        n = 0;
    }
    pthread_mutex_unlock(&c->lock);
    return n;
}

static void on_client_gone_loop(void *arg);

static void on_sse_free(void *cls)
{
    struct client *c = cls;

    pthread_mutex_lock(&c->lock);
    c->gone = 1;
    pthread_mutex_unlock(&c->lock);
    if (bo1_loop_post(c->hub->loop, on_client_gone_loop, c) != BO1_OK)
        client_unref(c); /* loop stopping: it drops its own reference in bo1_hub_stop */
}

/* A page of events formatted once for every client of a topic: the SSE text of all of
 * them in one buffer, and where each event starts in it. */
struct batch {
    struct bo1_buf text;
    size_t n;
    size_t *start;    /* n + 1 offsets: event i is text[start[i] .. start[i + 1]) */
    const char **ids; /* borrowed from the events array */
    int *terminal;    /* the stream ends after event i */
};

/* The stream ends after session.completed (the API and the runner also append one when a
 * session is cancelled or cannot start). */
static int is_terminal(const json_t *ev)
{
    const char *type = json_string_value(json_object_get(ev, "type"));

    return type && strcmp(type, "session.completed") == 0;
}

static void batch_fini(struct batch *b)
{
    bo1_buf_fini(&b->text);
    free(b->start);
    free(b->ids);
    free(b->terminal);
}

/* Format @events (array of event objects with "id"). Returns BO1_NO_MEMORY or BO1_OK. */
static enum bo1_status batch_init(struct batch *b, json_t *events)
{
    size_t cap = json_array_size(events);
    size_t i;
    json_t *ev;

    memset(b, 0, sizeof(*b));
    bo1_buf_init(&b->text, 0);
    b->start = calloc(cap + 1, sizeof(*b->start));
    b->ids = calloc(cap ? cap : 1, sizeof(*b->ids));
    b->terminal = calloc(cap ? cap : 1, sizeof(*b->terminal));
    if (!b->start || !b->ids || !b->terminal) {
        batch_fini(b);
        return BO1_NO_MEMORY;
    }
    json_array_foreach(events, i, ev)
    {
        const char *id = json_string_value(json_object_get(ev, "id"));
        const char *type = json_string_value(json_object_get(ev, "type"));
        char *data;

        if (!id || (b->n && id_cmp(id, b->ids[b->n - 1]) <= 0))
            continue;
        data = json_dumps(ev, JSON_COMPACT);
        if (!data)
            continue;
        if (bo1_buf_printf(&b->text, "id: %s\nevent: %s\ndata: %s\n\n", id, type ? type : "message",
                           data) == BO1_OK) {
            b->ids[b->n] = id;
            b->terminal[b->n] = is_terminal(ev);
            b->n++;
            b->start[b->n] = b->text.len;
        }
        free(data);
    }
    return BO1_OK;
}

/* Deliver the events of @b that @c has not seen; returns 1 if a terminal one was among them. */
static int deliver_batch(struct client *c, const struct batch *b)
{
    size_t first = 0;
    int terminal = 0;

    while (first < b->n && id_cmp(b->ids[first], c->last_id) <= 0)
        first++;
    if (first == b->n)
        return 0;
    for (size_t i = first; i < b->n; i++)
        terminal |= b->terminal[i];
    snprintf(c->last_id, sizeof(c->last_id), "%s", b->ids[b->n - 1]);
    client_push(c, b->text.data + b->start[first], b->start[b->n] - b->start[first], terminal);
    return terminal;
}

/* Deliver @events to one client (replay). */
static int deliver(struct client *c, json_t *events)
{
    struct batch b;
    int terminal;

    if (batch_init(&b, events) != BO1_OK) {
        client_push(c, NULL, 0, 1);
        return 1;
    }
    terminal = deliver_batch(c, &b);
    batch_fini(&b);
    return terminal;
}

static void topic_fetch(struct topic *t);

/* End the topic and its clients; its memory goes once no read is in flight. */
static void topic_destroy(struct topic *t)
{
    struct topic **pp = &t->hub->topics;

    while (*pp && *pp != t)
        pp = &(*pp)->next;
    if (*pp)
        *pp = t->next;
    /* The last client left (or the stream ended): this instance stops hearing the channel. */
    bo1_store_unsubscribe(t->hub->store, t->channel);
    while (t->clients) {
        struct client *c = t->clients;
        t->clients = c->next;
        c->topic = NULL;
        client_push(c, NULL, 0, 1);
        atomic_fetch_sub(&t->hub->n_clients, 1);
        client_unref(c);
    }
    if (t->fetching)
        t->closing = 1;
    else
        free(t);
}

static void on_topic_events(const struct bo1_sessions_result *res, void *arg)
{
    struct topic *t = arg;
    json_t *events = res->result ? json_object_get(res->result, "events") : NULL;
    const char *last =
        res->result ? json_string_value(json_object_get(res->result, "last_id")) : NULL;
    int terminal = 0;

    t->fetching = 0;
    if (t->closing) {
        free(t);
        return;
    }
    if (res->st == BO1_NOT_FOUND) { /* deleted */
        topic_destroy(t);
        return;
    }
    if (res->st != BO1_OK) {
        t->retry = 1; /* Redis away: the next tick retries */
        return;
    }
    t->retry = 0;
    if (json_array_size(events)) {
        struct batch b;
        /* Format each event once for every client (1,000 clients on one session). */
        if (batch_init(&b, events) != BO1_OK) {
            t->retry = 1; /* the next tick reads the same events again */
            return;
        }
        for (struct client *c = t->clients; c; c = c->next)
            terminal |= deliver_batch(c, &b);
        batch_fini(&b);
    }
    if (last)
        snprintf(t->last_id, sizeof(t->last_id), "%s", last);
    if (terminal) {
        topic_destroy(t);
        return;
    }
    if (json_array_size(events) >= REPLAY_PAGE ||
        (t->again && (t->again_any || id_cmp(t->want_id, t->last_id) > 0))) {
        t->again = t->again_any = 0;
        topic_fetch(t);
    }
    t->again = t->again_any = 0;
}

/* Read the topic's stream after its last id now. */
static void topic_fetch(struct topic *t)
{
    if (t->fetching)
        return;
    t->last_read_ms = uv_now(bo1_loop_uv(t->hub->loop));
    if (bo1_sessions_events(t->hub->store, t->owner, t->id, t->last_id, REPLAY_PAGE,
                            on_topic_events, t) == BO1_OK) {
        t->fetching = 1;
        t->retry = 0;
        atomic_fetch_add(&t->hub->reads, 1);
    } else {
        t->retry = 1;
    }
}

/* Events up to @upto (NULL: not known) were appended to the topic's session: read them,
 * unless they were read already. A read sent after the announcement arrived sees them; one
 * already in flight may not, so it is followed by another when it does not cover them. */
static void topic_want(struct topic *t, const char *upto)
{
    if (upto && id_cmp(upto, t->last_id) <= 0)
        return;
    if (!t->fetching) {
        topic_fetch(t);
        return;
    }
    t->again = 1;
    if (!upto)
        t->again_any = 1;
    else if (id_cmp(upto, t->want_id) > 0)
        snprintf(t->want_id, sizeof(t->want_id), "%s", upto);
}

static struct topic *topic_find(struct bo1_hub *hub, const char *id)
{
    for (struct topic *t = hub->topics; t; t = t->next)
        if (strcmp(t->id, id) == 0)
            return t;
    return NULL;
}

/* Every TICK_MS: the fallback polling while the subscriber is down (or the topic's channel
 * was never confirmed), the safety poll while it is up, and retries of reads that failed. */
static void on_tick(uv_timer_t *timer)
{
    struct bo1_hub *hub = timer->data;
    uint64_t now = uv_now(bo1_loop_uv(hub->loop));
    int up = bo1_store_pubsub_is_up(hub->store);

    for (struct topic *t = hub->topics; t; t = t->next) {
        uint64_t every = up && t->subscribed ? SAFETY_POLL_MS : TICK_MS;
        if (!t->fetching && (t->retry || now - t->last_read_ms + 5 >= every))
            topic_fetch(t);
    }
}

/* A notify message: bo1:{<id>}:notify with the id of the last event appended (or another
 * word, e.g. "deleted"). Only channels of sessions followed here are subscribed; a message
 * for a topic that just left (its UNSUBSCRIBE in flight) is ignored. */
static void on_notify(const char *channel, const char *payload, void *arg)
{
    struct bo1_hub *hub = arg;
    char id[32];
    struct topic *t;

    atomic_fetch_add(&hub->wakeups, 1);
    if (bo1_sessions_notify_parse(channel, id) != BO1_OK || !(t = topic_find(hub, id)))
        return; /* not followed here */
    topic_want(t, bo1_handlers_stream_id_valid(payload) ? payload : NULL);
}

/* Redis confirmed a topic's channel (the topic is new, or the subscriber reconnected).
 * Whatever was published before the confirmation did not reach us, e.g. an event appended
 * between the first client's replay and now: the topic reads its stream from its last id.
 * Messages that follow the confirmation are received, so nothing falls in between; the
 * clients' last ids keep what they get exactly once and in order. */
static void on_subscribed(const char *channel, void *arg)
{
    struct bo1_hub *hub = arg;
    char id[32];
    struct topic *t;

    if (bo1_sessions_notify_parse(channel, id) != BO1_OK || !(t = topic_find(hub, id)))
        return; /* left since */
    t->subscribed = 1;
    topic_want(t, NULL);
}

static struct topic *topic_get(struct bo1_hub *hub, const struct client *c)
{
    struct topic *t;

    t = topic_find(hub, c->id);
    if (t)
        return t;
    t = calloc(1, sizeof(*t));
    if (!t)
        return NULL;
    t->hub = hub;
    snprintf(t->id, sizeof(t->id), "%s", c->id);
    snprintf(t->owner, sizeof(t->owner), "%s", c->owner);
    snprintf(t->last_id, sizeof(t->last_id), "%s", c->last_id);
    snprintf(t->want_id, sizeof(t->want_id), "0");
    snprintf(t->channel, sizeof(t->channel), BO1_SESSIONS_NOTIFY_FMT, t->id);
    if (bo1_store_subscribe(hub->store, t->channel) != BO1_OK) {
        free(t);
        return NULL;
    }
    t->next = hub->topics;
    hub->topics = t;
    /* Events appended between the client's replay and the subscription's confirmation are
     * read when it is confirmed (on_subscribed); until then the topic polls every tick. */
    t->last_read_ms = uv_now(bo1_loop_uv(hub->loop));
    return t;
}

static void on_replay(const struct bo1_sessions_result *res, void *arg);

static void replay_more(struct client *c)
{
    enum bo1_status st =
        bo1_sessions_events(c->hub->store, c->owner, c->id, c->last_id, REPLAY_PAGE, on_replay, c);
    if (st != BO1_OK) {
        client_push(c, NULL, 0, 1);
        client_unref(c);
    }
}

static enum bo1_status start_stream(struct client *c)
{
    struct MHD_Response *resp =
        MHD_create_response_from_callback(MHD_SIZE_UNKNOWN, SSE_BLOCK, on_sse_read, c, on_sse_free);

    if (!resp)
        return BO1_NO_MEMORY;
    atomic_fetch_add(&c->refs, 1); /* the response's reference */
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "text/event-stream");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-cache");
    MHD_add_response_header(resp, "X-Accel-Buffering", "no");
    c->conn = c->req->conn;
    if (bo1_reply_response(c->req, 200, resp) != BO1_OK)
        return BO1_INTERNAL;
    bo1_http_req_finish(c->req, BO1_OK, NULL);
    c->req = NULL;
    c->streaming = 1;
    client_push(c, "retry: 2000\n\n", 13, 0);
    return BO1_OK;
}

static void on_replay(const struct bo1_sessions_result *res, void *arg)
{
    struct client *c = arg;
    json_t *events = res->result ? json_object_get(res->result, "events") : NULL;
    struct topic *t;
    int gone;

    if (!c->streaming) {
        if (res->st != BO1_OK) {
            bo1_http_req_finish(c->req, res->st, res->detail);
            client_unref(c);
            return;
        }
        if (start_stream(c) != BO1_OK) {
            bo1_http_req_finish(c->req, BO1_INTERNAL, NULL);
            client_unref(c);
            return;
        }
    }
    pthread_mutex_lock(&c->lock);
    gone = c->gone;
    pthread_mutex_unlock(&c->lock);
    if (gone || res->st != BO1_OK || c->hub->stopping) {
        client_push(c, NULL, 0, 1);
        client_unref(c);
        return;
    }
    if (deliver(c, events)) {
        client_unref(c); /* terminal event already sent: the stream ends */
        return;
    }
    if (json_array_size(events) >= REPLAY_PAGE) {
        replay_more(c);
        return;
    }
    t = topic_get(c->hub, c);
    if (!t) {
        client_push(c, NULL, 0, 1);
        client_unref(c);
        return;
    }
    if (id_cmp(t->last_id, c->last_id) > 0) {
        /* The topic already passed events this client has not seen: read them first. */
        replay_more(c);
        return;
    }
    c->topic = t;
    c->next = t->clients;
    t->clients = c;
    atomic_fetch_add(&c->hub->n_clients, 1);
}

static void on_client_gone_loop(void *arg)
{
    struct client *c = arg;
    struct topic *t = c->topic;

    if (t) {
        struct client **pp = &t->clients;
        while (*pp && *pp != c)
            pp = &(*pp)->next;
        if (*pp) {
            *pp = c->next;
            c->topic = NULL;
            atomic_fetch_sub(&c->hub->n_clients, 1);
            client_unref(c); /* the loop's reference */
        }
        if (!t->clients)
            topic_destroy(t);
    }
    client_unref(c); /* the response's reference */
}

void bo1_hub_open(struct bo1_hub *hub, struct bo1_http_req *req, const char *owner, const char *id,
                  const char *after)
{
    struct client *c = calloc(1, sizeof(*c));

    if (!c) {
        bo1_http_req_finish(req, BO1_NO_MEMORY, NULL);
        return;
    }
    atomic_init(&c->refs, 1);
    pthread_mutex_init(&c->lock, NULL);
    bo1_buf_init(&c->out, CLIENT_BUF_LIMIT);
    c->hub = hub;
    c->req = req;
    snprintf(c->owner, sizeof(c->owner), "%s", owner);
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->last_id, sizeof(c->last_id), "%s", after);
    if (bo1_sessions_events(hub->store, owner, id, after, REPLAY_PAGE, on_replay, c) != BO1_OK) {
        bo1_http_req_finish(req, BO1_STORE_DOWN, NULL);
        client_unref(c);
    }
}

static void on_heartbeat(uv_timer_t *timer)
{
    struct bo1_hub *hub = timer->data;

    for (struct topic *t = hub->topics; t; t = t->next)
        for (struct client *c = t->clients; c; c = c->next)
            client_push(c, ": heartbeat\n\n", 13, 0);
}

enum bo1_status bo1_hub_new(struct bo1_loop *loop, struct bo1_store *store, struct bo1_hub **out)
{
    struct bo1_hub *hub = calloc(1, sizeof(*hub));

    if (!hub)
        return BO1_NO_MEMORY;
    hub->loop = loop;
    hub->store = store;
    hub->heartbeat_ms = HEARTBEAT_MS;
    if (bo1_store_pubsub(store, on_notify, on_subscribed, hub) != BO1_OK) {
        free(hub);
        return BO1_NO_MEMORY;
    }
    *out = hub;
    return BO1_OK;
}

void bo1_hub_set_heartbeat(struct bo1_hub *hub, unsigned ms)
{
    if (ms > 0)
        hub->heartbeat_ms = ms;
}

void bo1_hub_start(struct bo1_hub *hub)
{
    uv_timer_init(bo1_loop_uv(hub->loop), &hub->heartbeat);
    hub->heartbeat.data = hub;
    uv_timer_start(&hub->heartbeat, on_heartbeat, hub->heartbeat_ms, hub->heartbeat_ms);
    uv_timer_init(bo1_loop_uv(hub->loop), &hub->tick);
    hub->tick.data = hub;
    uv_timer_start(&hub->tick, on_tick, TICK_MS, TICK_MS);
    hub->started = 1;
}

void bo1_hub_stop(struct bo1_hub *hub)
{
    hub->stopping = 1;
    while (hub->topics)
        topic_destroy(hub->topics);
    if (hub->started) {
        uv_timer_stop(&hub->heartbeat);
        uv_close((uv_handle_t *)&hub->heartbeat, NULL);
        uv_timer_stop(&hub->tick);
        uv_close((uv_handle_t *)&hub->tick, NULL);
        hub->started = 0;
    }
}

void bo1_hub_drain(struct bo1_hub *hub)
{
    for (struct topic *t = hub->topics; t; t = t->next)
        for (struct client *c = t->clients; c; c = c->next)
            client_push(c, "", 0, 1);
}

void bo1_hub_free(struct bo1_hub *hub)
{
    free(hub);
}

void bo1_hub_notify(struct bo1_hub *hub, const char *id, const char *upto)
{
    struct topic *t = topic_find(hub, id);

    /* Without an id to compare, the subscriber's message (which has one) is enough. */
    if (!t || (!upto && bo1_store_pubsub_is_up(hub->store)))
        return;
    topic_want(t, upto);
}

unsigned bo1_hub_clients(const struct bo1_hub *hub)
{
    return atomic_load(&hub->n_clients);
}

enum bo1_status bo1_hub_metrics(const struct bo1_hub *hub, struct bo1_buf *out)
{
    return bo1_buf_printf(out,
                          "# HELP bo1_sse_clients Connected Server-Sent Events clients.\n"
                          "# TYPE bo1_sse_clients gauge\nbo1_sse_clients %u\n"
                          "# HELP bo1_sse_stream_reads_total Reads of session event streams "
                          "by the SSE hub (live follow).\n"
                          "# TYPE bo1_sse_stream_reads_total counter\n"
                          "bo1_sse_stream_reads_total %llu\n"
                          "# HELP bo1_sse_notify_messages_total Notify messages handled by "
                          "the SSE hub.\n"
                          "# TYPE bo1_sse_notify_messages_total counter\n"
                          "bo1_sse_notify_messages_total %llu\n",
                          atomic_load(&hub->n_clients),
                          (unsigned long long)atomic_load(&hub->reads),
                          (unsigned long long)atomic_load(&hub->wakeups));
}

/* --- the HTTP side --- */

struct open_job {
    struct bo1_http_req *req;
    struct bo1_hub *hub;
    struct bo1_ctx *ctx;
    char owner[17];
    char id[32];
    char after[48];
};

/* An SSE connect counts as one read against the key's rate limit, as a JSON page does. */
static void on_open_rate(const struct bo1_sessions_result *res, void *arg)
{
    struct open_job *j = arg;

    if (res->st == BO1_RATE_LIMITED) {
        j->req->retry_after_s = (unsigned)((res->retry_after_ms + 999) / 1000);
        if (j->req->retry_after_s == 0)
            j->req->retry_after_s = 1;
    }
    if (res->st != BO1_OK)
        bo1_http_req_finish(j->req, res->st, res->detail);
    else
        bo1_hub_open(j->hub, j->req, j->owner, j->id, j->after);
    free(j);
}

static void on_open_job(void *arg)
{
    struct open_job *j = arg;

    if (bo1_sessions_rate(j->ctx->store, &j->ctx->limits, j->owner, BO1_RATE_READ, on_open_rate,
                          j) != BO1_OK) {
        bo1_http_req_finish(j->req, BO1_STORE_DOWN, NULL);
        free(j);
    }
}

enum bo1_status h_sessions_events(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    const char *accept = bo1_req_header(req, "Accept");
    const char *after = bo1_req_header(req, "Last-Event-ID");
    const char *id = bo1_route_param(&req->params, "id");
    struct open_job *j;
    char owner[17];

    if (!accept || !strstr(accept, "text/event-stream"))
        return h_sessions_events_page(req);
    if (bo1_auth_check(ctx->auth, bo1_req_header(req, "Authorization"), owner) != BO1_OK) {
        bo1_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"bo1\"");
        return BO1_UNAUTHORIZED;
    }
    if (!id || !bo1_sessions_id_valid(id))
        return BO1_NOT_FOUND;
    if (!after)
        after = bo1_req_query(req, "after");
    if (after && !bo1_handlers_stream_id_valid(after))
        return bo1_reply_problem(req, BO1_BAD_FIELD, "invalid Last-Event-ID / after",
                                 json_pack("[{s:s, s:s}]", "field", "Last-Event-ID", "message",
                                           "an event id such as 1732800000000-0, or 0"));
    if (!bo1_store_is_up(ctx->store)) {
        req->retry_after_s = 2;
        return BO1_STORE_DOWN;
    }
    j = calloc(1, sizeof(*j));
    if (!j)
        return BO1_NO_MEMORY;
    j->req = req;
    j->hub = ctx->hub;
    j->ctx = ctx;
    snprintf(j->owner, sizeof(j->owner), "%s", owner);
    snprintf(j->id, sizeof(j->id), "%s", id);
    snprintf(j->after, sizeof(j->after), "%s", after ? after : "0");
    bo1_http_req_suspend(req);
    if (bo1_loop_post(ctx->loop, on_open_job, j) != BO1_OK) {
        free(j);
        bo1_http_req_finish(req, BO1_UNAVAILABLE, "the service is shutting down");
    }
    return BO1_PENDING;
}
