/* The price table: loaded and validated once, immutable afterwards. Validation is strict
 * (every field present, a finite non-negative number, no unknown field) so that a typo in
 * the file stops start-up instead of silently pricing calls at zero. */
#include "bo1/pricing.h"

#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct model_price {
    char *model;
    struct bo1_price price;
};

struct bo1_pricing {
    struct model_price *models;
    size_t n;
};

static const char *const fields[] = {"input", "output", "cache_write", "cache_read"};

static void set_why(char **why, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void set_why(char **why, const char *fmt, ...)
{
    va_list ap;
    char tmp[1024];

    if (!why)
        return;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    free(*why);
    *why = strdup(tmp);
}

void bo1_pricing_free(struct bo1_pricing *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        free(p->models[i].model);
    free(p->models);
    free(p);
}

static enum bo1_status parse_model(const char *origin, const char *name, json_t *entry,
                                   struct model_price *mp, char **why)
{
    double *slots[4] = {&mp->price.input, &mp->price.output, &mp->price.cache_write,
                        &mp->price.cache_read};
    const char *key;
    json_t *v;

    if (!json_is_object(entry)) {
        set_why(why, "%s: model \"%s\": entry must be an object of prices", origin, name);
        return BO1_CONFIG_INVALID;
    }
    json_object_foreach(entry, key, v)
    {
        int known = 0;

        for (size_t i = 0; i < 4; i++)
            known |= strcmp(key, fields[i]) == 0;
        if (!known) {
            set_why(why,
                    "%s: model \"%s\": unknown field \"%s\" (expected input, output, "
                    "cache_write, cache_read)",
                    origin, name, key);
            return BO1_CONFIG_INVALID;
        }
    }
    for (size_t i = 0; i < 4; i++) {
        v = json_object_get(entry, fields[i]);
        if (!v) {
            set_why(why, "%s: model \"%s\": field \"%s\" is missing", origin, name, fields[i]);
            return BO1_CONFIG_INVALID;
        }
        if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0) {
            set_why(why,
                    "%s: model \"%s\": field \"%s\" must be a non-negative number (USD per "
                    "million tokens)",
                    origin, name, fields[i]);
            return BO1_CONFIG_INVALID;
        }
        *slots[i] = json_number_value(v);
    }
    mp->model = strdup(name);
    return mp->model ? BO1_OK : BO1_NO_MEMORY;
}

enum bo1_status bo1_pricing_parse(const char *text, size_t len, const char *origin,
                                  struct bo1_pricing **out, char **why)
{
    enum bo1_status st = BO1_CONFIG_INVALID;
    struct bo1_pricing *p = NULL;
    json_t *root = NULL;
    json_t *models;
    json_error_t jerr;
    const char *name;
    json_t *entry;

    root = json_loadb(text, len, 0, &jerr);
    if (!root) {
        set_why(why, "%s: not valid JSON: %s (line %d, column %d)", origin, jerr.text, jerr.line,
                jerr.column);
        goto out;
    }
    models = json_object_get(root, "models");
    if (!json_is_object(models) || json_object_size(models) == 0) {
        set_why(why, "%s: field \"models\" must be a non-empty object of model prices", origin);
        goto out;
    }
    st = BO1_NO_MEMORY;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    p->models = calloc(json_object_size(models), sizeof(*p->models));
    if (!p->models)
        goto out;
    json_object_foreach(models, name, entry)
    {
        st = parse_model(origin, name, entry, &p->models[p->n], why);
        if (st != BO1_OK)
            goto out;
        p->n++;
    }
    *out = p;
    p = NULL;
    st = BO1_OK;
out:
    bo1_pricing_free(p);
    json_decref(root);
    return st;
}

enum bo1_status bo1_pricing_load(const char *path, struct bo1_pricing **out, char **why)
{
    enum bo1_status st;
    FILE *f = fopen(path, "rb");
    char *text = NULL;
    size_t len = 0;
    size_t cap = 0;

    if (!f) {
        set_why(why, "%s: cannot open the price table: %s", path, strerror(errno));
        return BO1_CONFIG_INVALID;
    }
    for (;;) {
        if (len + 4096 > cap) {
            char *grown;

            cap = cap ? cap * 2 : 8192;
            if (cap > (16u << 20)) {
                fclose(f);
                free(text);
                set_why(why, "%s: the price table is larger than 16 MiB", path);
                return BO1_CONFIG_INVALID;
            }
            grown = realloc(text, cap);
            if (!grown) {
                fclose(f);
                free(text);
                return BO1_NO_MEMORY;
            }
            text = grown;
        }
        size_t got = fread(text + len, 1, cap - len, f);
        len += got;
        if (got == 0)
            break;
    }
    if (ferror(f)) {
        fclose(f);
        free(text);
        set_why(why, "%s: cannot read the price table", path);
        return BO1_CONFIG_INVALID;
    }
    fclose(f);
    st = bo1_pricing_parse(text, len, path, out, why);
    free(text);
    return st;
}

const struct bo1_price *bo1_pricing_get(const struct bo1_pricing *p, const char *model)
{
    if (!p || !model)
        return NULL;
    for (size_t i = 0; i < p->n; i++)
        if (strcmp(p->models[i].model, model) == 0)
            return &p->models[i].price;
    return NULL;
}

size_t bo1_pricing_count(const struct bo1_pricing *p)
{
    return p ? p->n : 0;
}

int bo1_pricing_cost(const struct bo1_pricing *p, const char *model, long input, long output,
                     long cache_write, long cache_read, double *usd)
{
    const struct bo1_price *pr = bo1_pricing_get(p, model);

    *usd = 0;
    if (!pr)
        return 0;
    *usd = ((double)input * pr->input + (double)output * pr->output +
            (double)cache_write * pr->cache_write + (double)cache_read * pr->cache_read) /
           1e6;
    return 1;
}
