/* /api/v1/sessions: create, list, read, delete, lifecycle, answers and interjections.
 *
 * Each handler authenticates and validates on the MHD thread, then suspends the connection
 * and posts a job to the loop; the job runs one Redis script and the reply is queued from
 * the loop before the connection is resumed (STYLE R6). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/auth.h"
#include "bo1/handlers.h"
#include "bo1/hub.h"
#include "bo1/loop.h"
#include "bo1/persona.h"
#include "bo1/session_request.h"
#include "bo1/sessions.h"
#include "bo1/sha256.h"
#include "bo1/store.h"
#include "handlers_internal.h"

enum job_kind {
    JOB_CREATE,
    JOB_LIST,
    JOB_GET,
    JOB_CONTROL,
    JOB_INPUT,
    JOB_EVENTS,
    JOB_REPORT,
    JOB_COSTS
};

struct job {
    enum job_kind kind;
    struct bo1_http_req *req;
    struct bo1_ctx *ctx;
    char owner[17];
    char id[32];
    char action[16];
    char status_filter[32];
    char cursor[160];
    char after[48];
    char idem[256];
    int has_idem;
    char body_hash[65];
    unsigned limit;
    int start;
    int rate_checked;
    json_t *payload; /* create: the document; input: the payload */
};

static void job_free(struct job *j)
{
    json_decref(j->payload);
    free(j);
}

static json_t *links(const char *id)
{
    char base[96];
    char ev[128];
    char rep[128];
    char costs[128];

    snprintf(base, sizeof(base), "/api/v1/sessions/%s", id);
    snprintf(ev, sizeof(ev), "%s/events", base);
    snprintf(rep, sizeof(rep), "%s/report", base);
    snprintf(costs, sizeof(costs), "%s/costs", base);
    return json_pack("{s:s, s:s, s:s, s:s}", "self", base, "events", ev, "report", rep, "costs",
                     costs);
}

static void finish(struct job *j, enum bo1_status st, const char *detail)
{
    bo1_http_req_finish(j->req, st, detail);
    job_free(j);
}

static void reply_report(struct job *j, json_t *art);

/* A write on this instance: the runner claims or reads the session at once. (Live SSE
 * clients hear of its events from the script's notify message; the hub acts on this call
 * only while its subscriber is down.) */
static void notify_changed(const struct job *j, const struct bo1_sessions_result *res)
{
    const char *id = j->id;

    if (j->kind == JOB_CREATE)
        id = json_string_value(json_object_get(res->result, "id"));
    else if (j->kind != JOB_CONTROL && j->kind != JOB_INPUT)
        return;
    if (!id || !id[0] || (j->kind == JOB_CONTROL && strcmp(j->action, "delete") == 0))
        return;
    if (j->kind != JOB_CREATE && j->ctx->hub)
        bo1_hub_notify(j->ctx->hub, id, NULL);
    if (j->ctx->session_changed)
        j->ctx->session_changed(j->ctx->session_changed_arg, id);
}

static void reply_result(struct job *j, const struct bo1_sessions_result *res)
{
    struct bo1_http_req *req = j->req;
    char detail[160];

    if (res->st != BO1_OK) {
        if (res->st == BO1_RATE_LIMITED) {
            req->retry_after_s = (unsigned)((res->retry_after_ms + 999) / 1000);
            if (req->retry_after_s == 0)
                req->retry_after_s = 1;
        }
        if (res->st == BO1_WRONG_STATE && res->detail) {
            snprintf(detail, sizeof(detail), "not allowed while the session is %s", res->detail);
            bo1_reply_problem(req, BO1_WRONG_STATE, detail,
                              json_pack("[{s:s, s:s}]", "field", "status", "message", res->detail));
            finish(j, BO1_OK, NULL);
            return;
        }
        finish(j, res->st, res->detail);
        return;
    }
    notify_changed(j, res);
    switch (j->kind) {
    /* The documents get "links" at their top level only: a shallow copy of the store's
     * result (its members shared, never changed) is enough. */
    case JOB_CREATE: {
        json_t *doc = json_copy(res->result);
        const char *id = json_string_value(json_object_get(doc, "id"));
        char loc[96];
        snprintf(loc, sizeof(loc), "/api/v1/sessions/%s", id ? id : "");
        bo1_req_add_header(req, "Location", loc);
        if (res->replayed)
            bo1_req_add_header(req, "Idempotent-Replayed", "true");
        json_object_set_new(doc, "links", links(id ? id : ""));
        bo1_reply_json(req, 201, doc);
        break;
    }
    case JOB_GET: {
        json_t *doc = json_copy(res->result);
        json_object_set_new(doc, "links", links(j->id));
        bo1_reply_json(req, 200, doc);
        break;
    }
    case JOB_LIST: {
        json_t *page = json_deep_copy(res->result);
        size_t i;
        json_t *item;
        json_array_foreach(json_object_get(page, "items"), i, item)
        {
            const char *id = json_string_value(json_object_get(item, "id"));
            json_object_set_new(item, "links", links(id ? id : ""));
        }
        bo1_reply_json(req, 200, page);
        break;
    }
    case JOB_CONTROL:
        if (strcmp(j->action, "delete") == 0) {
            bo1_reply_no_content(req);
        } else {
            json_t *doc = json_copy(res->result);
            json_object_set_new(doc, "links", links(j->id));
            bo1_reply_json(req, 200, doc);
        }
        break;
    case JOB_INPUT:
        bo1_reply_json(req, 202,
                       json_pack("{s:s, s:s, s:s?}", "status", "accepted", "session_id", j->id,
                                 "session_status", res->detail));
        break;
    case JOB_REPORT:
        reply_report(j, res->result);
        return;
    case JOB_COSTS: {
        json_t *doc = json_object_get(res->result, "doc");
        json_t *costs = json_object_get(doc, "costs");
        /* API.md: the per-call ledger and the totals (both absent before the first
         * checkpoint). */
        bo1_reply_json(req, 200,
                       json_pack("{s:s, s:s?, s:O*, s:O*}", "session_id", j->id, "status",
                                 json_string_value(json_object_get(res->result, "status")), "costs",
                                 costs, "ledger", json_object_get(doc, "ledger")));
        break;
    }
    case JOB_EVENTS: {
        json_t *page = json_deep_copy(res->result);
        json_t *events = json_object_get(page, "events");
        json_object_set_new(page, "has_more", json_boolean(json_array_size(events) >= j->limit));
        bo1_reply_json(req, 200, page);
        break;
    }
    }
    finish(j, BO1_OK, NULL);
}

static void on_result(const struct bo1_sessions_result *res, void *arg);

/* The report exists once the session finished; Markdown by ?format=md or Accept. */
static void reply_report(struct job *j, json_t *art)
{
    struct bo1_http_req *req = j->req;
    const char *status = json_string_value(json_object_get(art, "status"));
    json_t *rj = json_object_get(art, "report_json");
    const char *md = json_string_value(json_object_get(art, "report_md"));
    char detail[160];

    if (!json_is_object(rj)) {
        snprintf(detail, sizeof(detail), "no report yet: the session is %s",
                 status ? status : "unknown");
        bo1_reply_problem(req, BO1_WRONG_STATE, detail,
                          json_pack("[{s:s, s:s?}]", "field", "status", "message", status));
    } else if (j->start) {
        char *copy = strdup(md ? md : "");
        if (copy)
            bo1_reply_bytes(req, 200, "text/markdown; charset=utf-8", copy, strlen(copy));
    } else {
        bo1_reply_json(req, 200, json_incref(rj));
    }
    finish(j, BO1_OK, NULL);
}

static enum bo1_status run_op(struct job *j)
{
    struct bo1_store *store = j->ctx->store;
    const struct bo1_sessions_limits *lim = &j->ctx->limits;
    json_t *payload;

    switch (j->kind) {
    case JOB_CREATE:
        payload = j->payload;
        j->payload = NULL;
        return bo1_sessions_create(store, lim, j->owner, j->id, payload, j->start,
                                   j->has_idem ? j->idem : NULL, j->body_hash, on_result, j);
    case JOB_LIST:
        return bo1_sessions_list(store, j->owner, j->status_filter[0] ? j->status_filter : NULL,
                                 j->cursor[0] ? j->cursor : NULL, j->limit, on_result, j);
    case JOB_GET:
        return bo1_sessions_get(store, j->owner, j->id, on_result, j);
    case JOB_CONTROL:
        return bo1_sessions_control(store, lim, j->owner, j->id, j->action, on_result, j);
    case JOB_INPUT:
        payload = j->payload;
        j->payload = NULL;
        return bo1_sessions_input(store, lim, j->owner, j->id, j->action, payload, on_result, j);
    case JOB_EVENTS:
        return bo1_sessions_events(store, j->owner, j->id, j->after, j->limit, on_result, j);
    case JOB_REPORT:
    case JOB_COSTS:
        return bo1_sessions_artifacts(store, j->owner, j->id, on_result, j);
    }
    return BO1_INTERNAL;
}

/* Reads and inputs are rate limited by a separate counter first; the other writes count
 * inside their script. */
static void on_result(const struct bo1_sessions_result *res, void *arg)
{
    struct job *j = arg;
    enum bo1_status st;

    if (!j->rate_checked) {
        j->rate_checked = 1;
        if (res->st != BO1_OK) {
            reply_result(j, res);
            return;
        }
        st = run_op(j);
        if (st != BO1_OK)
            finish(j, st, NULL);
        return;
    }
    reply_result(j, res);
}

static void on_job(void *arg)
{
    struct job *j = arg;
    enum bo1_status st;

    if (j->kind == JOB_LIST || j->kind == JOB_GET || j->kind == JOB_EVENTS ||
        j->kind == JOB_REPORT || j->kind == JOB_COSTS) {
        st = bo1_sessions_rate(j->ctx->store, &j->ctx->limits, j->owner, BO1_RATE_READ, on_result,
                               j);
    } else if (j->kind == JOB_INPUT) {
        /* Answers and interjections count as control actions (their script has no limit). */
        st = bo1_sessions_rate(j->ctx->store, &j->ctx->limits, j->owner, BO1_RATE_CONTROL,
                               on_result, j);
    } else {
        j->rate_checked = 1;
        st = run_op(j);
    }
    if (st != BO1_OK)
        finish(j, st, NULL);
}

/* Common front half: authenticate, allocate the job, check the {id} parameter. */
static enum bo1_status job_begin(struct bo1_http_req *req, enum job_kind kind, int needs_id,
                                 struct job **out)
{
    struct bo1_ctx *ctx = req->ctx;
    struct job *j;
    enum bo1_status st;

    j = calloc(1, sizeof(*j));
    if (!j)
        return BO1_NO_MEMORY;
    j->kind = kind;
    j->req = req;
    j->ctx = ctx;
    st = bo1_auth_check(ctx->auth, bo1_req_header(req, "Authorization"), j->owner);
    if (st != BO1_OK) {
        bo1_req_add_header(req, "WWW-Authenticate", "Bearer realm=\"bo1\"");
        job_free(j);
        return st;
    }
    if (needs_id) {
        const char *id = bo1_route_param(&req->params, "id");
        if (!id || !bo1_sessions_id_valid(id)) {
            job_free(j);
            return BO1_NOT_FOUND; /* never hint whether a session exists */
        }
        snprintf(j->id, sizeof(j->id), "%s", id);
    }
    *out = j;
    return BO1_OK;
}

static enum bo1_status job_post(struct job *j)
{
    struct bo1_http_req *req = j->req;

    if (!bo1_store_is_up(j->ctx->store)) {
        job_free(j);
        req->retry_after_s = 2;
        return BO1_STORE_DOWN;
    }
    bo1_http_req_suspend(req);
    if (bo1_loop_post(j->ctx->loop, on_job, j) != BO1_OK) {
        job_free(j);
        bo1_http_req_finish(req, BO1_UNAVAILABLE, "the service is shutting down");
    }
    return BO1_PENDING;
}

static int persona_known(void *arg, const char *code)
{
    const struct bo1_persona *p = bo1_persona_catalog_get(arg, code);

    return p && !p->hidden;
}

enum bo1_status h_sessions_create(struct bo1_http_req *req)
{
    struct bo1_ctx *ctx = req->ctx;
    struct bo1_session_defaults def = {.budget_usd = ctx->default_budget_usd,
                                       .max_budget_usd = 100.0};
    json_t *doc = NULL;
    json_t *errors = NULL;
    const char *idem = bo1_req_header(req, "Idempotency-Key");
    struct job *j;
    enum bo1_status st;
    char *canon;

    st = job_begin(req, JOB_CREATE, 0, &j);
    if (st != BO1_OK)
        return st;
    if (idem) {
        size_t n = strlen(idem);
        int ok = n >= 1 && n <= 255;
        for (size_t i = 0; ok && i < n; i++)
            ok = idem[i] > 32 && idem[i] < 127;
        if (!ok) {
            job_free(j);
            return bo1_reply_problem(req, BO1_BAD_FIELD, "invalid Idempotency-Key header",
                                     json_pack("[{s:s, s:s}]", "field", "Idempotency-Key",
                                               "message", "1 to 255 visible ASCII characters"));
        }
        snprintf(j->idem, sizeof(j->idem), "%s", idem);
        j->has_idem = 1;
    }
    st = bo1_session_request_validate(req->json, &def, ctx->personas ? persona_known : NULL,
                                      (void *)ctx->personas, &doc, &errors);
    if (st == BO1_BAD_FIELD) {
        char detail[200];
        json_t *first = json_array_get(errors, 0);
        snprintf(detail, sizeof(detail), "invalid request: %s: %s",
                 json_string_value(json_object_get(first, "field")),
                 json_string_value(json_object_get(first, "message")));
        job_free(j);
        return bo1_reply_problem(req, BO1_BAD_FIELD, detail, errors);
    }
    if (st != BO1_OK) {
        job_free(j);
        return st;
    }
    /* The idempotency fingerprint: the canonical (sorted, compact) body. */
    canon = json_dumps(req->json, JSON_COMPACT | JSON_SORT_KEYS);
    bo1_sha256_hex(canon ? canon : "", canon ? strlen(canon) : 0, j->body_hash);
    free(canon);
    j->start = json_is_true(json_object_get(json_object_get(doc, "options"), "start"));
    bo1_sessions_new_id(j->id);
    json_object_set_new(doc, "id", json_string(j->id));
    json_object_set_new(doc, "phase", json_string("intake"));
    json_object_set_new(doc, "simulated_model", json_boolean(ctx->simulated));
    j->payload = doc;
    return job_post(j);
}

static enum bo1_status bad_query(struct bo1_http_req *req, struct job *j, const char *field,
                                 const char *message)
{
    char detail[160];

    job_free(j);
    snprintf(detail, sizeof(detail), "invalid query parameter %s: %s", field, message);
    return bo1_reply_problem(req, BO1_BAD_FIELD, detail,
                             json_pack("[{s:s, s:s}]", "field", field, "message", message));
}

enum bo1_status h_sessions_list(struct bo1_http_req *req)
{
    const char *status = bo1_req_query(req, "status");
    const char *cursor = bo1_req_query(req, "cursor");
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_LIST, 0, &j);

    if (st != BO1_OK)
        return st;
    if (status && !bo1_handlers_status_known(status))
        return bad_query(req, j, "status",
                         "one of created, queued, running, paused, awaiting_input, completed, "
                         "failed, cancelled");
    if (cursor) {
        if (!bo1_handlers_cursor_valid(cursor))
            return bad_query(req, j, "cursor", "use next_cursor from the previous page");
        snprintf(j->cursor, sizeof(j->cursor), "%s", cursor);
    }
    j->limit = bo1_handlers_parse_limit(bo1_req_query(req, "limit"), 20, 100);
    if (!j->limit)
        return bad_query(req, j, "limit", "an integer from 1 to 100");
    if (status)
        snprintf(j->status_filter, sizeof(j->status_filter), "%s", status);
    return job_post(j);
}

enum bo1_status h_sessions_get(struct bo1_http_req *req)
{
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_GET, 1, &j);

    if (st != BO1_OK)
        return st;
    return job_post(j);
}

static enum bo1_status field_error(struct bo1_http_req *req, struct job *j, const char *field,
                                   const char *message);

/* The lifecycle actions take no fields: an empty body or {} (API.md: unknown JSON fields
 * are rejected with their name). */
static enum bo1_status control(struct bo1_http_req *req, const char *action)
{
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_CONTROL, 1, &j);

    if (st != BO1_OK)
        return st;
    if (json_object_size(req->json) > 0) {
        const char *field = json_object_iter_key(json_object_iter(req->json));
        return field_error(req, j, field, "unknown field");
    }
    snprintf(j->action, sizeof(j->action), "%s", action);
    return job_post(j);
}

enum bo1_status h_sessions_delete(struct bo1_http_req *req)
{
    return control(req, "delete");
}

enum bo1_status h_sessions_start(struct bo1_http_req *req)
{
    return control(req, "start");
}

enum bo1_status h_sessions_pause(struct bo1_http_req *req)
{
    return control(req, "pause");
}

enum bo1_status h_sessions_resume(struct bo1_http_req *req)
{
    return control(req, "resume");
}

enum bo1_status h_sessions_cancel(struct bo1_http_req *req)
{
    return control(req, "cancel");
}

static enum bo1_status field_error(struct bo1_http_req *req, struct job *j, const char *field,
                                   const char *message)
{
    char detail[200];

    job_free(j);
    snprintf(detail, sizeof(detail), "invalid request: %s: %s", field, message);
    return bo1_reply_problem(req, BO1_BAD_FIELD, detail,
                             json_pack("[{s:s, s:s}]", "field", field, "message", message));
}

enum bo1_status h_sessions_answers(struct bo1_http_req *req)
{
    const char *field = NULL;
    const char *message = NULL;
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_INPUT, 1, &j);

    if (st != BO1_OK)
        return st;
    st = bo1_answers_request_validate(req->json, &j->payload, &field, &message);
    if (st == BO1_BAD_FIELD)
        return field_error(req, j, field, message);
    if (st != BO1_OK) {
        job_free(j);
        return st;
    }
    snprintf(j->action, sizeof(j->action), "answers");
    return job_post(j);
}

enum bo1_status h_sessions_interjections(struct bo1_http_req *req)
{
    const char *field = NULL;
    const char *message = NULL;
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_INPUT, 1, &j);

    if (st != BO1_OK)
        return st;
    st = bo1_interjection_request_validate(req->json, &j->payload, &field, &message);
    if (st == BO1_BAD_FIELD)
        return field_error(req, j, field, message);
    if (st != BO1_OK) {
        job_free(j);
        return st;
    }
    snprintf(j->action, sizeof(j->action), "interjection");
    return job_post(j);
}

enum bo1_status h_sessions_events_page(struct bo1_http_req *req)
{
    const char *after = bo1_req_query(req, "after");
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_EVENTS, 1, &j);

    if (st != BO1_OK)
        return st;
    if (after && !bo1_handlers_stream_id_valid(after))
        return bad_query(req, j, "after", "an event id such as 1732800000000-0, or 0");
    snprintf(j->after, sizeof(j->after), "%s", after ? after : "0");
    j->limit = bo1_handlers_parse_limit(bo1_req_query(req, "limit"), 100, 1000);
    if (!j->limit)
        return bad_query(req, j, "limit", "an integer from 1 to 1000");
    return job_post(j);
}

enum bo1_status h_sessions_report(struct bo1_http_req *req)
{
    const char *format = bo1_req_query(req, "format");
    const char *accept = bo1_req_header(req, "Accept");
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_REPORT, 1, &j);

    if (st != BO1_OK)
        return st;
    if (format && strcmp(format, "md") != 0 && strcmp(format, "json") != 0)
        return bad_query(req, j, "format", "md or json");
    /* j->start doubles as "Markdown wanted" for this job kind. */
    j->start = (format && strcmp(format, "md") == 0) ||
               (!format && accept && strstr(accept, "text/markdown") &&
                !strstr(accept, "application/json"));
    return job_post(j);
}

enum bo1_status h_sessions_costs(struct bo1_http_req *req)
{
    struct job *j;
    enum bo1_status st = job_begin(req, JOB_COSTS, 1, &j);

    if (st != BO1_OK)
        return st;
    return job_post(j);
}
