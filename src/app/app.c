/* Wiring: configuration -> loop, store, metrics, HTTP server; and the orderly shutdown. */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bo1/app.h"
#include "bo1/auth.h"
#include "bo1/embed.h"
#include "bo1/engine.h"
#include "bo1/http.h"
#include "bo1/hub.h"
#include "bo1/llm.h"
#include "bo1/log.h"
#include "bo1/loop.h"
#include "bo1/metrics.h"
#include "bo1/persona.h"
#include "bo1/prompt.h"
#include "bo1/runner.h"
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

static void on_loop_start(void *arg)
{
    struct bo1_app *app = arg;

    bo1_store_start(app->store);
    bo1_hub_start(app->hub);
    bo1_runner_start(app->runner);
}

static void on_runner_stop(void *arg)
{
    struct bo1_app *app = arg;

    bo1_runner_stop(app->runner);
}

static void on_hub_drain(void *arg)
{
    struct bo1_app *app = arg;

    bo1_hub_drain(app->hub);
}

static void on_loop_stop(void *arg)
{
    struct bo1_app *app = arg;

    bo1_hub_stop(app->hub);
    bo1_store_stop(app->store);
    /* The gateway is freed on the loop: in-flight calls are cancelled here. */
    bo1_embedder_free(app->emb);
    app->emb = NULL;
    bo1_llm_free(app->gw);
    app->gw = NULL;
}

static void session_changed(void *arg, const char *id)
{
    struct bo1_app *app = arg;

    if (app->runner)
        bo1_runner_poke(app->runner, id);
}

static enum bo1_status metrics_extra(void *arg, struct bo1_buf *out)
{
    struct bo1_app *app = arg;

    enum bo1_status st = bo1_hub_metrics(app->hub, out);

    if (st == BO1_OK && app->runner)
        st = bo1_runner_metrics(app->runner, out);
    if (st == BO1_OK && app->gw)
        st = bo1_llm_metrics(app->gw, out);
    if (st == BO1_OK && app->http)
        st = bo1_buf_printf(out,
                            "# HELP bo1_http_connections_cut_total Connections cut because their "
                            "request did not arrive in full within BO1_REQUEST_TIMEOUT_S.\n"
                            "# TYPE bo1_http_connections_cut_total counter\n"
                            "bo1_http_connections_cut_total %u\n",
                            bo1_http_server_cut_total(app->http));
    return st;
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

/* Model gateway, embeddings, prompt templates, engine and runner. */
static enum bo1_status start_engine(struct bo1_app *app)
{
    const struct bo1_config *c = &app->cfg;
    struct bo1_llm_options lo = BO1_LLM_OPTIONS_DEFAULTS;
    struct bo1_engine_config ec = BO1_ENGINE_CONFIG_DEFAULTS;
    struct bo1_runner_options ro = {0};
    enum bo1_status st;
    char *why = NULL;
    char pricing[1024];
    char prompts[1024];
    size_t n = bo1_persona_catalog_count(app->personas);

    snprintf(pricing, sizeof(pricing), "%s/pricing.json", c->data_dir);
    snprintf(prompts, sizeof(prompts), "%s/prompts", c->data_dir);
    lo.provider = c->llm_provider == BO1_PROVIDER_OPENAI ? BO1_LLM_PROVIDER_OPENAI
                                                         : BO1_LLM_PROVIDER_ANTHROPIC;
    lo.anthropic_base_url = c->anthropic_base_url;
    lo.anthropic_api_key = c->anthropic_api_key[0] ? c->anthropic_api_key : NULL;
    lo.anthropic_version = c->anthropic_version;
    lo.openai_base_url = c->openai_base_url;
    lo.openai_api_key = c->openai_api_key[0] ? c->openai_api_key : NULL;
    lo.model_deep = c->model_deep;
    lo.model_fast = c->model_fast;
    lo.timeout_ms = c->llm_timeout_ms;
    lo.max_inflight = c->llm_max_inflight;
    lo.max_attempts = c->llm_max_attempts;
    lo.pricing_path = pricing;
    lo.voyage_base_url = c->voyage_base_url;
    lo.voyage_api_key = c->voyage_api_key[0] ? c->voyage_api_key : NULL;
    lo.embed_model = c->embed_model;
    switch (c->embed_provider) {
    case BO1_CFG_EMBED_VOYAGE:
        lo.embed_provider = BO1_EMBED_PROVIDER_VOYAGE;
        break;
    case BO1_CFG_EMBED_OPENAI:
        lo.embed_provider = BO1_EMBED_PROVIDER_OPENAI;
        break;
    case BO1_CFG_EMBED_LOCAL:
        lo.embed_provider = BO1_EMBED_PROVIDER_LOCAL;
        break;
    default:
        lo.embed_provider =
            c->voyage_api_key[0] ? BO1_EMBED_PROVIDER_VOYAGE : BO1_EMBED_PROVIDER_LOCAL;
        break;
    }
    st = bo1_llm_new(app->loop, &lo, &app->gw, &why);
    if (st == BO1_OK)
        st = bo1_embedder_new(app->gw, &app->emb, &why);
    if (st == BO1_OK)
        st = bo1_prompts_load(prompts, &app->prompts, &why);
    if (st != BO1_OK) {
        bo1_log_error(NULL, json_pack("{s:s}", "error", why ? why : bo1_status_hint(st)),
                      "cannot start the model gateway: %s", why ? why : bo1_status_hint(st));
        free(why);
        return st;
    }
    app->persona_list = calloc(n ? n : 1, sizeof(*app->persona_list));
    if (!app->persona_list)
        return BO1_NO_MEMORY;
    for (size_t i = 0; i < n; i++)
        app->persona_list[i] = bo1_persona_catalog_at(app->personas, i);
    ec.personas = app->persona_list;
    ec.n_personas = n;
    ec.prompts = app->prompts;
    bo1_config_engine(c, &ec);
    ro.max_running = c->max_running;
    ro.lease_ms = c->lease_ms;
    ro.ttl_s = c->session_ttl_s;
    ro.events_max = c->events_max;
    ro.exports_dir = c->exports_dir;
    return bo1_runner_new(app->loop, app->store, app->gw, app->emb, app->hub, &ec, &ro,
                          &app->runner);
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

    {
        char path[1024];
        snprintf(path, sizeof(path), "%s/personas.json", app->cfg.data_dir);
        st = bo1_persona_catalog_load(path, &app->personas, &why);
        if (st != BO1_OK) {
            bo1_log_error(NULL, json_pack("{s:s}", "error", why ? why : bo1_status_hint(st)),
                          "cannot load the persona catalog: %s", why ? why : bo1_status_hint(st));
            free(why);
            return st;
        }
    }
    st = bo1_auth_new(app->cfg.api_keys, &app->auth);
    if (st != BO1_OK)
        return st;

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

    st = bo1_hub_new(app->loop, app->store, &app->hub);
    if (st != BO1_OK)
        return st;
    bo1_hub_set_heartbeat(app->hub, app->cfg.sse_heartbeat_s * 1000u);

    st = start_engine(app);
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
    app->ctx.auth = app->auth;
    app->ctx.personas = app->personas;
    app->ctx.hub = app->hub;
    app->ctx.simulated = (int)app->cfg.model_simulated;
    app->ctx.default_budget_usd = app->cfg.session_budget_usd;
    app->ctx.metrics_extra = metrics_extra;
    app->ctx.metrics_extra_arg = app;
    app->ctx.session_changed = session_changed;
    app->ctx.session_changed_arg = app;
    app->ctx.limits = (struct bo1_sessions_limits){
        .create_per_window = app->cfg.rate_create_per_min,
        .control_per_window = app->cfg.rate_control_per_min,
        .reads_per_window = app->cfg.rate_reads_per_min,
        .window_ms = 60000,
        .max_active = app->cfg.max_active_sessions,
        .ttl_s = app->cfg.session_ttl_s,
        .unstarted_ttl_s = app->cfg.unstarted_ttl_s,
        .events_max = app->cfg.events_max,
    };
    atomic_store(&app->ctx.draining, 0);

    st = bo1_loop_start(app->loop);
    if (st != BO1_OK)
        return st;
    st = bo1_loop_post(app->loop, on_loop_start, app);
    if (st != BO1_OK)
        return st;

    ho.bind_address = app->cfg.bind_address;
    ho.port = app->cfg.port;
    ho.threads = app->cfg.http_threads;
    ho.max_body_bytes = app->cfg.max_body_bytes;
    ho.conn_timeout_s = app->cfg.conn_timeout_s;
    ho.max_connections = app->cfg.max_connections;
    ho.max_connections_per_ip = app->cfg.max_connections_per_ip;
    ho.request_timeout_s = app->cfg.request_timeout_s;
    ho.max_uri_bytes = app->cfg.max_uri_bytes;
    ho.max_header_bytes = app->cfg.max_header_bytes;
    ho.max_discard_bytes = app->cfg.max_discard_bytes;
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
    /* Live SSE streams never finish by themselves: end them so clients reconnect. */
    if (app->hub)
        bo1_loop_post(app->loop, on_hub_drain, app);
    deadline = mono_s() + app->cfg.shutdown_grace_s;
    while (bo1_http_server_inflight(app->http) > 0 && mono_s() < deadline) {
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    /* Hand running sessions back so another instance (or this one, restarted) resumes
     * them from their last checkpoint; wait briefly for Redis to confirm. */
    if (bo1_loop_post(app->loop, on_runner_stop, app) == BO1_OK) {
        double until = mono_s() + 3.0;
        struct timespec ts = {.tv_sec = 0, .tv_nsec = 20 * 1000 * 1000};
        nanosleep(&ts, NULL);
        while (
            (bo1_runner_running(app->runner) > 0 || bo1_runner_releases_pending(app->runner) > 0) &&
            mono_s() < until)
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
    if (app->loop && app->store && app->hub)
        bo1_loop_post(app->loop, on_loop_stop, app);
    bo1_loop_stop(app->loop);
    bo1_loop_free(app->loop);
    bo1_runner_free(app->runner);
    bo1_embedder_free(app->emb);
    bo1_llm_free(app->gw);
    bo1_prompts_free(app->prompts);
    free(app->persona_list);
    bo1_hub_free(app->hub);
    bo1_store_free(app->store);
    bo1_auth_free(app->auth);
    bo1_persona_catalog_free(app->personas);
    bo1_metrics_free(app->metrics);
    if (app->cfg_loaded)
        bo1_config_fini(&app->cfg);
    memset(app, 0, sizeof(*app));
}
