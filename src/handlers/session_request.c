/* Validation of a create request: types, ranges, sizes and unknown fields, all reported. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/session_request.h"

#define STATEMENT_MIN    10
#define STATEMENT_MAX    10000
#define CONTEXT_MAX      (50 * 1024)
#define CONSTRAINTS_MAX  10
#define PERSONAS_MAX     5
#define ANSWERS_MAX      10
#define ANSWER_MAX       5000
#define INTERJECTION_MAX 2000

size_t bo1_utf8_length(const char *s)
{
    size_t n = 0;

    for (; *s; s++)
        if (((unsigned char)*s & 0xC0) != 0x80)
            n++;
    return n;
}

/* Code points of @s without its leading and trailing blanks. */
static size_t non_blank_length(const char *s)
{
    size_t lead = strspn(s, " \t\r\n");
    size_t end = strlen(s);

    while (end > lead && strchr(" \t\r\n", s[end - 1]))
        end--;
    size_t n = 0;
    for (size_t i = lead; i < end; i++)
        n += ((unsigned char)s[i] & 0xC0) != 0x80;
    return n;
}

static void add_error(json_t *errors, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* The length of the longest prefix of @s of at most @max bytes that does not cut a UTF-8
 * sequence in two. */
static int utf8_prefix(const char *s, size_t max)
{
    size_t n = strnlen(s, max);

    if (s[n] != '\0')
        while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
            n--;
    return (int)n;
}

static void add_error(json_t *errors, const char *field, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    json_t *e;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    e = json_pack("{s:s, s:s}", "field", field, "message", msg);
    /* Never lose a problem: a request with no recorded error would pass validation. */
    if (!e)
        e = json_pack("{s:s, s:s}", "field", "", "message", "invalid request");
    json_array_append_new(errors, e);
}

/* Reject members of @obj not in the NULL-terminated @allowed list. */
static void reject_unknown(json_t *errors, const json_t *obj, const char *prefix,
                           const char *const allowed[])
{
    const char *key;
    json_t *v;
    char field[160];

    json_object_foreach((json_t *)obj, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok) {
            /* Cut long names at a character boundary, or the field is not valid UTF-8. */
            snprintf(field, sizeof(field), "%s%.*s", prefix, utf8_prefix(key, 100), key);
            add_error(errors, field, "unknown field");
        }
    }
}

static int is_text(const json_t *v, size_t min, size_t max)
{
    size_t n;

    if (!json_is_string(v))
        return 0;
    n = bo1_utf8_length(json_string_value(v));
    return n >= min && n <= max;
}

static void check_constraints(json_t *errors, const json_t *c)
{
    static const char *const fields[] = {"type", "description", "value", NULL};
    size_t i;
    json_t *item;
    char field[64];

    if (!json_is_array(c)) {
        add_error(errors, "problem.constraints", "must be an array");
        return;
    }
    if (json_array_size(c) > CONSTRAINTS_MAX)
        add_error(errors, "problem.constraints", "at most %d constraints", CONSTRAINTS_MAX);
    json_array_foreach(c, i, item)
    {
        json_t *value;
        if (i >= CONSTRAINTS_MAX)
            break;
        snprintf(field, sizeof(field), "problem.constraints[%zu]", i);
        if (!json_is_object(item)) {
            add_error(errors, field, "must be an object {type, description, value?}");
            continue;
        }
        snprintf(field, sizeof(field), "problem.constraints[%zu].", i);
        reject_unknown(errors, item, field, fields);
        snprintf(field, sizeof(field), "problem.constraints[%zu].type", i);
        if (!is_text(json_object_get(item, "type"), 1, 64))
            add_error(errors, field, "required string of 1 to 64 characters");
        snprintf(field, sizeof(field), "problem.constraints[%zu].description", i);
        if (!is_text(json_object_get(item, "description"), 1, 2000))
            add_error(errors, field, "required string of 1 to 2000 characters");
        value = json_object_get(item, "value");
        snprintf(field, sizeof(field), "problem.constraints[%zu].value", i);
        if (value && !(json_is_string(value) || json_is_number(value) || json_is_boolean(value)))
            add_error(errors, field, "must be a string, number or boolean");
        else if (json_is_string(value) && bo1_utf8_length(json_string_value(value)) > 500)
            add_error(errors, field, "at most 500 characters");
    }
}

static void check_problem(json_t *errors, const json_t *p)
{
    static const char *const fields[] = {"statement", "context", "constraints", NULL};
    const json_t *statement;
    const json_t *context;
    const json_t *constraints;

    if (!p) {
        add_error(errors, "problem", "required object {statement, context?, constraints?}");
        return;
    }
    if (!json_is_object(p)) {
        add_error(errors, "problem", "must be an object");
        return;
    }
    reject_unknown(errors, p, "problem.", fields);
    statement = json_object_get(p, "statement");
    if (!statement)
        add_error(errors, "problem.statement", "required");
    else if (!json_is_string(statement))
        add_error(errors, "problem.statement", "must be a string");
    else {
        const char *s = json_string_value(statement);
        size_t n = bo1_utf8_length(s);
        if (n < STATEMENT_MIN || n > STATEMENT_MAX || non_blank_length(s) < STATEMENT_MIN)
            add_error(errors, "problem.statement", "must be %d to %d characters (got %zu)",
                      STATEMENT_MIN, STATEMENT_MAX, n);
    }
    context = json_object_get(p, "context");
    if (context) {
        if (!json_is_object(context))
            add_error(errors, "problem.context", "must be an object");
        else {
            char *text = json_dumps(context, JSON_COMPACT);
            if (!text || strlen(text) > CONTEXT_MAX)
                add_error(errors, "problem.context", "at most %d bytes when serialised",
                          CONTEXT_MAX);
            free(text);
        }
    }
    constraints = json_object_get(p, "constraints");
    if (constraints)
        check_constraints(errors, constraints);
}

static int code_shape_ok(const char *s)
{
    size_t n = strlen(s);

    if (n == 0 || n > 64)
        return 0;
    for (; *s; s++)
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    return 1;
}

static void check_personas(json_t *errors, const json_t *list, bo1_persona_known_cb *known,
                           void *known_arg)
{
    size_t i;
    json_t *item;
    char field[64];

    if (!json_is_array(list) || json_array_size(list) == 0 ||
        json_array_size(list) > PERSONAS_MAX) {
        add_error(errors, "options.personas", "must be an array of 1 to %d persona codes",
                  PERSONAS_MAX);
        return;
    }
    json_array_foreach(list, i, item)
    {
        snprintf(field, sizeof(field), "options.personas[%zu]", i);
        if (!json_is_string(item) || !code_shape_ok(json_string_value(item))) {
            add_error(errors, field, "must be a persona code (lower-case letters, digits, _)");
            continue;
        }
        for (size_t j = 0; j < i; j++)
            if (json_equal(item, json_array_get(list, j)))
                add_error(errors, field, "duplicate persona code");
        if (known && !known(known_arg, json_string_value(item)))
            add_error(errors, field, "unknown persona code '%s' (see GET /api/v1/personas)",
                      json_string_value(item));
    }
}

static json_t *check_options(json_t *errors, const json_t *o,
                             const struct bo1_session_defaults *def, bo1_persona_known_cb *known,
                             void *known_arg)
{
    static const char *const fields[] = {"personas", "max_rounds",   "budget_usd", "clarify",
                                         "start",    "one_way_door", NULL};
    json_t *out = json_pack("{s:n, s:n, s:f, s:b, s:b}", "personas", "max_rounds", "budget_usd",
                            def->budget_usd, "clarify", 1, "start", 1);
    const json_t *v;

    if (!o)
        return out;
    if (!json_is_object(o)) {
        add_error(errors, "options", "must be an object");
        return out;
    }
    reject_unknown(errors, o, "options.", fields);
    v = json_object_get(o, "personas");
    if (v && !json_is_null(v)) {
        check_personas(errors, v, known, known_arg);
        json_object_set(out, "personas", (json_t *)v);
    }
    v = json_object_get(o, "max_rounds");
    if (v && !json_is_null(v)) {
        if (!json_is_integer(v) || json_integer_value(v) < 1 || json_integer_value(v) > 10)
            add_error(errors, "options.max_rounds", "must be an integer from 1 to 10");
        else
            json_object_set(out, "max_rounds", (json_t *)v);
    }
    v = json_object_get(o, "budget_usd");
    if (v && !json_is_null(v)) {
        double b = json_number_value(v);
        if (!json_is_number(v) || !isfinite(b) || b < 0.01 || b > def->max_budget_usd)
            add_error(errors, "options.budget_usd", "must be a number from 0.01 to %g",
                      def->max_budget_usd);
        else
            json_object_set_new(out, "budget_usd", json_real(b));
    }
    v = json_object_get(o, "clarify");
    if (v) {
        if (!json_is_boolean(v))
            add_error(errors, "options.clarify", "must be a boolean");
        else
            json_object_set(out, "clarify", (json_t *)v);
    }
    v = json_object_get(o, "one_way_door");
    if (v) {
        if (!json_is_boolean(v))
            add_error(errors, "options.one_way_door", "must be a boolean");
        else
            json_object_set(out, "one_way_door", (json_t *)v);
    }
    v = json_object_get(o, "start");
    if (v) {
        if (!json_is_boolean(v))
            add_error(errors, "options.start", "must be a boolean");
        else
            json_object_set(out, "start", (json_t *)v);
    }
    return out;
}

enum bo1_status bo1_session_request_validate(const json_t *body,
                                             const struct bo1_session_defaults *def,
                                             bo1_persona_known_cb *known, void *known_arg,
                                             json_t **out, json_t **errors)
{
    static const char *const fields[] = {"problem", "options", NULL};
    json_t *errs = json_array();
    json_t *options;

    *out = NULL;
    *errors = NULL;
    if (!errs)
        return BO1_NO_MEMORY;
    if (!json_is_object(body)) {
        add_error(errs, "", "the body must be a JSON object");
        *errors = errs;
        return BO1_BAD_FIELD;
    }
    reject_unknown(errs, body, "", fields);
    check_problem(errs, json_object_get(body, "problem"));
    options = check_options(errs, json_object_get(body, "options"), def, known, known_arg);
    if (json_array_size(errs) > 0) {
        json_decref(options);
        *errors = errs;
        return BO1_BAD_FIELD;
    }
    json_decref(errs);
    *out = json_pack("{s:O, s:o}", "problem", json_object_get(body, "problem"), "options", options);
    return *out ? BO1_OK : BO1_NO_MEMORY;
}

/* The first member of @o not in the NULL-terminated @allowed list, or NULL. */
static const char *unknown_member(const json_t *o, const char *const allowed[])
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok)
            return key;
    }
    return NULL;
}

#define BAD(f, m)                                                                                  \
    do {                                                                                           \
        *field = (f);                                                                              \
        *message = (m);                                                                            \
        return BO1_BAD_FIELD;                                                                      \
    } while (0)

enum bo1_status bo1_answers_request_validate(const json_t *body, json_t **payload,
                                             const char **field, const char **message)
{
    static const char *const allowed[] = {"answers", "skip", NULL};
    const json_t *answers = json_object_get(body, "answers");
    const json_t *skip = json_object_get(body, "skip");
    const char *unknown;
    const char *key;
    json_t *v;

    *payload = NULL;
    if (!json_is_object(body))
        BAD("", "the body must be a JSON object");
    unknown = unknown_member(body, allowed);
    if (unknown)
        BAD(unknown, "unknown field");
    if (skip && !json_is_boolean(skip))
        BAD("skip", "must be a boolean");
    if (!answers && !json_is_true(skip))
        BAD("answers", "required unless skip is true");
    if (answers) {
        if (!json_is_object(answers) || json_object_size(answers) > ANSWERS_MAX)
            BAD("answers", "must be an object of at most 10 question_id: text pairs");
        json_object_foreach((json_t *)answers, key, v)
        {
            if (strlen(key) > 64)
                BAD("answers", "question ids are at most 64 characters");
            if (!json_is_string(v) || bo1_utf8_length(json_string_value(v)) > ANSWER_MAX)
                BAD("answers", "each answer must be a string of at most 5000 characters");
        }
    }
    *payload = json_pack("{s:O?, s:b}", "answers", answers, "skip", json_is_true(skip));
    return *payload ? BO1_OK : BO1_NO_MEMORY;
}

enum bo1_status bo1_interjection_request_validate(const json_t *body, json_t **payload,
                                                  const char **field, const char **message)
{
    static const char *const allowed[] = {"text", NULL};
    const json_t *text = json_object_get(body, "text");
    const char *unknown;
    const char *s;
    size_t n;

    *payload = NULL;
    if (!json_is_object(body))
        BAD("", "the body must be a JSON object");
    unknown = unknown_member(body, allowed);
    if (unknown)
        BAD(unknown, "unknown field");
    if (!json_is_string(text))
        BAD("text", "required string of 1 to 2000 characters");
    s = json_string_value(text);
    n = bo1_utf8_length(s);
    if (n < 1 || n > INTERJECTION_MAX || strspn(s, " \t\r\n") == strlen(s))
        BAD("text", "required string of 1 to 2000 characters");
    *payload = json_pack("{s:O}", "text", text);
    return *payload ? BO1_OK : BO1_NO_MEMORY;
}
