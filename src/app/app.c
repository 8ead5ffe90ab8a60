/* Wiring: configuration -> loop, store, metrics, HTTP server; and the orderly shutdown. */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bo1/app.h"
#include "bo1/http.h"
#include "bo1/log.h"
#include "bo1/loop.h"
#include "bo1/metrics.h"
#include "bo1/store.h"

#ifndef BO1_VERSION
#define BO1_VERSION "0.1.0"
#endif

static double mono_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void on_store_start(void *arg)
{
    bo1_store_start(arg);
}

static void on_store_stop(void *arg)
{
    bo1_store_stop(arg);
}

static int provider_configured(const struct bo1_config *cfg)
{
    if (cfg->model_simulated)
        return 1;
    if (cfg->llm_provider == BO1_PROVIDER_ANTHROPIC)
        return cfg->anthropic_api_key[0] != '\0';
    /* OpenAI-compatible servers on a private base URL (Ollama, vLLM) need no key. */
    return cfg->openai_api_key[0] != '\0' ||
           strcmp(cfg->openai_base_url, "https://api.openai.com") != 0;
}

enum bo1_status bo1_app_start(struct bo1_app *app, char *const envp[])
{
    enum bo1_status st;
    char *why = NULL;
    enum bo1_log_level lvl;
    const struct bo1_route *routes;
    size_t n_routes;
    struct bo1_store_options so = {0};
    struct bo1_http_options ho = {0};

    memset(app, 0, sizeof(*app));
    st = bo1_config_load(&app->cfg, envp, &why);
    if (st != BO1_OK) {
        bo1_log_error(NULL, json_pack("{s:s}", "error", why ? why : bo1_status_hint(st)),
                      "invalid configuration: %s", why ? why : bo1_status_hint(st));
        free(why);
        return st;
    }
    app->cfg_loaded = 1;
    if (bo1_log_level_parse(app->cfg.log_level, &lvl) == 0)
        bo1_log_set_level(lvl);
    bo1_log_info(NULL, json_pack("{s:o}", "config", bo1_config_to_json_redacted(&app->cfg)),
                 "effective configuration");
    if (!app->cfg.api_keys[0])
        bo1_log_warn(NULL, NULL,
                     "no BO1_API_KEYS configured: the API is open (development mode only)");
    if (app->cfg.model_simulated)
        bo1_log_warn(NULL, NULL,
                     "the model provider is SIMULATED (bo1-fake-llm): answers are not from a "
                     "real model");
    else if (!provider_configured(&app->cfg))
        bo1_log_warn(NULL, NULL, "no model provider key configured: /ready reports 503");

    st = bo1_loop_new(&app->loop);
    if (st != BO1_OK)
        return st;
    so.host = app->cfg.redis_host;
    so.port = app->cfg.redis_port;
    so.db = app->cfg.redis_db;
    so.password = app->cfg.redis_password;
    st = bo1_store_new(app->loop, &so, &app->store);
    if (st != BO1_OK)
        return st;

    routes = bo1_handlers_routes(&n_routes);
    st = bo1_metrics_new(routes, n_routes, &app->metrics);
    if (st != BO1_OK)
        return st;
    app->ctx.cfg = &app->cfg;
    app->ctx.loop = app->loop;
    app->ctx.store = app->store;
    app->ctx.metrics = app->metrics;
    app->ctx.version = BO1_VERSION;
    app->ctx.started_at = mono_s();
    app->ctx.provider_configured = provider_configured(&app->cfg);
    atomic_store(&app->ctx.draining, 0);

    st = bo1_loop_start(app->loop);
    if (st != BO1_OK)
        return st;
    st = bo1_loop_post(app->loop, on_store_start, app->store);
    if (st != BO1_OK)
        return st;

    ho.bind_address = app->cfg.bind_address;
    ho.port = app->cfg.port;
    ho.threads = app->cfg.http_threads;
    ho.max_body_bytes = app->cfg.max_body_bytes;
    ho.conn_timeout_s = app->cfg.conn_timeout_s;
    ho.max_connections = app->cfg.max_connections;
    ho.max_connections_per_ip = app->cfg.max_connections_per_ip;
    ho.cors_origins = app->cfg.cors_origins;
    st = bo1_http_server_start(&ho, routes, n_routes, &app->ctx, app->metrics, &app->http);
    if (st != BO1_OK) {
        bo1_log_error(
            NULL,
            json_pack("{s:s, s:i}", "bind", app->cfg.bind_address, "port", (int)app->cfg.port),
            "cannot listen: port in use or address not available");
        return st;
    }
    bo1_log_info(NULL,
                 json_pack("{s:i, s:s}", "port", (int)bo1_http_server_port(app->http), "version",
                           BO1_VERSION),
                 "bo1d listening");
    return BO1_OK;
}

enum bo1_status bo1_app_run(struct bo1_app *app)
{
    sigset_t set;
    int sig = 0;
    double deadline;

    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    if (sigwait(&set, &sig) != 0)
        return BO1_INTERNAL;

    atomic_store(&app->ctx.draining, 1);
    bo1_log_info(NULL,
                 json_pack("{s:s, s:i}", "signal", sig == SIGTERM ? "SIGTERM" : "SIGINT",
                           "inflight", (int)bo1_http_server_inflight(app->http)),
                 "shutting down: no new connections, finishing in-flight requests");
    bo1_http_server_quiesce(app->http);
    deadline = mono_s() + app->cfg.shutdown_grace_s;
    while (bo1_http_server_inflight(app->http) > 0 && mono_s() < deadline) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    if (bo1_http_server_inflight(app->http) > 0)
        bo1_log_warn(NULL, json_pack("{s:i}", "inflight", (int)bo1_http_server_inflight(app->http)),
                     "grace period over; closing remaining connections");
    return BO1_OK;
}

void bo1_app_stop(struct bo1_app *app)
{
    bo1_http_server_stop(app->http);
    app->http = NULL;
    if (app->loop && app->store)
        bo1_loop_post(app->loop, on_store_stop, app->store);
    bo1_loop_stop(app->loop);
    bo1_loop_free(app->loop);
    bo1_store_free(app->store);
    bo1_metrics_free(app->metrics);
    if (app->cfg_loaded)
        bo1_config_fini(&app->cfg);
    memset(app, 0, sizeof(*app));
}
