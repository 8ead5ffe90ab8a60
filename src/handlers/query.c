/* Query-string and header values of the session routes: stream ids (Last-Event-ID, ?after=),
 * ?limit=, ?cursor= and ?status=. Pure string checks, so the fuzzer reaches them directly. */
#include <stdlib.h>
#include <string.h>

#include "bo1/sessions.h"
#include "handlers_internal.h"

/* @n leading digits of @s are a number Redis reads as an unsigned 64-bit integer. */
static int u64_digits(const char *s, size_t n)
{
    static const char max[] = "18446744073709551615";

    if (n == 0 || n > sizeof(max) - 1)
        return 0;
    /* Same length: decimal order is string order. */
    return n < sizeof(max) - 1 || strncmp(s, max, n) <= 0;
}

/* A stream id "ms-seq" or "0". Redis refuses an id whose parts pass 2^64-1, so the SSE
 * replay would fail later; such ids are refused here with a 422. */
int bo1_handlers_stream_id_valid(const char *s)
{
    size_t a = strspn(s, "0123456789");

    if (strcmp(s, "0") == 0)
        return 1;
    if (!u64_digits(s, a) || s[a] != '-')
        return 0;
    s += a + 1;
    a = strspn(s, "0123456789");
    return u64_digits(s, a) && s[a] == '\0';
}

unsigned bo1_handlers_parse_limit(const char *s, unsigned def, unsigned max)
{
    char *end = NULL;
    unsigned long v;

    if (!s)
        return def;
    if (*s < '0' || *s > '9')
        return 0;
    v = strtoul(s, &end, 10);
    if (*end || v < 1 || v > max)
        return 0;
    return (unsigned)v;
}

/* The score is a creation time in milliseconds: at most 20 digits. An unbounded score let
 * a cursor pass that the list handler then cut to its 160-byte buffer, session id and all. */
int bo1_handlers_cursor_valid(const char *cursor)
{
    const char *dot = strchr(cursor, '.');
    size_t digits = strspn(cursor, "0123456789");

    return dot && digits > 0 && digits <= 20 && cursor + digits == dot &&
           bo1_sessions_id_valid(dot + 1);
}

int bo1_handlers_status_known(const char *s)
{
    static const char *const all[] = {"created",        "queued",    "running", "paused",
                                      "awaiting_input", "completed", "failed",  "cancelled"};

    for (size_t i = 0; i < sizeof(all) / sizeof(all[0]); i++)
        if (strcmp(s, all[i]) == 0)
            return 1;
    return 0;
}
