/* bo1/session_request.h - validation of the body of POST /api/v1/sessions.
 *
 * Also the bodies of the answers and interjections routes.
 * Pure: no I/O, so it runs on the MHD thread and is unit-tested with fixture files.
 * Every problem is reported (not just the first), each with the field's JSON path. */
#pragma once

#include <jansson.h>

#include "bo1/status.h"

struct bo1_session_defaults {
    double budget_usd;     /* used when options.budget_usd is absent */
    double max_budget_usd; /* the largest budget a request may ask for */
};

/** Returns 1 when @code names a persona a user may pick. */
typedef int bo1_persona_known_cb(void *arg, const char *code);

/**
 * Validate @body. On BO1_OK, *@out is a new object {"problem":…, "options":…} with every
 * option present (defaults filled). On BO1_BAD_FIELD, *@errors is a new array of
 * {"field", "message"}. @known may be NULL (persona codes are then only shape-checked).
 */
enum bo1_status bo1_session_request_validate(const json_t *body,
                                             const struct bo1_session_defaults *def,
                                             bo1_persona_known_cb *known, void *known_arg,
                                             json_t **out, json_t **errors);

/**
 * Validate the body of POST /api/v1/sessions/{id}/answers: {"answers"?: {question_id: text},
 * "skip"?: bool}, answers required unless skip is true. On BO1_OK *@payload is a new object
 * {"answers": object|null, "skip": bool}. On BO1_BAD_FIELD *@field and *@message name the
 * first problem (borrowed from @body or static); BO1_NO_MEMORY.
 */
enum bo1_status bo1_answers_request_validate(const json_t *body, json_t **payload,
                                             const char **field, const char **message);

/**
 * Validate the body of POST /api/v1/sessions/{id}/interjections: {"text": 1 to 2000
 * characters, not all blank}. Results as bo1_answers_request_validate(): *@payload is a new
 * object {"text": ...} on BO1_OK.
 */
enum bo1_status bo1_interjection_request_validate(const json_t *body, json_t **payload,
                                                  const char **field, const char **message);

/** Number of Unicode code points in valid UTF-8 @s. */
size_t bo1_utf8_length(const char *s);
