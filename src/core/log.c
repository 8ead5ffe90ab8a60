/* JSON-lines logger. Stateless apart from the level, which is set once at start-up. */
#include "bo1/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static enum bo1_log_level min_level = BO1_LOG_INFO;

static const char *const level_names[] = {"debug", "info", "warn", "error"};

void bo1_log_set_level(enum bo1_log_level lvl)
{
    min_level = lvl;
}

int bo1_log_enabled(enum bo1_log_level lvl)
{
    return lvl >= min_level;
}

int bo1_log_level_parse(const char *s, enum bo1_log_level *out)
{
    for (size_t i = 0; i < sizeof(level_names) / sizeof(level_names[0]); i++) {
        if (s && strcmp(s, level_names[i]) == 0) {
            *out = (enum bo1_log_level)i;
            return 0;
        }
    }
    return -1;
}

static void format_ts(char *out, size_t n)
{
    struct timespec ts;
    struct tm tm;

    clock_gettime(CLOCK_REALTIME, &ts);
    gmtime_r(&ts.tv_sec, &tm);
    snprintf(out, n, "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, ts.tv_nsec / 1000000);
}

void bo1_log_emit(enum bo1_log_level lvl, const char *request_id, json_t *fields, const char *fmt,
                  ...)
{
    char ts[64];
    char msg[2048];
    va_list ap;
    json_t *line = NULL;
    char *text = NULL;

    if (lvl < min_level)
        goto out;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    format_ts(ts, sizeof(ts));

    line = json_object();
    if (!line)
        goto out;
    json_object_set_new(line, "ts", json_string(ts));
    json_object_set_new(line, "level", json_string(level_names[lvl]));
    /* Message text may hold bytes from the outside world; jansson rejects invalid
     * UTF-8, so fall back to a placeholder rather than lose the line. */
    json_t *m = json_string(msg);
    json_object_set_new(line, "msg", m ? m : json_string("(message not valid UTF-8)"));
    if (request_id)
        json_object_set_new(line, "request_id", json_string(request_id));
    if (json_is_object(fields))
        json_object_update_missing(line, fields);

    text = json_dumps(line, JSON_COMPACT);
    if (text) {
        size_t len = strlen(text);
        text[len] = '\0';
        flockfile(stdout);
        fwrite(text, 1, len, stdout);
        fputc('\n', stdout);
        fflush(stdout);
        funlockfile(stdout);
    }
out:
    free(text);
    json_decref(line);
    json_decref(fields);
}
