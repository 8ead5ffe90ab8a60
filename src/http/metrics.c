/* Request counters and latency histograms per route, lock-free on the hot path. */
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/http.h"
#include "bo1/metrics.h"

static const unsigned codes[] = {200, 201, 202, 204, 400, 401, 404, 405, 406, 408, 409, 413,
                                 414, 415, 422, 429, 431, 500, 501, 502, 503, 504, 0};
#define N_CODES (sizeof(codes) / sizeof(codes[0])) /* last slot: any other code */

static const double buckets[] = {0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
                                 0.1,    0.25,  0.5,    1,     2.5,  5,     10};
#define N_BUCKETS (sizeof(buckets) / sizeof(buckets[0]))

struct route_stats {
    atomic_uint_fast64_t by_code[N_CODES];
    atomic_uint_fast64_t other_code_last; /* the last unlisted code seen, for the label */
    atomic_uint_fast64_t hist[N_BUCKETS + 1];
    atomic_uint_fast64_t sum_us;
    atomic_uint_fast64_t count;
};

struct bo1_metrics {
    const struct bo1_route *routes;
    size_t n_routes;
    struct route_stats *stats; /* n_routes + 1 (unmatched) */
};

enum bo1_status bo1_metrics_new(const struct bo1_route *routes, size_t n_routes,
                                struct bo1_metrics **out)
{
    struct bo1_metrics *m = calloc(1, sizeof(*m));

    if (!m)
        return BO1_NO_MEMORY;
    m->stats = calloc(n_routes + 1, sizeof(*m->stats));
    if (!m->stats) {
        free(m);
        return BO1_NO_MEMORY;
    }
    m->routes = routes;
    m->n_routes = n_routes;
    *out = m;
    return BO1_OK;
}

void bo1_metrics_free(struct bo1_metrics *m)
{
    if (!m)
        return;
    free(m->stats);
    free(m);
}

void bo1_metrics_observe(struct bo1_metrics *m, size_t route_index, unsigned http_status,
                         double seconds)
{
    struct route_stats *rs;
    size_t c = N_CODES - 1;
    size_t b = N_BUCKETS;

    if (route_index > m->n_routes)
        route_index = m->n_routes;
    rs = &m->stats[route_index];
    for (size_t i = 0; i + 1 < N_CODES; i++) {
        if (codes[i] == http_status) {
            c = i;
            break;
        }
    }
    if (c == N_CODES - 1)
        atomic_store(&rs->other_code_last, http_status);
    atomic_fetch_add(&rs->by_code[c], 1);
    for (size_t i = 0; i < N_BUCKETS; i++) {
        if (seconds <= buckets[i]) {
            b = i;
            break;
        }
    }
    atomic_fetch_add(&rs->hist[b], 1);
    atomic_fetch_add(&rs->sum_us, (uint_fast64_t)(seconds * 1e6));
    atomic_fetch_add(&rs->count, 1);
}

static void route_label(const struct bo1_metrics *m, size_t i, char *out, size_t n)
{
    if (i < m->n_routes)
        snprintf(out, n, "%s %s", m->routes[i].method, m->routes[i].path);
    else
        snprintf(out, n, "unmatched");
}

enum bo1_status bo1_metrics_render(const struct bo1_metrics *m, struct bo1_buf *out)
{
    enum bo1_status st = BO1_OK;
    char label[160];

    st |= bo1_buf_puts(out, "# HELP bo1_http_requests_total HTTP requests by route and status.\n"
                            "# TYPE bo1_http_requests_total counter\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        const struct route_stats *rs = &m->stats[i];
        route_label(m, i, label, sizeof(label));
        for (size_t c = 0; c < N_CODES; c++) {
            uint_fast64_t v = atomic_load(&rs->by_code[c]);
            unsigned code = codes[c] ? codes[c] : (unsigned)atomic_load(&rs->other_code_last);
            if (v)
                st |= bo1_buf_printf(out,
                                     "bo1_http_requests_total{route=\"%s\",status=\"%u\"} %llu\n",
                                     label, code, (unsigned long long)v);
        }
    }
    st |= bo1_buf_puts(out, "# HELP bo1_http_request_duration_seconds Request latency by route.\n"
                            "# TYPE bo1_http_request_duration_seconds histogram\n");
    for (size_t i = 0; i <= m->n_routes; i++) {
        const struct route_stats *rs = &m->stats[i];
        unsigned long long cum = 0;
        unsigned long long count = (unsigned long long)atomic_load(&rs->count);
        if (!count)
            continue;
        route_label(m, i, label, sizeof(label));
        for (size_t b = 0; b < N_BUCKETS; b++) {
            cum += (unsigned long long)atomic_load(&rs->hist[b]);
            st |= bo1_buf_printf(
                out, "bo1_http_request_duration_seconds_bucket{route=\"%s\",le=\"%g\"} %llu\n",
                label, buckets[b], cum);
        }
        cum += (unsigned long long)atomic_load(&rs->hist[N_BUCKETS]);
        st |= bo1_buf_printf(
            out, "bo1_http_request_duration_seconds_bucket{route=\"%s\",le=\"+Inf\"} %llu\n", label,
            cum);
        st |= bo1_buf_printf(out, "bo1_http_request_duration_seconds_sum{route=\"%s\"} %.6f\n",
                             label, (double)atomic_load(&rs->sum_us) / 1e6);
        st |= bo1_buf_printf(out, "bo1_http_request_duration_seconds_count{route=\"%s\"} %llu\n",
                             label, count);
    }
    return st == BO1_OK ? BO1_OK : BO1_NO_MEMORY;
}
