/* Route matching: literal segments and {param} segments, 404 versus 405 with Allow. */
#include <stdio.h>
#include <string.h>

#include "bo1/http.h"

/* Match @path against @pattern segment by segment. */
static int match_path(const char *pattern, const char *path, struct bo1_route_params *params)
{
    const char *p = pattern;
    const char *u = path;

    params->n = 0;
    while (*p && *u) {
        if (*p == '{') {
            const char *close = strchr(p, '}');
            size_t len = strcspn(u, "/");
            if (!close || len == 0 || len >= sizeof(params->values[0]) ||
                params->n >= BO1_ROUTE_MAX_PARAMS)
                return 0;
            params->names[params->n] = p + 1;
            params->name_lens[params->n] = (size_t)(close - p - 1);
            memcpy(params->values[params->n], u, len);
            params->values[params->n][len] = '\0';
            params->n++;
            p = close + 1;
            u += len;
            continue;
        }
        if (*p != *u)
            return 0;
        p++;
        u++;
    }
    return *p == '\0' && *u == '\0';
}

static void allow_add(char *allow, size_t size, const char *method)
{
    size_t len;

    if (!allow || size == 0)
        return;
    len = strlen(allow);
    snprintf(allow + len, size - len, "%s%s", len ? ", " : "", method);
}

const struct bo1_route *bo1_router_match(const struct bo1_route *routes, size_t n_routes,
                                         const char *method, const char *path,
                                         struct bo1_route_params *params, enum bo1_status *st,
                                         char *allow, size_t allow_size)
{
    struct bo1_route_params scratch;
    int path_seen = 0;
    int is_head = strcmp(method, "HEAD") == 0;

    if (allow && allow_size)
        allow[0] = '\0';
    for (size_t i = 0; i < n_routes; i++) {
        const struct bo1_route *r = &routes[i];
        if (!match_path(r->path, path, &scratch))
            continue;
        path_seen = 1;
        if (strcmp(r->method, method) == 0 || (is_head && strcmp(r->method, "GET") == 0)) {
            *params = scratch;
            *st = BO1_OK;
            return r;
        }
    }
    if (!path_seen) {
        *st = BO1_NOT_FOUND;
        return NULL;
    }
    /* Collect every method this path answers, in table order. */
    for (size_t i = 0; i < n_routes; i++) {
        if (!match_path(routes[i].path, path, &scratch))
            continue;
        allow_add(allow, allow_size, routes[i].method);
        if (strcmp(routes[i].method, "GET") == 0)
            allow_add(allow, allow_size, "HEAD");
    }
    allow_add(allow, allow_size, "OPTIONS");
    *st = BO1_METHOD_NOT_ALLOWED;
    return NULL;
}

const char *bo1_route_param(const struct bo1_route_params *params, const char *name)
{
    size_t len = strlen(name);

    for (size_t i = 0; i < params->n; i++)
        if (params->name_lens[i] == len && strncmp(params->names[i], name, len) == 0)
            return params->values[i];
    return NULL;
}

int bo1_cors_origin_allowed(const char *list, const char *origin)
{
    const char *p = list;
    size_t olen;

    if (!origin || !p)
        return 0;
    olen = strlen(origin);
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t l = len;
        while (l && *s == ' ') {
            s++;
            l--;
        }
        while (l && s[l - 1] == ' ')
            l--;
        if ((l == 1 && *s == '*') || (l == olen && olen && strncmp(s, origin, l) == 0))
            return 1;
        p += len;
        if (*p == ',')
            p++;
    }
    return 0;
}
