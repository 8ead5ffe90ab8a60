/* The runner: job claiming, leases, engine effects and user actions (bo1/runner.h).
 *
 * Writes of one session are serialised: at most one EVAL in flight per session, carrying
 * every event published since the last write plus the latest checkpoint, so the event log
 * keeps the engine's order and a checkpoint never lands before the events it follows.
 *
 * Events are held until the checkpoint that covers them and written in the same EVAL (or,
 * once the session is finished, on their own): the log never holds an event of a step the
 * checkpoint does not contain, so an instance that resumes the session from its checkpoint
 * (after a crash) re-emits nothing the log already has, and loses nothing either. A write
 * whose answer was lost (Redis went away) is sent again unchanged under the same token,
 * which the script recognises, so a retry never appends twice. */
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#include "../store/scripts.h"
#include "bo1/buf.h"
#include "bo1/clock.h"
#include "bo1/embed.h"
#include "bo1/engine.h"
#include "bo1/hub.h"
#include "bo1/llm.h"
#include "bo1/log.h"
#include "bo1/report.h"
#include "bo1/runner.h"
#include "bo1/session.h"
#include "bo1/sessions.h"
#include "bo1/store.h"

struct run {
    struct bo1_runner *r;
    struct run *next;
    char id[32];
    char job_entry[48];
    struct bo1_session *s;
    json_t *events; /* array of event texts not yet written */
    int ckpt_due;   /* a checkpoint not yet written: the next write takes the state */
    /* The ledger's entries as text ("e1,e2,..."): the ledger only grows and its entries never
     * change once appended (engine.md), so each write serialises only the new ones. */
    struct bo1_buf ledger_text;
    size_t ledger_n;     /* entries in ledger_text */
    json_t *ledger_last; /* the last of them (a reference), to notice another ledger */
    json_t *write;       /* the write in flight or to retry: its EVAL argv after the keys count */
    unsigned long long write_seq;
    unsigned write_errors;     /* consecutive writes Redis refused with an error */
    int64_t write_retry_at_ms; /* after such an error, not before this time */
    int writing;
    int polling;
    int stopping; /* lease lost or shutting down: write nothing more */
    int requeue;  /* when stopping: hand the session to another instance */
    int lost;     /* when stopping: the lease is gone; forget the run without a release */
    int report_done;
    int exported;
    int64_t last_renew_ms;
    int64_t last_tick_ms;
};

struct bo1_runner {
    struct bo1_loop *loop;
    struct bo1_store *store;
    struct bo1_llm *gw;
    struct bo1_embedder *emb;
    struct bo1_hub *hub;
    struct bo1_engine *engine;
    struct bo1_runner_options opt;
    char instance[40];
    char *exports_dir;
    struct run *runs;
    uv_timer_t timer;
    int started;
    int stopping;
    int reading_jobs;
    int read_again; /* poked while a job read was in flight */
    int group_ready;
    int64_t last_autoclaim_ms;
    atomic_uint running;
    atomic_uint releases_pending;
    atomic_ullong completed;
    atomic_ullong failed;
    atomic_ullong cancelled;
    atomic_ullong taken_over;
};

/* --- small helpers --- */

static const char *elem(const redisReply *r, size_t i)
{
    if (!r || r->type != REDIS_REPLY_ARRAY || i >= r->elements)
        return NULL;
    r = r->element[i];
    return (r->type == REDIS_REPLY_STRING || r->type == REDIS_REPLY_STATUS) ? r->str : NULL;
}

/* The id of the last event an append wrote ({'OK', status, previous, owner, ids...}), or
 * NULL. */
static const char *last_event_id(const redisReply *r)
{
    return r && r->type == REDIS_REPLY_ARRAY && r->elements > 4 ? elem(r, r->elements - 1) : NULL;
}

static int terminal_name(const char *st)
{
    return st && (strcmp(st, "completed") == 0 || strcmp(st, "failed") == 0 ||
                  strcmp(st, "cancelled") == 0);
}

/* After an append that changed the status (it answers the previous one): the steps on the
 * other slots. The fleet's counts move; a terminal status frees the owner's active slot. A
 * crash before them leaves a count off and a slot that the cap's repair frees. */
static void after_append(struct bo1_runner *r, const char *id, const redisReply *reply)
{
    const char *status = elem(reply, 1);
    const char *prev = elem(reply, 2);
    const char *owner = elem(reply, 3);

    if (!status || !prev || !*prev)
        return;
    bo1_sessions_stat_move(r->store, id, prev, status, r->opt.ttl_s);
    if (terminal_name(status) && owner && *owner)
        bo1_sessions_active_leave(r->store, owner, id);
}

static enum bo1_status eval(struct bo1_runner *r, const char *script, int nkeys,
                            const char *const *argv, int argc, bo1_store_reply_cb *cb, void *arg)
{
    /* Every argument goes: a write can carry any number of events. */
    const char **v = calloc((size_t)argc + 3, sizeof(*v));
    char nk[8];
    int n = 0;
    enum bo1_status st;

    if (!v)
        return BO1_NO_MEMORY;
    snprintf(nk, sizeof(nk), "%d", nkeys);
    v[n++] = "EVAL";
    v[n++] = script;
    v[n++] = nk;
    for (int i = 0; i < argc; i++)
        v[n++] = argv[i];
    st = bo1_store_command_argv(r->store, cb, arg, n, v, NULL);
    free(v);
    return st;
}

static struct run *find_run(struct bo1_runner *r, const char *id)
{
    for (struct run *x = r->runs; x; x = x->next)
        if (strcmp(x->id, id) == 0)
            return x;
    return NULL;
}

static void run_unlink(struct run *run)
{
    struct run **pp = &run->r->runs;

    while (*pp && *pp != run)
        pp = &(*pp)->next;
    if (*pp)
        *pp = run->next;
}

static void run_free(struct run *run)
{
    bo1_session_free(run->s);
    json_decref(run->events);
    json_decref(run->write);
    json_decref(run->ledger_last);
    bo1_buf_fini(&run->ledger_text);
    free(run);
}

static const char *api_status(const struct run *run)
{
    return bo1_session_status_name(bo1_session_status(run->s));
}

/* One event as the text stored in the stream. Takes @data. Returns: malloc'd, or NULL. */
static char *dump_event(const char *id, const char *iso, const char *type, json_t *data)
{
    json_t *ev = json_pack("{s:s, s:s, s:s, s:o}", "type", type, "session_id", id, "ts", iso,
                           "data", data ? data : json_object());
    char *text = ev ? json_dumps(ev, JSON_COMPACT) : NULL;

    json_decref(ev);
    return text;
}

/* --- release: give the session back (requeue) or finish it (ack) --- */

static void on_renewed(enum bo1_status st, const redisReply *reply, void *arg);

struct release {
    struct bo1_runner *r;
};

static void on_released(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct bo1_runner *r = arg;

    (void)st;
    (void)reply;
    atomic_fetch_sub(&r->releases_pending, 1);
}

/* Detach @run from this instance. @requeue: another instance should continue it.
 * Two steps on two slots, in this order on one connection: the lease goes first, so a
 * requeued job finds the session free at once; then the job stream (the new job, and the
 * old entry acknowledged). A crash between them leaves the old entry pending: XAUTOCLAIM
 * hands it to another instance, which resumes or acknowledges it. */
static void run_release(struct run *run, int requeue)
{
    struct bo1_runner *r = run->r;
    char lease[64];
    const char *argv[4];

    snprintf(lease, sizeof(lease), "bo1:{%s}:lease", run->id);
    argv[0] = lease;
    argv[1] = r->instance;
    eval(r, bo1_lua_release, 1, argv, 2, on_renewed, NULL);
    argv[0] = BO1_SESSIONS_JOBS_KEY;
    argv[1] = run->job_entry;
    argv[2] = requeue ? "1" : "0";
    argv[3] = run->id;
    atomic_fetch_add(&r->releases_pending, 1);
    if (eval(r, bo1_lua_ack, 1, argv, 4, on_released, r) != BO1_OK)
        atomic_fetch_sub(&r->releases_pending, 1);
    run_unlink(run);
    atomic_fetch_sub(&r->running, 1);
    run_free(run);
}

/* --- writing events and checkpoints --- */

static void flush(struct run *run);
static void flush_with(struct run *run, int may_take_state);

static void write_report(struct run *run);

/* Forget @run on this instance without touching Redis: another instance holds it. */
static void run_forget(struct run *run)
{
    run_unlink(run);
    atomic_fetch_sub(&run->r->running, 1);
    run_free(run);
}

/* A stopping run is released once no reply is outstanding (callbacks hold @run). */
static int release_if_stopped(struct run *run)
{
    if (!run->stopping)
        return 0;
    if (!run->writing && !run->polling) {
        if (run->lost)
            run_forget(run);
        else
            run_release(run, run->requeue);
    }
    return 1;
}

/* The lease is gone (taken over, or the session deleted): stop here, free when no reply
 * is outstanding. */
static void run_lost(struct run *run, const char *why)
{
    bo1_log_warn(NULL, json_pack("{s:s, s:s}", "session_id", run->id, "reason", why),
                 "session taken away from this instance; stopping it here");
    run->stopping = 1;
    run->lost = 1;
    release_if_stopped(run);
}

static void maybe_finish(struct run *run)
{
    struct bo1_runner *r = run->r;

    /* Callbacks still to come hold @run; the last of them comes back here. */
    if (run->writing || run->polling || run->write || run->ckpt_due)
        return;
    if (!bo1_session_is_terminal(run->s) && bo1_session_status(run->s) != BO1_SESSION_PAUSED)
        return;
    if (!bo1_session_is_terminal(run->s) && json_array_size(run->events)) {
        /* Paused: answers that landed after the pause's checkpoint are not in it; the
         * instance that resumes the session asks again, so their events are not logged. */
        json_array_clear(run->events);
    }
    if (json_array_size(run->events))
        return;
    if (bo1_session_is_terminal(run->s) && !run->report_done) {
        write_report(run);
        return;
    }
    switch (bo1_session_status(run->s)) {
    case BO1_SESSION_COMPLETED:
        atomic_fetch_add(&r->completed, 1);
        break;
    case BO1_SESSION_FAILED:
        atomic_fetch_add(&r->failed, 1);
        break;
    case BO1_SESSION_CANCELLED:
        atomic_fetch_add(&r->cancelled, 1);
        break;
    default:
        break;
    }
    bo1_log_info(NULL, json_pack("{s:s, s:s}", "session_id", run->id, "status", api_status(run)),
                 "session left this instance");
    run_release(run, 0);
}

/* Follow the status the user set, as read back from Redis by a poll or a write: cancel,
 * pause, or undo a pause the user has resumed since (the status is then queued, or running
 * after a claim). */
static void obey_user(struct run *run, const char *status)
{
    struct bo1_engine *e = run->r->engine;
    int engine_paused = bo1_session_status(run->s) == BO1_SESSION_PAUSED;

    if (!status || bo1_session_is_terminal(run->s))
        return;
    if (strcmp(status, "cancelled") == 0)
        bo1_engine_cancel(e, run->s);
    else if (strcmp(status, "paused") == 0 && !engine_paused)
        bo1_engine_pause(e, run->s);
    else if (engine_paused && (strcmp(status, "queued") == 0 || strcmp(status, "running") == 0 ||
                               strcmp(status, "awaiting_input") == 0))
        bo1_engine_unpause(e, run->s);
}

static void on_written(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct run *run = arg;
    const char *code = elem(reply, 0);
    const char *status = elem(reply, 1);

    run->writing = 0;
    if (release_if_stopped(run))
        return;
    if (st != BO1_OK || !code) {
        /* Redis away or the answer lost: the same write goes again on the next tick. An
         * error answer (a script error, or OOM when Redis is full under noeviction) would
         * repeat on every tick: back off (250 ms doubling to 8 s) and say so in the log. */
        if (st == BO1_IO_ERROR && reply) {
            unsigned n = ++run->write_errors;
            int64_t wait = (int64_t)250 << (n < 6 ? n - 1 : 5);
            run->write_retry_at_ms = bo1_clock_mono_ms() + wait;
            if ((n & (n - 1)) == 0) /* the 1st, 2nd, 4th, 8th, ... refusal */
                bo1_log_warn(NULL,
                             json_pack("{s:s, s:s, s:I, s:I}", "session_id", run->id, "error",
                                       reply->str ? reply->str : "", "refusals", (json_int_t)n,
                                       "retry_in_ms", (json_int_t)wait),
                             "Redis refused the session's write; retrying");
        }
        return;
    }
    run->write_errors = 0;
    run->write_retry_at_ms = 0;
    json_decref(run->write);
    run->write = NULL;
    if (strcmp(code, "LOST_LEASE") == 0 || strcmp(code, "NOT_FOUND") == 0) {
        run_lost(run, code);
        return;
    }
    after_append(run->r, run->id, reply);
    bo1_hub_notify(run->r->hub, run->id, last_event_id(reply));
    obey_user(run, status);
    flush(run);
    maybe_finish(run);
}

/* json_dump_callback's output: appended to a struct bo1_buf. */
static int on_dump(const char *p, size_t n, void *arg)
{
    return bo1_buf_append(arg, p, n) == BO1_OK ? 0 : -1;
}

/* Append `"key":value` (compact) to @b, a comma first unless @b holds only the "{". */
static int put_member(struct bo1_buf *b, const char *key, const json_t *value)
{
    json_t *k = json_string(key);
    int rc = -1;

    if (k && (b->len <= 1 || bo1_buf_append(b, ",", 1) == BO1_OK) &&
        json_dump_callback(k, on_dump, b, JSON_ENCODE_ANY) == 0 &&
        bo1_buf_append(b, ":", 1) == BO1_OK &&
        json_dump_callback(value, on_dump, b, JSON_COMPACT | JSON_ENCODE_ANY) == 0)
        rc = 0;
    json_decref(k);
    return rc;
}

/* Append `"ledger":[...]` for the state's @ledger to @b, from the run's cache of the entries'
 * text plus the entries appended since. Returns 0 or -1 (out of memory). */
static int put_ledger(struct run *run, struct bo1_buf *b, const json_t *ledger)
{
    size_t n = json_array_size(ledger);

    if (run->ledger_n > n ||
        (run->ledger_n && json_array_get(ledger, run->ledger_n - 1) != run->ledger_last)) {
        bo1_buf_reset(&run->ledger_text); /* not the ledger cached: start again */
        run->ledger_n = 0;
    }
    for (; run->ledger_n < n; run->ledger_n++) {
        json_t *e = json_array_get(ledger, run->ledger_n);
        if ((run->ledger_n && bo1_buf_append(&run->ledger_text, ",", 1) != BO1_OK) ||
            json_dump_callback(e, on_dump, &run->ledger_text, JSON_COMPACT) != 0) {
            bo1_buf_reset(&run->ledger_text);
            run->ledger_n = 0;
            return -1;
        }
        json_decref(run->ledger_last);
        run->ledger_last = json_incref(e);
    }
    if ((b->len > 1 && bo1_buf_append(b, ",", 1) != BO1_OK) ||
        bo1_buf_puts(b, "\"ledger\":[") != BO1_OK ||
        bo1_buf_append(b, run->ledger_text.len ? run->ledger_text.data : "",
                       run->ledger_text.len) != BO1_OK ||
        bo1_buf_append(b, "]", 1) != BO1_OK)
        return -1;
    return 0;
}

/* The checkpoint a write stores: the engine's state (borrowed), compact. It is the largest
 * thing a deliberation writes, once per write and once only: the session document served
 * by GET is built from it and the create document at read time (store.md), so the runner
 * does not store a second copy. The ledger's entries come from the run's cache.
 * Returns the text (caller frees), or NULL (out of memory). */
static char *dump_ckpt(struct run *run, const json_t *state)
{
    struct bo1_buf ck;
    const char *key;
    json_t *v;
    char *text = NULL;
    int rc = 0;

    bo1_buf_init(&ck, 0);
    if (bo1_buf_append(&ck, "{", 1) != BO1_OK)
        rc = -1;
    json_object_foreach((json_t *)state, key, v)
    {
        if (rc == 0 && strcmp(key, "ledger") == 0 && json_is_array(v))
            rc = put_ledger(run, &ck, v);
        else if (rc == 0)
            rc = put_member(&ck, key, v);
    }
    if (rc == 0 && bo1_buf_append(&ck, "}", 1) == BO1_OK)
        text = bo1_buf_take(&ck);
    bo1_buf_fini(&ck);
    return text;
}

/* Send run->write (built before, or kept for a retry). */
static void send_write(struct run *run)
{
    size_t n = json_array_size(run->write);
    const char **argv = calloc(n ? n : 1, sizeof(*argv));

    if (!argv)
        return;
    for (size_t i = 0; i < n; i++)
        argv[i] = json_string_value(json_array_get(run->write, i));
    if (eval(run->r, bo1_lua_append, 4, argv, (int)n, on_written, run) == BO1_OK)
        run->writing = 1;
    free(argv);
}

static void flush(struct run *run)
{
    flush_with(run, 1);
}

/* Write what is pending. @may_take_state: the engine is between steps (the caller is not
 * inside an engine call, or it is the checkpoint effect), so its state can be written;
 * otherwise (an event published in the middle of a step) a due checkpoint waits. */
static void flush_with(struct run *run, int may_take_state)
{
    struct bo1_runner *r = run->r;
    const json_t *state = run->s ? bo1_session_state(run->s) : NULL;
    char keys[4][64];
    char buf[72];
    char *ckpt_text = NULL;
    const char *phase;
    json_t *cost;
    json_t *w;

    if (run->writing || run->stopping)
        return;
    if (run->write) {
        if (bo1_clock_mono_ms() >= run->write_retry_at_ms)
            send_write(run);
        return;
    }
    /* The report is stored before the terminal status and events, so a client that saw the
     * session end can fetch it at once. It is rendered from the state, so only between
     * steps (the engine's final checkpoint comes right after). */
    if (bo1_session_is_terminal(run->s) && !run->report_done) {
        if (may_take_state)
            write_report(run);
        return;
    }
    /* Events wait for the checkpoint that covers them, unless nothing follows. The write
     * takes the state as it is now, which covers every event published until now: the
     * engine checkpointed it, and what changed since (answers recorded into their slots,
     * a batch issued) is resumable as it stands (engine.md, "Batches, the pump,
     * checkpoints"); a checkpoint taken while a write was in flight costs nothing until
     * the write goes. */
    if (!run->ckpt_due && !(json_array_size(run->events) && bo1_session_is_terminal(run->s)))
        return;
    if (run->ckpt_due && (!may_take_state || !state))
        return;
    if (run->ckpt_due)
        ckpt_text = dump_ckpt(run, state);
    if (run->ckpt_due && !ckpt_text)
        return;
    w = json_array();
    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:session", run->id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:events", run->id);
    snprintf(keys[2], sizeof(keys[2]), "bo1:{%s}:lease", run->id);
    snprintf(keys[3], sizeof(keys[3]), "bo1:{%s}:inbox", run->id);
    for (int k = 0; k < 4; k++)
        json_array_append_new(w, json_string(keys[k]));
    json_array_append_new(w, json_string(r->instance));
    snprintf(buf, sizeof(buf), "%u", r->opt.events_max);
    json_array_append_new(w, json_string(buf));
    json_array_append_new(w, json_string(run->ckpt_due ? api_status(run) : ""));
    snprintf(buf, sizeof(buf), "%lld", (long long)bo1_clock_wall_ms());
    json_array_append_new(w, json_string(buf));
    snprintf(buf, sizeof(buf), "%u", r->opt.ttl_s);
    json_array_append_new(w, json_string(buf));
    json_array_append_new(w, json_string(run->id));
    json_array_append_new(w, json_string(ckpt_text ? ckpt_text : ""));
    snprintf(buf, sizeof(buf), "%s:%llu", r->instance, ++run->write_seq);
    json_array_append_new(w, json_string(buf));
    /* The list's summary fields: the phase and the cost total, with each checkpoint. */
    phase = run->ckpt_due ? json_string_value(json_object_get(state, "state")) : NULL;
    json_array_append_new(w, json_string(phase ? phase : ""));
    cost = run->ckpt_due ? json_object_get(json_object_get(state, "costs"), "total_usd") : NULL;
    if (json_is_number(cost))
        snprintf(buf, sizeof(buf), "%.17g", json_number_value(cost));
    else
        buf[0] = '\0';
    json_array_append_new(w, json_string(buf));
    json_array_extend(w, run->events);
    free(ckpt_text);
    if (json_array_size(w) != 14 + json_array_size(run->events)) {
        json_decref(w); /* out of memory: keep what is pending */
        return;
    }
    /* What is in the write is no longer pending, whether it goes now or on a retry. */
    json_array_clear(run->events);
    run->ckpt_due = 0;
    run->write = w;
    send_write(run);
}

static void on_report_written(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct run *run = arg;

    (void)reply;
    run->writing = 0;
    if (release_if_stopped(run))
        return;
    run->report_done = 1; /* even on failure: the state itself is saved */
    if (st != BO1_OK)
        bo1_log_warn(NULL, json_pack("{s:s}", "session_id", run->id), "report not stored");
    flush(run);
    maybe_finish(run);
}

static void write_report(struct run *run)
{
    struct bo1_runner *r = run->r;
    const json_t *state = bo1_session_state(run->s);
    struct bo1_buf js;
    struct bo1_buf md;
    char keys[2][64];
    char ttl[16];
    const char *argv[6];

    bo1_buf_init(&js, 0);
    bo1_buf_init(&md, 0);
    if (bo1_report_render_json(state, &js) != BO1_OK ||
        bo1_report_render_md(state, &md) != BO1_OK) {
        bo1_log_error(NULL, json_pack("{s:s}", "session_id", run->id), "report rendering failed");
        run->report_done = 1;
        bo1_buf_fini(&js);
        bo1_buf_fini(&md);
        flush(run);
        maybe_finish(run);
        return;
    }
    if (r->exports_dir && r->exports_dir[0] && !run->exported) {
        run->exported = 1; /* once, even if storing the report must be retried */
        json_t *paths = NULL;
        /* The texts just rendered for Redis are the files' contents too. */
        enum bo1_status xst = bo1_report_export_rendered(
            run->id, &md, &js, r->exports_dir, (double)bo1_clock_wall_ms() / 1000.0, &paths);
        json_decref(paths);
        if (xst != BO1_OK)
            bo1_log_warn(NULL,
                         json_pack("{s:s, s:s}", "session_id", run->id, "dir", r->exports_dir),
                         "report export to files failed");
    }
    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:report", run->id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:lease", run->id);
    snprintf(ttl, sizeof(ttl), "%u", r->opt.ttl_s);
    argv[0] = keys[0];
    argv[1] = keys[1];
    argv[2] = r->instance;
    argv[3] = bo1_buf_str(&js);
    argv[4] = bo1_buf_str(&md);
    argv[5] = ttl;
    if (eval(r, bo1_lua_report, 2, argv, 6, on_report_written, run) == BO1_OK)
        run->writing = 1;
    bo1_buf_fini(&js);
    bo1_buf_fini(&md);
}

/* --- engine effects --- */

static enum bo1_status fx_call_model(void *ctx, const struct bo1_llm_request *rq,
                                     bo1_llm_done_cb *cb, void *arg)
{
    struct bo1_runner *r = ctx;

    if (r->stopping)
        return BO1_CANCELLED;
    return bo1_llm_call(r->gw, rq, cb, arg, NULL);
}

static enum bo1_status fx_embed(void *ctx, const char *session_id, const char *const *texts,
                                size_t n, bo1_embed_done_cb *cb, void *arg)
{
    struct bo1_runner *r = ctx;

    if (r->stopping)
        return BO1_CANCELLED;
    return bo1_embed_texts(r->emb, session_id, texts, n, cb, arg);
}

static void fx_checkpoint(void *ctx, const char *session_id, const json_t *state)
{
    struct run *run = find_run(ctx, session_id);

    (void)state; /* the session's own state: flush() takes it, now or when the write goes */
    if (!run || run->stopping)
        return;
    run->ckpt_due = 1;
    flush(run);
}

/* The engine's session.status for a pause or a cancel. The engine pauses and cancels only
 * when the runner has read the user's action from the session hash (obey_user), and the
 * control script that set it has already logged it (session.status by the user, and for a
 * cancel the terminal session.completed): the engine's event would log the same status a
 * second time, so it is not written. One user action, one status event. */
static int is_users_status(const char *type, const json_t *data)
{
    const char *ev = json_string_value(json_object_get(data, "event"));

    return strcmp(type, "session.status") == 0 && ev &&
           (strcmp(ev, "pause") == 0 || strcmp(ev, "cancel") == 0);
}

static void fx_publish(void *ctx, const char *session_id, const char *type, json_t *data)
{
    struct run *run = find_run(ctx, session_id);
    char iso[40];
    char *text;

    if (!run || run->stopping || is_users_status(type, data)) {
        json_decref(data);
        return;
    }
    bo1_clock_iso(bo1_clock_wall_ms(), iso);
    text = dump_event(session_id, iso, type, data);
    if (text)
        json_array_append_new(run->events, json_string(text));
    free(text);
    flush_with(run, 0);
}

static double fx_now(void *ctx)
{
    (void)ctx;
    return (double)bo1_clock_wall_ms() / 1000.0;
}

/* --- user actions and leases --- */

static void on_polled(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct run *run = arg;
    struct bo1_runner *r = run->r;
    const char *code = elem(reply, 0);
    const char *status = elem(reply, 1);

    run->polling = 0;
    if (release_if_stopped(run))
        return;
    if (st != BO1_OK || !code)
        return;
    if (strcmp(code, "OK") != 0) {
        run_lost(run, code);
        return;
    }
    for (size_t i = 2; i < reply->elements && !bo1_session_is_terminal(run->s); i++) {
        json_t *in = json_loads(elem(reply, i) ? elem(reply, i) : "", 0, NULL);
        const char *kind = json_string_value(json_object_get(in, "kind"));
        json_t *answers = json_object_get(in, "answers");
        enum bo1_status ist = BO1_BAD_FIELD;
        /* {"skip": true} arrives with "answers": null, which means none. */
        if (kind && strcmp(kind, "answers") == 0)
            ist = bo1_engine_answer(r->engine, run->s, json_is_object(answers) ? answers : NULL,
                                    json_is_true(json_object_get(in, "skip")));
        else if (kind && strcmp(kind, "interjection") == 0)
            ist = bo1_engine_interject(r->engine, run->s,
                                       json_string_value(json_object_get(in, "text")));
        if (ist != BO1_OK)
            bo1_log_warn(NULL,
                         json_pack("{s:s, s:s?, s:s}", "session_id", run->id, "kind", kind,
                                   "status", bo1_status_name(ist)),
                         "the engine refused a user input");
        json_decref(in);
    }
    obey_user(run, status);
    maybe_finish(run);
}

static void on_renewed(enum bo1_status st, const redisReply *reply, void *arg)
{
    (void)st;
    (void)reply;
    (void)arg;
    /* A lost lease is noticed by the next poll or write, which stop the run. */
}

/* Read the session's status and inbox (pause, cancel, answers, interjections). */
static void run_poll(struct run *run)
{
    char keys[3][64];
    const char *argv[4];

    if (run->polling || run->stopping)
        return;
    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:session", run->id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:inbox", run->id);
    snprintf(keys[2], sizeof(keys[2]), "bo1:{%s}:lease", run->id);
    argv[0] = keys[0];
    argv[1] = keys[1];
    argv[2] = keys[2];
    argv[3] = run->r->instance;
    if (eval(run->r, bo1_lua_poll, 3, argv, 4, on_polled, run) == BO1_OK)
        run->polling = 1;
}

static void run_tick(struct run *run, int64_t now)
{
    struct bo1_runner *r = run->r;
    char keys[3][64];
    const char *argv[5];

    if (run->stopping)
        return;
    if (now - run->last_renew_ms >= r->opt.lease_ms / 3) {
        char ms[16];
        run->last_renew_ms = now;
        snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:lease", run->id);
        snprintf(ms, sizeof(ms), "%u", r->opt.lease_ms);
        argv[0] = keys[0];
        argv[1] = r->instance;
        argv[2] = ms;
        eval(r, bo1_lua_renew, 1, argv, 3, on_renewed, NULL);
    }
    if (now - run->last_tick_ms >= 1000) {
        run->last_tick_ms = now;
        bo1_engine_tick(r->engine, run->s);
    }
    run_poll(run);
    flush(run); /* retry writes that failed while Redis was away */
    maybe_finish(run);
}

/* --- claiming work --- */

struct claim {
    struct bo1_runner *r;
    char id[32];
    char entry[48];
    int took_over;
};

/* Done with a job entry: acknowledged and deleted (the stream keeps only open work). */
static void ack_entry(struct bo1_runner *r, const char *entry)
{
    const char *argv[4] = {BO1_SESSIONS_JOBS_KEY, entry, "0", ""};

    eval(r, bo1_lua_ack, 1, argv, 4, on_renewed, NULL);
}

static void on_fail_written(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct run *run = arg;

    run->writing = 0;
    if (st == BO1_OK && elem(reply, 0) && strcmp(elem(reply, 0), "OK") == 0) {
        after_append(run->r, run->id, reply);
        bo1_hub_notify(run->r->hub, run->id, last_event_id(reply));
    }
    run->stopping = 1;
    release_if_stopped(run);
}

/* The engine refused the session (e.g. a checkpoint it cannot read): fail it visibly. */
static void fail_unstartable(struct run *run, const char *why)
{
    struct bo1_runner *r = run->r;
    char iso[40];
    char keys[4][64];
    char now[24];
    char ttl[16];
    char max[16];
    char *ev[3];
    const char *argv[18];
    int argc = 0;

    bo1_clock_iso(bo1_clock_wall_ms(), iso);
    ev[0] = dump_event(run->id, iso, "error",
                       json_pack("{s:s, s:s}", "code", "ENGINE_REFUSED", "message", why));
    ev[1] = dump_event(run->id, iso, "session.status", json_pack("{s:s}", "status", "failed"));
    ev[2] = dump_event(run->id, iso, "session.completed", json_pack("{s:s}", "status", "failed"));
    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:session", run->id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:events", run->id);
    snprintf(keys[2], sizeof(keys[2]), "bo1:{%s}:lease", run->id);
    snprintf(keys[3], sizeof(keys[3]), "bo1:{%s}:inbox", run->id);
    snprintf(now, sizeof(now), "%lld", (long long)bo1_clock_wall_ms());
    snprintf(ttl, sizeof(ttl), "%u", r->opt.ttl_s);
    snprintf(max, sizeof(max), "%u", r->opt.events_max);
    argv[argc++] = keys[0];
    argv[argc++] = keys[1];
    argv[argc++] = keys[2];
    argv[argc++] = keys[3];
    argv[argc++] = r->instance;
    argv[argc++] = max;
    argv[argc++] = "failed";
    argv[argc++] = "";
    argv[argc++] = now;
    argv[argc++] = ttl;
    argv[argc++] = run->id;
    argv[argc++] = "";
    argv[argc++] = ""; /* no token: written once */
    argv[argc++] = ""; /* phase unchanged */
    argv[argc++] = ""; /* cost unchanged */
    for (int i = 0; i < 3; i++)
        argv[argc++] = ev[i] ? ev[i] : "{}";
    atomic_fetch_add(&r->failed, 1);
    if (eval(r, bo1_lua_append, 4, argv, argc, on_fail_written, run) == BO1_OK)
        run->writing = 1;
    else {
        run->stopping = 1;
        release_if_stopped(run);
    }
    for (int i = 0; i < 3; i++)
        free(ev[i]);
}

static void start_run(struct bo1_runner *r, struct claim *c, const redisReply *reply)
{
    const char *doc_text = elem(reply, 1);
    const char *ckpt_text = elem(reply, 4);
    struct run *run = calloc(1, sizeof(*run));
    json_t *doc = doc_text ? json_loads(doc_text, 0, NULL) : NULL;
    json_t *errors = NULL;
    enum bo1_status st;

    if (!run || !json_is_object(doc)) {
        free(run);
        json_decref(doc);
        ack_entry(r, c->entry);
        return;
    }
    bo1_buf_init(&run->ledger_text, 0);
    run->r = r;
    snprintf(run->id, sizeof(run->id), "%s", c->id);
    snprintf(run->job_entry, sizeof(run->job_entry), "%s", c->entry);
    run->events = json_array();
    run->last_renew_ms = bo1_clock_mono_ms();
    run->next = r->runs;
    r->runs = run;
    atomic_fetch_add(&r->running, 1);

    if (ckpt_text && *ckpt_text) {
        json_t *ckpt = json_loads(ckpt_text, 0, NULL);
        st = ckpt ? bo1_engine_resume(r->engine, ckpt, &run->s) : BO1_BAD_FIELD;
        json_decref(ckpt);
        if (st == BO1_OK && bo1_session_status(run->s) == BO1_SESSION_PAUSED)
            st = bo1_engine_unpause(r->engine, run->s);
        if (c->took_over)
            atomic_fetch_add(&r->taken_over, 1);
        bo1_log_info(NULL,
                     json_pack("{s:s, s:b}", "session_id", run->id, "took_over", c->took_over),
                     "session resumed from its checkpoint");
    } else {
        /* The engine's request gets its own copy of the options: the stored ones (the
         * create document, which GET serves) keep their nulls and "start". */
        json_t *request = json_pack("{s:O, s:o}", "problem", json_object_get(doc, "problem"),
                                    "options", json_deep_copy(json_object_get(doc, "options")));
        json_t *opts = json_object_get(request, "options");
        const char *key;
        json_t *v;
        void *tmp;
        /* The engine wants absent options, not nulls. */
        json_object_foreach_safe(opts, tmp, key, v)
        {
            if (json_is_null(v) || strcmp(key, "start") == 0)
                json_object_del(opts, key);
        }
        st = bo1_engine_create(r->engine, run->id, request, &run->s, &errors);
        json_decref(request);
        if (st == BO1_OK)
            st = bo1_engine_start(r->engine, run->s);
        bo1_log_info(NULL, json_pack("{s:s}", "session_id", run->id), "session started");
    }
    json_decref(doc);
    if (st != BO1_OK || !run->s) {
        char *e = errors ? json_dumps(errors, JSON_COMPACT) : NULL;
        bo1_log_error(NULL,
                      json_pack("{s:s, s:s, s:s?}", "session_id", run->id, "status",
                                bo1_status_name(st), "errors", e),
                      "session could not start");
        fail_unstartable(run, e ? e : bo1_status_hint(st));
        free(e);
        json_decref(errors);
        return;
    }
    json_decref(errors);
    flush(run);
}

/* The user resumed a session whose engine never paused here (the pause and the resume both
 * landed between two polls): the log has the user's paused and queued, and, like any
 * resume, gets the status the session continues with from this instance. */
static void log_resume_here(struct run *run)
{
    char iso[40];
    const char *state = json_string_value(json_object_get(bo1_session_state(run->s), "state"));
    char *text;

    bo1_clock_iso(bo1_clock_wall_ms(), iso);
    text = dump_event(run->id, iso, "session.status",
                      json_pack("{s:s, s:s?, s:s, s:s}", "status", api_status(run), "state", state,
                                "previous", "paused", "event", "resume"));
    if (text)
        json_array_append_new(run->events, json_string(text));
    free(text);
}

static void on_claimed(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct claim *c = arg;
    struct bo1_runner *r = c->r;
    const char *code = elem(reply, 0);

    if (st == BO1_OK && code && !r->stopping) {
        if (strcmp(code, "OK") == 0) {
            struct run *here = find_run(r, c->id);
            if (elem(reply, 2) && strcmp(elem(reply, 2), "queued") == 0)
                bo1_sessions_stat_move(r->store, c->id, "queued", "running", 0);
            /* A duplicate job for a session already here is done with; the job this run
             * came from stays pending until the run ends, so that another instance can
             * claim it if this one dies. */
            if (here && strcmp(here->job_entry, c->entry) != 0) {
                /* A pause and resume faster than the poll: the claim script marked the
                 * session running; the engine here knows its real state (e.g. awaiting
                 * input), so write that back, and undo a pause the user has since
                 * resumed. */
                ack_entry(r, c->entry);
                if (!here->stopping && !bo1_session_is_terminal(here->s)) {
                    const char *was = elem(reply, 2);
                    if (bo1_session_status(here->s) == BO1_SESSION_PAUSED)
                        bo1_engine_unpause(r->engine, here->s); /* logs its resume */
                    else if (was && strcmp(was, "queued") == 0)
                        log_resume_here(here);
                    here->ckpt_due = 1;
                    flush(here);
                }
            } else if (!here)
                start_run(r, c, reply);
        } else if (strcmp(code, "WRONG_STATE") == 0 || strcmp(code, "NOT_FOUND") == 0) {
            ack_entry(r, c->entry); /* paused, finished or deleted: nothing to do */
        }
        /* LOST_LEASE: a live instance runs it; NOT_YET: a young job whose request is still
         * between its steps. Either way the entry stays pending (XAUTOCLAIM retries it). */
    }
    free(c);
}

static void claim(struct bo1_runner *r, const char *id, const char *entry, int took_over)
{
    struct claim *c;
    char keys[2][64];
    char ms[16];
    char grace[16];
    const char *argv[6];

    if (!id || strlen(id) >= sizeof(c->id))
        return;
    c = calloc(1, sizeof(*c));
    if (!c)
        return;
    c->r = r;
    c->took_over = took_over;
    snprintf(c->id, sizeof(c->id), "%s", id);
    snprintf(c->entry, sizeof(c->entry), "%s", entry);
    snprintf(keys[0], sizeof(keys[0]), "bo1:{%s}:session", id);
    snprintf(keys[1], sizeof(keys[1]), "bo1:{%s}:lease", id);
    snprintf(ms, sizeof(ms), "%u", r->opt.lease_ms);
    snprintf(grace, sizeof(grace), "%u", BO1_SESSIONS_JOB_GRACE_MS);
    argv[0] = keys[0];
    argv[1] = keys[1];
    argv[2] = r->instance;
    argv[3] = ms;
    argv[4] = c->entry;
    argv[5] = grace;
    if (eval(r, bo1_lua_claim, 2, argv, 6, on_claimed, c) != BO1_OK)
        free(c);
}

/* Entries: [[entry id, [field, value, ...]], ...] */
static void claim_entries(struct bo1_runner *r, const redisReply *entries, int took_over)
{
    if (!entries || entries->type != REDIS_REPLY_ARRAY)
        return;
    for (size_t i = 0; i < entries->elements; i++) {
        const redisReply *e = entries->element[i];
        const redisReply *fields;
        const char *entry;
        const char *session = NULL;
        if (e->type != REDIS_REPLY_ARRAY || e->elements < 2)
            continue;
        entry = e->element[0]->type == REDIS_REPLY_STRING ? e->element[0]->str : NULL;
        fields = e->element[1];
        if (!entry || fields->type != REDIS_REPLY_ARRAY)
            continue;
        for (size_t f = 0; f + 1 < fields->elements; f += 2)
            if (fields->element[f]->type == REDIS_REPLY_STRING &&
                strcmp(fields->element[f]->str, "session") == 0)
                session = fields->element[f + 1]->str;
        if (session)
            claim(r, session, entry, took_over);
        else
            ack_entry(r, entry);
    }
}

static void on_group(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct bo1_runner *r = arg;

    /* BUSYGROUP (already there) is as good as created. */
    if (st == BO1_OK || (reply && reply->str && strstr(reply->str, "BUSYGROUP")))
        r->group_ready = 1;
}

static void read_jobs(struct bo1_runner *r);

static void on_jobs(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct bo1_runner *r = arg;

    r->reading_jobs = 0;
    if (st == BO1_IO_ERROR && reply && reply->str && strstr(reply->str, "NOGROUP"))
        r->group_ready = 0;
    if (st != BO1_OK || !reply || reply->type != REDIS_REPLY_ARRAY || r->stopping)
        return;
    for (size_t i = 0; i < reply->elements; i++) {
        const redisReply *stream = reply->element[i];
        if (stream->type == REDIS_REPLY_ARRAY && stream->elements >= 2)
            claim_entries(r, stream->element[1], 0);
    }
    if (r->read_again)
        read_jobs(r);
}

static void on_autoclaim(enum bo1_status st, const redisReply *reply, void *arg)
{
    struct bo1_runner *r = arg;

    if (st != BO1_OK || !reply || reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
        r->stopping)
        return;
    claim_entries(r, reply->element[1], 1);
}

/* Claim new jobs (one XREADGROUP in flight at a time; a poke during it reads again). */
static void read_jobs(struct bo1_runner *r)
{
    unsigned running = atomic_load(&r->running);

    if (!r->group_ready || running >= r->opt.max_running)
        return;
    if (r->reading_jobs) {
        r->read_again = 1;
        return;
    }
    r->read_again = 0;
    if (bo1_store_command(r->store, on_jobs, r, "XREADGROUP GROUP bo1 %s COUNT %u STREAMS %s >",
                          r->instance, r->opt.max_running - running,
                          BO1_SESSIONS_JOBS_KEY) == BO1_OK)
        r->reading_jobs = 1;
}

static void on_timer(uv_timer_t *t)
{
    struct bo1_runner *r = t->data;
    int64_t now = bo1_clock_mono_ms();
    unsigned running = atomic_load(&r->running);

    if (r->stopping || !bo1_store_is_up(r->store))
        return;
    for (struct run *run = r->runs, *next; run; run = next) {
        next = run->next; /* run_tick may free run */
        run_tick(run, now);
    }
    if (!r->group_ready) {
        bo1_store_command(r->store, on_group, r, "XGROUP CREATE %s bo1 0 MKSTREAM",
                          BO1_SESSIONS_JOBS_KEY);
        return;
    }
    read_jobs(r);
    if (now - r->last_autoclaim_ms >= 1000 && running < r->opt.max_running) {
        r->last_autoclaim_ms = now;
        bo1_store_command(r->store, on_autoclaim, r, "XAUTOCLAIM %s bo1 %s %u 0-0 COUNT 20",
                          BO1_SESSIONS_JOBS_KEY, r->instance, r->opt.lease_ms + 1000);
    }
}

/* --- lifecycle --- */

enum bo1_status bo1_runner_new(struct bo1_loop *loop, struct bo1_store *store, struct bo1_llm *gw,
                               struct bo1_embedder *emb, struct bo1_hub *hub,
                               const struct bo1_engine_config *ecfg,
                               const struct bo1_runner_options *opt, struct bo1_runner **out)
{
    struct bo1_runner *r = calloc(1, sizeof(*r));
    struct bo1_engine_effects fx = {
        .call_model = fx_call_model,
        .embed = fx_embed,
        .checkpoint = fx_checkpoint,
        .publish = fx_publish,
        .now_s = fx_now,
    };
    unsigned char rnd[8];

    if (!r)
        return BO1_NO_MEMORY;
    r->loop = loop;
    r->store = store;
    r->gw = gw;
    r->emb = emb;
    r->hub = hub;
    r->opt = *opt;
    if (!r->opt.max_running)
        r->opt.max_running = 200;
    if (!r->opt.lease_ms)
        r->opt.lease_ms = 10000;
    if (!r->opt.poll_ms)
        r->opt.poll_ms = 250;
    if (!r->opt.events_max)
        r->opt.events_max = 20000;
    if (!r->opt.ttl_s)
        r->opt.ttl_s = 604800;
    r->exports_dir = strdup(opt->exports_dir ? opt->exports_dir : "");
    if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
        memset(rnd, 0, sizeof(rnd));
    snprintf(r->instance, sizeof(r->instance), "bo1d-%02x%02x%02x%02x%02x%02x%02x%02x", rnd[0],
             rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    fx.ctx = r;
    r->engine = bo1_engine_new(ecfg, &fx);
    if (!r->engine || !r->exports_dir) {
        bo1_runner_free(r);
        return BO1_NO_MEMORY;
    }
    *out = r;
    return BO1_OK;
}

void bo1_runner_start(struct bo1_runner *r)
{
    uv_timer_init(bo1_loop_uv(r->loop), &r->timer);
    r->timer.data = r;
    uv_timer_start(&r->timer, on_timer, r->opt.poll_ms, r->opt.poll_ms);
    r->started = 1;
    bo1_log_info(NULL, json_pack("{s:s}", "instance", r->instance), "runner claiming work");
}

void bo1_runner_stop(struct bo1_runner *r)
{
    r->stopping = 1;
    for (struct run *run = r->runs, *next; run; run = next) {
        next = run->next;
        bo1_log_info(NULL, json_pack("{s:s}", "session_id", run->id),
                     "handing the session back for another instance");
        run->stopping = 1;
        run->requeue = !bo1_session_is_terminal(run->s);
        release_if_stopped(run);
    }
    if (r->started) {
        uv_timer_stop(&r->timer);
        uv_close((uv_handle_t *)&r->timer, NULL);
        r->started = 0;
    }
}

void bo1_runner_poke(struct bo1_runner *r, const char *session_id)
{
    struct run *run;

    if (!r->started || r->stopping || !bo1_store_is_up(r->store))
        return;
    run = session_id ? find_run(r, session_id) : NULL;
    if (run)
        run_poll(run);
    else
        read_jobs(r);
}

void bo1_runner_free(struct bo1_runner *r)
{
    if (!r)
        return;
    while (r->runs) {
        struct run *run = r->runs;
        r->runs = run->next;
        run_free(run);
    }
    bo1_engine_free(r->engine);
    free(r->exports_dir);
    free(r);
}

unsigned bo1_runner_running(const struct bo1_runner *r)
{
    return atomic_load(&r->running);
}

unsigned bo1_runner_releases_pending(const struct bo1_runner *r)
{
    return atomic_load(&r->releases_pending);
}

enum bo1_status bo1_runner_metrics(const struct bo1_runner *r, struct bo1_buf *out)
{
    return bo1_buf_printf(
        out,
        "# HELP bo1_sessions_running Sessions running on this instance.\n"
        "# TYPE bo1_sessions_running gauge\nbo1_sessions_running %u\n"
        "# HELP bo1_sessions_finished_total Sessions that ended on this instance, by status.\n"
        "# TYPE bo1_sessions_finished_total counter\n"
        "bo1_sessions_finished_total{status=\"completed\"} %llu\n"
        "bo1_sessions_finished_total{status=\"failed\"} %llu\n"
        "bo1_sessions_finished_total{status=\"cancelled\"} %llu\n"
        "# HELP bo1_sessions_taken_over_total Sessions resumed here after another instance.\n"
        "# TYPE bo1_sessions_taken_over_total counter\nbo1_sessions_taken_over_total %llu\n",
        atomic_load(&r->running), (unsigned long long)atomic_load(&r->completed),
        (unsigned long long)atomic_load(&r->failed), (unsigned long long)atomic_load(&r->cancelled),
        (unsigned long long)atomic_load(&r->taken_over));
}
