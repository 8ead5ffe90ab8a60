/* The Redis connection: connect, AUTH/SELECT, PING watchdog, reconnect with backoff.
 * Every field is touched on the loop thread only, except the atomics read by /ready
 * and /metrics. */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/log.h"
#include "store_internal.h"

enum conn_state { ST_DOWN, ST_CONNECTING, ST_HANDSHAKE, ST_UP, ST_STOPPED };

struct bo1_store {
    struct bo1_loop *loop;
    struct bo1_store_options opt;
    char *host;
    char *password;
    redisAsyncContext *ac;
    enum conn_state state;
    uv_timer_t tick;
    int tick_started;
    uint64_t state_since_ms;
    uint64_t next_attempt_ms;
    unsigned backoff_ms;
    uint64_t ping_sent_ms; /* 0 = no PING outstanding */
    uint64_t last_ping_ms;
    atomic_int up;
    atomic_ullong errors;
    atomic_ullong reconnects;
    atomic_ullong commands;
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

static void set_state(struct bo1_store *s, enum conn_state st)
{
    int was_up = s->state == ST_UP;

    s->state = st;
    s->state_since_ms = now_ms(s);
    atomic_store(&s->up, st == ST_UP);
    if (st == ST_UP && !was_up)
        bo1_log_info(NULL, json_pack("{s:s, s:i}", "host", s->host, "port", (int)s->opt.port),
                     "redis connected");
    else if (was_up && st != ST_UP)
        bo1_log_warn(NULL, json_pack("{s:s, s:i}", "host", s->host, "port", (int)s->opt.port),
                     "redis connection lost; reconnecting");
}

static void schedule_retry(struct bo1_store *s)
{
    s->next_attempt_ms = now_ms(s) + s->backoff_ms;
    s->backoff_ms =
        s->backoff_ms * 2 > s->opt.backoff_max_ms ? s->opt.backoff_max_ms : s->backoff_ms * 2;
}

/* Drop the connection from outside hiredis callbacks: pending replies get NULL. */
static void drop_connection(struct bo1_store *s)
{
    redisAsyncContext *ac = s->ac;

    s->ac = NULL;
    s->ping_sent_ms = 0;
    if (s->state != ST_STOPPED)
        set_state(s, ST_DOWN);
    if (ac) {
        ac->data = NULL;
        redisAsyncFree(ac);
    }
    if (s->state != ST_STOPPED)
        schedule_retry(s);
}

static void on_disconnect(const redisAsyncContext *ac, int status)
{
    struct bo1_store *s = ac->data;

    (void)status;
    if (!s)
        return;   /* we freed it ourselves */
    s->ac = NULL; /* hiredis frees the context after this callback */
    s->ping_sent_ms = 0;
    if (s->state == ST_STOPPED)
        return;
    atomic_fetch_add(&s->errors, 1);
    set_state(s, ST_DOWN);
    schedule_retry(s);
}

static void on_handshake_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct bo1_store *s = ac->data;
    redisReply *reply = r;
    const char *step = privdata;

    if (!s || s->state != ST_HANDSHAKE)
        return;
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        bo1_log_error(NULL,
                      json_pack("{s:s, s:s}", "step", step, "error",
                                reply && reply->str ? reply->str : "no reply"),
                      "redis handshake failed");
        atomic_fetch_add(&s->errors, 1);
        /* Not from inside hiredis: let the tick drop it. */
        s->state_since_ms = 0;
        return;
    }
    if (strcmp(step, "PING") == 0) {
        s->backoff_ms = 100;
        set_state(s, ST_UP);
    }
}

static void on_connect(const redisAsyncContext *cac, int status)
{
    redisAsyncContext *ac = (redisAsyncContext *)cac;
    struct bo1_store *s = ac->data;

    if (!s)
        return;
    if (status != REDIS_OK) {
        /* hiredis frees the context after a failed connect. */
        s->ac = NULL;
        atomic_fetch_add(&s->errors, 1);
        if (s->state != ST_STOPPED) {
            set_state(s, ST_DOWN);
            schedule_retry(s);
        }
        return;
    }
    set_state(s, ST_HANDSHAKE);
    if (s->password && *s->password)
        redisAsyncCommand(ac, on_handshake_reply, "AUTH", "AUTH %s", s->password);
    if (s->opt.db)
        redisAsyncCommand(ac, on_handshake_reply, "SELECT", "SELECT %u", s->opt.db);
    redisAsyncCommand(ac, on_handshake_reply, "PING", "PING");
}

static void try_connect(struct bo1_store *s)
{
    redisAsyncContext *ac = redisAsyncConnect(s->host, (int)s->opt.port);

    atomic_fetch_add(&s->reconnects, 1);
    if (!ac || ac->err) {
        if (ac)
            redisAsyncFree(ac);
        atomic_fetch_add(&s->errors, 1);
        schedule_retry(s);
        return;
    }
    ac->data = s;
    if (bo1_store_uv_attach(ac, bo1_loop_uv(s->loop)) != REDIS_OK) {
        ac->data = NULL;
        redisAsyncFree(ac);
        schedule_retry(s);
        return;
    }
    redisAsyncSetConnectCallback(ac, on_connect);
    redisAsyncSetDisconnectCallback(ac, on_disconnect);
    s->ac = ac;
    set_state(s, ST_CONNECTING);
}

static void on_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct bo1_store *s = ac->data;

    (void)privdata;
    if (!s)
        return;
    if (r && ((redisReply *)r)->type != REDIS_REPLY_ERROR)
        s->ping_sent_ms = 0;
}

static void on_tick(uv_timer_t *t)
{
    struct bo1_store *s = t->data;
    uint64_t now = now_ms(s);

    switch (s->state) {
    case ST_DOWN:
        if (now >= s->next_attempt_ms)
            try_connect(s);
        break;
    case ST_CONNECTING:
    case ST_HANDSHAKE:
        if (now - s->state_since_ms > s->opt.connect_timeout_ms)
            drop_connection(s);
        break;
    case ST_UP:
        if (s->ping_sent_ms && now - s->ping_sent_ms > s->opt.ping_timeout_ms) {
            atomic_fetch_add(&s->errors, 1);
            drop_connection(s);
        } else if (!s->ping_sent_ms && now - s->last_ping_ms >= s->opt.ping_interval_ms) {
            s->ping_sent_ms = now;
            s->last_ping_ms = now;
            redisAsyncCommand(s->ac, on_ping_reply, NULL, "PING");
        }
        break;
    case ST_STOPPED:
        break;
    }
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
        s->opt.ping_interval_ms = 500;
    if (!s->opt.ping_timeout_ms)
        s->opt.ping_timeout_ms = 1500;
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
    s->backoff_ms = 100;
    s->state = ST_DOWN;
    *out = s;
    return BO1_OK;
}

void bo1_store_start(struct bo1_store *s)
{
    uv_timer_init(bo1_loop_uv(s->loop), &s->tick);
    s->tick.data = s;
    s->tick_started = 1;
    s->next_attempt_ms = 0;
    uv_timer_start(&s->tick, on_tick, 0, 100);
}

void bo1_store_stop(struct bo1_store *s)
{
    if (!s)
        return;
    s->state = ST_STOPPED;
    atomic_store(&s->up, 0);
    if (s->tick_started) {
        uv_timer_stop(&s->tick);
        uv_close((uv_handle_t *)&s->tick, NULL);
        s->tick_started = 0;
    }
    drop_connection(s);
}

void bo1_store_free(struct bo1_store *s)
{
    if (!s)
        return;
    free(s->host);
    free(s->password);
    free(s);
}

int bo1_store_is_up(const struct bo1_store *s)
{
    return atomic_load(&s->up);
}

static void on_reply(redisAsyncContext *ac, void *r, void *privdata)
{
    struct pending *p = privdata;
    redisReply *reply = r;

    (void)ac;
    /* Any reply shows the connection is alive: under load the PING waits behind many
     * commands, and only a connection that answers nothing for ping_timeout_ms is dead. */
    if (reply && p->store->ping_sent_ms)
        p->store->ping_sent_ms = now_ms(p->store);
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

    if (s->state != ST_UP || !s->ac)
        return BO1_STORE_DOWN;
    p = pending_new(s, cb, arg);
    if (!p)
        return BO1_NO_MEMORY;
    va_start(ap, fmt);
    rc = redisvAsyncCommand(s->ac, on_reply, p, fmt, ap);
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

    if (s->state != ST_UP || !s->ac)
        return BO1_STORE_DOWN;
    p = pending_new(s, cb, arg);
    if (!p)
        return BO1_NO_MEMORY;
    if (redisAsyncCommandArgv(s->ac, on_reply, p, argc, argv, argvlen) != REDIS_OK) {
        free(p);
        return BO1_STORE_DOWN;
    }
    atomic_fetch_add(&s->commands, 1);
    return BO1_OK;
}

enum bo1_status bo1_store_metrics(const struct bo1_store *s, struct bo1_buf *out)
{
    return bo1_buf_printf(out,
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
                          atomic_load(&s->up), (unsigned long long)atomic_load(&s->errors),
                          (unsigned long long)atomic_load(&s->reconnects),
                          (unsigned long long)atomic_load(&s->commands));
}
