/* Probes: /health (liveness), /ready (readiness) and /metrics (Prometheus). /health and
 * /ready answer from atomics on the MHD thread, so a probe never waits on Redis or the loop;
 * /metrics is answered by the loop, which adds the fleet-wide sessions by status. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bo1/config.h"
#include "bo1/handlers.h"
#include "bo1/loop.h"
#include "bo1/metrics.h"
#include "bo1/store.h"
#include "handlers_internal.h"

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

double bo1_handlers_now(void)
{
    return mono_s();
}

enum bo1_status h_health(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;

    return bo1_reply_json(req, 200,
                          json_pack("{s:s, s:s, s:I}", "status", "ok", "version", ctx->version,
                                    "uptime_s", (json_int_t)(mono_s() - ctx->started_at)));
}

enum bo1_status h_ready(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    int draining = atomic_load(&ctx->draining);
    int redis_ok = ctx->store && bo1_store_is_up(ctx->store);
    int provider_ok = ctx->provider_configured;
    json_t *checks =
        json_pack("{s:s, s:s, s:s}", "redis", redis_ok ? "ok" : "unavailable", "model_provider",
                  provider_ok ? "ok" : "not configured", "accepting", draining ? "draining" : "ok");
    const char *failed = draining ? "accepting" : !redis_ok ? "redis" : "model_provider";
    char detail[128];
    json_t *errors;

    if (!checks)
        return BO1_NO_MEMORY;
    if (!draining && redis_ok && provider_ok)
        return bo1_reply_json(req, 200,
                              json_pack("{s:s, s:o}", "status", "ready", "checks", checks));
    snprintf(detail, sizeof(detail), "not ready: check '%s' failed", failed);
    errors = json_pack("[{s:s, s:s}]", "field", failed, "message",
                       json_string_value(json_object_get(checks, failed)));
    json_decref(checks);
    req->retry_after_s = draining ? 30 : 2;
    bo1_reply_problem(req,
                      draining    ? BO1_UNAVAILABLE
                      : !redis_ok ? BO1_STORE_DOWN
                                  : BO1_UNAVAILABLE,
                      detail, errors);
    return BO1_OK;
}

/* The whole exposition; @stats NULL leaves out the fleet-wide family (store down). Thread:
 * any (everything but @stats is atomics). */
static enum bo1_status render(struct bo1_ctx *ctx, const long long *stats, struct bo1_buf *out)
{
    enum bo1_status st = BO1_OK;

    if (ctx->metrics)
        st = bo1_metrics_render(ctx->metrics, out);
    if (st == BO1_OK && ctx->store)
        st = bo1_store_metrics(ctx->store, out);
    if (st == BO1_OK)
        st = bo1_buf_printf(out,
                            "# HELP bo1_up 1 while the process serves.\n# TYPE bo1_up gauge\n"
                            "bo1_up 1\n# HELP bo1_draining 1 after SIGTERM.\n"
                            "# TYPE bo1_draining gauge\nbo1_draining %d\n",
                            atomic_load(&ctx->draining));
    if (st == BO1_OK && ctx->metrics_extra)
        st = ctx->metrics_extra(ctx->metrics_extra_arg, out);
    if (st == BO1_OK && stats) {
        st = bo1_buf_puts(out, "# HELP bo1_sessions Sessions by status, across every instance "
                               "sharing the Redis (cached up to 1 s).\n"
                               "# TYPE bo1_sessions gauge\n");
        for (size_t i = 0; st == BO1_OK && i < BO1_SESSIONS_N_STATUSES; i++)
            st = bo1_buf_printf(out, "bo1_sessions{status=\"%s\"} %lld\n", bo1_sessions_statuses[i],
                                stats[i]);
    }
    return st;
}

static enum bo1_status reply(struct bo1_http_req *req, const long long *stats)
{
    struct bo1_buf out;
    enum bo1_status st;
    size_t len;
    char *text;

    bo1_buf_init(&out, 0);
    st = render(req->ctx, stats, &out);
    if (st != BO1_OK) {
        bo1_buf_fini(&out);
        return st;
    }
    len = out.len;
    text = bo1_buf_take(&out);
    return bo1_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}

/* A scrape suspended until the loop has the counts. */
struct bo1_metrics_wait {
    struct bo1_http_req *req;
    struct bo1_metrics_wait *next;
};

static void answer(struct bo1_metrics_wait *w, const long long *stats)
{
    enum bo1_status st = reply(w->req, stats);

    bo1_http_req_finish(w->req, st, NULL);
    free(w);
}

static void on_stats(const struct bo1_sessions_result *res, void *arg)
{
    struct bo1_ctx *ctx = arg;
    struct bo1_metrics_wait *w = ctx->session_stats.waiting;
    const long long *stats = NULL;

    ctx->session_stats.waiting = NULL;
    if (res->st == BO1_OK) {
        for (size_t i = 0; i < BO1_SESSIONS_N_STATUSES; i++)
            ctx->session_stats.n[i] = (long long)json_integer_value(
                json_object_get(res->result, bo1_sessions_statuses[i]));
        ctx->session_stats.at = mono_s();
        stats = ctx->session_stats.n;
    }
    while (w) {
        struct bo1_metrics_wait *next = w->next;
        answer(w, stats);
        w = next;
    }
}

/* On the loop: answer from the cache when it is fresh, else join (or start) the query. */
static void on_scrape(void *arg)
{
    struct bo1_metrics_wait *w = arg;
    struct bo1_ctx *ctx = w->req->ctx;
    int idle = ctx->session_stats.waiting == NULL;

    if (ctx->session_stats.at > 0 && mono_s() - ctx->session_stats.at < 1.0) {
        answer(w, ctx->session_stats.n);
        return;
    }
    w->next = ctx->session_stats.waiting;
    ctx->session_stats.waiting = w;
    if (idle && bo1_sessions_stats(ctx->store, on_stats, ctx) != BO1_OK) {
        /* Store down: answer without the family rather than with stale counts. */
        struct bo1_sessions_result res = {.st = BO1_STORE_DOWN};
        on_stats(&res, ctx);
    }
}

/* The exposition is built from atomics; only the fleet-wide bo1_sessions family needs Redis,
 * so the request is suspended and the loop answers it. */
enum bo1_status h_metrics(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    struct bo1_metrics_wait *w;

    if (!ctx->store || !ctx->loop)
        return reply(req, NULL);
    w = calloc(1, sizeof(*w));
    if (!w)
        return BO1_NO_MEMORY;
    w->req = req;
    bo1_http_req_suspend(req);
    if (bo1_loop_post(ctx->loop, on_scrape, w) != BO1_OK) {
        free(w);
        bo1_http_req_finish(req, BO1_UNAVAILABLE, "the service is shutting down");
    }
    return BO1_PENDING;
}
