/* Probes: /health (liveness), /ready (readiness) and /metrics (Prometheus). They answer
 * from atomics on the MHD thread, so a probe never waits on Redis or the loop. */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#include "bo1/config.h"
#include "bo1/handlers.h"
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

enum bo1_status h_metrics(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    struct bo1_buf out;
    enum bo1_status st = BO1_OK;
    char *text;
    size_t len;

    bo1_buf_init(&out, 0);
    if (ctx->metrics)
        st = bo1_metrics_render(ctx->metrics, &out);
    if (st == BO1_OK && ctx->store)
        st = bo1_store_metrics(ctx->store, &out);
    if (st == BO1_OK)
        st = bo1_buf_printf(&out,
                            "# HELP bo1_up 1 while the process serves.\n# TYPE bo1_up gauge\n"
                            "bo1_up 1\n# HELP bo1_draining 1 after SIGTERM.\n"
                            "# TYPE bo1_draining gauge\nbo1_draining %d\n",
                            atomic_load(&ctx->draining));
    if (st == BO1_OK && ctx->metrics_extra)
        st = ctx->metrics_extra(ctx->metrics_extra_arg, &out);
    if (st != BO1_OK) {
        bo1_buf_fini(&out);
        return st;
    }
    len = out.len;
    text = bo1_buf_take(&out);
    return bo1_reply_bytes(req, 200, "text/plain; version=0.0.4; charset=utf-8", text, len);
}
