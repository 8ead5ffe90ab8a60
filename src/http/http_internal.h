/* Private state shared by the files of the http module. */
#pragma once

#include <microhttpd.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>

#include "bo1/http.h"

/* One per connection (MHD's socket context), in the server's watch list from
 * MHD_CONNECTION_NOTIFY_STARTED to MHD_CONNECTION_NOTIFY_CLOSED. The watchdog thread cuts
 * a connection whose request has not arrived in full within request_timeout_s. */
struct bo1_conn_watch {
    struct bo1_conn_watch *prev;
    struct bo1_conn_watch *next;
    int fd;
    int64_t since_us; /* when the connection became ready for its current request */
    int receiving;    /* 1 until the current request is in (the access handler's last call) */
    int cut;          /* the watchdog shut the socket down */
    size_t uri_len;   /* raw request target of the current request; MHD thread only */
};

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
    /* the request deadline's watch list and watchdog thread */
    pthread_mutex_t watch_lock;
    pthread_cond_t watch_cond;
    pthread_t watch_thread;
    int watch_started;
    int watch_stop;
    struct bo1_conn_watch *watch_head;
    atomic_uint cut_total; /* connections cut by the request deadline */
};

/** Add the headers every response carries (request id, security, CORS). */
void bo1_http_add_common_headers(struct bo1_http_req *req, struct MHD_Response *resp);

/** Queue @resp with @status on @req's connection; records the status. */
enum bo1_status bo1_http_queue(struct bo1_http_req *req, unsigned status,
                               struct MHD_Response *resp);
