/* The Redis connections: the command connection and, when Pub/Sub was asked for, a
 * subscriber connection holding a changing set of channels. Each one connects,
 * authenticates, is watched (PING on the command connection, a repeated SUBSCRIBE of the
 * keepalive channel on the subscriber) and reconnects with capped backoff, driven by one
 * tick timer. Every field is touched on the loop thread only, except the atomics read by
 * /ready and /metrics. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/log.h"
#include "store_internal.h"

enum conn_state { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_UP, ST_STOPPED };

/* One connection to Redis and its reconnect state. */
struct link {
    struct bo1_store *store;
    int sub; /* the Pub/Sub connection */
    const char *name;
    redisAsyncContext *ac;
    enum conn_state state;
    uint64_t state_since_ms;
    uint64_t next_attempt_ms;
    unsigned backoff_ms;
    uint64_t ping_sent_ms; /* 0 = no PING outstanding */
    uint64_t last_ping_ms;
    atomic_int up;
    atomic_ullong connects;
};

/* A channel of the subscriber's set. hiredis 0.14 keeps one callback per channel and drops
 * it when an UNSUBSCRIBE confirmation arrives, even if a SUBSCRIBE of the same channel was
 * sent after that UNSUBSCRIBE (the confirmation and every later message would then reach
 * no callback). So a channel is never subscribed again while its UNSUBSCRIBE is in flight:
 * the new SUBSCRIBE waits for the confirmation. */
enum chan_state {
    CH_NONE,    /* not subscribed on the current connection, nothing in flight */
    CH_PENDING, /* SUBSCRIBE sent */
    CH_ON,      /* SUBSCRIBE confirmed */
    CH_LEAVING  /* UNSUBSCRIBE sent */
};

struct chan {
    char *name;
    int wanted; /* in the set the caller asked for */
    enum chan_state state;
};

struct bo1_store {
    struct bo1_loop *loop;
    struct bo1_store_options opt;
    char *host;
    char *password;
    struct link main;
    struct link sub;
    /* Pub/Sub, off until bo1_store_pubsub() */
    int pubsub;
    struct chan *chans;
    size_t n_chans, cap_chans;
    atomic_uint chans_on;
    bo1_store_message_cb *on_message;
    bo1_store_subscribed_cb *on_subscribed;
    void *sub_arg;
    uv_timer_t tick;
    int tick_started;
    atomic_ullong errors;
    atomic_ullong commands;
    atomic_ullong messages;
};

struct pending {
    struct bo1_store *store;
    bo1_store_reply_cb *cb;
    void *arg;
};

static uint64_t now_ms(struct bo1_store *s)
{
    return uv_now(bo1_loop_uv(s->loop));
}

static void set_state(struct link *l, enum conn_state st)
{
    struct bo1_store *s = l->store;
    int was_up = l->state == ST_UP;

    l->state = st;
    l->state_since_ms = now_ms(s);
    atomic_store(&l->up, st == ST_UP);
    if (st == ST_UP && !was_up)
        bo1_log_info(NULL,
                     json_pack("{s:s, s:i, s:s}", "host", s->host, "port", (int)s->opt.port,
                               "connection", l->name),
                     "redis connected");
    else if (was_up && st != ST_UP)
        bo1_log_warn(NULL,
                     json_pack("{s:s, s:i, s:s}", "host", s->host, "port", (int)s->opt.port,
                               "connection", l->name),
                     "redis connection lost; reconnecting");
}

static void schedule_retry(struct link *l)
{
    unsigned max = l->store->opt.backoff_max_ms;

    l->next_attempt_ms = now_ms(l->store) + l->backoff_ms;
    l->backoff_ms = l->backoff_ms * 2 > max ? max : l->backoff_ms * 2;
}

static void chan_remove(struct bo1_store *s, struct chan *c)
{
    if (c->state == CH_ON)
        atomic_fetch_sub(&s->chans_on, 1);
    free(c->name);
    *c = s->chans[--s->n_chans];
}

static void chan_set_state(struct bo1_store *s, struct chan *c, enum chan_state st)
{
    if (c->state == CH_ON && st != CH_ON)
        atomic_fetch_sub(&s->chans_on, 1);
    else if (c->state != CH_ON && st == CH_ON)
        atomic_fetch_add(&s->chans_on, 1);
    c->state = st;
}

/* The subscriber's connection is gone, and with it every subscription: the channels still
 * wanted are subscribed again on the next connection, the others are forgotten. */
static void chans_reset(struct bo1_store *s)
{
    size_t i = 0;

    while (i < s->n_chans) {
        struct chan *c = &s->chans[i];
        chan_set_state(s, c, CH_NONE);
        if (!c->wanted)
            chan_remove(s, c); /* moves the last one here */
        else
            i++;
    }
}

/* Drop the connection from outside hiredis callbacks: pending replies get NULL. */
static void drop_connection(struct link *l)
{
    redisAsyncContext *ac = l->ac;

    l->ac = NULL;
    l->ping_sent_ms = 0;
    if (l->sub)
        chans_reset(l->store);
    if (l->state != ST_STOPPED)
        set_state(l, ST_DOWN);
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (l->state != ST_STOPPED)
        schedule_retry(l);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct link *l = ac->data;

    (void)status;
    if (!l)
        return;   /* we freed it ourselves */
    l->ac = NULL; /* hiredis frees the context after this callback */
    l->ping_sent_ms = 0;
    if (l->sub)
        chans_reset(l->store);
    if (l->state == ST_STOPPED)
        return;
    atomic_fetch_add(&l->store->errors, 1);
    set_state(l, ST_DOWN);
    schedule_retry(l);
}

/* A handshake step failed: let the tick drop the connection (not from inside hiredis). */
static void handshake_failed(struct link *l, const char *step, const redisReply *reply)
{
    bo1_log_error(NULL,
                  json_pack("{s:s, s:s, s:s}", "connection", l->name, "step", step, "error",
                            reply && reply->str ? reply->str : "no reply"),
                  "redis handshake failed");
    atomic_fetch_add(&l->store->errors, 1);
    l->state_since_ms = 0;
}

/* API.md: session state must never be evicted. A Redis that may evict keys under memory
 * pressure (any maxmemory-policy but noeviction) is a deployment error worth a warning at
 * each connect; a Redis that refuses CONFIG (some managed ones) is not checked. */
static void on_policy_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct link *l = ac->data;
    redisReply *reply = r;
    const redisReply *v;

    (void)privdata;
    if (!l || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2)
        return;
    v = reply->element[1];
    if (v->type != REDIS_REPLY_STRING && v->type != REDIS_REPLY_STATUS)
        return;
    if (strcmp(v->str, "noeviction") != 0)
        bo1_log_warn(NULL,
                     json_pack("{s:s, s:s}", "connection", l->name, "maxmemory_policy", v->str),
                     "redis may evict session state: set maxmemory-policy noeviction");
}

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct link *l = ac->data;
    redisReply *reply = r;
    const char *step = privdata;

    if (!l || l->state != ST_HANDSHAKE)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        handshake_failed(l, step, reply);
        return;
    }
    if (strcmp(step, "PING") == 0) {
        l->backoff_ms = 100;
        set_state(l, ST_UP);
    }
}

static const char *reply_str(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    return r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS ? r->str : NULL;
}

static struct chan *chan_find(struct bo1_store *s, const char *name)
{
    for (size_t i = 0; i < s->n_chans; i++)
        if (strcmp(s->chans[i].name, name) == 0)
            return &s->chans[i];
    return NULL;
}

/* Commands may go to the subscriber once its handshake was sent (AUTH first). */
static int sub_can_send(const struct bo1_store *s)
{
    return s->sub.ac && (s->sub.state == ST_HANDSHAKE || s->sub.state == ST_UP);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata);

static void chan_send(struct bo1_store *s, struct chan *c, int subscribe)
{
    if (redisAsyncCommand(s->sub.ac, on_sub_reply, NULL,
                          subscribe ? "SUBSCRIBE %s" : "UNSUBSCRIBE %s", c->name) == REDIS_OK)
        chan_set_state(s, c, subscribe ? CH_PENDING : CH_LEAVING);
}

/* A SUBSCRIBE or UNSUBSCRIBE of a channel of the set was confirmed. */
static void on_chan_reply(struct bo1_store *s, const char *name, int subscribed)
{
    struct chan *c = chan_find(s, name);

    if (!c)
        return;
    if (subscribed) {
        if (c->state != CH_PENDING)
            return; /* an UNSUBSCRIBE already follows */
        chan_set_state(s, c, CH_ON);
        /* Messages published before this confirmation did not reach us: say so. */
        if (s->on_subscribed)
            s->on_subscribed(c->name, s->sub_arg);
        return;
    }
    if (c->state != CH_LEAVING)
        return;
    chan_set_state(s, c, CH_NONE);
    if (!c->wanted)
        chan_remove(s, c);
    else if (sub_can_send(s))
        chan_send(s, c, 1); /* wanted again while it was leaving */
}

/* Everything that arrives on the subscriber: the keepalive channel's confirmation (first
 * at the handshake, then as the answer to each watchdog re-SUBSCRIBE), the confirmations
 * of the set's SUBSCRIBEs and UNSUBSCRIBEs, and the messages. hiredis calls this with
 * NULL when the connection goes away. */
static void on_sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct link *l = ac->data;
    struct bo1_store *s;
    redisReply *reply = r;
    const char *kind = reply_str(reply, 0);
    const char *channel = reply_str(reply, 1);

    (void)privdata;
    if (!l || !reply)
        return;
    s = l->store;
    if (reply->type == REDIS_REPLY_ERROR || !kind || !channel) {
        if (l->state == ST_HANDSHAKE)
            handshake_failed(l, "SUBSCRIBE", reply);
        return;
    }
    /* Anything from the server shows the connection is alive. */
    if (l->ping_sent_ms)
        l->ping_sent_ms = 0;
    if (strcmp(kind, "message") == 0) {
        const char *payload = reply_str(reply, 2);
        atomic_fetch_add(&s->messages, 1);
        if (s->on_message && l->state == ST_UP)
            s->on_message(channel, payload ? payload : "", s->sub_arg);
    } else if (strcmp(channel, BO1_STORE_KEEPALIVE_CHANNEL) == 0) {
        if (strcmp(kind, "subscribe") == 0 && l->state == ST_HANDSHAKE) {
            l->backoff_ms = 100;
            set_state(l, ST_UP);
        }
    } else if (strcmp(kind, "subscribe") == 0 || strcmp(kind, "unsubscribe") == 0) {
        on_chan_reply(s, channel, kind[0] == 's');
    }
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct link *l = ac->data;
    struct bo1_store *s;

    if (!l)
        return;
    s = l->store;
    if (status != REDIS_OK) {
        /* hiredis frees the context after a failed connect. */
        l->ac = NULL;
        if (l->sub)
            chans_reset(s);
        atomic_fetch_add(&s->errors, 1);
        if (l->state != ST_STOPPED) {
            set_state(l, ST_DOWN);
            schedule_retry(l);
        }
        return;
    }
    set_state(l, ST_HANDSHAKE);
    if (s->password && *s->password)
        redisAsyncCommand(ac, on_handshake_reply, "AUTH", "AUTH %s", s->password);
    if (l->sub) {
        /* Pub/Sub ignores the database number: no SELECT. The keepalive channel first (its
         * confirmation marks the connection up), then every channel of the set. */
        redisAsyncCommand(ac, on_sub_reply, NULL, "SUBSCRIBE %s", BO1_STORE_KEEPALIVE_CHANNEL);
        for (size_t i = 0; i < s->n_chans; i++)
            if (s->chans[i].wanted && s->chans[i].state == CH_NONE)
                chan_send(s, &s->chans[i], 1);
        return;
    }
    if (s->opt.db)
        redisAsyncCommand(ac, on_handshake_reply, "SELECT", "SELECT %u", s->opt.db);
    redisAsyncCommand(ac, on_handshake_reply, "PING", "PING");
    redisAsyncCommand(ac, on_policy_reply, NULL, "CONFIG GET maxmemory-policy");
}

static void try_connect(struct link *l)
{
    struct bo1_store *s = l->store;
    redisAsyncContext *ac = redisAsyncConnect(s->host, (int)s->opt.port);

    atomic_fetch_add(&l->connects, 1);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        atomic_fetch_add(&s->errors, 1);
        schedule_retry(l);
        return;
    }
    ac->data = l;
    if (bo1_store_uv_attach(ac, bo1_loop_uv(s->loop)) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        schedule_retry(l);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    l->ac = ac;
    set_state(l, ST_CONNECTING);
}

static void on_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct link *l = ac->data;

    (void)privdata;
    if (!l)
        return;
    if (r && ((redisReply *)r)->type != REDIS_REPLY_ERROR)
        l->ping_sent_ms = 0;
}

/* The watchdog's probe. A subscribed connection accepts only (P)SUBSCRIBE-family commands
 * in hiredis (a PING's answer would reach no callback), so the subscriber repeats its
 * SUBSCRIBE of the keepalive channel (which nobody publishes to): Redis answers with the
 * same confirmation, which on_sub_reply() takes. The channel also keeps the connection in
 * subscribed mode when the set is empty. */
static void send_ping(struct link *l)
{
    if (l->sub)
        redisAsyncCommand(l->ac, on_sub_reply, NULL, "SUBSCRIBE %s", BO1_STORE_KEEPALIVE_CHANNEL);
    else
        redisAsyncCommand(l->ac, on_ping_reply, NULL, "PING");
}

static void link_tick(struct link *l, uint64_t now)
{
    const struct bo1_store_options *o = &l->store->opt;

    switch (l->state) {
    case ST_DOWN:
        if (now >= l->next_attempt_ms)
            try_connect(l);
        break;
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        if (now - l->state_since_ms > o->connect_timeout_ms)
            drop_connection(l);
        break;
    case ST_UP:
        if (l->ping_sent_ms && now - l->ping_sent_ms > o->ping_timeout_ms) {
            atomic_fetch_add(&l->store->errors, 1);
            drop_connection(l);
        } else if (!l->ping_sent_ms && now - l->last_ping_ms >= o->ping_interval_ms) {
            l->ping_sent_ms = now;
            l->last_ping_ms = now;
            send_ping(l);
        }
        break;
    case ST_STOPPED:
        break;
    }
}

static void on_tick(uv_timer_t *t)
{
    struct bo1_store *s = t->data;
    uint64_t now = now_ms(s);

    link_tick(&s->main, now);
    if (s->pubsub)
        link_tick(&s->sub, now);
}

static void link_init(struct link *l, struct bo1_store *s, int sub)
{
    l->store = s;
    l->sub = sub;
    l->name = sub ? "subscriber" : "commands";
    l->backoff_ms = 100;
    l->state = ST_DOWN;
}

enum bo1_status bo1_store_new(struct bo1_loop *loop, const struct bo1_store_options *opt,
                              struct bo1_store **out)
{
    struct bo1_store *s = calloc(1, sizeof(*s));

    if (!s)
        return BO1_NO_MEMORY;
    s->loop = loop;
    s->opt = *opt;
    if (!s->opt.ping_interval_ms)
        s->opt.ping_interval_ms = 250;
    if (!s->opt.ping_timeout_ms)
        s->opt.ping_timeout_ms = 1250;
    if (!s->opt.connect_timeout_ms)
        s->opt.connect_timeout_ms = 1000;
    if (!s->opt.backoff_max_ms)
        s->opt.backoff_max_ms = 1000;
    s->host = strdup(opt->host ? opt->host : "127.0.0.1");
    s->password = strdup(opt->password ? opt->password : "");
    if (!s->host || !s->password) {
        bo1_store_free(s);
        return BO1_NO_MEMORY;
    }
    s->opt.host = s->host;
    s->opt.password = s->password;
    link_init(&s->main, s, 0);
    link_init(&s->sub, s, 1);
    *out = s;
    return BO1_OK;
}

enum bo1_status bo1_store_pubsub(struct bo1_store *s, bo1_store_message_cb *on_message,
                                 bo1_store_subscribed_cb *on_subscribed, void *arg)
{
    if (s->pubsub || s->tick_started)
        return BO1_INTERNAL; /* one handler, set up before the store starts */
    s->pubsub = 1;
    s->on_message = on_message;
    s->on_subscribed = on_subscribed;
    s->sub_arg = arg;
    return BO1_OK;
}

enum bo1_status bo1_store_subscribe(struct bo1_store *s, const char *channel)
{
    struct chan *c = chan_find(s, channel);

    if (!s->pubsub)
        return BO1_INTERNAL;
    if (!c) {
        if (s->n_chans == s->cap_chans) {
            size_t cap = s->cap_chans ? s->cap_chans * 2 : 16;
            struct chan *n = realloc(s->chans, cap * sizeof(*n));
            if (!n)
                return BO1_NO_MEMORY;
            s->chans = n;
            s->cap_chans = cap;
        }
        c = &s->chans[s->n_chans];
        c->name = strdup(channel);
        if (!c->name)
            return BO1_NO_MEMORY;
        c->state = CH_NONE;
        c->wanted = 0;
        s->n_chans++;
    }
    c->wanted = 1;
    /* PENDING or ON: already there; LEAVING: subscribed again once the UNSUBSCRIBE is
     * confirmed; NONE while not connected: subscribed by the next handshake. */
    if (c->state == CH_NONE && sub_can_send(s))
        chan_send(s, c, 1);
    return BO1_OK;
}

void bo1_store_unsubscribe(struct bo1_store *s, const char *channel)
{
    struct chan *c = chan_find(s, channel);

    if (!c)
        return;
    c->wanted = 0;
    if ((c->state == CH_PENDING || c->state == CH_ON) && sub_can_send(s))
        chan_send(s, c, 0);
    if (c->state == CH_NONE)
        chan_remove(s, c);
}

void bo1_store_start(struct bo1_store *s)
{
    uv_timer_init(bo1_loop_uv(s->loop), &s->tick);
    s->tick.data = s;
    s->tick_started = 1;
    s->main.next_attempt_ms = 0;
    s->sub.next_attempt_ms = 0;
    uv_timer_start(&s->tick, on_tick, 0, 100);
}

static void link_stop(struct link *l)
{
    l->state = ST_STOPPED;
    atomic_store(&l->up, 0);
    drop_connection(l);
}

void bo1_store_stop(struct bo1_store *s)
{
    if (!s)
        return;
    if (s->tick_started) {
        uv_timer_stop(&s->tick);
        uv_close((uv_handle_t *)&s->tick, NULL);
        s->tick_started = 0;
    }
    link_stop(&s->main);
    link_stop(&s->sub);
}

void bo1_store_free(struct bo1_store *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->password);
    for (size_t i = 0; i < s->n_chans; i++)
        free(s->chans[i].name);
    free(s->chans);
    free(s);
}

int bo1_store_is_up(const struct bo1_store *s)
{
    return atomic_load(&s->main.up);
}

int bo1_store_pubsub_is_up(const struct bo1_store *s)
{
    return s->pubsub && atomic_load(&s->sub.up);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pending *p = privdata;
    redisReply *reply = r;

    (void)ac;
    /* Any reply shows the connection is alive: under load the PING waits behind many
     * commands, and only a connection that answers nothing for ping_timeout_ms is dead. */
    if (reply && p->store->main.ping_sent_ms)
        p->store->main.ping_sent_ms = now_ms(p->store);
    if (!reply)
        p->cb(BO1_STORE_DOWN, NULL, p->arg);
    else if (reply->type == REDIS_REPLY_ERROR) {
        atomic_fetch_add(&p->store->errors, 1);
        p->cb(BO1_IO_ERROR, reply, p->arg);
    } else
        p->cb(BO1_OK, reply, p->arg);
    free(p);
}

static struct pending *pending_new(struct bo1_store *s, bo1_store_reply_cb *cb, void *arg)
{
    struct pending *p = malloc(sizeof(*p));

    if (p) {
        p->store = s;
        p->cb = cb;
        p->arg = arg;
    }
    return p;
}

enum bo1_status bo1_store_command(struct bo1_store *s, bo1_store_reply_cb *cb, void *arg,
                                  const char *fmt, ...)
{
    struct pending *p;
    va_list ap;
    int rc;

    if (s->main.state != ST_UP || !s->main.ac)
        return BO1_STORE_DOWN;
    p = pending_new(s, cb, arg);
    if (!p)
        return BO1_NO_MEMORY;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(s->main.ac, on_reply, p, fmt, ap);
    va_end(ap);
    if (rc != REDIS_OK) {
        free(p);
        return BO1_STORE_DOWN;
    }
    atomic_fetch_add(&s->commands, 1);
    return BO1_OK;
}

enum bo1_status bo1_store_command_argv(struct bo1_store *s, bo1_store_reply_cb *cb, void *arg,
                                       int argc, const char **argv, const size_t *argvlen)
{
    struct pending *p;

    if (s->main.state != ST_UP || !s->main.ac)
        return BO1_STORE_DOWN;
    p = pending_new(s, cb, arg);
    if (!p)
        return BO1_NO_MEMORY;
    if (redisAsyncCommandArgv(s->main.ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return BO1_STORE_DOWN;
    }
    atomic_fetch_add(&s->commands, 1);
    return BO1_OK;
}

enum bo1_status bo1_store_metrics(const struct bo1_store *s, struct bo1_buf *out)
{
    enum bo1_status st =
        bo1_buf_printf(out,
                       "# HELP bo1_redis_up 1 while the Redis connection answers PINGs.\n"
                       "# TYPE bo1_redis_up gauge\nbo1_redis_up %d\n"
                       "# HELP bo1_redis_errors_total Redis connection and command errors.\n"
                       "# TYPE bo1_redis_errors_total counter\nbo1_redis_errors_total %llu\n"
                       "# HELP bo1_redis_connects_total Redis connection attempts.\n"
                       "# TYPE bo1_redis_connects_total counter\n"
                       "bo1_redis_connects_total %llu\n"
                       "# HELP bo1_redis_commands_total Redis commands sent.\n"
                       "# TYPE bo1_redis_commands_total counter\n"
                       "bo1_redis_commands_total %llu\n",
                       atomic_load(&s->main.up), (unsigned long long)atomic_load(&s->errors),
                       (unsigned long long)atomic_load(&s->main.connects),
                       (unsigned long long)atomic_load(&s->commands));

    if (st != BO1_OK || !s->pubsub)
        return st;
    return bo1_buf_printf(
        out,
        "# HELP bo1_redis_pubsub_up 1 while the Pub/Sub connection is up and answers.\n"
        "# TYPE bo1_redis_pubsub_up gauge\nbo1_redis_pubsub_up %d\n"
        "# HELP bo1_redis_pubsub_connects_total Pub/Sub connection attempts.\n"
        "# TYPE bo1_redis_pubsub_connects_total counter\n"
        "bo1_redis_pubsub_connects_total %llu\n"
        "# HELP bo1_redis_pubsub_messages_total Pub/Sub messages received.\n"
        "# TYPE bo1_redis_pubsub_messages_total counter\n"
        "bo1_redis_pubsub_messages_total %llu\n"
        "# HELP bo1_redis_pubsub_channels Notify channels subscribed (confirmed) on the Pub/Sub "
        "connection.\n"
        "# TYPE bo1_redis_pubsub_channels gauge\nbo1_redis_pubsub_channels %u\n",
        atomic_load(&s->sub.up), (unsigned long long)atomic_load(&s->sub.connects),
        (unsigned long long)atomic_load(&s->messages), atomic_load(&s->chans_on));
}
