/* Retry policy, backoff and the per-provider circuit breaker (MODEL_IO.md "Whether to
 * retry"). Pure functions of their inputs so that unit tests can pin every rule. */
#include <ctype.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "llm_internal.h"

/* Waits a server asks for beyond this are not believed; the deadline still applies. */
#define MAX_SERVER_WAIT_MS (10L * 60 * 1000)

void llm_utf8_sanitize(char *s)
{
    unsigned char *p = (unsigned char *)s;

    while (*p) {
        unsigned c = *p;
        size_t need = c >= 0xC2 && c <= 0xDF   ? 1
                      : c >= 0xE0 && c <= 0xEF ? 2
                      : c >= 0xF0 && c <= 0xF4 ? 3
                                               : 0;
        unsigned long value = c & (0x3F >> need);
        size_t k;

        if (c < 0x80) {
            p++;
            continue;
        }
        for (k = 1; need && k <= need; k++) {
            if ((p[k] & 0xC0) != 0x80)
                break;
            value = (value << 6) | (p[k] & 0x3F);
        }
        /* Not a whole sequence, overlong, a surrogate or past U+10FFFF: one '?' per byte. */
        if (!need || k <= need || (need == 2 && value < 0x800) ||
            (need == 3 && (value < 0x10000 || value > 0x10FFFF)) ||
            (value >= 0xD800 && value <= 0xDFFF)) {
            *p++ = '?';
            continue;
        }
        p += need + 1;
    }
}

/* Copy @src into @dst, cut to @n - 1 bytes: a cut may split a character, so the copy is
 * sanitised (error messages end up in JSON events, which must be valid UTF-8). */
static void copy_str(char *dst, size_t n, const char *src)
{
    if (n == 0)
        return;
    snprintf(dst, n, "%s", src ? src : "");
    llm_utf8_sanitize(dst);
}

static const char *trim(const char *s, size_t *len)
{
    size_t n = strlen(s);

    while (n && isspace((unsigned char)*s)) {
        s++;
        n--;
    }
    while (n && isspace((unsigned char)s[n - 1]))
        n--;
    *len = n;
    return s;
}

/* A non-negative decimal number of the form 12, 12.5 or .5; -1 when not one. */
static double parse_number(const char *s)
{
    size_t n;
    const char *p = trim(s, &n);
    char tmp[64];
    char *end;
    double v;

    if (n == 0 || n >= sizeof(tmp))
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!isdigit((unsigned char)p[i]) && p[i] != '.')
            return -1;
    memcpy(tmp, p, n);
    tmp[n] = '\0';
    errno = 0;
    v = strtod(tmp, &end);
    if (errno != 0 || *end != '\0' || !isfinite(v) || v < 0)
        return -1;
    return v;
}

long llm_retry_after_ms(const char *retry_after_ms, const char *retry_after, time_t now)
{
    double v;

    if (retry_after_ms) {
        v = parse_number(retry_after_ms);
        if (v >= 0 && v <= MAX_SERVER_WAIT_MS)
            return (long)ceil(v);
    }
    if (retry_after) {
        v = parse_number(retry_after);
        if (v >= 0) {
            if (v * 1000.0 <= MAX_SERVER_WAIT_MS)
                return (long)ceil(v * 1000.0);
            return -1;
        }
        size_t n;
        const char *p = trim(retry_after, &n);
        char tmp[128];
        time_t when;

        if (n == 0 || n >= sizeof(tmp))
            return -1;
        memcpy(tmp, p, n);
        tmp[n] = '\0';
        when = curl_getdate(tmp, NULL);
        if (when == (time_t)-1)
            return -1;
        if (when <= now)
            return 0;
        if ((double)(when - now) * 1000.0 > MAX_SERVER_WAIT_MS)
            return -1;
        return (long)(when - now) * 1000L;
    }
    return -1;
}

unsigned llm_backoff_ms(unsigned failures, unsigned base_ms, unsigned cap_ms, double u)
{
    double ceiling = base_ms;

    if (failures < 1)
        failures = 1;
    for (unsigned i = 1; i < failures && ceiling < cap_ms; i++)
        ceiling *= 2;
    if (ceiling > cap_ms)
        ceiling = cap_ms;
    if (u < 0)
        u = 0;
    if (u >= 1)
        u = 0.999999;
    return (unsigned)(u * ceiling);
}

double llm_rand01(uint64_t *state)
{
    uint64_t x = *state ? *state : 0x9E3779B97F4A7C15ull;

    x ^= x >> 12;
    x ^= x << 25;
    x ^= x >> 27;
    *state = x;
    return (double)((x * 0x2545F4914F6CDD1Dull) >> 11) / 9007199254740992.0;
}

void llm_error_fields(const char *body, size_t len, char *type, size_t type_len, char *message,
                      size_t message_len, char *code, size_t code_len)
{
    json_t *root = NULL;
    json_t *err;
    json_t *v;

    copy_str(type, type_len, "");
    copy_str(message, message_len, "");
    copy_str(code, code_len, "");
    if (!body || len == 0)
        return;
    root = json_loadb(body, len, JSON_DECODE_ANY, NULL);
    if (!json_is_object(root))
        goto out;
    err = json_object_get(root, "error");
    if (json_is_string(err)) { /* some OpenAI-compatible servers send "error": "text" */
        copy_str(message, message_len, json_string_value(err));
        goto out;
    }
    if (!json_is_object(err))
        goto out;
    v = json_object_get(err, "type");
    if (json_is_string(v))
        copy_str(type, type_len, json_string_value(v));
    v = json_object_get(err, "message");
    if (json_is_string(v))
        copy_str(message, message_len, json_string_value(v));
    v = json_object_get(err, "details");
    if (json_is_object(v)) {
        json_t *c = json_object_get(v, "error_code");
        if (json_is_string(c))
            copy_str(code, code_len, json_string_value(c));
    }
    if (code[0] == '\0') {
        v = json_object_get(err, "code"); /* OpenAI puts its code here */
        if (json_is_string(v))
            copy_str(code, code_len, json_string_value(v));
    }
out:
    json_decref(root);
}

static int header_bool(const char *h, int *out)
{
    size_t n;
    const char *p;

    if (!h)
        return 0;
    p = trim(h, &n);
    if (n == 4 && strncasecmp(p, "true", 4) == 0) {
        *out = 1;
        return 1;
    }
    if (n == 5 && strncasecmp(p, "false", 5) == 0) {
        *out = 0;
        return 1;
    }
    return 0;
}

static int is_spend_limit(const char *code)
{
    /* The first two are Anthropic's (MODEL_IO.md); insufficient_quota is OpenAI's "out of
     * credit", which no amount of waiting fixes either. */
    return strcmp(code, "enforced_spend_limit_reached") == 0 ||
           strcmp(code, "contract_spend_limit_reached") == 0 ||
           strcmp(code, "insufficient_quota") == 0;
}

static void classify_network(const struct llm_attempt *a, struct llm_verdict *v)
{
    const char *detail = a->curl_error && a->curl_error[0]
                             ? a->curl_error
                             : curl_easy_strerror((CURLcode)a->curl_code);

    v->breaker = LLM_BREAKER_FAILURE;
    v->retry = 1;
    switch ((CURLcode)a->curl_code) {
    case CURLE_OPERATION_TIMEDOUT:
        v->status = BO1_UPSTREAM_TIMEOUT;
        if (a->deadline_hit) {
            v->retry = 0;
            snprintf(v->message, sizeof(v->message),
                     "%s did not answer before the call's deadline (%s)", a->provider, detail);
        } else {
            snprintf(v->message, sizeof(v->message), "%s did not answer in time (%s)", a->provider,
                     detail);
        }
        break;
    case CURLE_WRITE_ERROR:
        /* Our write callback refused: the reply passed the size limit. */
        v->status = BO1_UPSTREAM_BAD_REPLY;
        v->retry = 0;
        v->breaker = LLM_BREAKER_NEUTRAL;
        snprintf(v->message, sizeof(v->message), "%s sent a reply larger than the limit",
                 a->provider);
        break;
    case CURLE_URL_MALFORMAT:
    case CURLE_UNSUPPORTED_PROTOCOL:
        v->status = BO1_CONFIG_INVALID;
        v->retry = 0;
        v->breaker = LLM_BREAKER_NEUTRAL;
        snprintf(v->message, sizeof(v->message), "the %s base URL is unusable (%s)", a->provider,
                 detail);
        break;
    default:
        v->status = BO1_UPSTREAM_FAILED;
        snprintf(v->message, sizeof(v->message), "could not reach %s: %s", a->provider, detail);
        break;
    }
}

void llm_classify(const struct llm_attempt *a, time_t now, struct llm_verdict *v)
{
    char etype[64];
    char emsg[300];
    char ecode[64];
    int should = 0;
    int have_should;
    long st = a->http_status;

    memset(v, 0, sizeof(*v));
    v->wait_ms = -1;
    if (a->curl_code != 0) {
        classify_network(a, v);
        return;
    }
    if (st >= 200 && st < 300) {
        v->status = BO1_OK;
        v->breaker = LLM_BREAKER_SUCCESS;
        return;
    }

    llm_error_fields(a->body, a->body_len, etype, sizeof(etype), emsg, sizeof(emsg), ecode,
                     sizeof(ecode));
    if (emsg[0] == '\0')
        snprintf(emsg, sizeof(emsg), "no error message");

    /* A spend cap is not a rate limit: never retried, whatever the headers say. */
    if (st == 429 && is_spend_limit(ecode)) {
        v->status = BO1_SPEND_LIMIT;
        v->retry = 0;
        v->breaker = LLM_BREAKER_NEUTRAL;
        snprintf(v->message, sizeof(v->message),
                 "the %s account's spend limit is reached (%s); no more model calls can be "
                 "made until it is raised: %s",
                 a->provider, ecode, emsg);
        return;
    }

    if (st == 429) {
        v->status = BO1_UPSTREAM_RATE_LIMITED;
        v->breaker = LLM_BREAKER_NEUTRAL;
    } else if (st == 529 || strcmp(etype, "overloaded_error") == 0) {
        v->status = BO1_UPSTREAM_OVERLOADED;
        v->breaker = LLM_BREAKER_FAILURE;
    } else if (st >= 500) {
        v->status = BO1_UPSTREAM_FAILED;
        v->breaker = LLM_BREAKER_FAILURE;
    } else if (st == 408) {
        v->status = BO1_UPSTREAM_TIMEOUT;
        v->breaker = LLM_BREAKER_FAILURE;
    } else {
        v->status = BO1_UPSTREAM_REJECTED;
        v->breaker = LLM_BREAKER_SUCCESS; /* the provider is up; the request is at fault */
    }
    snprintf(v->message, sizeof(v->message), "%s answered HTTP %ld%s%s: %s", a->provider, st,
             etype[0] ? " " : "", etype, emsg);
    llm_utf8_sanitize(v->message);

    have_should = header_bool(a->should_retry, &should);
    if (have_should)
        v->retry = should;
    else
        v->retry = st == 408 || st == 409 || st == 429 || st >= 500;
    if (v->retry)
        v->wait_ms = llm_retry_after_ms(a->retry_after_ms, a->retry_after, now);
}

void llm_breaker_init(struct llm_breaker *b, const char *name, unsigned threshold,
                      unsigned cooldown_ms)
{
    memset(b, 0, sizeof(*b));
    copy_str(b->name, sizeof(b->name), name);
    b->threshold = threshold ? threshold : 1;
    b->cooldown_ms = cooldown_ms;
    b->state = LLM_BREAKER_CLOSED;
}

int llm_breaker_allow(struct llm_breaker *b, uint64_t now_ms, int *probe)
{
    *probe = 0;
    switch (b->state) {
    case LLM_BREAKER_CLOSED:
        return 1;
    case LLM_BREAKER_OPEN:
        if (now_ms - b->opened_at_ms < b->cooldown_ms)
            return 0;
        b->state = LLM_BREAKER_HALF_OPEN;
        b->probe_out = 0;
        /* fall through */
    case LLM_BREAKER_HALF_OPEN:
        if (b->probe_out)
            return 0;
        b->probe_out = 1;
        *probe = 1;
        return 1;
    }
    return 0;
}

void llm_breaker_record(struct llm_breaker *b, enum llm_breaker_effect eff, int probe,
                        uint64_t now_ms)
{
    switch (eff) {
    case LLM_BREAKER_SUCCESS:
        b->state = LLM_BREAKER_CLOSED;
        b->failures = 0;
        b->probe_out = 0;
        break;
    case LLM_BREAKER_FAILURE:
        b->failures++;
        if ((b->state == LLM_BREAKER_HALF_OPEN && probe) ||
            (b->state == LLM_BREAKER_CLOSED && b->failures >= b->threshold)) {
            b->state = LLM_BREAKER_OPEN;
            b->opened_at_ms = now_ms;
            b->probe_out = 0;
            b->opened_count++;
        }
        break;
    case LLM_BREAKER_NEUTRAL:
        llm_breaker_release_probe(b, probe);
        break;
    }
}

void llm_breaker_release_probe(struct llm_breaker *b, int probe)
{
    if (probe && b->state == LLM_BREAKER_HALF_OPEN)
        b->probe_out = 0;
}

uint64_t llm_breaker_retry_in(const struct llm_breaker *b, uint64_t now_ms)
{
    if (b->state != LLM_BREAKER_OPEN)
        return 0;
    if (now_ms - b->opened_at_ms >= b->cooldown_ms)
        return 0;
    return b->cooldown_ms - (now_ms - b->opened_at_ms);
}
