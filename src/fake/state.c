/* state.c - the fake provider's shared state: fault rules, scripted answers, the bounded
 * request log and the simulated prompt cache. Every *_locked function expects st->lock
 * to be held by the caller (the HTTP threads). */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fake_internal.h"

static const char *const error_names[] = {
    [FAKE_ERR_NONE] = "none",
    [FAKE_ERR_429] = "429",
    [FAKE_ERR_SPEND] = "spend_limit",
    [FAKE_ERR_500] = "500",
    [FAKE_ERR_529] = "529",
    [FAKE_ERR_MALFORMED] = "malformed",
    [FAKE_ERR_TRUNCATED] = "truncated",
    [FAKE_ERR_RESET] = "reset",
    [FAKE_ERR_HANG] = "hang",
};

const char *fake_error_name(enum fake_error e)
{
    return error_names[e];
}

static int error_parse(const char *s, enum fake_error *out)
{
    /* Friendly aliases, so "rate_limit" and "overloaded" read naturally in tests. */
    static const struct {
        const char *name;
        enum fake_error e;
    } aliases[] = {
        {"rate_limit", FAKE_ERR_429},           {"spend", FAKE_ERR_SPEND},
        {"overloaded", FAKE_ERR_529},           {"server", FAKE_ERR_500},
        {"malformed_json", FAKE_ERR_MALFORMED}, {"truncate", FAKE_ERR_TRUNCATED},
        {"connection_reset", FAKE_ERR_RESET},
    };

    for (size_t i = 0; i < sizeof(error_names) / sizeof(error_names[0]); i++) {
        if (strcmp(s, error_names[i]) == 0) {
            *out = (enum fake_error)i;
            return 0;
        }
    }
    for (size_t i = 0; i < sizeof(aliases) / sizeof(aliases[0]); i++) {
        if (strcmp(s, aliases[i].name) == 0) {
            *out = aliases[i].e;
            return 0;
        }
    }
    return -1;
}

void fake_fault_free(struct fake_fault *f)
{
    if (!f)
        return;
    free(f->task);
    free(f->session);
    free(f->path);
    free(f->contains);
    free(f);
}

static char *dup_reason(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *dup_reason(const char *fmt, ...)
{
    char tmp[256];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(tmp, sizeof(tmp), fmt, ap);
    va_end(ap);
    return strdup(tmp);
}

static int get_long(const json_t *v, long *out)
{
    if (json_is_integer(v)) {
        *out = (long)json_integer_value(v);
        return 0;
    }
    if (json_is_real(v)) {
        *out = (long)json_real_value(v);
        return 0;
    }
    if (json_is_string(v)) {
        char *end = NULL;
        *out = strtol(json_string_value(v), &end, 10);
        return end && *end == '\0' && end != json_string_value(v) ? 0 : -1;
    }
    return -1;
}

enum bo1_status fake_fault_from_json(const json_t *j, struct fake_fault **out, char **why)
{
    enum bo1_status st = BO1_BAD_FIELD;
    struct fake_fault *f = NULL;
    const char *key;
    json_t *v;

    if (!json_is_object(j)) {
        *why = strdup("a fault must be a JSON object");
        goto out;
    }
    f = calloc(1, sizeof(*f));
    if (!f) {
        st = BO1_NO_MEMORY;
        goto out;
    }
    f->latency_ms = f->latency_min_ms = f->latency_max_ms = -1;
    f->rate = -1;
    f->count = -1;
    f->retry_after_s = f->retry_after_ms = -1;
    f->should_retry = -1;
    f->hang_ms = 600000;

    json_object_foreach((json_t *)j, key, v)
    {
        long n = 0;

        if (strcmp(key, "task") == 0 || strcmp(key, "session") == 0 || strcmp(key, "path") == 0 ||
            strcmp(key, "contains") == 0) {
            char **slot = key[0] == 't'   ? &f->task
                          : key[0] == 's' ? &f->session
                          : key[0] == 'p' ? &f->path
                                          : &f->contains;
            if (json_is_null(v))
                continue;
            if (!json_is_string(v)) {
                *why = dup_reason("fault field '%s' must be a string", key);
                goto out;
            }
            *slot = strdup(json_string_value(v));
        } else if (strcmp(key, "error") == 0 || strcmp(key, "kind") == 0) {
            char tmp[32];
            if (json_is_integer(v)) {
                snprintf(tmp, sizeof(tmp), "%lld", (long long)json_integer_value(v));
            } else if (json_is_string(v)) {
                snprintf(tmp, sizeof(tmp), "%s", json_string_value(v));
            } else if (json_is_null(v)) {
                snprintf(tmp, sizeof(tmp), "none");
            } else {
                *why = strdup("fault field 'error' must be a string");
                goto out;
            }
            if (error_parse(tmp, &f->error) != 0) {
                *why = dup_reason("unknown fault error '%s'", tmp);
                goto out;
            }
        } else if (strcmp(key, "rate") == 0) {
            if (!json_is_number(v) || json_number_value(v) < 0 || json_number_value(v) > 1) {
                *why = strdup("fault field 'rate' must be a number in [0, 1]");
                goto out;
            }
            f->rate = json_number_value(v);
        } else if (strcmp(key, "should_retry") == 0 || strcmp(key, "x_should_retry") == 0) {
            if (json_is_boolean(v)) {
                f->should_retry = json_is_true(v);
            } else if (json_is_string(v) && (strcmp(json_string_value(v), "true") == 0 ||
                                             strcmp(json_string_value(v), "false") == 0)) {
                f->should_retry = json_string_value(v)[0] == 't';
            } else {
                *why = strdup("fault field 'should_retry' must be a boolean");
                goto out;
            }
        } else {
            long *slot = NULL;
            if (strcmp(key, "latency_ms") == 0)
                slot = &f->latency_ms;
            else if (strcmp(key, "latency_min_ms") == 0)
                slot = &f->latency_min_ms;
            else if (strcmp(key, "latency_max_ms") == 0)
                slot = &f->latency_max_ms;
            else if (strcmp(key, "count") == 0)
                slot = &f->count;
            else if (strcmp(key, "retry_after") == 0 || strcmp(key, "retry_after_s") == 0)
                slot = &f->retry_after_s;
            else if (strcmp(key, "retry_after_ms") == 0)
                slot = &f->retry_after_ms;
            else if (strcmp(key, "hang_ms") == 0)
                slot = &f->hang_ms;
            if (!slot) {
                *why = dup_reason("unknown fault field '%s'", key);
                goto out;
            }
            if (get_long(v, &n) != 0 || n < 0) {
                *why = dup_reason("fault field '%s' must be a non-negative integer", key);
                goto out;
            }
            *slot = n;
        }
    }
    if ((f->latency_min_ms >= 0) != (f->latency_max_ms >= 0) ||
        f->latency_min_ms > f->latency_max_ms) {
        *why = strdup("latency_min_ms and latency_max_ms go together, min <= max");
        goto out;
    }
    if (f->error == FAKE_ERR_NONE && f->latency_ms < 0 && f->latency_min_ms < 0) {
        *why = strdup("a fault needs an 'error' or a latency");
        goto out;
    }
    *out = f;
    f = NULL;
    st = BO1_OK;
out:
    fake_fault_free(f);
    return st;
}

enum bo1_status fake_fault_from_spec(const char *spec, struct fake_fault **out, char **why)
{
    enum bo1_status st = BO1_BAD_FIELD;
    json_t *j = NULL;
    char *copy = NULL;
    char *save = NULL;

    if (spec[0] == '{') {
        j = json_loads(spec, 0, NULL);
        if (!j) {
            *why = strdup("--fault: not valid JSON");
            goto out;
        }
    } else {
        j = json_object();
        copy = strdup(spec);
        if (!j || !copy) {
            st = BO1_NO_MEMORY;
            goto out;
        }
        for (char *tok = strtok_r(copy, ",", &save); tok; tok = strtok_r(NULL, ",", &save)) {
            char *eq = strchr(tok, '=');
            char *end = NULL;
            double d;
            if (!eq) {
                *why = dup_reason("--fault: '%s' is not key=value", tok);
                goto out;
            }
            *eq = '\0';
            d = strtod(eq + 1, &end);
            if (strcmp(tok, "rate") == 0 && end && *end == '\0')
                json_object_set_new(j, tok, json_real(d));
            else if (strcmp(eq + 1, "true") == 0 || strcmp(eq + 1, "false") == 0)
                json_object_set_new(j, tok, json_boolean(eq[1] == 't'));
            else
                json_object_set_new(j, tok, json_string(eq + 1));
        }
    }
    st = fake_fault_from_json(j, out, why);
out:
    free(copy);
    json_decref(j);
    return st;
}

json_t *fake_fault_to_json(const struct fake_fault *f)
{
    json_t *j = json_object();

    if (!j)
        return NULL;
    json_object_set_new(j, "id", json_integer((json_int_t)f->id));
    json_object_set_new(j, "task", f->task ? json_string(f->task) : json_null());
    json_object_set_new(j, "session", f->session ? json_string(f->session) : json_null());
    json_object_set_new(j, "path", f->path ? json_string(f->path) : json_null());
    json_object_set_new(j, "contains", f->contains ? json_string(f->contains) : json_null());
    json_object_set_new(j, "error", json_string(fake_error_name(f->error)));
    if (f->latency_ms >= 0)
        json_object_set_new(j, "latency_ms", json_integer(f->latency_ms));
    if (f->latency_min_ms >= 0) {
        json_object_set_new(j, "latency_min_ms", json_integer(f->latency_min_ms));
        json_object_set_new(j, "latency_max_ms", json_integer(f->latency_max_ms));
    }
    if (f->rate >= 0)
        json_object_set_new(j, "rate", json_real(f->rate));
    if (f->count >= 0)
        json_object_set_new(j, "count", json_integer(f->count));
    if (f->retry_after_s >= 0)
        json_object_set_new(j, "retry_after", json_integer(f->retry_after_s));
    if (f->retry_after_ms >= 0)
        json_object_set_new(j, "retry_after_ms", json_integer(f->retry_after_ms));
    if (f->should_retry >= 0)
        json_object_set_new(j, "should_retry", json_boolean(f->should_retry));
    if (f->error == FAKE_ERR_HANG)
        json_object_set_new(j, "hang_ms", json_integer(f->hang_ms));
    json_object_set_new(j, "matched", json_integer((json_int_t)f->matched));
    return j;
}

enum bo1_status fake_state_init(struct fake_state *st, size_t max_requests)
{
    memset(st, 0, sizeof(*st));
    pthread_mutex_init(&st->lock, NULL);
    st->embed_dim = 256;
    st->default_latency_ms = 0;
    st->default_latency_min_ms = st->default_latency_max_ms = -1;
    st->max_requests = max_requests ? max_requests : 1;
    st->scripts_tail = &st->scripts;
    st->next_fault_id = 1;
    st->log = calloc(st->max_requests, sizeof(*st->log));
    st->cache_cap = 1024;
    st->cache = calloc(st->cache_cap, sizeof(*st->cache));
    if (!st->log || !st->cache)
        return BO1_NO_MEMORY;
    return BO1_OK;
}

void fake_state_fini(struct fake_state *st)
{
    fake_state_clear_faults_locked(st);
    fake_state_clear_scripts_locked(st);
    fake_state_clear_requests_locked(st);
    free(st->log);
    free(st->cache);
    pthread_mutex_destroy(&st->lock);
}

void fake_state_add_fault_locked(struct fake_state *st, struct fake_fault *f)
{
    struct fake_fault **tail = &st->faults;

    f->id = st->next_fault_id++;
    while (*tail)
        tail = &(*tail)->next;
    *tail = f;
}

void fake_state_clear_faults_locked(struct fake_state *st)
{
    while (st->faults) {
        struct fake_fault *next = st->faults->next;
        fake_fault_free(st->faults);
        st->faults = next;
    }
}

static int fault_matches(const struct fake_fault *f, const char *path, const char *task,
                         const char *session, const char *body)
{
    if (f->contains && (!body || !strstr(body, f->contains)))
        return 0;
    if (f->task && (!task || strcmp(f->task, task) != 0))
        return 0;
    if (f->session && (!session || strcmp(f->session, session) != 0))
        return 0;
    if (f->path && strcmp(f->path, path) != 0)
        return 0;
    return 1;
}

static long draw_latency(struct fake_state *st, long fixed, long lo, long hi)
{
    uint64_t r;

    if (lo >= 0 && hi >= lo) {
        r = fake_hash(st->seed ^ 0x6c6174656e6379ULL, &st->latency_draws,
                      sizeof(st->latency_draws));
        st->latency_draws++;
        return lo + (long)(r % (uint64_t)(hi - lo + 1));
    }
    return fixed > 0 ? fixed : 0;
}

void fake_state_decide_locked(struct fake_state *st, const char *path, const char *task,
                              const char *session, const char *body, struct fake_decision *d)
{
    int have_latency = 0;

    memset(d, 0, sizeof(*d));
    d->retry_after_s = d->retry_after_ms = -1;
    d->should_retry = -1;
    for (struct fake_fault *f = st->faults; f; f = f->next) {
        if (!fault_matches(f, path, task, session, body))
            continue;
        if (!have_latency && (f->latency_ms >= 0 || f->latency_min_ms >= 0)) {
            /* A latency-only rule applies to every match; one with an error only when
             * the error fires (below). */
            if (f->error == FAKE_ERR_NONE) {
                d->latency_ms =
                    draw_latency(st, f->latency_ms, f->latency_min_ms, f->latency_max_ms);
                have_latency = 1;
            }
        }
        if (f->error == FAKE_ERR_NONE || d->error != FAKE_ERR_NONE || f->count == 0)
            continue;
        f->matched++;
        if (f->rate >= 0) {
            uint64_t h = fake_hash(st->seed ^ (f->id * 0x9e3779b97f4a7c15ULL), &f->matched,
                                   sizeof(f->matched));
            if ((double)(h >> 11) / 9007199254740992.0 >= f->rate)
                continue;
        }
        if (f->count > 0)
            f->count--;
        d->error = f->error;
        d->retry_after_s = f->retry_after_s;
        d->retry_after_ms = f->retry_after_ms;
        d->should_retry = f->should_retry;
        d->hang_ms = f->hang_ms;
        d->fault_id = f->id;
        if (!have_latency && (f->latency_ms >= 0 || f->latency_min_ms >= 0)) {
            d->latency_ms = draw_latency(st, f->latency_ms, f->latency_min_ms, f->latency_max_ms);
            have_latency = 1;
        }
    }
    if (!have_latency)
        d->latency_ms = draw_latency(st, st->default_latency_ms, st->default_latency_min_ms,
                                     st->default_latency_max_ms);
}

enum bo1_status fake_state_add_script_locked(struct fake_state *st, const char *task,
                                             const char *session, const char *text)
{
    struct fake_script *s = calloc(1, sizeof(*s));

    if (!s)
        return BO1_NO_MEMORY;
    s->task = strdup(task);
    s->session = session ? strdup(session) : NULL;
    s->text = strdup(text);
    if (!s->task || !s->text || (session && !s->session)) {
        free(s->task);
        free(s->session);
        free(s->text);
        free(s);
        return BO1_NO_MEMORY;
    }
    *st->scripts_tail = s;
    st->scripts_tail = &s->next;
    return BO1_OK;
}

void fake_state_clear_scripts_locked(struct fake_state *st)
{
    while (st->scripts) {
        struct fake_script *next = st->scripts->next;
        free(st->scripts->task);
        free(st->scripts->session);
        free(st->scripts->text);
        free(st->scripts);
        st->scripts = next;
    }
    st->scripts_tail = &st->scripts;
}

char *fake_state_pop_script_locked(struct fake_state *st, const char *task, const char *session)
{
    struct fake_script **pp = &st->scripts;

    if (!task)
        return NULL;
    for (; *pp; pp = &(*pp)->next) {
        struct fake_script *s = *pp;
        char *text;
        if (strcmp(s->task, task) != 0)
            continue;
        if (s->session && (!session || strcmp(s->session, session) != 0))
            continue;
        *pp = s->next;
        if (st->scripts_tail == &s->next)
            st->scripts_tail = pp;
        text = s->text;
        free(s->task);
        free(s->session);
        free(s);
        return text;
    }
    return NULL;
}

void fake_state_record_locked(struct fake_state *st, json_t *rec)
{
    size_t slot;

    json_object_set_new(rec, "seq", json_integer((json_int_t)++st->seq));
    if (st->log_len == st->max_requests) {
        /* Full: drop the oldest so memory stays bounded. */
        json_decref(st->log[st->log_start]);
        st->log[st->log_start] = rec;
        st->log_start = (st->log_start + 1) % st->max_requests;
        return;
    }
    slot = (st->log_start + st->log_len) % st->max_requests;
    st->log[slot] = rec;
    st->log_len++;
}

static int field_is(const json_t *rec, const char *key, const char *want)
{
    const char *v = json_string_value(json_object_get(rec, key));

    return !want || (v && strcmp(v, want) == 0);
}

json_t *fake_state_requests_locked(struct fake_state *st, const char *task, const char *session,
                                   const char *path)
{
    json_t *arr = json_array();

    for (size_t i = 0; arr && i < st->log_len; i++) {
        json_t *rec = st->log[(st->log_start + i) % st->max_requests];
        if (field_is(rec, "task", task) && field_is(rec, "session", session) &&
            field_is(rec, "path", path))
            json_array_append(arr, rec);
    }
    return arr;
}

void fake_state_clear_requests_locked(struct fake_state *st)
{
    for (size_t i = 0; i < st->log_len; i++)
        json_decref(st->log[(st->log_start + i) % st->max_requests]);
    st->log_start = st->log_len = 0;
}

static void cache_insert(uint64_t *tab, size_t cap, uint64_t h)
{
    size_t i = (size_t)(h % cap);

    while (tab[i] && tab[i] != h)
        i = (i + 1) % cap;
    tab[i] = h;
}

int fake_state_cache_has_locked(const struct fake_state *st, uint64_t h)
{
    size_t i;

    h = h ? h : 1; /* 0 marks an empty slot */
    i = (size_t)(h % st->cache_cap);
    while (st->cache[i]) {
        if (st->cache[i] == h)
            return 1;
        i = (i + 1) % st->cache_cap;
    }
    return 0;
}

int fake_state_cache_seen_locked(struct fake_state *st, uint64_t h)
{
    h = h ? h : 1;
    if (fake_state_cache_has_locked(st, h))
        return 1;
    if ((st->cache_len + 1) * 2 > st->cache_cap) {
        size_t ncap = st->cache_cap * 2;
        uint64_t *ntab = NULL;
        /* Bounded like the request log: past a million prefixes, start over (a real
         * cache evicts too). */
        if (ncap > (1u << 21)) {
            memset(st->cache, 0, st->cache_cap * sizeof(*st->cache));
            st->cache_len = 0;
        } else {
            ntab = calloc(ncap, sizeof(*ntab));
            if (ntab) {
                for (size_t i = 0; i < st->cache_cap; i++)
                    if (st->cache[i])
                        cache_insert(ntab, ncap, st->cache[i]);
                free(st->cache);
                st->cache = ntab;
                st->cache_cap = ncap;
            }
        }
    }
    if ((st->cache_len + 1) * 2 > st->cache_cap + 1 && st->cache_len + 1 >= st->cache_cap)
        return 0; /* no room at all; never loop forever */
    cache_insert(st->cache, st->cache_cap, h);
    st->cache_len++;
    return 0;
}

void fake_state_clear_cache_locked(struct fake_state *st)
{
    memset(st->cache, 0, st->cache_cap * sizeof(*st->cache));
    st->cache_len = 0;
}
