/* bo1/status.h - the one status type of Board of One.
 *
 * Every fallible function returns enum bo1_status. One X-macro table gives each
 * status its machine name (the problem+json "code"), HTTP status and a human hint.
 * Only http/reply.c turns a status into an HTTP response. */
#pragma once

/* X(name, http_status, hint) */
#define BO1_STATUS_TABLE(X)                                                                        \
    X(OK, 200, "ok")                                                                               \
    X(PENDING, 0, "reply will be sent later (connection suspended)")                               \
    X(BAD_JSON, 400, "request body is not valid JSON")                                             \
    X(BAD_FIELD, 400, "a field is missing, unknown or has the wrong type")                         \
    X(BAD_REQUEST, 400, "the request is malformed")                                                \
    X(UNAUTHORIZED, 401, "missing or invalid API key")                                             \
    X(NOT_FOUND, 404, "no such resource")                                                          \
    X(METHOD_NOT_ALLOWED, 405, "method not allowed on this resource")                              \
    X(NOT_ACCEPTABLE, 406, "no representation matches the Accept header")                          \
    X(REQUEST_TIMEOUT, 408, "the request did not arrive in full in time")                          \
    X(WRONG_STATE, 409, "the session is not in a state that allows this")                          \
    X(TOO_LARGE, 413, "request body exceeds the configured limit")                                 \
    X(URI_TOO_LONG, 414, "the request target exceeds the configured limit")                        \
    X(UNSUPPORTED_MEDIA, 415, "request body must be application/json")                             \
    X(IDEMPOTENCY_MISMATCH, 422, "idempotency key reused with a different body")                   \
    X(RATE_LIMITED, 429, "too many requests")                                                      \
    X(HEADERS_TOO_LARGE, 431, "the request headers exceed the configured limit")                   \
    X(NO_MEMORY, 500, "out of memory")                                                             \
    X(INTERNAL, 500, "internal error")                                                             \
    X(IO_ERROR, 500, "input/output error")                                                         \
    X(NOT_IMPLEMENTED, 501, "the request uses a feature the server does not implement")            \
    X(UPSTREAM_FAILED, 502, "the model provider returned an error")                                \
    X(UPSTREAM_BAD_REPLY, 502, "the model provider sent a reply that could not be read")           \
    X(UPSTREAM_RATE_LIMITED, 502, "the model provider kept rate limiting")                         \
    X(UPSTREAM_OVERLOADED, 502, "the model provider is overloaded")                                \
    X(UPSTREAM_REJECTED, 502, "the model provider refused the request")                            \
    X(SPEND_LIMIT, 502, "the model provider's spend limit is reached")                             \
    X(CIRCUIT_OPEN, 503, "the model provider is failing; calls are paused")                        \
    X(STORE_DOWN, 503, "the session store is unavailable")                                         \
    X(UNAVAILABLE, 503, "the service is not ready or is shutting down")                            \
    X(UPSTREAM_TIMEOUT, 504, "the model provider did not answer in time")                          \
    X(PARSE_FAILED, 500, "a model answer could not be parsed")                                     \
    X(BUDGET_EXHAUSTED, 500, "the session budget is spent")                                        \
    X(CANCELLED, 500, "the operation was cancelled")                                               \
    X(CONFIG_INVALID, 500, "the configuration is invalid")

enum bo1_status {
#define BO1_STATUS_ENUM(name, http, hint) BO1_##name,
    BO1_STATUS_TABLE(BO1_STATUS_ENUM)
#undef BO1_STATUS_ENUM
        BO1_STATUS_COUNT_
};

/** Machine name, e.g. "BAD_FIELD". Returns: static string; "UNKNOWN" if out of range. */
const char *bo1_status_name(enum bo1_status st);

/** One-line human hint, e.g. "request body is not valid JSON". Returns: static string. */
const char *bo1_status_hint(enum bo1_status st);

/** HTTP status the reply path uses for @st (0 for PENDING, 500 if out of range). */
unsigned bo1_status_http(enum bo1_status st);
