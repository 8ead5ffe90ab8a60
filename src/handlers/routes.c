/* The route table of bo1d: every path the service answers, greppable in one place. */
#include "bo1/handlers.h"
#include "handlers_internal.h"

static const struct bo1_route routes[] = {
    {.method = "GET", .path = "/health", .fn = h_health, .quiet = 1},
    {.method = "GET", .path = "/ready", .fn = h_ready, .quiet = 1},
    {.method = "GET", .path = "/metrics", .fn = h_metrics, .quiet = 1},
};

const struct bo1_route *bo1_handlers_routes(size_t *n)
{
    *n = sizeof(routes) / sizeof(routes[0]);
    return routes;
}
