/* The session model: intake validation of a create request, status mapping and the
 * accessors of bo1/session.h. The state document itself is built by engine.c. */
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

static void err(json_t *errors, const char *field, const char *msg)
{
    json_array_append_new(errors, json_pack("{s:s, s:s}", "field", field, "message", msg));
}

/* Code points of a valid UTF-8 string (jansson only holds valid UTF-8). */
static size_t utf8_len(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

static int has_nul(const json_t *str)
{
    return strlen(json_string_value(str)) != json_string_length(str);
}

static void unknown_keys(const json_t *obj, const char *prefix, const char *const *allowed,
                         json_t *errors)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            if (!strcmp(allowed[i], key))
                ok = 1;
        if (!ok) {
            char f[160];
            snprintf(f, sizeof(f), "%s%s", prefix, key);
            err(errors, f, "unknown field");
        }
    }
}

static void check_constraints(const json_t *cs, json_t *errors)
{
    static const char *const allowed[] = {"type", "description", "value", NULL};

    if (!json_is_array(cs)) {
        err(errors, "problem.constraints", "must be an array");
        return;
    }
    if (json_array_size(cs) > 10)
        err(errors, "problem.constraints", "at most 10 constraints");
    for (size_t i = 0; i < json_array_size(cs); i++) {
        const json_t *c = json_array_get(cs, i);
        char f[64];
        snprintf(f, sizeof(f), "problem.constraints[%zu]", i);
        if (!json_is_object(c)) {
            err(errors, f, "must be an object {type, description, value?}");
            continue;
        }
        char pre[80];
        snprintf(pre, sizeof(pre), "%s.", f);
        unknown_keys(c, pre, allowed, errors);
        const json_t *t = json_object_get(c, "type"), *d = json_object_get(c, "description");
        /* Characters, not bytes, as the API counts them: in bytes a type of 51 "é" passed
         * the API and then failed the session at start. */
        if (!json_is_string(t) || json_string_length(t) == 0 ||
            utf8_len(json_string_value(t)) > 100 || has_nul(t))
            err(errors, f, "type must be a non-empty string of at most 100 characters");
        if (!json_is_string(d) || json_string_length(d) == 0 ||
            utf8_len(json_string_value(d)) > 2000 || has_nul(d))
            err(errors, f, "description must be a non-empty string of at most 2000 characters");
    }
}

static void check_options(const json_t *o, json_t *errors)
{
    static const char *const allowed[] = {"personas",     "max_rounds", "budget_usd", "clarify",
                                          "one_way_door", "start",      NULL};
    const json_t *v;

    if (!json_is_object(o)) {
        err(errors, "options", "must be an object");
        return;
    }
    unknown_keys(o, "options.", allowed, errors);
    v = json_object_get(o, "personas");
    if (v) {
        if (!json_is_array(v) || json_array_size(v) == 0 || json_array_size(v) > 10)
            err(errors, "options.personas", "must be an array of 1 to 10 persona codes");
        for (size_t i = 0; json_is_array(v) && i < json_array_size(v); i++)
            if (!json_is_string(json_array_get(v, i)) ||
                json_string_length(json_array_get(v, i)) > 64)
                err(errors, "options.personas", "persona codes are strings");
    }
    v = json_object_get(o, "max_rounds");
    if (v && (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10))
        err(errors, "options.max_rounds", "must be an integer from 1 to 10");
    v = json_object_get(o, "budget_usd");
    if (v && (!json_is_number(v) || json_number_value(v) <= 0 || json_number_value(v) > 1000))
        err(errors, "options.budget_usd", "must be a number above 0 and at most 1000");
    v = json_object_get(o, "clarify");
    if (v && !json_is_boolean(v))
        err(errors, "options.clarify", "must be a boolean");
    v = json_object_get(o, "one_way_door");
    if (v && !json_is_boolean(v))
        err(errors, "options.one_way_door", "must be a boolean");
    v = json_object_get(o, "start");
    if (v && !json_is_boolean(v))
        err(errors, "options.start", "must be a boolean");
}

enum bo1_status session_validate(const json_t *request, json_t *errors, json_t **problem,
                                 json_t **options)
{
    static const char *const top[] = {"problem", "options", NULL};
    static const char *const prob[] = {"statement", "context", "constraints", NULL};
    const json_t *p, *stmt, *ctx, *cs, *o;

    *problem = NULL;
    *options = NULL;
    if (!json_is_object(request)) {
        err(errors, "", "the body must be a JSON object");
        return BO1_BAD_FIELD;
    }
    unknown_keys(request, "", top, errors);
    p = json_object_get(request, "problem");
    if (!json_is_object(p)) {
        err(errors, "problem", "required object {statement, context?, constraints?}");
        return BO1_BAD_FIELD;
    }
    unknown_keys(p, "problem.", prob, errors);
    stmt = json_object_get(p, "statement");
    if (!json_is_string(stmt))
        err(errors, "problem.statement", "required string");
    else if (has_nul(stmt))
        err(errors, "problem.statement", "must not contain NUL");
    else if (utf8_len(json_string_value(stmt)) < 10 || utf8_len(json_string_value(stmt)) > 10000)
        err(errors, "problem.statement", "must be 10 to 10,000 characters");
    ctx = json_object_get(p, "context");
    if (ctx && !json_is_null(ctx)) {
        char *dump = json_dumps(ctx, JSON_COMPACT);
        if (!json_is_object(ctx))
            err(errors, "problem.context", "must be an object");
        else if (!dump || strlen(dump) > 50 * 1024)
            err(errors, "problem.context", "must be at most 50 KB when serialised");
        free(dump);
    }
    cs = json_object_get(p, "constraints");
    if (cs && !json_is_null(cs))
        check_constraints(cs, errors);
    o = json_object_get(request, "options");
    if (o && !json_is_null(o))
        check_options(o, errors);
    if (json_array_size(errors) > 0)
        return BO1_BAD_FIELD;
    *problem = json_object();
    if (*problem) {
        json_object_set_new(*problem, "statement", json_string(json_string_value(stmt)));
        json_object_set_new(*problem, "context",
                            ctx && json_is_object(ctx) ? json_deep_copy(ctx) : json_object());
        json_object_set_new(*problem, "constraints",
                            cs && json_is_array(cs) ? json_deep_copy(cs) : json_array());
    }
    *options = o && json_is_object(o) ? json_deep_copy(o) : json_object();
    if (!*problem || !*options)
        return BO1_NO_MEMORY;
    return BO1_OK;
}

enum bo1_session_status session_status_of(const json_t *st)
{
    switch (bo1_state_parse(jstr(st, "state", ""))) {
    case BO1_STATE_CREATED:
        return BO1_SESSION_CREATED;
    case BO1_STATE_PAUSED:
        return BO1_SESSION_PAUSED;
    case BO1_STATE_AWAITING_INPUT:
        return BO1_SESSION_AWAITING_INPUT;
    case BO1_STATE_COMPLETED:
        return BO1_SESSION_COMPLETED;
    case BO1_STATE_FAILED:
        return BO1_SESSION_FAILED;
    case BO1_STATE_CANCELLED:
        return BO1_SESSION_CANCELLED;
    default:
        return BO1_SESSION_RUNNING;
    }
}

const char *bo1_session_status_name(enum bo1_session_status st)
{
    static const char *const names[] = {"created",   "running", "paused",   "awaiting_input",
                                        "completed", "failed",  "cancelled"};
    return (unsigned)st < sizeof(names) / sizeof(names[0]) ? names[st] : "unknown";
}

const char *bo1_session_id(const struct bo1_session *s)
{
    return jstr(s->st, "id", "");
}

enum bo1_session_status bo1_session_status(const struct bo1_session *s)
{
    return session_status_of(s->st);
}

int bo1_session_is_terminal(const struct bo1_session *s)
{
    enum bo1_session_status st = bo1_session_status(s);
    return st == BO1_SESSION_COMPLETED || st == BO1_SESSION_FAILED || st == BO1_SESSION_CANCELLED;
}

const json_t *bo1_session_state(const struct bo1_session *s)
{
    return s->st;
}

json_t *bo1_session_to_json(const struct bo1_session *s)
{
    return json_deep_copy(s->st);
}
