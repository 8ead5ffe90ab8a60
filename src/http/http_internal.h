/* Private state shared by the files of the http module. */
#pragma once

#include <microhttpd.h>
#include <stdatomic.h>

#include "bo1/http.h"

struct bo1_http_server {
    struct MHD_Daemon *daemon;
    const struct bo1_route *routes;
    size_t n_routes;
    void *ctx;
    struct bo1_metrics *metrics;
    struct bo1_http_options opt;
    char *cors_origins;
    unsigned port;
    atomic_uint inflight;
};

/** Add the headers every response carries (request id, security, CORS). */
void bo1_http_add_common_headers(struct bo1_http_req *req, struct MHD_Response *resp);

/** Queue @resp with @status on @req's connection; records the status. */
enum bo1_status bo1_http_queue(struct bo1_http_req *req, unsigned status,
                               struct MHD_Response *resp);
