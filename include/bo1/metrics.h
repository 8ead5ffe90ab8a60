/* bo1/metrics.h - HTTP request counters and latency histograms in Prometheus text format.
 *
 * Counters are atomics indexed by route and status class, so observing a request from any
 * MHD thread takes no lock. Other modules append their own families when /metrics renders. */
#pragma once

#include <stddef.h>

#include "bo1/buf.h"
#include "bo1/status.h"

struct bo1_route;
struct bo1_metrics;

/** Metrics for the routes of @routes (borrowed; must outlive the metrics). */
enum bo1_status bo1_metrics_new(const struct bo1_route *routes, size_t n_routes,
                                struct bo1_metrics **out);
void bo1_metrics_free(struct bo1_metrics *m);

/** Record one request. @route_index == n_routes means "no route matched". Thread: any. */
void bo1_metrics_observe(struct bo1_metrics *m, size_t route_index, unsigned http_status,
                         double seconds);

/** Append bo1_http_requests_total and bo1_http_request_duration_seconds to @out. */
enum bo1_status bo1_metrics_render(const struct bo1_metrics *m, struct bo1_buf *out);
