/* bo1/http.h - the HTTP core: libmicrohttpd daemon, route table, request parsing and
 * the one reply path (every error is application/problem+json, RFC 9457).
 *
 * Handlers run on MHD threads. They either reply at once (return BO1_OK after a
 * bo1_reply_*() call), fail (return a status; the router answers with it), or suspend the
 * connection, post work to the loop and return BO1_PENDING; the loop later calls
 * bo1_http_req_finish() with the reply. */
#pragma once

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "bo1/buf.h"
#include "bo1/status.h"

struct MHD_Connection;
struct MHD_Response;
struct bo1_http_req;
struct bo1_http_server;
struct bo1_metrics;

typedef enum bo1_status bo1_handler_fn(struct bo1_http_req *req);

enum bo1_body {
    BO1_BODY_NONE,     /* any body is ignored (but still size-limited) */
    BO1_BODY_JSON,     /* application/json object required */
    BO1_BODY_JSON_OPT, /* empty, or an application/json object */
};

struct bo1_route {
    const char *method; /* "GET", "POST", "DELETE"; GET also answers HEAD */
    const char *path;   /* "/api/v1/sessions/{id}"; {name} matches one segment */
    bo1_handler_fn *fn;
    enum bo1_body body;
    int quiet; /* 1: access log at debug level (probes) */
};

#define BO1_ROUTE_MAX_PARAMS 4

struct bo1_route_params {
    size_t n;
    const char *names[BO1_ROUTE_MAX_PARAMS]; /* borrowed from the route's path */
    size_t name_lens[BO1_ROUTE_MAX_PARAMS];
    char values[BO1_ROUTE_MAX_PARAMS][256];
};

/**
 * Find the route for @method and @path in @routes.
 * Returns the route and fills @params, or NULL with *@st set to BO1_NOT_FOUND (no path
 * matches) or BO1_METHOD_NOT_ALLOWED (a path matches but not the method); in that case
 * @allow (may be NULL) gets the allowed methods, e.g. "GET, HEAD, DELETE".
 * Thread: any (the table is immutable).
 */
const struct bo1_route *bo1_router_match(const struct bo1_route *routes, size_t n_routes,
                                         const char *method, const char *path,
                                         struct bo1_route_params *params, enum bo1_status *st,
                                         char *allow, size_t allow_size);

/** True when @origin is in @list (comma-separated origins, or "*"). Exact match only. */
int bo1_cors_origin_allowed(const char *list, const char *origin);

/** The value of route parameter @name, or NULL. Borrowed from @params. */
const char *bo1_route_param(const struct bo1_route_params *params, const char *name);

/**
 * A problem+json body for @st: {type, title, status, detail, code[, request_id][, errors]}.
 * @detail may be NULL (the status hint is used). Takes: @errors (array or NULL).
 * Returns: new reference, or NULL when out of memory.
 */
json_t *bo1_problem_new(enum bo1_status st, const char *detail, const char *request_id,
                        json_t *errors);

/* --- the request, as handlers see it --- */

struct bo1_http_req {
    struct MHD_Connection *conn;
    void *ctx; /* the server's context (struct bo1_ctx for our handlers) */
    const struct bo1_route *route;
    const char *method; /* borrowed from MHD; valid until the reply is queued */
    const char *path;   /* borrowed from MHD; valid until the reply is queued */
    char request_id[129];
    struct bo1_route_params params;
    struct bo1_buf body;
    json_t *json;        /* parsed body (BO1_BODY_JSON*), owned by the request */
    void *handler_state; /* free for the handler's own use */
    void (*handler_state_free)(void *state);
    unsigned retry_after_s; /* Retry-After of a 429/503 problem; 0 = the default */
    size_t n_extra;         /* headers added with bo1_req_add_header() */
    char extra_name[4][32];
    char extra_value[4][256];
    /* private to the HTTP core */
    char log_method[16]; /* copies for the access log, written after MHD frees its own */
    char log_path[200];
    int64_t start_us;
    unsigned phase;
    enum bo1_status pending_error;
    char pending_detail[320];
    char allow[64];
    unsigned reply_status;
    uint64_t discarded; /* body bytes dropped after an error was decided */
    int cors_ok;
    char origin[256];
};

/** Request header @name (case-insensitive), or NULL. Borrowed. Thread: the request's. */
const char *bo1_req_header(const struct bo1_http_req *req, const char *name);

/** Query argument @name (decoded), or NULL. Borrowed. */
const char *bo1_req_query(const struct bo1_http_req *req, const char *name);

/** Add a response header to whatever reply is queued next (at most 4; longer values cut). */
void bo1_req_add_header(struct bo1_http_req *req, const char *name, const char *value);

/* --- the one reply path --- */

/** Reply @http_status with @body as application/json. Takes: @body. */
enum bo1_status bo1_reply_json(struct bo1_http_req *req, unsigned http_status, json_t *body);

/** Reply with a problem+json for @st. @detail may be NULL. Takes: @errors (may be NULL). */
enum bo1_status bo1_reply_problem(struct bo1_http_req *req, enum bo1_status st, const char *detail,
                                  json_t *errors);

/** Reply with bytes of @content_type. Takes: @data (malloc'd). */
enum bo1_status bo1_reply_bytes(struct bo1_http_req *req, unsigned http_status,
                                const char *content_type, char *data, size_t len);

/** Reply 204 No Content: no body and no Content-Type. */
enum bo1_status bo1_reply_no_content(struct bo1_http_req *req);

/** Reply with a prepared MHD response (for streams). Takes a reference on @resp. */
enum bo1_status bo1_reply_response(struct bo1_http_req *req, unsigned http_status,
                                   struct MHD_Response *resp);

/** Suspend the connection before posting work; the loop answers with bo1_http_req_finish(). */
void bo1_http_req_suspend(struct bo1_http_req *req);

/**
 * From the loop (or any thread): queue the reply for a suspended request and resume it.
 * @st BO1_OK means the reply was already queued with bo1_reply_*() by the caller; any
 * other status is answered as problem+json with @detail.
 */
void bo1_http_req_finish(struct bo1_http_req *req, enum bo1_status st, const char *detail);

/* --- the server --- */

struct bo1_http_options {
    const char *bind_address;
    unsigned port; /* 0 = any; read back with bo1_http_server_port() */
    unsigned threads;
    unsigned max_body_bytes;
    unsigned conn_timeout_s;
    unsigned max_connections;
    unsigned max_connections_per_ip;
    unsigned request_timeout_s; /* the whole request must arrive within this; 0 = no limit */
    unsigned max_uri_bytes;     /* request target; longer gets 414 */
    unsigned max_header_bytes;  /* header block; larger gets 431 */
    unsigned max_discard_bytes; /* an over-limit body is read and dropped up to this */
    const char *cors_origins;   /* comma-separated or "*" */
};

/**
 * Start listening. @routes must outlive the server. @ctx is passed to handlers as req->ctx.
 * @metrics may be NULL. Returns BO1_IO_ERROR if the port cannot be bound.
 */
enum bo1_status bo1_http_server_start(const struct bo1_http_options *opt,
                                      const struct bo1_route *routes, size_t n_routes, void *ctx,
                                      struct bo1_metrics *metrics, struct bo1_http_server **out);

unsigned bo1_http_server_port(const struct bo1_http_server *srv);

/** Stop accepting new connections; established ones are served. */
void bo1_http_server_quiesce(struct bo1_http_server *srv);

/** Connections cut because their request did not arrive within request_timeout_s. */
unsigned bo1_http_server_cut_total(const struct bo1_http_server *srv);

/** Requests not yet completed (in handlers, suspended, or sending). Thread: any. */
unsigned bo1_http_server_inflight(const struct bo1_http_server *srv);

/** Stop the daemon (closing every connection) and free the server. NULL-safe. */
void bo1_http_server_stop(struct bo1_http_server *srv);
