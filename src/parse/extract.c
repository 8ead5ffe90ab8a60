/* extract.c - find and decode the JSON object inside free-form model text.
 *
 * The text is first made valid UTF-8, then candidate objects are tried in order: the
 * first Markdown-fenced block that opens with '{', then every '{' from the start. A
 * candidate is scanned to its balancing brace while a repaired copy is written (trailing
 * commas dropped, raw control characters escaped), and only that span goes to jansson.
 * The scanner is a loop with a counter, so nesting costs no stack. */
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/parse.h"
#include "parse_internal.h"

/* Candidates tried before giving up; bounds the work on hostile text full of braces. */
#define MAX_CANDIDATES 64
/* Fenced blocks looked at before the plain scan. */
#define MAX_FENCES 8

void parse_set_why(char **why, const char *fmt, ...)
{
    char tmp[512];
    va_list ap;

    if (!why)
        return;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    *why = strdup(tmp);
}

/* Length of the valid UTF-8 sequence at @p (at most @n bytes available), or 0. */
static size_t utf8_seq_len(const unsigned char *p, size_t n)
{
    unsigned char c = p[0];
    unsigned char lo = 0x80;
    unsigned char hi = 0xBF;
    size_t need;

    if (c >= 0x01 && c <= 0x7F)
        return 1;
    if (c >= 0xC2 && c <= 0xDF) {
        need = 2;
    } else if (c >= 0xE0 && c <= 0xEF) {
        need = 3;
        if (c == 0xE0)
            lo = 0xA0;
        else if (c == 0xED)
            hi = 0x9F; /* no UTF-16 surrogates */
    } else if (c >= 0xF0 && c <= 0xF4) {
        need = 4;
        if (c == 0xF0)
            lo = 0x90;
        else if (c == 0xF4)
            hi = 0x8F; /* nothing above U+10FFFF */
    } else {
        return 0; /* NUL, stray continuation byte, C0/C1, F5..FF */
    }
    if (n < need)
        return 0;
    if (p[1] < lo || p[1] > hi)
        return 0;
    for (size_t i = 2; i < need; i++) {
        if (p[i] < 0x80 || p[i] > 0xBF)
            return 0;
    }
    return need;
}

char *parse_sanitize(const char *text, size_t len, size_t *out_len)
{
    const unsigned char *in = (const unsigned char *)text;
    char *out;
    size_t o = 0;
    size_t i = 0;

    /* Each bad byte grows to three bytes, so 3 * len + 1 always suffices. */
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    out = malloc(3 * len + 1);
    if (!out)
        return NULL;
    if (len >= 3 && in[0] == 0xEF && in[1] == 0xBB && in[2] == 0xBF)
        i = 3;
    while (i < len) {
        size_t k = utf8_seq_len(in + i, len - i);

        if (k == 0) {
            memcpy(out + o, "\xEF\xBF\xBD", 3);
            o += 3;
            i++;
            continue;
        }
        memcpy(out + o, in + i, k);
        o += k;
        i += k;
    }
    out[o] = '\0';
    if (out_len)
        *out_len = o;
    return out;
}

static int is_json_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* Scan the object opening at s[start] ('{') to its balancing brace, writing a repaired copy
 * into @dst (room for 6 bytes per input byte). Returns the copy's length, or 0 when the
 * candidate is unbalanced, too deep, or ends inside a string. */
static size_t scan_candidate(const char *s, size_t n, size_t start, char *dst)
{
    size_t o = 0;
    size_t depth = 0;
    int in_str = 0;

    for (size_t i = start; i < n; i++) {
        char c = s[i];

        if (in_str) {
            unsigned char uc = (unsigned char)c;

            if (c == '"') {
                in_str = 0;
                dst[o++] = c;
            } else if (c == '\\') {
                if (i + 1 >= n)
                    return 0;
                if (s[i + 1] == 'u' && i + 5 < n && memcmp(s + i + 2, "0000", 4) == 0) {
                    /* jansson refuses NUL in strings; keep the place visible instead. */
                    memcpy(dst + o, "\\ufffd", 6);
                    o += 6;
                    i += 5;
                } else {
                    dst[o++] = c;
                    dst[o++] = s[++i];
                }
            } else if (uc < 0x20) {
                /* Models often put raw newlines inside strings; JSON wants them escaped. */
                if (c == '\n') {
                    memcpy(dst + o, "\\n", 2);
                    o += 2;
                } else if (c == '\r') {
                    memcpy(dst + o, "\\r", 2);
                    o += 2;
                } else if (c == '\t') {
                    memcpy(dst + o, "\\t", 2);
                    o += 2;
                } else {
                    o += (size_t)snprintf(dst + o, 7, "\\u%04x", uc);
                }
            } else {
                dst[o++] = c;
            }
            continue;
        }
        switch (c) {
        case '"':
            in_str = 1;
            dst[o++] = c;
            break;
        case '{':
        case '[':
            if (++depth > BO1_PARSE_MAX_DEPTH)
                return 0;
            dst[o++] = c;
            break;
        case '}':
        case ']':
            dst[o++] = c;
            if (--depth == 0)
                return o;
            break;
        case ',': {
            size_t j = i + 1;

            while (j < n && is_json_space(s[j]))
                j++;
            if (j < n && (s[j] == '}' || s[j] == ']'))
                break; /* a trailing comma: drop it */
            dst[o++] = c;
            break;
        }
        default:
            dst[o++] = c;
            break;
        }
    }
    return 0;
}

/* Index of the next "```" at or after @i, or n. */
static size_t find_fence(const char *s, size_t n, size_t i)
{
    for (; i + 3 <= n; i++) {
        if (s[i] == '`' && s[i + 1] == '`' && s[i + 2] == '`')
            return i;
    }
    return n;
}

/* Position of the '{' opening the next fenced block (searching from *from) whose body starts
 * with '{', or n when there is none. *from moves past the fence looked at. */
static size_t fenced_start(const char *s, size_t n, size_t *from)
{
    size_t i = *from;

    while (i + 3 <= n) {
        size_t f = find_fence(s, n, i);
        size_t p;

        if (f >= n)
            break;
        p = f + 3;
        while (p < n && s[p] == '`')
            p++;
        /* Skip the info string ("json", "JSON", "jsonc", ...) up to the end of the line. */
        while (p < n && s[p] != '\n' && s[p] != '{' && s[p] != '`')
            p++;
        while (p < n && (is_json_space(s[p])))
            p++;
        *from = p;
        if (p < n && s[p] == '{')
            return p;
        i = p;
    }
    *from = n;
    return n;
}

static int try_decode(const char *s, size_t n, size_t start, char *scratch, json_t **json,
                      json_error_t *err, int *have_err)
{
    size_t m = scan_candidate(s, n, start, scratch);
    json_t *v;

    if (m == 0)
        return 0;
    v = json_loadb(scratch, m, 0, err);
    if (!v) {
        *have_err = 1;
        return 0;
    }
    if (!json_is_object(v)) {
        json_decref(v);
        return 0;
    }
    *json = v;
    return 1;
}

enum bo1_status bo1_parse_extract_json(const char *text, size_t len, json_t **json, char **why)
{
    enum bo1_status st = BO1_NO_MEMORY;
    char *s = NULL;
    char *scratch = NULL;
    size_t n = 0;
    size_t tries = 0;
    size_t from = 0;
    size_t fenced_tried[MAX_FENCES];
    size_t n_fenced = 0;
    int saw_brace = 0;
    int have_err = 0;
    json_error_t err;

    if (why)
        *why = NULL;
    if (len > BO1_PARSE_MAX_BYTES) {
        st = BO1_PARSE_FAILED;
        parse_set_why(why, "answer is %zu bytes, more than the %u accepted", len,
                      BO1_PARSE_MAX_BYTES);
        goto out;
    }
    s = parse_sanitize(text ? text : "", text ? len : 0, &n);
    if (!s)
        goto out;
    scratch = malloc(6 * n + 1);
    if (!scratch)
        goto out;

    /* A fenced block is what the model meant as its answer: try those first. */
    while (n_fenced < MAX_FENCES && tries < MAX_CANDIDATES) {
        size_t p = fenced_start(s, n, &from);

        if (p >= n)
            break;
        saw_brace = 1;
        tries++;
        fenced_tried[n_fenced++] = p;
        if (try_decode(s, n, p, scratch, json, &err, &have_err)) {
            st = BO1_OK;
            goto out;
        }
    }
    for (size_t i = 0; i < n && tries < MAX_CANDIDATES; i++) {
        int again = 0;

        if (s[i] != '{')
            continue;
        saw_brace = 1;
        for (size_t k = 0; k < n_fenced; k++)
            again |= fenced_tried[k] == i;
        if (again)
            continue;
        tries++;
        if (try_decode(s, n, i, scratch, json, &err, &have_err)) {
            st = BO1_OK;
            goto out;
        }
    }
    st = BO1_PARSE_FAILED;
    if (!saw_brace)
        parse_set_why(why, "no JSON object in the answer");
    else if (have_err)
        parse_set_why(why, "no JSON object in the answer could be decoded (%s)", err.text);
    else
        parse_set_why(why,
                      "no complete JSON object in the answer (unbalanced, nested deeper "
                      "than %d, or cut off)",
                      BO1_PARSE_MAX_DEPTH);
out:
    if (st == BO1_NO_MEMORY)
        parse_set_why(why, "out of memory");
    free(scratch);
    free(s);
    return st;
}
