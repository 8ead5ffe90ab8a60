/* The libmicrohttpd daemon and its two-phase access handler.
 *
 * Phase 1 (first call): set up the request, match the route, check headers; never
 * reply here, because a reply on the first call disables keep-alive. Phase 2 (body
 * chunks): append to a size-limited buffer. Phase 3 (final call): parse, dispatch,
 * reply. The completion callback records metrics, logs and frees the request. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "bo1/log.h"
#include "bo1/metrics.h"
#include "http_internal.h"

enum phase { PHASE_NEW, PHASE_BODY, PHASE_DONE };

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

/* Phase 1: everything that can be decided from the request line and headers. */
static void begin_request(struct bo1_http_server *srv, struct bo1_http_req *req)
{
    const char *rid = bo1_req_header(req, "X-Request-ID");
    const char *origin = bo1_req_header(req, "Origin");
    const char *cl = bo1_req_header(req, MHD_HTTP_HEADER_CONTENT_LENGTH);
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
    if (strcmp(req->method, "OPTIONS") == 0) {
        /* Preflight or capability probe: answered in phase 3 without a route. */
        bo1_router_match(srv->routes, srv->n_routes, "__none__", req->path, &req->params, &st,
                         req->allow, sizeof(req->allow));
        if (st == BO1_NOT_FOUND)
            set_pending(req, BO1_NOT_FOUND, "no resource at this path");
        return;
    }
    req->route = bo1_router_match(srv->routes, srv->n_routes, req->method, req->path, &req->params,
                                  &st, req->allow, sizeof(req->allow));
    if (!req->route) {
        char detail[300];
        if (st == BO1_METHOD_NOT_ALLOWED)
            snprintf(detail, sizeof(detail), "%.16s is not allowed here; allowed: %s", req->method,
                     req->allow);
        else
            snprintf(detail, sizeof(detail), "no resource at this path");
        set_pending(req, st, detail);
        return;
    }
    if (cl) {
        char *end = NULL;
        unsigned long long n = strtoull(cl, &end, 10);
        if (end && *end == '\0' && n > srv->opt.max_body_bytes) {
            char detail[300];
            snprintf(detail, sizeof(detail), "body of %llu bytes exceeds the limit of %u bytes", n,
                     srv->opt.max_body_bytes);
            set_pending(req, BO1_TOO_LARGE, detail);
            return;
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

static enum MHD_Result dispatch(struct bo1_http_req *req)
{
    enum bo1_status st;

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
        begin_request(srv, req);
        req->phase = PHASE_BODY;
        if (req->pending_error == BO1_TOO_LARGE) {
            /* A declared length over the limit is refused before any body is read (no
             * "100 Continue", no reading gigabytes to discard them); MHD then closes. */
            req->phase = PHASE_DONE;
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
        if (req->pending_error != BO1_OK)
            return MHD_YES; /* discard; the error is answered on the final call */
        if (bo1_buf_append(&req->body, upload_data, n) != BO1_OK) {
            char detail[300];
            snprintf(detail, sizeof(detail), "body exceeds the limit of %u bytes",
                     srv->opt.max_body_bytes);
            set_pending(req, BO1_TOO_LARGE, detail);
            /* Answer now: MHD closes the connection instead of reading the rest. */
            req->phase = PHASE_DONE;
            return bo1_reply_problem(req, req->pending_error, req->pending_detail, NULL) == BO1_OK
                       ? MHD_YES
                       : MHD_NO;
        }
        return MHD_YES;
    }
    req->phase = PHASE_DONE;
    return dispatch(req);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    struct bo1_http_server *srv = cls;
    struct bo1_http_req *req = *con_cls;
    double secs;
    size_t route_index;
    enum bo1_log_level lvl;

    (void)conn;
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
        MHD_OPTION_NOTIFY_COMPLETED, on_completed, srv, MHD_OPTION_LISTENING_ADDRESS_REUSE, 1,
        MHD_OPTION_END);
    if (!srv->daemon) {
        free(srv->cors_origins);
        free(srv);
        return BO1_IO_ERROR;
    }
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

unsigned bo1_http_server_inflight(const struct bo1_http_server *srv)
{
    return atomic_load(&srv->inflight);
}

void bo1_http_server_stop(struct bo1_http_server *srv)
{
    if (!srv)
        return;
    if (srv->daemon)
        MHD_stop_daemon(srv->daemon);
    free(srv->cors_origins);
    free(srv);
}
