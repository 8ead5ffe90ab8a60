/* Reading model answers. With the parse module linked (bo1/parse.h) its parser does the
 * work; until then a small defensive reader stands in. Either way the engine reads fields
 * through jstr/jnum/jint/jbool, which default missing fields and coerce numbers sent as
 * strings and confidence words, so a sloppy answer never reaches the state unchecked. */
#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "engine_internal.h"

#if __has_include("bo1/parse.h")
#include "bo1/parse.h"
#define HAVE_PARSE 1
#else
#define HAVE_PARSE 0
#endif

const char *jstr(const json_t *o, const char *key, const char *dflt)
{
    const char *s = json_string_value(json_object_get(o, key));
    return s ? s : dflt;
}

static double word_number(const char *s, double dflt)
{
    char *end;
    double d;

    if (!s)
        return dflt;
    while (isspace((unsigned char)*s))
        s++;
    if (!strncasecmp(s, "high", 4))
        return 0.85;
    if (!strncasecmp(s, "medium", 6))
        return 0.6;
    if (!strncasecmp(s, "low", 3))
        return 0.3;
    d = strtod(s, &end);
    return end == s ? dflt : d;
}

double jnum(const json_t *o, const char *key, double dflt)
{
    const json_t *v = json_object_get(o, key);

    if (json_is_number(v))
        return json_number_value(v);
    if (json_is_string(v))
        return word_number(json_string_value(v), dflt);
    return dflt;
}

int jint(const json_t *o, const char *key, int dflt)
{
    return (int)jnum(o, key, dflt);
}

int jbool(const json_t *o, const char *key, int dflt)
{
    const json_t *v = json_object_get(o, key);

    if (json_is_boolean(v))
        return json_is_true(v);
    if (json_is_string(v))
        return !strcasecmp(json_string_value(v), "true") ||
               !strcasecmp(json_string_value(v), "yes");
    if (json_is_number(v))
        return json_number_value(v) != 0;
    return dflt;
}

static int is_tagged_task(const char *task)
{
    return !strcmp(task, "contribute") || !strcmp(task, "moderate");
}

#if !HAVE_PARSE
/* The text between <tag> and </tag>, case-insensitive, trimmed; NULL when absent. */
static char *tag_text(const char *text, const char *tag)
{
    size_t tl = strlen(tag);
    const char *p = text, *start = NULL, *end = NULL;

    for (; *p; p++)
        if (*p == '<' && !strncasecmp(p + 1, tag, tl) && p[1 + tl] == '>') {
            start = p + tl + 2;
            break;
        }
    if (!start)
        return NULL;
    for (p = start; *p; p++)
        if (p[0] == '<' && p[1] == '/' && !strncasecmp(p + 2, tag, tl) && p[2 + tl] == '>') {
            end = p;
            break;
        }
    if (!end)
        end = start + strlen(start); /* truncated: keep what arrived */
    while (start < end && isspace((unsigned char)*start))
        start++;
    while (end > start && isspace((unsigned char)end[-1]))
        end--;
    return strndup(start, (size_t)(end - start));
}

static enum bo1_status parse_tagged(const char *text, json_t **out, char **why)
{
    char *th = tag_text(text, "thinking");
    char *co = tag_text(text, "contribution");
    char *su = tag_text(text, "summary");
    enum bo1_status st = BO1_PARSE_FAILED;

    if (!co || !*co) {
        if (why)
            *why = strdup(co ? "empty contribution" : "no <contribution> tag");
        goto out;
    }
    if (!su || !*su) {
        size_t l = strcspn(co, ".!?\n");
        free(su);
        su = strndup(co, l > 200 ? 200 : l);
    }
    *out =
        json_pack("{s:s, s:s, s:s}", "thinking", th ? th : "", "contribution", co, "summary", su);
    st = *out ? BO1_OK : BO1_NO_MEMORY;
out:
    free(th);
    free(co);
    free(su);
    return st;
}

#endif

static const char *required_field(const char *task)
{
    static const struct {
        const char *task, *field;
    } req[] = {
        {"clarify", "questions"},
        {"decompose", "sub_problems"},
        {"select", "personas"},
        {"facilitate", "action"},
        {"summarize", "summary"},
        {"research", "findings"},
        {"vote", "recommendation"},
        {"synthesize", "recommendation"},
        {"synthesize_final", "recommendation"},
    };
    for (size_t i = 0; i < sizeof(req) / sizeof(req[0]); i++)
        if (!strcmp(req[i].task, task))
            return req[i].field;
    return NULL;
}

#if !HAVE_PARSE
static enum bo1_status parse_json(const char *task, const char *text, json_t **out, char **why)
{
    const char *a = strchr(text, '{');
    const char *b = strrchr(text, '}');
    char *copy, *w;
    json_t *j;
    const char *need;

    if (!a || !b || b < a) {
        if (why)
            *why = strdup("no JSON object");
        return BO1_PARSE_FAILED;
    }
    copy = strndup(a, (size_t)(b - a + 1));
    if (!copy)
        return BO1_NO_MEMORY;
    /* Drop trailing commas outside strings. */
    w = copy;
    for (int in_str = 0, esc = 0; *w; w++) {
        if (in_str) {
            if (esc)
                esc = 0;
            else if (*w == '\\')
                esc = 1;
            else if (*w == '"')
                in_str = 0;
            continue;
        }
        if (*w == '"')
            in_str = 1;
        else if (*w == ',') {
            const char *n = w + 1;
            while (isspace((unsigned char)*n))
                n++;
            if (*n == '}' || *n == ']')
                *w = ' ';
        }
    }
    j = json_loads(copy, 0, NULL);
    free(copy);
    if (!json_is_object(j)) {
        json_decref(j);
        if (why)
            *why = strdup("invalid JSON");
        return BO1_PARSE_FAILED;
    }
    need = required_field(task);
    if (need && !json_object_get(j, need)) {
        json_decref(j);
        if (why)
            *why = strdup("required field missing");
        return BO1_PARSE_FAILED;
    }
    *out = j;
    return BO1_OK;
}

#endif

static int field_ok(const char *task, const json_t *j)
{
    const char *need = required_field(task);
    const json_t *v = need ? json_object_get(j, need) : NULL;

    if (!need)
        return 1;
    if (!strcmp(need, "questions") || !strcmp(need, "sub_problems") || !strcmp(need, "personas"))
        return json_is_array(v) && (strcmp(need, "questions") == 0 || json_array_size(v) > 0);
    return json_is_string(v) && json_string_length(v) > 0;
}

enum bo1_status answer_parse(const char *task, const char *text, json_t **out, char **why)
{
    enum bo1_status st;
    json_t *j = NULL;

    *out = NULL;
    if (!text)
        text = "";
#if HAVE_PARSE
    st = bo1_parse_answer(task, text, strlen(text), &j, why);
#else
    st = is_tagged_task(task) ? parse_tagged(text, &j, why) : parse_json(task, text, &j, why);
#endif
    if (st != BO1_OK)
        return st;
    /* The engine's own minimum, whichever parser ran: a required field of the right type. */
    if (!is_tagged_task(task) && !field_ok(task, j)) {
        json_decref(j);
        if (why && !*why)
            *why = strdup("required field empty or of the wrong type");
        return BO1_PARSE_FAILED;
    }
    if (is_tagged_task(task) && !*jstr(j, "contribution", "")) {
        json_decref(j);
        if (why && !*why)
            *why = strdup("empty contribution");
        return BO1_PARSE_FAILED;
    }
    *out = j;
    return BO1_OK;
}
