/* bo1/handlers.h - the HTTP resources of bo1d: the route table and what handlers share.
 *
 * Handlers run on MHD threads and read only immutable data (config, catalog) and atomics;
 * anything that needs Redis, the engine or a model is posted to the loop (STYLE R6). */
#pragma once

#include <stdatomic.h>
#include <stddef.h>

#include "bo1/http.h"
#include "bo1/sessions.h"

struct bo1_config;
struct bo1_store;
struct bo1_metrics;
struct bo1_loop;
struct bo1_auth;
struct bo1_hub;
struct bo1_persona_catalog;
struct bo1_metrics_wait;

/** Appends module metrics (Prometheus text) to @out; app supplies it. */
typedef enum bo1_status bo1_metrics_extra_cb(void *arg, struct bo1_buf *out);

struct bo1_ctx {
    const struct bo1_config *cfg;
    struct bo1_loop *loop;
    struct bo1_store *store;
    struct bo1_metrics *metrics;
    bo1_metrics_extra_cb *metrics_extra;
    void *metrics_extra_arg;
    const char *version;
    double started_at; /* monotonic seconds */
    atomic_int draining;
    int provider_configured; /* a model provider (real or simulated) is set up */
    struct bo1_auth *auth;
    const struct bo1_persona_catalog *personas;
    struct bo1_hub *hub; /* SSE fan-out, owned by the loop */
    struct bo1_sessions_limits limits;
    double default_budget_usd;
    int simulated;
    /* A request changed session @id on this instance: queued it (create, start, resume) or
     * wrote to its inbox (pause, cancel, answers, interjections), so the runner can act now
     * rather than at its next poll. May be NULL. Thread: the loop's. */
    void (*session_changed)(void *arg, const char *id);
    void *session_changed_arg;
    /* /metrics' fleet-wide sessions by status (bo1_sessions_stats), kept for a second so a
     * burst of scrapes costs one query. Thread: the loop's. */
    struct {
        double at; /* monotonic s of the counts; 0 = none yet */
        long long n[BO1_SESSIONS_N_STATUSES];
        struct bo1_metrics_wait *waiting; /* scrapes waiting for the query in flight */
    } session_stats;
};

/** The route table of bo1d. Borrowed, static. */
const struct bo1_route *bo1_handlers_routes(size_t *n);
