/* The libmicrohttpd daemon and its two-phase access handler.
 *
 * Phase 1 (first call): set up the request, check the limits of the request target and
 * headers, match the route, check headers; reply here only when the body must not be read
 * (a reply on the first call disables keep-alive and MHD closes after it). Phase 2 (body
 * chunks): append to a size-limited buffer, or drop the bytes once an error is decided.
 * Phase 3 (final call): parse, dispatch, reply. The completion callback records metrics,
 * logs and frees the request.
 *
 * libmicrohttpd 0.9.75 accepts a reply only on the first call or the final one
 * (MHD_queue_response() refuses while the body is being received), so a body over the
 * limit is read to its end and dropped, and the 413 goes out then; past
 * max_discard_bytes the connection is closed instead, without an answer.
 *
 * A watchdog thread enforces the request deadline: MHD's own timeout is an idle timeout,
 * which a client trickling one byte every few seconds resets forever. Each connection is
 * in a watch list from MHD's connection-start notification to its close notification;
 * the watchdog shuts down the socket of a connection whose request has not arrived in full
 * within request_timeout_s of the connection being ready for it, and MHD then closes it. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>

#include "bo1/log.h"
#include "bo1/metrics.h"
#include "http_internal.h"

enum phase { PHASE_NEW, PHASE_BODY, PHASE_DONE };

/* How often the watchdog looks at the watch list. */
#define WATCH_PERIOD_MS 250

static int64_t now_us(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static int request_id_valid(const char *s)
{
    size_t n = 0;

    for (; s[n]; n++) {
        char c = s[n];
        if (n >= 128)
            return 0;
        if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_' || c == '.' || c == ':'))
            return 0;
    }
    return n > 0;
}

static void new_request_id(char *out, size_t size)
{
    unsigned char r[16];
    static const char hex[] = "0123456789abcdef";
    size_t j = 0;

    if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r)) {
        int64_t t = now_us();
        memcpy(r, &t, sizeof(t));
        memcpy(r + 8, &out, sizeof(out) < 8 ? sizeof(out) : 8);
    }
    for (size_t i = 0; i < sizeof(r) && j + 2 < size; i++) {
        out[j++] = hex[r[i] >> 4];
        out[j++] = hex[r[i] & 15];
    }
    out[j] = '\0';
}

const char *bo1_req_header(const struct bo1_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

const char *bo1_req_query(const struct bo1_http_req *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_GET_ARGUMENT_KIND, name);
}

static int is_json_type(const char *ct)
{
    size_t n = strlen("application/json");

    if (!ct)
        return 0;
    while (*ct == ' ')
        ct++;
    return strncasecmp(ct, "application/json", n) == 0 &&
           (ct[n] == '\0' || ct[n] == ';' || ct[n] == ' ');
}

static void set_pending(struct bo1_http_req *req, enum bo1_status st, const char *detail)
{
    if (req->pending_error != BO1_OK)
        return;
    req->pending_error = st;
    snprintf(req->pending_detail, sizeof(req->pending_detail), "%s", detail ? detail : "");
}

static struct bo1_conn_watch *conn_watch(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);

    return ci ? ci->socket_context : NULL;
}

/* Mark the connection's request as in (@receiving 0) or wait for the next one (1). */
static void watch_set_receiving(struct bo1_http_server *srv, struct MHD_Connection *conn,
                                int receiving)
{
    struct bo1_conn_watch *w = conn_watch(conn);

    if (!w)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    w->receiving = receiving;
    if (receiving)
        w->since_us = now_us();
    pthread_mutex_unlock(&srv->watch_lock);
}

static enum MHD_Result add_header_bytes(void *cls, enum MHD_ValueKind kind, const char *key,
                                        const char *value)
{
    size_t *total = cls;

    (void)kind;
    *total += strlen(key) + (value ? strlen(value) : 0) + 4; /* ": " and CRLF */
    return MHD_YES;
}

static int expects_continue(const struct bo1_http_req *req)
{
    const char *expect = bo1_req_header(req, MHD_HTTP_HEADER_EXPECT);

    return expect && strcasecmp(expect, "100-continue") == 0;
}

/* Phase 1: everything that can be decided from the request line and headers. Returns 1
 * when the error decided here must be answered at once, without reading the body (a
 * declared length over what would be read and dropped, an unknown transfer coding). */
static int begin_request(struct bo1_http_server *srv, struct bo1_http_req *req)
{
    const char *rid = bo1_req_header(req, "X-Request-ID");
    const char *origin = bo1_req_header(req, "Origin");
    const char *cl = bo1_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *te = bo1_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING);
    struct bo1_conn_watch *w = conn_watch(req->conn);
    size_t header_bytes = 0;
    char detail[300];
    enum bo1_status st;

    if (rid && request_id_valid(rid))
        snprintf(req->request_id, sizeof(req->request_id), "%s", rid);
    else
        new_request_id(req->request_id, sizeof(req->request_id));

    if (origin && strlen(origin) < sizeof(req->origin) &&
        bo1_cors_origin_allowed(srv->cors_origins, origin)) {
        req->cors_ok = 1;
        snprintf(req->origin, sizeof(req->origin), "%s", origin);
    }

    bo1_buf_init(&req->body, srv->opt.max_body_bytes);
    if (te && strcasecmp(te, "chunked") != 0) {
        /* MHD would read such a body until the client closes (RFC 9112 6.1: 501). */
        snprintf(detail, sizeof(detail),
                 "Transfer-Encoding \"%.64s\" is not supported; send Content-Length or chunked",
                 te);
        set_pending(req, BO1_NOT_IMPLEMENTED, detail);
        return 1;
    }
    if (w && w->uri_len > srv->opt.max_uri_bytes) {
        snprintf(detail, sizeof(detail),
                 "request target of %zu bytes exceeds the limit of %u bytes", w->uri_len,
                 srv->opt.max_uri_bytes);
        set_pending(req, BO1_URI_TOO_LONG, detail);
        return 0;
    }
    MHD_get_connection_values(req->conn, MHD_HEADER_KIND, add_header_bytes, &header_bytes);
    if (header_bytes > srv->opt.max_header_bytes) {
        snprintf(detail, sizeof(detail), "headers of %zu bytes exceed the limit of %u bytes",
                 header_bytes, srv->opt.max_header_bytes);
        set_pending(req, BO1_HEADERS_TOO_LARGE, detail);
        return 0;
    }
    if (strcmp(req->method, "OPTIONS") == 0) {
        /* Preflight or capability probe: answered in phase 3 without a route. */
        bo1_router_match(srv->routes, srv->n_routes, "__none__", req->path, &req->params, &st,
                         req->allow, sizeof(req->allow));
        if (st == BO1_NOT_FOUND)
            set_pending(req, BO1_NOT_FOUND, "no resource at this path");
        return 0;
    }
    req->route = bo1_router_match(srv->routes, srv->n_routes, req->method, req->path, &req->params,
                                  &st, req->allow, sizeof(req->allow));
    if (!req->route) {
        if (st == BO1_METHOD_NOT_ALLOWED)
            snprintf(detail, sizeof(detail), "%.16s is not allowed here; allowed: %s", req->method,
                     req->allow);
        else
            snprintf(detail, sizeof(detail), "no resource at this path");
        set_pending(req, st, detail);
        return 0;
    }
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end && *end == '\0' && n > srv->opt.max_body_bytes) {
            snprintf(detail, sizeof(detail), "body of %llu bytes exceeds the limit of %u bytes", n,
                     srv->opt.max_body_bytes);
            set_pending(req, BO1_TOO_LARGE, detail);
            /* Read and drop a body small enough, so the 413 reaches a client that sends
             * it all before reading (a reply while it still sends may be lost to a TCP
             * reset when MHD closes); refuse at once when the client waits for
             * "100 Continue" or the body is larger than that. */
            return expects_continue(req) || n > srv->opt.max_discard_bytes;
        }
    }
    if (req->route->body != BO1_BODY_NONE) {
        const char *ct = bo1_req_header(req, MHD_HTTP_HEADER_CONTENT_TYPE);
        int has_body = (cl && strcmp(cl, "0") != 0) ||
                       bo1_req_header(req, MHD_HTTP_HEADER_TRANSFER_ENCODING) != NULL;
        if ((req->route->body == BO1_BODY_JSON || has_body) && !is_json_type(ct))
            set_pending(req, BO1_UNSUPPORTED_MEDIA,
                        "Content-Type must be application/json for this request");
    }
    return 0;
}

static enum bo1_status parse_body(struct bo1_http_req *req)
{
    json_error_t err;
    char detail[300];

    if (req->route->body == BO1_BODY_NONE)
        return BO1_OK;
    if (req->body.len == 0) {
        if (req->route->body == BO1_BODY_JSON_OPT)
            return BO1_OK;
        set_pending(req, BO1_BAD_JSON, "the request body is empty; a JSON object is required");
        return BO1_BAD_JSON;
    }
    req->json = json_loadb(bo1_buf_str(&req->body), req->body.len, JSON_REJECT_DUPLICATES, &err);
    if (!req->json) {
        snprintf(detail, sizeof(detail), "malformed JSON at line %d, column %d (byte %d): %s",
                 err.line, err.column, err.position, err.text);
        set_pending(req, BO1_BAD_JSON, detail);
        return BO1_BAD_JSON;
    }
    if (!json_is_object(req->json)) {
        set_pending(req, BO1_BAD_JSON, "the request body must be a JSON object");
        return BO1_BAD_JSON;
    }
    return BO1_OK;
}

static enum MHD_Result reply_options(struct bo1_http_req *req)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return MHD_NO;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
    if (req->cors_ok) {
        const char *hdrs = bo1_req_header(req, "Access-Control-Request-Headers");
        MHD_add_response_header(resp, "Access-Control-Allow-Methods", req->allow);
        MHD_add_response_header(resp, "Access-Control-Allow-Headers",
                                hdrs && strlen(hdrs) < 512
                                    ? "Authorization, Content-Type, Idempotency-Key, "
                                      "X-Request-ID, Last-Event-ID"
                                    : "Authorization, Content-Type");
        MHD_add_response_header(resp, "Access-Control-Max-Age", "600");
    }
    return bo1_http_queue(req, MHD_HTTP_NO_CONTENT, resp) == BO1_OK ? MHD_YES : MHD_NO;
}

static enum MHD_Result dispatch(struct bo1_http_server *srv, struct bo1_http_req *req)
{
    struct bo1_conn_watch *w = conn_watch(req->conn);
    enum bo1_status st;
    int late = 0;

    if (w) {
        pthread_mutex_lock(&srv->watch_lock);
        w->receiving = 0;
        late = srv->opt.request_timeout_s &&
               now_us() - w->since_us > (int64_t)srv->opt.request_timeout_s * 1000000;
        pthread_mutex_unlock(&srv->watch_lock);
    }
    if (late) {
        /* In just as the watchdog was about to cut it. */
        char detail[160];
        snprintf(detail, sizeof(detail), "the request took longer than %u s to arrive",
                 srv->opt.request_timeout_s);
        set_pending(req, BO1_REQUEST_TIMEOUT, detail);
    }
    if (req->pending_error == BO1_TOO_LARGE && req->discarded > 0)
        /* The client sent a body it was not allowed to; do not wait for its next request
         * (microhttpd may not notice a client that half-closed while it replied). */
        bo1_req_add_header(req, MHD_HTTP_HEADER_CONNECTION, "close");
    if (req->pending_error != BO1_OK)
        goto error;
    if (strcmp(req->method, "OPTIONS") == 0)
        return reply_options(req);
    if (parse_body(req) != BO1_OK)
        goto error;
    st = req->route->fn(req);
    if (st == BO1_OK || st == BO1_PENDING)
        return MHD_YES;
    set_pending(req, st, NULL);
error:
    return bo1_reply_problem(req, req->pending_error, req->pending_detail, NULL) == BO1_OK ? MHD_YES
                                                                                           : MHD_NO;
}

static enum MHD_Result on_access(void *cls, struct MHD_Connection *conn, const char *url,
                                 const char *method, const char *version, const char *upload_data,
                                 size_t *upload_data_size, void **con_cls)
{
    struct bo1_http_server *srv = cls;
    struct bo1_http_req *req = *con_cls;

    (void)version;
    if (!req) {
        req = calloc(1, sizeof(*req));
        if (!req)
            return MHD_NO;
        req->conn = conn;
        req->ctx = srv->ctx;
        req->method = method;
        req->path = url;
        req->start_us = now_us();
        snprintf(req->log_method, sizeof(req->log_method), "%s", method);
        snprintf(req->log_path, sizeof(req->log_path), "%s", url);
        req->pending_error = BO1_OK;
        atomic_fetch_add(&srv->inflight, 1);
        *con_cls = req;
        req->phase = PHASE_BODY;
        if (begin_request(srv, req)) {
            /* Refused before any body is read (no "100 Continue", no reading gigabytes to
             * drop them); MHD closes the connection after this reply. */
            req->phase = PHASE_DONE;
            watch_set_receiving(srv, conn, 0);
            return bo1_reply_problem(req, req->pending_error, req->pending_detail, NULL) == BO1_OK
                       ? MHD_YES
                       : MHD_NO;
        }
        return MHD_YES;
    }
    if (req->phase == PHASE_DONE) {
        /* Called again after a resume, or with body bytes after an early reply. */
        *upload_data_size = 0;
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t n = *upload_data_size;
        *upload_data_size = 0;
        if (req->pending_error == BO1_OK && bo1_buf_append(&req->body, upload_data, n) == BO1_OK)
            return MHD_YES;
        if (req->pending_error == BO1_OK) {
            char detail[300];
            snprintf(detail, sizeof(detail), "body exceeds the limit of %u bytes",
                     srv->opt.max_body_bytes);
            set_pending(req, BO1_TOO_LARGE, detail);
        }
        /* Drop the bytes; the error is answered on the final call, once the body is in
         * (MHD 0.9.75 refuses a reply queued while the body is being received). */
        req->discarded += n;
        if (req->body.len + req->discarded > srv->opt.max_discard_bytes) {
            bo1_log_warn(req->request_id,
                         json_pack("{s:s, s:I, s:i}", "component", "http", "read",
                                   (json_int_t)(req->body.len + req->discarded), "limit",
                                   (int)srv->opt.max_discard_bytes),
                         "request body over the limit and too large to drop: connection cut");
            return MHD_NO;
        }
        return MHD_YES;
    }
    req->phase = PHASE_DONE;
    return dispatch(srv, req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bo1_http_server *srv = cls;
    struct bo1_http_req *req = *con_cls;
    double secs;
    size_t route_index;
    enum bo1_log_level lvl;

    watch_set_receiving(srv, conn, 1); /* the next request's clock starts now */
    if (!req)
        return;
    secs = (double)(now_us() - req->start_us) / 1e6;
    route_index = req->route ? (size_t)(req->route - srv->routes) : srv->n_routes;
    if (srv->metrics)
        bo1_metrics_observe(srv->metrics, route_index, req->reply_status, secs);
    lvl = (req->route && req->route->quiet) ? BO1_LOG_DEBUG : BO1_LOG_INFO;
    if (bo1_log_enabled(lvl))
        bo1_log_emit(lvl, req->request_id,
                     json_pack("{s:s, s:s?, s:s, s:i, s:f, s:b}", "method", req->log_method, "path",
                               req->log_path, "route",
                               req->route ? req->route->path : "(unmatched)", "status",
                               (int)req->reply_status, "duration_ms", secs * 1000.0, "completed",
                               toe == MHD_REQUEST_TERMINATED_COMPLETED_OK),
                     "request");
    if (req->handler_state_free)
        req->handler_state_free(req->handler_state);
    json_decref(req->json);
    bo1_buf_fini(&req->body);
    free(req);
    *con_cls = NULL;
    atomic_fetch_sub(&srv->inflight, 1);
}

void bo1_http_req_suspend(struct bo1_http_req *req)
{
    MHD_suspend_connection(req->conn);
}

void bo1_http_req_finish(struct bo1_http_req *req, enum bo1_status st, const char *detail)
{
    /* The reply is queued *before* resuming: microhttpd.h (0.9.75) allows
     * MHD_queue_response() on a suspended connection, and resuming first would let the
     * connection's thread race us. */
    if (st != BO1_OK) {
        if (detail)
            set_pending(req, st, detail);
        bo1_reply_problem(req, st, detail, NULL);
    }
    MHD_resume_connection(req->conn);
}

/* MHD thread: a connection starts (add it to the watch list) or is about to close. */
static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode toe)
{
    struct bo1_http_server *srv = cls;
    struct bo1_conn_watch *w = *socket_context;

    if (toe == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *ci =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        w = calloc(1, sizeof(*w));
        if (!w || !ci) {
            free(w); /* no deadline for this connection; the idle timeout still holds */
            return;
        }
        w->fd = ci->connect_fd;
        w->receiving = 1;
        w->since_us = now_us();
        pthread_mutex_lock(&srv->watch_lock);
        w->next = srv->watch_head;
        if (srv->watch_head)
            srv->watch_head->prev = w;
        srv->watch_head = w;
        pthread_mutex_unlock(&srv->watch_lock);
        *socket_context = w;
        return;
    }
    if (!w)
        return;
    /* MHD notifies before it closes the socket, so the watchdog, holding the lock, only
     * ever shuts down a descriptor that is still this connection's. */
    pthread_mutex_lock(&srv->watch_lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        srv->watch_head = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock(&srv->watch_lock);
    free(w);
    *socket_context = NULL;
}

/* MHD thread: the request line is in; note the raw target's length (query included). */
static void *on_uri(void *cls, const char *uri, struct MHD_Connection *conn)
{
    struct bo1_conn_watch *w = conn_watch(conn);

    (void)cls;
    if (w)
        w->uri_len = strlen(uri);
    return NULL;
}

/* The watchdog: cut connections whose request is overdue. shutdown() makes MHD's next
 * read see the end of the stream, and MHD closes the connection on its own thread. */
static void *watch_main(void *arg)
{
    struct bo1_http_server *srv = arg;
    int64_t limit_us = (int64_t)srv->opt.request_timeout_s * 1000000;

    pthread_mutex_lock(&srv->watch_lock);
    while (!srv->watch_stop) {
        struct timespec ts;
        unsigned cut = 0;
        int64_t now;

        clock_gettime(CLOCK_MONOTONIC, &ts);
        ts.tv_nsec += WATCH_PERIOD_MS * 1000000L;
        if (ts.tv_nsec >= 1000000000L) {
            ts.tv_sec++;
            ts.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&srv->watch_cond, &srv->watch_lock, &ts);
        if (srv->watch_stop)
            break;
        now = now_us();
        for (struct bo1_conn_watch *w = srv->watch_head; w; w = w->next) {
            if (!w->receiving || w->cut || now - w->since_us <= limit_us)
                continue;
            shutdown(w->fd, SHUT_RDWR);
            w->cut = 1;
            cut++;
        }
        if (cut) {
            atomic_fetch_add(&srv->cut_total, cut);
            pthread_mutex_unlock(&srv->watch_lock);
            bo1_log_warn(NULL,
                         json_pack("{s:s, s:i, s:i}", "component", "http", "connections", (int)cut,
                                   "request_timeout_s", (int)srv->opt.request_timeout_s),
                         "request not in within the deadline: connections cut");
            pthread_mutex_lock(&srv->watch_lock);
        }
    }
    pthread_mutex_unlock(&srv->watch_lock);
    return NULL;
}

static void watch_stop(struct bo1_http_server *srv)
{
    if (!srv->watch_started)
        return;
    pthread_mutex_lock(&srv->watch_lock);
    srv->watch_stop = 1;
    pthread_cond_signal(&srv->watch_cond);
    pthread_mutex_unlock(&srv->watch_lock);
    pthread_join(srv->watch_thread, NULL);
    srv->watch_started = 0;
}

/* MHD's per-connection memory pool holds the request line and headers (and a record per
 * header) while they are read; it must fit what our own limits accept, so that a request
 * just over them is answered by us (414/431 as problem+json), not by MHD (HTML). 16 KiB
 * above the two limits leaves room for ~250 header records and the reply's headers.
 * The pool is the connection's whole memory: MHD zeroes all of it between requests, so a
 * kept-alive connection holds this much (measured in docs/internals/api-conformance.md). */
static size_t pool_bytes(const struct bo1_http_options *opt)
{
    size_t n = (size_t)opt->max_uri_bytes + opt->max_header_bytes + 16384;

    return n < 32768 ? 32768 : n;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    char msg[512];

    (void)cls;
    vsnprintf(msg, sizeof(msg), fmt, ap);
    msg[strcspn(msg, "\n")] = '\0';
    bo1_log_warn(NULL, json_pack("{s:s}", "component", "microhttpd"), "%s", msg);
}

enum bo1_status bo1_http_server_start(const struct bo1_http_options *opt,
                                      const struct bo1_route *routes, size_t n_routes, void *ctx,
                                      struct bo1_metrics *metrics, struct bo1_http_server **out)
{
    struct bo1_http_server *srv = calloc(1, sizeof(*srv));
    struct sockaddr_in sa = {.sin_family = AF_INET};
    const union MHD_DaemonInfo *info;
    unsigned threads = opt->threads;

    if (!srv)
        return BO1_NO_MEMORY;
    srv->routes = routes;
    srv->n_routes = n_routes;
    srv->ctx = ctx;
    srv->metrics = metrics;
    srv->opt = *opt;
    srv->cors_origins = strdup(opt->cors_origins ? opt->cors_origins : "");
    if (!srv->cors_origins) {
        free(srv);
        return BO1_NO_MEMORY;
    }
    srv->opt.cors_origins = srv->cors_origins;
    if (srv->opt.max_uri_bytes == 0)
        srv->opt.max_uri_bytes = 4096;
    if (srv->opt.max_header_bytes == 0)
        srv->opt.max_header_bytes = 8192;
    pthread_mutex_init(&srv->watch_lock, NULL);
    {
        pthread_condattr_t ca;
        pthread_condattr_init(&ca);
        pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
        pthread_cond_init(&srv->watch_cond, &ca);
        pthread_condattr_destroy(&ca);
    }
    if (inet_pton(AF_INET, opt->bind_address ? opt->bind_address : "0.0.0.0", &sa.sin_addr) != 1) {
        free(srv->cors_origins);
        free(srv);
        return BO1_CONFIG_INVALID;
    }
    sa.sin_port = htons((uint16_t)opt->port);
    if (threads == 0) {
        long cpus = sysconf(_SC_NPROCESSORS_ONLN);
        threads = cpus > 0 ? (unsigned)cpus : 2;
    }
    srv->daemon = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL | MHD_ALLOW_SUSPEND_RESUME | MHD_USE_ITC |
            MHD_USE_ERROR_LOG,
        (uint16_t)opt->port, NULL, NULL, on_access, srv, MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log,
        NULL, MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa, MHD_OPTION_THREAD_POOL_SIZE, threads,
        MHD_OPTION_CONNECTION_TIMEOUT, opt->conn_timeout_s, MHD_OPTION_CONNECTION_LIMIT,
        opt->max_connections, MHD_OPTION_PER_IP_CONNECTION_LIMIT, opt->max_connections_per_ip,
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_NOTIFY_CONNECTION, on_connection,
        srv, MHD_OPTION_URI_LOG_CALLBACK, on_uri, srv, MHD_OPTION_CONNECTION_MEMORY_LIMIT,
        pool_bytes(&srv->opt), MHD_OPTION_LISTENING_ADDRESS_REUSE, 1, MHD_OPTION_END);
    if (!srv->daemon) {
        pthread_cond_destroy(&srv->watch_cond);
        pthread_mutex_destroy(&srv->watch_lock);
        free(srv->cors_origins);
        free(srv);
        return BO1_IO_ERROR;
    }
    if (srv->opt.request_timeout_s &&
        pthread_create(&srv->watch_thread, NULL, watch_main, srv) == 0)
        srv->watch_started = 1;
    else if (srv->opt.request_timeout_s)
        bo1_log_warn(NULL, json_pack("{s:s}", "component", "http"),
                     "cannot start the request-deadline thread: only the idle timeout holds");
    info = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
    srv->port = info ? info->port : opt->port;
    *out = srv;
    return BO1_OK;
}

unsigned bo1_http_server_port(const struct bo1_http_server *srv)
{
    return srv->port;
}

void bo1_http_server_quiesce(struct bo1_http_server *srv)
{
    MHD_socket fd;

    if (!srv || !srv->daemon)
        return;
    fd = MHD_quiesce_daemon(srv->daemon);
    if (fd != MHD_INVALID_SOCKET)
        close(fd);
}

unsigned bo1_http_server_cut_total(const struct bo1_http_server *srv)
{
    return atomic_load(&srv->cut_total);
}

unsigned bo1_http_server_inflight(const struct bo1_http_server *srv)
{
    return atomic_load(&srv->inflight);
}

void bo1_http_server_stop(struct bo1_http_server *srv)
{
    if (!srv)
        return;
    watch_stop(srv);
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    pthread_cond_destroy(&srv->watch_cond);
    pthread_mutex_destroy(&srv->watch_lock);
    free(srv->cors_origins);
    free(srv);
}
