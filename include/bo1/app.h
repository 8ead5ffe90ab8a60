/* bo1/app.h - builds every module from the configuration, runs until SIGTERM/SIGINT,
 * and shuts down in order: stop accepting, let in-flight requests finish (bounded),
 * stop the loop, free everything. */
#pragma once

#include "bo1/config.h"
#include "bo1/handlers.h"
#include "bo1/status.h"

struct bo1_app {
    struct bo1_config cfg;
    struct bo1_loop *loop;
    struct bo1_store *store;
    struct bo1_metrics *metrics;
    struct bo1_http_server *http;
    struct bo1_ctx ctx;
    struct bo1_auth *auth;
    struct bo1_persona_catalog *personas;
    struct bo1_hub *hub;
    struct bo1_llm *gw;
    struct bo1_embedder *emb;
    struct bo1_prompts *prompts;
    struct bo1_runner *runner;
    const struct bo1_persona **persona_list;
    int cfg_loaded;
};

/**
 * Load the configuration from @envp, build and start every module. SIGTERM and SIGINT
 * must already be blocked in the calling thread (threads inherit the mask).
 * Returns BO1_CONFIG_INVALID (already logged) or the first failing module's status.
 */
enum bo1_status bo1_app_start(struct bo1_app *app, char *const envp[]);

/** Wait for SIGTERM or SIGINT, then drain. Returns BO1_OK on an orderly shutdown. */
enum bo1_status bo1_app_run(struct bo1_app *app);

/** Free whatever bo1_app_start() built. Safe after a failed start. */
void bo1_app_stop(struct bo1_app *app);
