/* persona/catalog.c - load, validate and look up the persona catalog.
 *
 * The catalog copies every string out of the parsed JSON, so after load it holds no jansson
 * object and its memory is never written again: any thread may read it. */
#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/buf.h"
#include "bo1/persona.h"

struct bo1_persona_catalog {
    struct bo1_persona *items;
    size_t n;
};

static const char *const trait_names[BO1_TRAIT_COUNT_] = {
    [BO1_TRAIT_ANALYTICAL] = "analytical",         [BO1_TRAIT_CREATIVE] = "creative",
    [BO1_TRAIT_RISK_TOLERANCE] = "risk_tolerance", [BO1_TRAIT_DETAIL] = "detail",
    [BO1_TRAIT_ASSERTIVENESS] = "assertiveness",
};

/* The roles the engine calls by code; each must exist and be flagged hidden. */
static const char *const hidden_roles[] = {"facilitator", "contrarian", "skeptic", "optimist",
                                           "researcher"};

/* The string fields every entry carries, in the order they are checked. */
static const char *const string_fields[] = {"code",     "name",  "role",
                                            "category", "style", "identity"};

const char *bo1_persona_trait_name(enum bo1_trait t)
{
    if ((int)t < 0 || t >= BO1_TRAIT_COUNT_)
        return NULL;
    return trait_names[t];
}

/* Store a malloc'd formatted reason in *why (if asked for) and return @st. */
__attribute__((format(printf, 3, 4))) static enum bo1_status fail(char **why, enum bo1_status st,
                                                                  const char *fmt, ...)
{
    struct bo1_buf b;
    va_list ap;

    if (!why)
        return st;
    bo1_buf_init(&b, 0);
    va_start(ap, fmt);
    if (bo1_buf_vprintf(&b, fmt, ap) == BO1_OK)
        *why = bo1_buf_take(&b);
    va_end(ap);
    bo1_buf_fini(&b);
    return st;
}

static void persona_fini(struct bo1_persona *p)
{
    free((char *)p->code);
    free((char *)p->name);
    free((char *)p->role);
    free((char *)p->category);
    free((char *)p->style);
    free((char *)p->identity);
    for (size_t i = 0; i < p->n_tags; i++)
        free((char *)p->tags[i]);
    free((void *)p->tags);
    memset(p, 0, sizeof(*p));
}

void bo1_persona_catalog_free(struct bo1_persona_catalog *c)
{
    if (!c)
        return;
    for (size_t i = 0; i < c->n; i++)
        persona_fini(&c->items[i]);
    free(c->items);
    free(c);
}

static int is_snake_name(const char *s)
{
    if (!*s || !islower((unsigned char)*s))
        return 0;
    for (; *s; s++) {
        if (!islower((unsigned char)*s) && !isdigit((unsigned char)*s) && *s != '_')
            return 0;
    }
    return 1;
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    int in_word = 0;

    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            in_word = 0;
        } else if (!in_word) {
            in_word = 1;
            n++;
        }
    }
    return n;
}

static int is_blank(const char *s)
{
    for (; *s; s++) {
        if (!isspace((unsigned char)*s))
            return 0;
    }
    return 1;
}

/* Where an error is: "<path>: personas[3] (code \"cfo\")". */
struct where {
    const char *path;
    size_t index;
    const char *code; /* "?" until the code is known */
};

#define WHERE_FMT     "%s: personas[%zu] (code \"%s\")"
#define WHERE_ARGS(w) (w)->path, (w)->index, (w)->code

static int is_known_field(const char *key)
{
    static const char *const known[] = {"code",     "name", "role",   "category", "style",
                                        "identity", "tags", "traits", "hidden"};

    for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++) {
        if (strcmp(key, known[i]) == 0)
            return 1;
    }
    return 0;
}

static enum bo1_status parse_strings(const json_t *e, struct where *w, struct bo1_persona *p,
                                     char **why)
{
    const char **slots[] = {&p->code, &p->name, &p->role, &p->category, &p->style, &p->identity};

    for (size_t i = 0; i < sizeof(string_fields) / sizeof(string_fields[0]); i++) {
        const char *f = string_fields[i];
        json_t *v = json_object_get(e, f);

        if (!v)
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"%s\": missing", WHERE_ARGS(w),
                        f);
        if (!json_is_string(v))
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"%s\": must be a string",
                        WHERE_ARGS(w), f);
        if (is_blank(json_string_value(v)))
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"%s\": is empty",
                        WHERE_ARGS(w), f);
        *slots[i] = strdup(json_string_value(v));
        if (!*slots[i])
            return BO1_NO_MEMORY;
        if (i == 0) {
            w->code = p->code;
            if (!is_snake_name(p->code))
                return fail(why, BO1_CONFIG_INVALID,
                            WHERE_FMT ": field \"code\": must be lower_snake ([a-z][a-z0-9_]*)",
                            WHERE_ARGS(w));
        }
    }
    return BO1_OK;
}

static enum bo1_status parse_tags(const json_t *e, const struct where *w, struct bo1_persona *p,
                                  char **why)
{
    json_t *tags = json_object_get(e, "tags");
    size_t n;
    const char **out;

    if (!tags)
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"tags\": missing", WHERE_ARGS(w));
    if (!json_is_array(tags))
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"tags\": must be an array",
                    WHERE_ARGS(w));
    n = json_array_size(tags);
    if (n < BO1_PERSONA_MIN_TAGS || n > BO1_PERSONA_MAX_TAGS)
        return fail(why, BO1_CONFIG_INVALID,
                    WHERE_FMT ": field \"tags\": has %zu tags, needs %d-%d", WHERE_ARGS(w), n,
                    BO1_PERSONA_MIN_TAGS, BO1_PERSONA_MAX_TAGS);
    out = calloc(n, sizeof(*out));
    if (!out)
        return BO1_NO_MEMORY;
    p->tags = out;
    for (size_t i = 0; i < n; i++) {
        json_t *t = json_array_get(tags, i);

        if (!json_is_string(t))
            return fail(why, BO1_CONFIG_INVALID,
                        WHERE_FMT ": field \"tags\": element %zu must be a string", WHERE_ARGS(w),
                        i);
        if (!is_snake_name(json_string_value(t)))
            return fail(why, BO1_CONFIG_INVALID,
                        WHERE_FMT ": field \"tags\": element %zu \"%s\" must be lower_snake",
                        WHERE_ARGS(w), i, json_string_value(t));
        for (size_t j = 0; j < i; j++) {
            if (strcmp(out[j], json_string_value(t)) == 0)
                return fail(why, BO1_CONFIG_INVALID,
                            WHERE_FMT ": field \"tags\": \"%s\" appears twice", WHERE_ARGS(w),
                            out[j]);
        }
        out[i] = strdup(json_string_value(t));
        if (!out[i])
            return BO1_NO_MEMORY;
        p->n_tags = i + 1;
    }
    return BO1_OK;
}

static enum bo1_status parse_traits(const json_t *e, const struct where *w, struct bo1_persona *p,
                                    char **why)
{
    json_t *traits = json_object_get(e, "traits");
    const char *key;
    json_t *v;

    if (!traits)
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"traits\": missing",
                    WHERE_ARGS(w));
    if (!json_is_object(traits))
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"traits\": must be an object",
                    WHERE_ARGS(w));
    json_object_foreach(traits, key, v)
    {
        int known = 0;

        for (int t = 0; t < BO1_TRAIT_COUNT_; t++)
            known |= strcmp(key, trait_names[t]) == 0;
        if (!known)
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"traits.%s\": unknown trait",
                        WHERE_ARGS(w), key);
    }
    for (int t = 0; t < BO1_TRAIT_COUNT_; t++) {
        double d;

        v = json_object_get(traits, trait_names[t]);
        if (!v)
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"traits.%s\": missing",
                        WHERE_ARGS(w), trait_names[t]);
        if (!json_is_number(v))
            return fail(why, BO1_CONFIG_INVALID,
                        WHERE_FMT ": field \"traits.%s\": must be a number", WHERE_ARGS(w),
                        trait_names[t]);
        d = json_number_value(v);
        if (!(d >= 0.0 && d <= 1.0))
            return fail(why, BO1_CONFIG_INVALID,
                        WHERE_FMT ": field \"traits.%s\": %g is outside 0-1", WHERE_ARGS(w),
                        trait_names[t], d);
        p->traits[t] = d;
    }
    return BO1_OK;
}

static enum bo1_status parse_entry(const json_t *e, struct where *w, struct bo1_persona *p,
                                   char **why)
{
    enum bo1_status st;
    const char *key;
    json_t *v;
    json_t *hidden;
    size_t words;

    if (!json_is_object(e))
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": must be an object", WHERE_ARGS(w));
    /* The code first, so every later message can name the entry. */
    st = parse_strings(e, w, p, why);
    if (st != BO1_OK)
        return st;
    json_object_foreach((json_t *)e, key, v)
    {
        if (!is_known_field(key))
            return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"%s\": unknown field",
                        WHERE_ARGS(w), key);
    }
    words = count_words(p->identity);
    if (words < BO1_PERSONA_MIN_WORDS || words > BO1_PERSONA_MAX_WORDS)
        return fail(why, BO1_CONFIG_INVALID,
                    WHERE_FMT ": field \"identity\": has %zu words, needs %d-%d", WHERE_ARGS(w),
                    words, BO1_PERSONA_MIN_WORDS, BO1_PERSONA_MAX_WORDS);
    st = parse_tags(e, w, p, why);
    if (st != BO1_OK)
        return st;
    st = parse_traits(e, w, p, why);
    if (st != BO1_OK)
        return st;
    hidden = json_object_get(e, "hidden");
    if (hidden && !json_is_boolean(hidden))
        return fail(why, BO1_CONFIG_INVALID, WHERE_FMT ": field \"hidden\": must be a boolean",
                    WHERE_ARGS(w));
    p->hidden = json_is_true(hidden);
    return BO1_OK;
}

double bo1_persona_tag_overlap(const struct bo1_persona *a, const struct bo1_persona *b)
{
    size_t shared = 0;
    size_t smaller = a->n_tags < b->n_tags ? a->n_tags : b->n_tags;

    if (smaller == 0)
        return 0.0;
    for (size_t i = 0; i < a->n_tags; i++) {
        for (size_t j = 0; j < b->n_tags; j++) {
            if (strcmp(a->tags[i], b->tags[j]) == 0)
                shared++;
        }
    }
    return (double)shared / (double)smaller;
}

/* Rules across entries: unique codes, hidden roles, counts, categories, tag overlap. */
static enum bo1_status check_catalog(const struct bo1_persona_catalog *c, const char *path,
                                     char **why)
{
    size_t visible = 0;
    size_t n_categories = 0;
    const char *categories[256];

    for (size_t i = 0; i < c->n; i++) {
        const struct bo1_persona *p = &c->items[i];

        for (size_t j = 0; j < i; j++) {
            if (strcmp(c->items[j].code, p->code) == 0)
                return fail(why, BO1_CONFIG_INVALID,
                            "%s: personas[%zu] (code \"%s\"): field \"code\": duplicate of "
                            "personas[%zu]",
                            path, i, p->code, j);
        }
        if (p->hidden)
            continue;
        visible++;
        for (size_t j = 0; j < i; j++) {
            const struct bo1_persona *q = &c->items[j];

            if (!q->hidden && bo1_persona_tag_overlap(p, q) > 0.5)
                return fail(why, BO1_CONFIG_INVALID,
                            "%s: personas[%zu] (code \"%s\"): field \"tags\": shares more than "
                            "half of its tags with personas[%zu] (code \"%s\")",
                            path, i, p->code, j, q->code);
        }
        size_t k = 0;
        while (k < n_categories && strcmp(categories[k], p->category) != 0)
            k++;
        if (k == n_categories && n_categories < sizeof(categories) / sizeof(categories[0]))
            categories[n_categories++] = p->category;
    }
    for (size_t r = 0; r < sizeof(hidden_roles) / sizeof(hidden_roles[0]); r++) {
        const struct bo1_persona *p = bo1_persona_catalog_get(c, hidden_roles[r]);

        if (!p)
            return fail(why, BO1_CONFIG_INVALID,
                        "%s: hidden role \"%s\": missing (field \"code\" of no entry matches)",
                        path, hidden_roles[r]);
        if (!p->hidden)
            return fail(why, BO1_CONFIG_INVALID,
                        "%s: personas[%zu] (code \"%s\"): field \"hidden\": must be true for a "
                        "hidden role",
                        path, (size_t)(p - c->items), p->code);
    }
    if (visible < BO1_PERSONA_MIN_VISIBLE)
        return fail(why, BO1_CONFIG_INVALID,
                    "%s: field \"personas\": %zu visible personas, needs %d", path, visible,
                    BO1_PERSONA_MIN_VISIBLE);
    if (n_categories < BO1_PERSONA_MIN_CATEGORIES)
        return fail(why, BO1_CONFIG_INVALID,
                    "%s: field \"category\": visible personas span %zu categories, needs %d", path,
                    n_categories, BO1_PERSONA_MIN_CATEGORIES);
    return BO1_OK;
}

/* The file's own keys: "about" (free text for readers), "traits", "personas". */
static enum bo1_status check_top_level(const json_t *root, const char *path, char **why)
{
    const char *key;
    json_t *v;

    json_object_foreach((json_t *)root, key, v)
    {
        if (strcmp(key, "about") != 0 && strcmp(key, "traits") != 0 && strcmp(key, "personas") != 0)
            return fail(why, BO1_CONFIG_INVALID, "%s: field \"%s\" (top level): unknown field",
                        path, key);
        if (strcmp(key, "about") == 0 && !json_is_string(v))
            return fail(why, BO1_CONFIG_INVALID,
                        "%s: field \"about\" (top level): must be a string", path);
    }
    return BO1_OK;
}

static enum bo1_status check_trait_order(const json_t *root, const char *path, char **why)
{
    json_t *order = json_object_get(root, "traits");

    if (!order)
        return fail(why, BO1_CONFIG_INVALID, "%s: field \"traits\" (top level): missing", path);
    if (!json_is_array(order) || json_array_size(order) != BO1_TRAIT_COUNT_)
        return fail(why, BO1_CONFIG_INVALID,
                    "%s: field \"traits\" (top level): must be an array of %d trait names", path,
                    BO1_TRAIT_COUNT_);
    for (size_t t = 0; t < BO1_TRAIT_COUNT_; t++) {
        const char *s = json_string_value(json_array_get(order, t));

        if (!s || strcmp(s, trait_names[t]) != 0)
            return fail(why, BO1_CONFIG_INVALID,
                        "%s: field \"traits\" (top level): element %zu must be \"%s\"", path, t,
                        trait_names[t]);
    }
    return BO1_OK;
}

enum bo1_status bo1_persona_catalog_load(const char *path, struct bo1_persona_catalog **out,
                                         char **why)
{
    enum bo1_status st = BO1_NO_MEMORY;
    struct bo1_persona_catalog *c = NULL;
    json_t *root = NULL;
    json_t *list;
    json_error_t err;

    if (why)
        *why = NULL;
    root = json_load_file(path, JSON_REJECT_DUPLICATES, &err);
    if (!root) {
        st = fail(why, BO1_CONFIG_INVALID, "%s: line %d: not valid JSON: %s", path, err.line,
                  err.text);
        goto out;
    }
    if (!json_is_object(root)) {
        st = fail(why, BO1_CONFIG_INVALID, "%s: must hold a JSON object", path);
        goto out;
    }
    st = check_top_level(root, path, why);
    if (st != BO1_OK)
        goto out;
    st = check_trait_order(root, path, why);
    if (st != BO1_OK)
        goto out;
    list = json_object_get(root, "personas");
    if (!json_is_array(list)) {
        st = fail(why, BO1_CONFIG_INVALID, "%s: field \"personas\": %s", path,
                  list ? "must be an array" : "missing");
        goto out;
    }
    st = BO1_NO_MEMORY;
    c = calloc(1, sizeof(*c));
    if (!c)
        goto out;
    c->items = calloc(json_array_size(list) + 1, sizeof(*c->items));
    if (!c->items)
        goto out;
    for (size_t i = 0; i < json_array_size(list); i++) {
        struct where w = {.path = path, .index = i, .code = "?"};

        c->n = i + 1; /* so a partly parsed entry is freed too */
        st = parse_entry(json_array_get(list, i), &w, &c->items[i], why);
        if (st != BO1_OK)
            goto out;
    }
    st = check_catalog(c, path, why);
    if (st != BO1_OK)
        goto out;

    *out = c;
    c = NULL;
out:
    bo1_persona_catalog_free(c);
    json_decref(root);
    return st;
}

const struct bo1_persona *bo1_persona_catalog_get(const struct bo1_persona_catalog *c,
                                                  const char *code)
{
    if (!c || !code)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (strcmp(c->items[i].code, code) == 0)
            return &c->items[i];
    }
    return NULL;
}

size_t bo1_persona_catalog_count(const struct bo1_persona_catalog *c)
{
    return c ? c->n : 0;
}

const struct bo1_persona *bo1_persona_catalog_at(const struct bo1_persona_catalog *c, size_t i)
{
    if (!c || i >= c->n)
        return NULL;
    return &c->items[i];
}

json_t *bo1_persona_to_json(const struct bo1_persona *p)
{
    json_t *o = NULL;
    json_t *tags = json_array();
    json_t *traits = json_object();

    if (!tags || !traits)
        goto out;
    for (size_t i = 0; i < p->n_tags; i++) {
        if (json_array_append_new(tags, json_string(p->tags[i])) != 0)
            goto out;
    }
    for (int t = 0; t < BO1_TRAIT_COUNT_; t++) {
        if (json_object_set_new(traits, trait_names[t], json_real(p->traits[t])) != 0)
            goto out;
    }
    o = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:O, s:O, s:b}", "code", p->code, "name", p->name,
                  "role", p->role, "category", p->category, "style", p->style, "identity",
                  p->identity, "tags", tags, "traits", traits, "hidden", p->hidden);
out:
    json_decref(tags);
    json_decref(traits);
    return o;
}

/* Append @s with & < > " escaped (the same rule as bo1_prompt_escape(), which lives one layer
 * up; the persona module must not depend on the prompt module). */
static enum bo1_status put_escaped(struct bo1_buf *b, const char *s)
{
    enum bo1_status st = BO1_OK;

    for (; *s && st == BO1_OK; s++) {
        switch (*s) {
        case '&':
            st = bo1_buf_puts(b, "&amp;");
            break;
        case '<':
            st = bo1_buf_puts(b, "&lt;");
            break;
        case '>':
            st = bo1_buf_puts(b, "&gt;");
            break;
        case '"':
            st = bo1_buf_puts(b, "&quot;");
            break;
        default:
            st = bo1_buf_append(b, s, 1);
        }
    }
    return st;
}

static enum bo1_status put_persona(struct bo1_buf *b, const struct bo1_persona *p)
{
    enum bo1_status st;

    st = bo1_buf_puts(b, "<persona code=\"");
    if (st == BO1_OK)
        st = put_escaped(b, p->code);
    if (st == BO1_OK)
        st = bo1_buf_puts(b, "\" category=\"");
    if (st == BO1_OK)
        st = put_escaped(b, p->category);
    if (st == BO1_OK)
        st = bo1_buf_puts(b, "\" role=\"");
    if (st == BO1_OK)
        st = put_escaped(b, p->role);
    if (st == BO1_OK)
        st = bo1_buf_puts(b, "\">");
    if (st == BO1_OK)
        st = put_escaped(b, p->name);
    if (st == BO1_OK)
        st = bo1_buf_puts(b, " - expertise: ");
    for (size_t i = 0; i < p->n_tags && st == BO1_OK; i++) {
        st = bo1_buf_puts(b, i ? ", " : "");
        if (st == BO1_OK)
            st = put_escaped(b, p->tags[i]);
    }
    if (st == BO1_OK)
        st = bo1_buf_puts(b, ". Style: ");
    if (st == BO1_OK)
        st = put_escaped(b, p->style);
    if (st == BO1_OK)
        st = bo1_buf_puts(b, "</persona>\n");
    return st;
}

char *bo1_persona_list_xml(const struct bo1_persona *const *ps, size_t n)
{
    struct bo1_buf b;
    char *s = NULL;

    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < n; i++) {
        if (ps[i] && put_persona(&b, ps[i]) != BO1_OK)
            goto out;
    }
    s = bo1_buf_take(&b);
out:
    bo1_buf_fini(&b);
    return s;
}

char *bo1_persona_candidates_xml(const struct bo1_persona_catalog *c)
{
    const struct bo1_persona **visible = calloc(c->n + 1, sizeof(*visible));
    size_t n = 0;
    char *s;

    if (!visible)
        return NULL;
    for (size_t i = 0; i < c->n; i++) {
        if (!c->items[i].hidden)
            visible[n++] = &c->items[i];
    }
    s = bo1_persona_list_xml(visible, n);
    free(visible);
    return s;
}
