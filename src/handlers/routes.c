/* The route table of bo1d: every path the service answers, greppable in one place. */
#include "bo1/handlers.h"
#include "handlers_internal.h"

#define S "/api/v1/sessions"

static const struct bo1_route routes[] = {
    {.method = "GET", .path = "/health", .fn = h_health, .quiet = 1},
    {.method = "GET", .path = "/ready", .fn = h_ready, .quiet = 1},
    {.method = "GET", .path = "/metrics", .fn = h_metrics, .quiet = 1},
    {.method = "GET", .path = "/api/v1/personas", .fn = h_personas_list},
    {.method = "GET", .path = "/api/v1/personas/{code}", .fn = h_personas_get},
    {.method = "POST", .path = S, .fn = h_sessions_create, .body = BO1_BODY_JSON},
    {.method = "GET", .path = S, .fn = h_sessions_list},
    {.method = "GET", .path = S "/{id}", .fn = h_sessions_get},
    {.method = "DELETE", .path = S "/{id}", .fn = h_sessions_delete},
    {.method = "POST", .path = S "/{id}/start", .fn = h_sessions_start, .body = BO1_BODY_JSON_OPT},
    {.method = "POST", .path = S "/{id}/pause", .fn = h_sessions_pause, .body = BO1_BODY_JSON_OPT},
    {.method = "POST",
     .path = S "/{id}/resume",
     .fn = h_sessions_resume,
     .body = BO1_BODY_JSON_OPT},
    {.method = "POST",
     .path = S "/{id}/cancel",
     .fn = h_sessions_cancel,
     .body = BO1_BODY_JSON_OPT},
    {.method = "POST", .path = S "/{id}/answers", .fn = h_sessions_answers, .body = BO1_BODY_JSON},
    {.method = "POST",
     .path = S "/{id}/interjections",
     .fn = h_sessions_interjections,
     .body = BO1_BODY_JSON},
    {.method = "GET", .path = S "/{id}/events", .fn = h_sessions_events},
    {.method = "GET", .path = S "/{id}/report", .fn = h_sessions_report},
    {.method = "GET", .path = S "/{id}/costs", .fn = h_sessions_costs},
};

const struct bo1_route *bo1_handlers_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
