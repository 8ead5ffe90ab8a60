/* The one reply path: JSON bodies, problem+json errors and the headers every response
 * carries. Nothing else in the code base builds an error body. */
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "http_internal.h"

json_t *bo1_problem_new(enum bo1_status st, const char *detail, const char *request_id,
                        json_t *errors)
{
    char type[96];
    const char *name = bo1_status_name(st);
    size_t i;
    json_t *o;

    /* A relative URI reference per problem code, e.g. /problems/bad-json. */
    snprintf(type, sizeof(type), "/problems/");
    i = strlen(type);
    for (const char *p = name; *p && i + 1 < sizeof(type); p++)
        type[i++] = *p == '_' ? '-' : (char)tolower((unsigned char)*p);
    type[i] = '\0';

    o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", bo1_status_hint(st), "status",
                  (int)bo1_status_http(st), "detail",
                  detail && *detail ? detail : bo1_status_hint(st), "code", name);
    if (!o) {
        /* detail was not valid UTF-8: keep the shape, drop the text. */
        o = json_pack("{s:s, s:s, s:i, s:s, s:s}", "type", type, "title", bo1_status_hint(st),
                      "status", (int)bo1_status_http(st), "detail", bo1_status_hint(st), "code",
                      name);
    }
    if (!o) {
        json_decref(errors);
        return NULL;
    }
    if (request_id && *request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    if (json_is_array(errors))
        json_object_set_new(o, "errors", errors);
    else
        json_decref(errors);
    return o;
}

void bo1_http_add_common_headers(struct bo1_http_req *req, struct MHD_Response *resp)
{
    MHD_add_response_header(resp, "X-Request-ID", req->request_id);
    for (size_t i = 0; i < req->n_extra; i++)
        MHD_add_response_header(resp, req->extra_name[i], req->extra_value[i]);
    MHD_add_response_header(resp, "X-Content-Type-Options", "nosniff");
    MHD_add_response_header(resp, "X-Frame-Options", "DENY");
    MHD_add_response_header(resp, "Referrer-Policy", "no-referrer");
    MHD_add_response_header(resp, "Content-Security-Policy",
                            "default-src 'none'; frame-ancestors 'none'");
    if (req->cors_ok) {
        MHD_add_response_header(resp, "Access-Control-Allow-Origin", req->origin);
        MHD_add_response_header(resp, "Vary", "Origin");
        MHD_add_response_header(resp, "Access-Control-Expose-Headers",
                                "X-Request-ID, Retry-After, Location");
    }
}

void bo1_req_add_header(struct bo1_http_req *req, const char *name, const char *value)
{
    if (req->n_extra >= sizeof(req->extra_name) / sizeof(req->extra_name[0]))
        return;
    snprintf(req->extra_name[req->n_extra], sizeof(req->extra_name[0]), "%s", name);
    snprintf(req->extra_value[req->n_extra], sizeof(req->extra_value[0]), "%s", value);
    req->n_extra++;
}

enum bo1_status bo1_http_queue(struct bo1_http_req *req, unsigned status, struct MHD_Response *resp)
{
    enum MHD_Result r;

    bo1_http_add_common_headers(req, resp);
    req->reply_status = status;
    r = MHD_queue_response(req->conn, status, resp);
    MHD_destroy_response(resp);
    return r == MHD_YES ? BO1_OK : BO1_INTERNAL;
}

enum bo1_status bo1_reply_bytes(struct bo1_http_req *req, unsigned http_status,
                                const char *content_type, char *data, size_t len)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);

    if (!resp) {
        free(data);
        return BO1_NO_MEMORY;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, content_type);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return bo1_http_queue(req, http_status, resp);
}

static enum bo1_status reply_json_typed(struct bo1_http_req *req, unsigned http_status,
                                        json_t *body, const char *content_type)
{
    char *text = json_dumps(body, JSON_COMPACT);

    json_decref(body);
    if (!text)
        return BO1_NO_MEMORY;
    return bo1_reply_bytes(req, http_status, content_type, text, strlen(text));
}

enum bo1_status bo1_reply_json(struct bo1_http_req *req, unsigned http_status, json_t *body)
{
    if (!body)
        return BO1_NO_MEMORY;
    return reply_json_typed(req, http_status, body, "application/json");
}

enum bo1_status bo1_reply_no_content(struct bo1_http_req *req)
{
    struct MHD_Response *resp = MHD_create_response_from_buffer(0, "", MHD_RESPMEM_PERSISTENT);

    if (!resp)
        return BO1_NO_MEMORY;
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    return bo1_http_queue(req, MHD_HTTP_NO_CONTENT, resp);
}

enum bo1_status bo1_reply_response(struct bo1_http_req *req, unsigned http_status,
                                   struct MHD_Response *resp)
{
    return bo1_http_queue(req, http_status, resp);
}

enum bo1_status bo1_reply_problem(struct bo1_http_req *req, enum bo1_status st, const char *detail,
                                  json_t *errors)
{
    json_t *body = bo1_problem_new(st, detail, req->request_id, errors);
    char *text;
    struct MHD_Response *resp;
    unsigned http = bo1_status_http(st);

    if (!body)
        return BO1_NO_MEMORY;
    text = json_dumps(body, JSON_COMPACT);
    json_decref(body);
    if (!text)
        return BO1_NO_MEMORY;
    resp = MHD_create_response_from_buffer(strlen(text), text, MHD_RESPMEM_MUST_FREE);
    if (!resp) {
        free(text);
        return BO1_NO_MEMORY;
    }
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/problem+json");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (st == BO1_METHOD_NOT_ALLOWED && req->allow[0])
        MHD_add_response_header(resp, MHD_HTTP_HEADER_ALLOW, req->allow);
    if (http == 503 || http == 429) {
        char secs[16];
        snprintf(secs, sizeof(secs), "%u", req->retry_after_s ? req->retry_after_s : 1);
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, secs);
    }
    return bo1_http_queue(req, http ? http : 500, resp);
}
