/* answer.c - turn a model answer into the normalised JSON of its MODEL_IO task.
 *
 * Structured tasks: bo1_parse_extract_json() finds the object, then one function per task
 * copies the known fields into a fresh object (so unknown fields never leave), coercing and
 * defaulting as docs/internals/parse.md lists. Tagged tasks (contribute, moderate) read
 * <thinking>, <contribution> and <summary> from the sanitised text. */
#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bo1/buf.h"
#include "bo1/parse.h"
#include "parse_internal.h"

/* Items kept in a list of strings (risks, conditions, ...). */
#define MAX_LIST         20
#define MAX_QUESTIONS    3
#define MAX_SUB_PROBLEMS 5
#define MAX_PERSONAS     10
/* Bytes of the contribution used as the summary when the model gave none. */
#define SUMMARY_FALLBACK_BYTES 200

struct ctx {
    const char *task;
    char **why;
};

/* Record the first failure reason, prefixed with the task. Returns BO1_PARSE_FAILED. */
static enum bo1_status fail(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static enum bo1_status fail(struct ctx *c, const char *fmt, ...)
{
    char msg[400];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    if (c->why && !*c->why)
        parse_set_why(c->why, "%s: %s", c->task, msg);
    return BO1_PARSE_FAILED;
}

static const char *type_name(const json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    default:
        return "null";
    }
}

/* Member @key of @obj, matched exactly or else ignoring ASCII case. NULL for a JSON null.
 * Returns: borrowed. */
static json_t *member(const json_t *obj, const char *key)
{
    json_t *v = json_object_get(obj, key);
    const char *k;
    json_t *iv;

    if (!v) {
        json_object_foreach((json_t *)obj, k, iv)
        {
            if (strcasecmp(k, key) == 0) {
                v = iv;
                break;
            }
        }
    }
    return json_is_null(v) ? NULL : v;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static void trim(const char **p, size_t *n)
{
    while (*n > 0 && is_space(**p)) {
        (*p)++;
        (*n)--;
    }
    while (*n > 0 && is_space((*p)[*n - 1]))
        (*n)--;
}

/* Append @v as text. @any also accepts booleans and objects ("key: value; ..."); otherwise
 * only strings, numbers and arrays of those are text. Returns BO1_OK, BO1_BAD_FIELD for a
 * value that is not text, BO1_NO_MEMORY. Depth is bounded by the extractor. */
static enum bo1_status append_text(struct bo1_buf *b, const json_t *v, int any)
{
    enum bo1_status st = BO1_OK;
    size_t start = b->len;
    const char *k;
    json_t *iv;
    size_t i;

    switch (json_typeof(v)) {
    case JSON_STRING: {
        const char *s = json_string_value(v);
        size_t n = json_string_length(v);

        trim(&s, &n);
        return bo1_buf_append(b, s, n);
    }
    case JSON_INTEGER:
        return bo1_buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
    case JSON_REAL:
        return bo1_buf_printf(b, "%g", json_real_value(v));
    case JSON_TRUE:
    case JSON_FALSE:
        if (!any)
            return BO1_BAD_FIELD;
        return bo1_buf_puts(b, json_is_true(v) ? "true" : "false");
    case JSON_NULL:
        return BO1_OK;
    case JSON_ARRAY:
        json_array_foreach(v, i, iv)
        {
            size_t mark = b->len;
            size_t body;

            st = mark > start ? bo1_buf_puts(b, "; ") : BO1_OK;
            body = b->len;
            if (st == BO1_OK)
                st = append_text(b, iv, any);
            if (st != BO1_OK)
                return st;
            if (b->len == body && b->data) {
                b->len = mark; /* an empty element leaves no separator behind */
                b->data[mark] = '\0';
            }
        }
        return BO1_OK;
    case JSON_OBJECT:
        if (!any)
            return BO1_BAD_FIELD;
        json_object_foreach((json_t *)v, k, iv)
        {
            if (b->len > start)
                st = bo1_buf_puts(b, "; ");
            if (st == BO1_OK)
                st = bo1_buf_printf(b, "%s: ", k);
            if (st == BO1_OK)
                st = append_text(b, iv, any);
            if (st != BO1_OK)
                return st;
        }
        return BO1_OK;
    }
    return BO1_BAD_FIELD;
}

/* The trimmed text of @v in a new JSON string, or NULL with *st set. */
static json_t *text_of(const json_t *v, int any, enum bo1_status *st)
{
    struct bo1_buf b;
    const char *s;
    size_t n;
    json_t *out = NULL;

    bo1_buf_init(&b, 0);
    *st = append_text(&b, v, any);
    if (*st == BO1_OK) {
        s = bo1_buf_str(&b);
        n = b.len;
        trim(&s, &n);
        out = json_stringn(s, n);
        if (!out)
            *st = BO1_NO_MEMORY;
    }
    bo1_buf_fini(&b);
    return out;
}

/* Copy string field @key of @in to @out. A required field must be present and non-empty;
 * an optional one that is missing or of the wrong type becomes "". */
static enum bo1_status put_str(struct ctx *c, const json_t *in, json_t *out, const char *key,
                               int required, int any)
{
    json_t *v = member(in, key);
    json_t *s = NULL;
    enum bo1_status st = BO1_OK;

    if (v)
        s = text_of(v, any, &st);
    if (st == BO1_NO_MEMORY)
        return st;
    if (required) {
        if (!v)
            return fail(c, "required field \"%s\" is missing", key);
        if (!s)
            return fail(c, "field \"%s\" must be a string, not %s", key, type_name(v));
        if (json_string_length(s) == 0) {
            json_decref(s);
            return fail(c, "required field \"%s\" is empty", key);
        }
    }
    if (!s)
        s = json_string("");
    if (json_object_set_new(out, key, s) != 0)
        return BO1_NO_MEMORY;
    return BO1_OK;
}

/* Copy list-of-strings field @key. A single string becomes a one-item list; objects inside
 * the list become "key: value" text; empty items are dropped; at most @max items are kept. */
static enum bo1_status put_strs(const json_t *in, json_t *out, const char *key, size_t max)
{
    json_t *v = member(in, key);
    json_t *arr = json_array();
    json_t *iv;
    size_t i;
    enum bo1_status st = BO1_OK;

    if (!arr)
        return BO1_NO_MEMORY;
    if (json_is_string(v)) {
        json_t *s = text_of(v, 1, &st);

        if (s && json_string_length(s) > 0)
            st = json_array_append_new(arr, s) == 0 ? BO1_OK : BO1_NO_MEMORY;
        else
            json_decref(s);
    } else if (json_is_array(v)) {
        json_array_foreach(v, i, iv)
        {
            json_t *s;

            if (json_array_size(arr) >= max)
                break;
            s = text_of(iv, 1, &st);
            if (st == BO1_NO_MEMORY)
                break;
            if (s && json_string_length(s) > 0) {
                if (json_array_append_new(arr, s) != 0) {
                    st = BO1_NO_MEMORY;
                    break;
                }
            } else {
                json_decref(s);
            }
        }
    }
    if (st != BO1_OK) {
        json_decref(arr);
        return st;
    }
    if (json_object_set_new(out, key, arr) != 0)
        return BO1_NO_MEMORY;
    return BO1_OK;
}

/* Lower-cased, trimmed copy of a short string value into @dst, or "" if not a string. */
static void word_of(const json_t *v, char *dst, size_t cap)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;

    dst[0] = '\0';
    if (!s)
        return;
    trim(&s, &n);
    if (n >= cap)
        n = cap - 1;
    for (size_t i = 0; i < n; i++)
        dst[i] = (char)tolower((unsigned char)s[i]);
    dst[n] = '\0';
}

/* A number, or a string holding only a number (optionally followed by '%', which divides by
 * 100). Returns 0 and sets *d, or -1. */
static int number_of(const json_t *v, double *d)
{
    char tmp[64];
    char *end;
    size_t n;

    if (json_is_number(v)) {
        *d = json_number_value(v);
        return isfinite(*d) ? 0 : -1;
    }
    word_of(v, tmp, sizeof(tmp));
    if (json_is_string(v) && json_string_length(v) >= sizeof(tmp))
        return -1;
    n = strlen(tmp);
    if (n == 0)
        return -1;
    /* strtod would also take "nan", "inf" and hex; a model's number is plain decimal. */
    for (size_t i = 0; i < n; i++) {
        if (!strchr("0123456789+-.e%", tmp[i]))
            return -1;
    }
    *d = strtod(tmp, &end);
    if (end == tmp)
        return -1;
    if (*end == '%') {
        *d /= 100.0;
        end++;
    }
    if (*end != '\0' || !isfinite(*d))
        return -1;
    return 0;
}

/* true/false, "yes"/"no"/"true"/"false"/"1"/"0", or a number; anything else gives @dflt. */
static enum bo1_status put_bool(const json_t *in, json_t *out, const char *key, int dflt)
{
    json_t *v = member(in, key);
    char w[16];
    int b = dflt;

    if (json_is_boolean(v)) {
        b = json_is_true(v);
    } else if (json_is_number(v)) {
        b = json_number_value(v) != 0;
    } else if (json_is_string(v)) {
        word_of(v, w, sizeof(w));
        if (!strcmp(w, "true") || !strcmp(w, "yes") || !strcmp(w, "y") || !strcmp(w, "1"))
            b = 1;
        else if (!strcmp(w, "false") || !strcmp(w, "no") || !strcmp(w, "n") || !strcmp(w, "0"))
            b = 0;
    }
    return json_object_set_new(out, key, json_boolean(b)) == 0 ? BO1_OK : BO1_NO_MEMORY;
}

/* Confidence as a word (research, synthesize). Case is normalised; numbers are bucketed
 * (>= 0.75 high, >= 0.45 medium, else low; 1 < x <= 100 is a percentage); anything else
 * and a missing field give "medium". */
static enum bo1_status put_conf_word(const json_t *in, json_t *out, const char *key)
{
    json_t *v = member(in, key);
    const char *res = "medium";
    char w[64];
    double d;

    if (v && number_of(v, &d) == 0) {
        if (d > 1.0 && d <= 100.0)
            d /= 100.0;
        if (d >= 0.0 && d <= 1.0)
            res = d >= 0.75 ? "high" : d >= 0.45 ? "medium" : "low";
    } else if (json_is_string(v)) {
        word_of(v, w, sizeof(w));
        if (strstr(w, "high"))
            res = "high";
        else if (strstr(w, "low"))
            res = "low";
    }
    return json_object_set_new(out, key, json_string(res)) == 0 ? BO1_OK : BO1_NO_MEMORY;
}

/* An id: text of a string or number, else "<prefix><index>". */
static enum bo1_status put_id(const json_t *in, json_t *out, const char *prefix, size_t index)
{
    json_t *v = member(in, "id");
    json_t *s = NULL;
    enum bo1_status st = BO1_OK;
    char tmp[32];

    if (json_is_string(v) || json_is_number(v))
        s = text_of(v, 0, &st);
    if (st == BO1_NO_MEMORY)
        return st;
    if (!s || json_string_length(s) == 0) {
        json_decref(s);
        snprintf(tmp, sizeof(tmp), "%s%zu", prefix, index + 1);
        s = json_string(tmp);
    }
    return json_object_set_new(out, "id", s) == 0 ? BO1_OK : BO1_NO_MEMORY;
}

/* A list field that must be an array; returns it borrowed, or NULL after fail(). */
static json_t *required_array(struct ctx *c, const json_t *in, const char *key)
{
    json_t *v = member(in, key);

    if (!v) {
        fail(c, "required field \"%s\" is missing", key);
        return NULL;
    }
    if (!json_is_array(v)) {
        fail(c, "field \"%s\" must be an array, not %s", key, type_name(v));
        return NULL;
    }
    return v;
}

/* Build an item object from a string (stored under @str_key) or from an object. */
static json_t *item_source(const json_t *iv, const char *str_key)
{
    if (json_is_object(iv))
        return json_incref((json_t *)iv);
    if (json_is_string(iv) || json_is_number(iv))
        return json_pack("{s:O}", str_key, iv);
    return NULL;
}

/* ---- one function per structured task ---- */

static enum bo1_status do_clarify(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *qs = required_array(c, in, "questions");
    json_t *arr = NULL;
    json_t *iv;
    size_t i;

    if (!qs)
        return BO1_PARSE_FAILED;
    arr = json_array();
    if (!arr)
        goto out;
    json_array_foreach(qs, i, iv)
    {
        json_t *src;
        json_t *q;

        if (i >= MAX_QUESTIONS)
            break;
        src = item_source(iv, "question");
        if (!src) {
            st = fail(c, "questions[%zu] must be an object, not %s", i, type_name(iv));
            goto out;
        }
        q = json_object();
        st = q ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = json_array_append_new(arr, q) == 0 ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = put_id(src, q, "q", i);
        if (st == BO1_OK)
            st = put_str(c, src, q, "question", 1, 0);
        if (st == BO1_OK)
            st = put_str(c, src, q, "why", 0, 0);
        json_decref(src);
        if (st != BO1_OK)
            goto out;
    }
    st = json_object_set_new(out, "questions", arr) == 0 ? BO1_OK : BO1_NO_MEMORY;
    arr = NULL;
out:
    json_decref(arr);
    return st;
}

/* Complexity 1-10: numbers are rounded and clamped; words map to 3/5/8; else 5. */
static enum bo1_status put_complexity(const json_t *in, json_t *out)
{
    json_t *v = member(in, "complexity");
    json_int_t k = 5;
    char w[32];
    double d;

    if (v && number_of(v, &d) == 0) {
        d = d < 1.0 ? 1.0 : d > 10.0 ? 10.0 : d;
        k = (json_int_t)lround(d);
    } else if (json_is_string(v)) {
        word_of(v, w, sizeof(w));
        if (strstr(w, "high"))
            k = 8;
        else if (strstr(w, "low"))
            k = 3;
    }
    return json_object_set_new(out, "complexity", json_integer(k)) == 0 ? BO1_OK : BO1_NO_MEMORY;
}

static enum bo1_status do_decompose(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *sps = required_array(c, in, "sub_problems");
    json_t *arr = NULL;
    json_t *iv;
    size_t i;

    if (!sps)
        return BO1_PARSE_FAILED;
    if (json_array_size(sps) == 0)
        return fail(c, "\"sub_problems\" is empty (at least 1 is needed)");
    arr = json_array();
    if (!arr)
        goto out;
    st = put_str(c, in, out, "analysis", 0, 1);
    if (st != BO1_OK)
        goto out;
    json_array_foreach(sps, i, iv)
    {
        json_t *src;
        json_t *sp;

        if (i >= MAX_SUB_PROBLEMS)
            break;
        src = item_source(iv, "goal");
        if (!src) {
            st = fail(c, "sub_problems[%zu] must be an object, not %s", i, type_name(iv));
            goto out;
        }
        sp = json_object();
        st = sp ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = json_array_append_new(arr, sp) == 0 ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = put_id(src, sp, "sp", i);
        if (st == BO1_OK)
            st = put_str(c, src, sp, "goal", 1, 0);
        if (st == BO1_OK)
            st = put_str(c, src, sp, "context", 0, 1);
        if (st == BO1_OK)
            st = put_complexity(src, sp);
        if (st == BO1_OK)
            st = put_strs(src, sp, "dependencies", MAX_LIST);
        json_decref(src);
        if (st != BO1_OK)
            goto out;
    }
    st = put_bool(in, out, "is_atomic", json_array_size(arr) == 1);
    if (st == BO1_OK)
        st = json_object_set_new(out, "sub_problems", arr) == 0 ? BO1_OK : BO1_NO_MEMORY;
    arr = NULL;
out:
    json_decref(arr);
    return st;
}

static enum bo1_status do_select(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *ps = required_array(c, in, "personas");
    json_t *arr = NULL;
    json_t *iv;
    size_t i;

    if (!ps)
        return BO1_PARSE_FAILED;
    if (json_array_size(ps) == 0)
        return fail(c, "\"personas\" is empty");
    arr = json_array();
    if (!arr)
        goto out;
    json_array_foreach(ps, i, iv)
    {
        json_t *src;
        json_t *p;

        if (i >= MAX_PERSONAS)
            break;
        src = item_source(iv, "code");
        if (!src) {
            st = fail(c, "personas[%zu] must be an object, not %s", i, type_name(iv));
            goto out;
        }
        p = json_object();
        st = p ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = json_array_append_new(arr, p) == 0 ? BO1_OK : BO1_NO_MEMORY;
        if (st == BO1_OK)
            st = put_str(c, src, p, "code", 1, 0);
        if (st == BO1_OK)
            st = put_str(c, src, p, "rationale", 0, 1);
        json_decref(src);
        if (st != BO1_OK)
            goto out;
    }
    st = json_object_set_new(out, "personas", arr) == 0 ? BO1_OK : BO1_NO_MEMORY;
    arr = NULL;
    if (st == BO1_OK)
        st = put_str(c, in, out, "coverage", 0, 1);
out:
    json_decref(arr);
    return st;
}

static const char *const facilitate_actions[] = {"continue", "moderator", "research", "clarify",
                                                 "vote"};

static enum bo1_status do_facilitate(struct ctx *c, const json_t *in, json_t *out)
{
    json_t *v = member(in, "action");
    const char *action = NULL;
    const char *moderator = "";
    enum bo1_status st;
    char w[64];

    if (!v)
        return fail(c, "required field \"action\" is missing");
    if (!json_is_string(v))
        return fail(c, "field \"action\" must be a string, not %s", type_name(v));
    word_of(v, w, sizeof(w));
    for (size_t i = 0; i < sizeof(facilitate_actions) / sizeof(facilitate_actions[0]); i++) {
        if (strcmp(w, facilitate_actions[i]) == 0)
            action = facilitate_actions[i];
    }
    if (!action)
        return fail(c,
                    "action \"%.40s\" is not one of continue, moderator, research, clarify, vote",
                    json_string_value(v));
    if (strcmp(action, "moderator") == 0) {
        word_of(member(in, "moderator"), w, sizeof(w));
        if (strstr(w, "skeptic") || strstr(w, "sceptic"))
            moderator = "skeptic";
        else if (strstr(w, "optimist"))
            moderator = "optimist";
        else
            moderator = "contrarian";
    }
    st = json_object_set_new(out, "action", json_string(action)) == 0 ? BO1_OK : BO1_NO_MEMORY;
    if (st == BO1_OK)
        st = put_str(c, in, out, "reason", 0, 1);
    if (st == BO1_OK)
        st = json_object_set_new(out, "moderator", json_string(moderator)) == 0 ? BO1_OK
                                                                                : BO1_NO_MEMORY;
    if (st == BO1_OK)
        st = put_str(c, in, out, "question", !strcmp(action, "clarify"), 0);
    if (st == BO1_OK)
        st = put_str(c, in, out, "research_query", !strcmp(action, "research"), 0);
    if (st == BO1_OK)
        st = put_str(c, in, out, "focus", 0, 1);
    return st;
}

static enum bo1_status do_summarize(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = put_str(c, in, out, "summary", 1, 0);

    if (st == BO1_OK)
        st = put_strs(in, out, "agreements", MAX_LIST);
    if (st == BO1_OK)
        st = put_strs(in, out, "disagreements", MAX_LIST);
    if (st == BO1_OK)
        st = put_strs(in, out, "open_questions", MAX_LIST);
    return st;
}

static enum bo1_status do_research(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = put_str(c, in, out, "findings", 1, 0);

    if (st == BO1_OK)
        st = put_conf_word(in, out, "confidence");
    if (st == BO1_OK)
        st = put_str(c, in, out, "caveats", 0, 1);
    return st;
}

/* Vote confidence 0-1: words high/medium/low give 0.85/0.6/0.3, "80%" and 1 < x <= 100 are
 * percentages, a missing field is 0.6; negative, > 100 or unreadable values fail. */
static enum bo1_status put_vote_confidence(struct ctx *c, const json_t *in, json_t *out)
{
    json_t *v = member(in, "confidence");
    double d = 0.6;
    char w[32];

    if (v && number_of(v, &d) != 0) {
        word_of(v, w, sizeof(w));
        if (!strcmp(w, "high"))
            d = 0.85;
        else if (!strcmp(w, "medium") || !strcmp(w, "moderate"))
            d = 0.6;
        else if (!strcmp(w, "low"))
            d = 0.3;
        else if (json_is_string(v))
            return fail(c, "confidence \"%.40s\" is neither a number nor low/medium/high",
                        json_string_value(v));
        else
            return fail(c, "field \"confidence\" must be a number, not %s", type_name(v));
    }
    if (d < 0.0)
        return fail(c, "confidence %g is negative", d);
    if (d > 100.0)
        return fail(c, "confidence %g is out of range (0-1, or a percentage)", d);
    if (d > 1.0)
        d /= 100.0;
    return json_object_set_new(out, "confidence", json_real(d)) == 0 ? BO1_OK : BO1_NO_MEMORY;
}

static enum bo1_status do_vote(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = put_str(c, in, out, "recommendation", 1, 0);

    if (st == BO1_OK)
        st = put_str(c, in, out, "reasoning", 0, 1);
    if (st == BO1_OK)
        st = put_vote_confidence(c, in, out);
    if (st == BO1_OK)
        st = put_strs(in, out, "conditions", MAX_LIST);
    if (st == BO1_OK)
        st = put_bool(in, out, "reversible", 1);
    return st;
}

static enum bo1_status do_synthesize(struct ctx *c, const json_t *in, json_t *out)
{
    static const char *const lists[] = {"dissent", "risks", "conditions", "implementation_steps",
                                        "open_questions"};
    enum bo1_status st = put_str(c, in, out, "executive_summary", 1, 1);

    if (st == BO1_OK)
        st = put_str(c, in, out, "recommendation", 1, 0);
    if (st == BO1_OK)
        st = put_str(c, in, out, "rationale", 0, 1);
    if (st == BO1_OK)
        st = put_str(c, in, out, "vote_breakdown", 0, 1);
    for (size_t i = 0; st == BO1_OK && i < sizeof(lists) / sizeof(lists[0]); i++)
        st = put_strs(in, out, lists[i], MAX_LIST);
    if (st == BO1_OK)
        st = put_conf_word(in, out, "confidence");
    return st;
}

static enum bo1_status do_synthesize_final(struct ctx *c, const json_t *in, json_t *out)
{
    enum bo1_status st = do_synthesize(c, in, out);

    if (st == BO1_OK)
        st = put_strs(in, out, "conflicts", MAX_LIST);
    if (st == BO1_OK)
        st = put_strs(in, out, "roadmap", MAX_LIST);
    return st;
}

/* ---- tagged answers (contribute, moderate) ---- */

static const char *const known_tags[] = {"thinking", "contribution", "summary"};

/* If a tag named @name (or any known tag when @name is NULL) starts at s[i] - '<', optional
 * whitespace, '/' when @closing, whitespace, the name in any case, whitespace, '>' - return
 * the index after '>'; else 0. */
static size_t tag_at(const char *s, size_t n, size_t i, const char *name, int closing)
{
    size_t p = i + 1;

    if (s[i] != '<')
        return 0;
    while (p < n && is_space(s[p]))
        p++;
    if (closing) {
        if (p >= n || s[p] != '/')
            return 0;
        p++;
        while (p < n && is_space(s[p]))
            p++;
    }
    for (size_t t = 0; t < sizeof(known_tags) / sizeof(known_tags[0]); t++) {
        const char *nm = name ? name : known_tags[t];
        size_t k = strlen(nm);
        size_t q = p;

        if (n - p >= k && strncasecmp(s + p, nm, k) == 0) {
            q += k;
            while (q < n && is_space(s[q]))
                q++;
            if (q < n && s[q] == '>')
                return q + 1;
        }
        if (name)
            break;
    }
    return 0;
}

/* Find block @name at or after @from. Content is [*cs, *ce); *next is where to go on.
 * Without a closing tag the content runs to the next opening known tag, a Markdown fence
 * or the end. */
static int find_block(const char *s, size_t n, size_t from, const char *name, size_t *cs,
                      size_t *ce, size_t *next)
{
    size_t i;

    for (i = from; i < n; i++) {
        size_t after = tag_at(s, n, i, name, 0);

        if (after) {
            *cs = after;
            break;
        }
    }
    if (i >= n)
        return 0;
    /* The closing tag wins even past other tags: thinking may mention "<contribution>". */
    for (i = *cs; i < n; i++) {
        size_t after = tag_at(s, n, i, name, 1);

        if (after) {
            *ce = i;
            *next = after;
            return 1;
        }
    }
    for (i = *cs; i < n; i++) {
        if (tag_at(s, n, i, NULL, 0))
            break;
        if (i + 3 <= n && memcmp(s + i, "```", 3) == 0)
            break; /* the closing fence of a fenced answer */
    }
    *ce = i;
    *next = i;
    return 1;
}

static json_t *trimmed_string(const char *p, size_t n)
{
    trim(&p, &n);
    return json_stringn(p, n);
}

/* The first sentence of @p (at most SUMMARY_FALLBACK_BYTES, cut on a UTF-8 boundary). */
static json_t *first_sentence(const char *p, size_t n)
{
    size_t k;

    trim(&p, &n);
    for (k = 0; k < n; k++) {
        if ((p[k] == '.' || p[k] == '!' || p[k] == '?') && (k + 1 == n || is_space(p[k + 1]))) {
            k++;
            break;
        }
        if (p[k] == '\n')
            break;
    }
    if (k > SUMMARY_FALLBACK_BYTES) {
        k = SUMMARY_FALLBACK_BYTES;
        while (k > 0 && ((unsigned char)p[k] & 0xC0) == 0x80)
            k--;
    }
    return trimmed_string(p, k);
}

/* Some models answer a tagged task with {"thinking", "contribution", "summary"} JSON. */
static enum bo1_status parse_tagged_as_json(struct ctx *c, const char *s, size_t n, json_t **out)
{
    enum bo1_status st;
    json_t *in = NULL;
    json_t *o = NULL;
    json_t *v;

    if (bo1_parse_extract_json(s, n, &in, NULL) != BO1_OK || !member(in, "contribution")) {
        st = fail(c, "no <contribution> tag in the answer");
        goto out;
    }
    st = BO1_NO_MEMORY;
    o = json_object();
    if (!o)
        goto out;
    st = put_str(c, in, o, "thinking", 0, 1);
    if (st == BO1_OK)
        st = put_str(c, in, o, "contribution", 0, 1);
    if (st != BO1_OK)
        goto out;
    v = json_object_get(o, "contribution");
    if (json_string_length(v) == 0) {
        st = fail(c, "the contribution is empty");
        goto out;
    }
    st = put_str(c, in, o, "summary", 0, 1);
    if (st == BO1_OK && json_string_length(json_object_get(o, "summary")) == 0)
        st = json_object_set_new(o, "summary",
                                 first_sentence(json_string_value(v), json_string_length(v)))
                 ? BO1_NO_MEMORY
                 : BO1_OK;
    if (st != BO1_OK)
        goto out;
    *out = o;
    o = NULL;
out:
    json_decref(o);
    json_decref(in);
    return st;
}

static enum bo1_status parse_tagged(struct ctx *c, const char *s, size_t n, json_t **out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *o = json_object();
    size_t ts = 0, te = 0, tn = 0;
    size_t cs = 0, ce = 0, cn = 0;
    size_t ss = 0, se = 0, sn = 0;
    int have_thinking;
    int have_summary;
    json_t *contribution = NULL;

    if (!o)
        goto out;
    have_thinking = find_block(s, n, 0, "thinking", &ts, &te, &tn);
    if (!find_block(s, n, have_thinking ? tn : 0, "contribution", &cs, &ce, &cn) &&
        !(have_thinking && find_block(s, n, 0, "contribution", &cs, &ce, &cn))) {
        st = parse_tagged_as_json(c, s, n, out);
        goto out;
    }
    contribution = trimmed_string(s + cs, ce - cs);
    if (!contribution)
        goto out;
    if (json_string_length(contribution) == 0) {
        st = fail(c, "the contribution is empty");
        goto out;
    }
    have_summary = find_block(s, n, cn, "summary", &ss, &se, &sn);
    if (!have_summary)
        have_summary = find_block(s, n, 0, "summary", &ss, &se, &sn);
    st = BO1_NO_MEMORY;
    if (json_object_set_new(o, "thinking",
                            have_thinking ? trimmed_string(s + ts, te - ts) : json_string("")))
        goto out;
    if (json_object_set(o, "contribution", contribution))
        goto out;
    if (have_summary && json_object_set_new(o, "summary", trimmed_string(s + ss, se - ss)))
        goto out;
    if (!have_summary || json_string_length(json_object_get(o, "summary")) == 0) {
        if (json_object_set_new(o, "summary", first_sentence(s + cs, ce - cs)))
            goto out;
    }
    *out = o;
    o = NULL;
    st = BO1_OK;
out:
    json_decref(contribution);
    json_decref(o);
    return st;
}

/* ---- dispatch ---- */

static const struct task {
    const char *name;
    enum bo1_status (*fn)(struct ctx *c, const json_t *in, json_t *out);
    const char *key; /* a required key, used to see through a one-member wrapper object */
} tasks[] = {
    {"clarify", do_clarify, "questions"},
    {"decompose", do_decompose, "sub_problems"},
    {"select", do_select, "personas"},
    {"contribute", NULL, NULL},
    {"moderate", NULL, NULL},
    {"facilitate", do_facilitate, "action"},
    {"summarize", do_summarize, "summary"},
    {"research", do_research, "findings"},
    {"vote", do_vote, "recommendation"},
    {"synthesize", do_synthesize, "recommendation"},
    {"synthesize_final", do_synthesize_final, "recommendation"},
};

const char *bo1_parse_task_name(size_t i)
{
    return i < sizeof(tasks) / sizeof(tasks[0]) ? tasks[i].name : NULL;
}

enum bo1_status bo1_parse_answer(const char *task, const char *text, size_t len, json_t **out,
                                 char **why)
{
    enum bo1_status st = BO1_INTERNAL;
    const struct task *t = NULL;
    struct ctx c = {.task = task, .why = why};
    json_t *in = NULL;
    json_t *res = NULL;
    const json_t *body;
    char *s = NULL;
    size_t n = 0;

    if (why)
        *why = NULL;
    for (size_t i = 0; task && i < sizeof(tasks) / sizeof(tasks[0]); i++) {
        if (strcmp(task, tasks[i].name) == 0)
            t = &tasks[i];
    }
    if (!t || !out) {
        parse_set_why(why, "unknown task \"%.40s\" or no output pointer", task ? task : "(null)");
        goto out;
    }
    if (len > BO1_PARSE_MAX_BYTES) {
        st = fail(&c, "answer is %zu bytes, more than the %u accepted", len, BO1_PARSE_MAX_BYTES);
        goto out;
    }
    if (!t->fn) {
        st = BO1_NO_MEMORY;
        s = parse_sanitize(text ? text : "", text ? len : 0, &n);
        if (s)
            st = parse_tagged(&c, s, n, &res);
        goto out;
    }
    {
        char *inner_why = NULL;

        st = bo1_parse_extract_json(text, text ? len : 0, &in, why ? &inner_why : NULL);
        if (st != BO1_OK) {
            if (st == BO1_PARSE_FAILED)
                fail(&c, "%s", inner_why ? inner_why : "no JSON object");
            free(inner_why);
            goto out;
        }
    }
    body = in;
    /* Some models wrap the answer: {"vote": {...}}. Look through one such layer. */
    if (!member(in, t->key) && json_object_size(in) == 1) {
        json_t *only = json_object_iter_value(json_object_iter(in));

        if (json_is_object(only))
            body = only;
    }
    st = BO1_NO_MEMORY;
    res = json_object();
    if (!res)
        goto out;
    st = t->fn(&c, body, res);
out:
    if (st == BO1_OK) {
        *out = res;
        res = NULL;
    } else if (st == BO1_NO_MEMORY && why && !*why) {
        parse_set_why(why, "%s: out of memory", task);
    }
    json_decref(res);
    json_decref(in);
    free(s);
    return st;
}
