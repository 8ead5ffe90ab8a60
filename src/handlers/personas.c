/* GET /api/v1/personas and /api/v1/personas/{code}: the catalog is immutable after start,
 * so these answer on the MHD thread. Hidden roles (facilitator, moderators) are internal. */
#include "bo1/auth.h"
#include "bo1/handlers.h"
#include "bo1/persona.h"
#include "handlers_internal.h"

enum bo1_status h_personas_list(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    json_t *items;
    char owner[17];
    size_t n;

    if (bo1_auth_check(ctx->auth, bo1_req_header(req, "Authorization"), owner) != BO1_OK) {
        bo1_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"bo1\"");
        return BO1_UNAUTHORIZED;
    }
    if (!ctx->personas)
        return BO1_UNAVAILABLE;
    items = json_array();
    n = bo1_persona_catalog_count(ctx->personas);
    for (size_t i = 0; i < n; i++) {
        const struct bo1_persona *p = bo1_persona_catalog_at(ctx->personas, i);
        if (p && !p->hidden)
            json_array_append_new(items, bo1_persona_to_json(p));
    }
    return bo1_reply_json(
        req, 200,
        json_pack("{s:o, s:I}", "items", items, "count", (json_int_t)json_array_size(items)));
}

enum bo1_status h_personas_get(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    const struct bo1_persona *p;
    char owner[17];

    if (bo1_auth_check(ctx->auth, bo1_req_header(req, "Authorization"), owner) != BO1_OK) {
        bo1_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"bo1\"");
        return BO1_UNAUTHORIZED;
    }
    if (!ctx->personas)
        return BO1_UNAVAILABLE;
    p = bo1_persona_catalog_get(ctx->personas, bo1_route_param(&req->params, "code"));
    if (!p || p->hidden)
        return BO1_NOT_FOUND;
    return bo1_reply_json(req, 200, bo1_persona_to_json(p));
}
