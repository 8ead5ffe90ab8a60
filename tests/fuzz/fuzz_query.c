/* fuzz_query.c - libFuzzer target over request-line, header and query-string parsing.
 *
 * The input is newline-separated fields: method, path, Last-Event-ID (also ?after=), ?limit=,
 * ?cursor=, ?status=, CORS origin list, Origin header. Each goes through what the server does
 * with it: the real route table (bo1_router_match), the stream-id, limit, cursor and status
 * checks of src/handlers/query.c, and the CORS origin match. Beyond "no crash", it checks the
 * contract: a value that passes a check fits the buffer the handler copies it into and means
 * what Redis will read from it. tests/unit/test_fuzz_corpus.c replays the corpus.
 *
 * fuzz-core: yes
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/handlers/handlers_internal.h"
#include "bo1/handlers.h"
#include "bo1/http.h"
#include "bo1/sessions.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_FIELDS 8

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_query: contract broken: %s\n", what);
        abort();
    }
}

/* A decimal that strtoull() reads whole, without overflow. */
static int fuzz_u64(const char *s, size_t n)
{
    char tmp[32];
    char *end = NULL;

    if (n == 0 || n >= sizeof(tmp))
        return 0;
    memcpy(tmp, s, n);
    tmp[n] = '\0';
    errno = 0;
    strtoull(tmp, &end, 10);
    return errno == 0 && *end == '\0';
}

static void fuzz_route(const char *method, const char *path)
{
    size_t n_routes = 0;
    const struct bo1_route *routes = bo1_handlers_routes(&n_routes);
    struct bo1_route_params params;
    enum bo1_status st = BO1_INTERNAL;
    char allow[128];
    const struct bo1_route *r;

    memset(&params, 0, sizeof(params));
    r = bo1_router_match(routes, n_routes, method, path, &params, &st, allow, sizeof(allow));
    if (r) {
        fuzz_check(st == BO1_OK, "route found but status not OK");
        fuzz_check(strcmp(r->method, method) == 0 ||
                       (strcmp(method, "HEAD") == 0 && strcmp(r->method, "GET") == 0),
                   "route of another method");
        fuzz_check(params.n <= BO1_ROUTE_MAX_PARAMS, "too many parameters");
        for (size_t i = 0; i < params.n; i++) {
            size_t len = strnlen(params.values[i], sizeof(params.values[i]));
            fuzz_check(len > 0 && len < sizeof(params.values[i]), "parameter empty or unbounded");
            fuzz_check(!strchr(params.values[i], '/'), "parameter spans segments");
            fuzz_check(strstr(path, params.values[i]) != NULL, "parameter not from the path");
        }
        if (strstr(r->path, "{id}")) {
            const char *id = bo1_route_param(&params, "id");
            fuzz_check(id != NULL, "{id} route without an id");
            (void)bo1_sessions_id_valid(id);
        }
    } else {
        fuzz_check(st == BO1_NOT_FOUND || st == BO1_METHOD_NOT_ALLOWED, "unexpected status");
        if (st == BO1_METHOD_NOT_ALLOWED)
            fuzz_check(strstr(allow, "OPTIONS") != NULL, "405 without Allow");
    }
    /* OPTIONS asks for the allowed methods of any path. */
    r = bo1_router_match(routes, n_routes, "__none__", path, &params, &st, allow, sizeof(allow));
    fuzz_check(r == NULL, "a route answers the method __none__");
}

static void fuzz_stream_id(const char *s)
{
    const char *dash;

    if (!bo1_handlers_stream_id_valid(s))
        return;
    /* The handlers copy it into char after[48]; Redis reads "ms-seq" as two u64s. */
    fuzz_check(strlen(s) < 48, "stream id does not fit after[48]");
    if (strcmp(s, "0") == 0)
        return;
    dash = strchr(s, '-');
    fuzz_check(dash != NULL, "stream id without '-'");
    fuzz_check(fuzz_u64(s, (size_t)(dash - s)) && fuzz_u64(dash + 1, strlen(dash + 1)),
               "stream id part is not a 64-bit number (Redis rejects it)");
}

static void fuzz_limit(const char *s)
{
    unsigned v = bo1_handlers_parse_limit(s, 20, 100);

    fuzz_check(v <= 100, "limit above max");
    if (v)
        fuzz_check(strspn(s, "0123456789") == strlen(s), "limit accepted with non-digits");
    fuzz_check(bo1_handlers_parse_limit(NULL, 20, 100) == 20, "absent limit is not the default");
}

static void fuzz_cursor(const char *s)
{
    const char *dot;

    if (!bo1_handlers_cursor_valid(s))
        return;
    /* The list handler copies it into char cursor[160]; the store splits it at the dot. */
    fuzz_check(strlen(s) < 160, "cursor does not fit cursor[160]");
    dot = strchr(s, '.');
    fuzz_check(dot && bo1_sessions_id_valid(dot + 1), "cursor without a session id");
}

static void fuzz_cors(const char *list, const char *origin)
{
    if (bo1_cors_origin_allowed(list, origin))
        fuzz_check(strchr(list, '*') || (origin[0] && strstr(list, origin)),
                   "origin allowed that the list does not name");
    fuzz_check(!bo1_cors_origin_allowed(list, NULL), "NULL origin allowed");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *field[FUZZ_FIELDS];
    char *p;
    size_t n = 0;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    p = copy;
    /* Missing fields are empty strings; a NUL ends the input as it ends a C string. */
    for (n = 0; n < FUZZ_FIELDS; n++) {
        char *nl = strchr(p, '\n');
        field[n] = p;
        if (nl) {
            *nl = '\0';
            p = nl + 1;
        } else {
            p += strlen(p);
        }
    }
    fuzz_route(field[0], field[1]);
    fuzz_stream_id(field[2]);
    fuzz_limit(field[3]);
    fuzz_cursor(field[4]);
    (void)bo1_handlers_status_known(field[5]);
    fuzz_cors(field[6], field[7]);
    free(copy);
    return 0;
}
