/* fuzz_request.c - libFuzzer target over request-body validation.
 *
 * The first input byte picks the body (0: POST /api/v1/sessions, 1: .../answers, 2:
 * .../interjections); the rest is the body, parsed as the server parses it (json_loadb with
 * JSON_REJECT_DUPLICATES). Beyond "no crash", it checks the contract: an accepted body yields
 * a complete document and carries no unknown member; a rejected one names every problem
 * with a string field and message; and the engine accepts what the API accepted (the runner
 * hands it the document with null options and "start" removed; a refusal there fails the
 * session after the client got its 201). tests/unit/test_fuzz_corpus.c replays the corpus.
 *
 * fuzz-core: yes
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/engine/engine_internal.h"
#include "bo1/session_request.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_request: contract broken: %s\n", what);
        abort();
    }
}

static int fuzz_only_members(const json_t *o, const char *const allowed[])
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)o, key, v)
    {
        int ok = 0;
        for (size_t i = 0; allowed[i]; i++)
            ok |= strcmp(key, allowed[i]) == 0;
        if (!ok)
            return 0;
    }
    return 1;
}

/* Persona codes the fake catalog knows. */
static int fuzz_known(void *arg, const char *code)
{
    (void)arg;
    return strcmp(code, "growth_hacker") == 0 || strcmp(code, "cfo") == 0 ||
           strcmp(code, "risk_officer") == 0;
}

/* As src/app/runner.c starts a session: null options and "start" dropped, then the
 * engine's own validation. */
static void fuzz_engine_accepts(const json_t *doc)
{
    json_t *request = json_pack("{s:O, s:O}", "problem", json_object_get(doc, "problem"), "options",
                                json_object_get(doc, "options"));
    json_t *errors = json_array();
    json_t *problem = NULL;
    json_t *options = NULL;
    json_t *opts;
    const char *key;
    json_t *v;
    void *tmp;

    fuzz_check(request && errors, "out of memory");
    opts = json_object_get(request, "options");
    json_object_foreach_safe(opts, tmp, key, v)
    {
        if (json_is_null(v) || strcmp(key, "start") == 0)
            json_object_del(opts, key);
    }
    if (session_validate(request, errors, &problem, &options) != BO1_OK) {
        char *e = json_dumps(errors, JSON_COMPACT);
        fprintf(stderr, "engine says: %s\n", e ? e : "?");
        free(e);
        fuzz_check(0, "the engine refuses a document the API accepted");
    }
    json_decref(problem);
    json_decref(options);
    json_decref(errors);
    json_decref(request);
}

static void fuzz_create(const json_t *body)
{
    static const char *const top[] = {"problem", "options", NULL};
    static const char *const problem[] = {"statement", "context", "constraints", NULL};
    static const char *const options[] = {"personas", "max_rounds",   "budget_usd", "clarify",
                                          "start",    "one_way_door", NULL};
    const struct bo1_session_defaults def = {.budget_usd = 1.5, .max_budget_usd = 100.0};
    json_t *out = (json_t *)1;
    json_t *errors = (json_t *)1;
    enum bo1_status st = bo1_session_request_validate(body, &def, fuzz_known, NULL, &out, &errors);

    if (st == BO1_OK) {
        const json_t *o = json_object_get(out, "options");
        const json_t *p = json_object_get(out, "problem");
        const json_t *v;
        char *dump;

        fuzz_check(errors == NULL, "errors set on success");
        fuzz_check(fuzz_only_members(body, top), "accepted an unknown top-level member");
        fuzz_check(json_is_object(p) && fuzz_only_members(p, problem),
                   "accepted an unknown problem member");
        fuzz_check(json_is_string(json_object_get(p, "statement")), "no statement");
        fuzz_check(json_is_object(o) &&
                       fuzz_only_members(json_object_get(body, "options"), options),
                   "accepted an unknown option");
        v = json_object_get(o, "max_rounds");
        fuzz_check(json_is_null(v) || (json_is_integer(v) && json_integer_value(v) >= 1 &&
                                       json_integer_value(v) <= 10),
                   "max_rounds out of range");
        v = json_object_get(o, "budget_usd");
        fuzz_check(json_is_number(v) && isfinite(json_number_value(v)) &&
                       json_number_value(v) >= 0.01 && json_number_value(v) <= 100.0,
                   "budget_usd out of range");
        v = json_object_get(o, "personas");
        fuzz_check(json_is_null(v) ||
                       (json_is_array(v) && json_array_size(v) >= 1 && json_array_size(v) <= 5),
                   "personas not 1 to 5");
        fuzz_check(json_is_boolean(json_object_get(o, "clarify")) &&
                       json_is_boolean(json_object_get(o, "start")),
                   "clarify/start not booleans");
        dump = json_dumps(out, JSON_COMPACT);
        fuzz_check(dump != NULL, "document cannot be encoded");
        free(dump);
        fuzz_engine_accepts(out);
    } else {
        size_t i;
        json_t *e;

        fuzz_check(st == BO1_BAD_FIELD || st == BO1_NO_MEMORY, "unexpected status");
        fuzz_check(out == NULL, "document set on failure");
        if (st == BO1_BAD_FIELD) {
            fuzz_check(json_is_array(errors) && json_array_size(errors) > 0,
                       "rejected without a reason");
            json_array_foreach(errors, i, e)
            {
                fuzz_check(json_is_string(json_object_get(e, "field")) &&
                               json_is_string(json_object_get(e, "message")),
                           "an error lacks field or message");
            }
        }
    }
    if (out != (json_t *)1)
        json_decref(out);
    if (errors != (json_t *)1)
        json_decref(errors);
}

static void fuzz_input(const json_t *body, int answers)
{
    json_t *payload = (json_t *)1;
    const char *field = NULL;
    const char *message = NULL;
    enum bo1_status st;

    if (answers)
        st = bo1_answers_request_validate(body, &payload, &field, &message);
    else
        st = bo1_interjection_request_validate(body, &payload, &field, &message);
    if (st == BO1_OK) {
        static const char *const a[] = {"answers", "skip", NULL};
        static const char *const t[] = {"text", NULL};

        fuzz_check(json_is_object(payload), "no payload on success");
        fuzz_check(fuzz_only_members(body, answers ? a : t), "accepted an unknown member");
        if (answers)
            fuzz_check(json_is_object(json_object_get(payload, "answers")) ||
                           json_is_true(json_object_get(payload, "skip")),
                       "neither answers nor skip");
        else
            fuzz_check(json_string_length(json_object_get(payload, "text")) > 0, "empty text");
        json_decref(payload);
    } else {
        fuzz_check(st == BO1_BAD_FIELD || st == BO1_NO_MEMORY, "unexpected status");
        fuzz_check(payload == NULL, "payload set on failure");
        if (st == BO1_BAD_FIELD)
            fuzz_check(field && message && message[0], "rejected without a reason");
    }
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    json_error_t err;
    json_t *body;

    if (size == 0)
        return 0;
    body = json_loadb((const char *)data + 1, size - 1, JSON_REJECT_DUPLICATES, &err);
    if (!body)
        return 0; /* the server answers 400 before any validation */
    switch (data[0] % 3) {
    case 0:
        fuzz_create(body);
        break;
    default:
        fuzz_input(body, data[0] % 3 == 1);
        break;
    }
    json_decref(body);
    return 0;
}
