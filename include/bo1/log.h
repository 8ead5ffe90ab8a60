/* bo1/log.h - structured logging: one JSON object per line on stdout.
 *
 * Each line has "ts" (RFC 3339 UTC, milliseconds), "level", "msg", "request_id" when
 * known, and any key fields the caller passes. Thread: any (a line is written with one
 * fwrite under stdout's lock, so lines never interleave). */
#pragma once

#include <jansson.h>

enum bo1_log_level {
    BO1_LOG_DEBUG,
    BO1_LOG_INFO,
    BO1_LOG_WARN,
    BO1_LOG_ERROR,
};

/** Lines below @lvl are dropped. Default BO1_LOG_INFO. Call once at start-up. */
void bo1_log_set_level(enum bo1_log_level lvl);

/** True when a line of level @lvl would be written (skip building its fields if not). */
int bo1_log_enabled(enum bo1_log_level lvl);

/** Parse "debug"/"info"/"warn"/"error". Returns 0 and sets @out, or -1 if unknown. */
int bo1_log_level_parse(const char *s, enum bo1_log_level *out);

/**
 * Write one log line.
 * @request_id: may be NULL. @fields: a JSON object of key fields, or NULL.
 * Takes: @fields, in every case.
 */
void bo1_log_emit(enum bo1_log_level lvl, const char *request_id, json_t *fields, const char *fmt,
                  ...) __attribute__((format(printf, 4, 5)));

#define bo1_log_debug(rid, fields, ...) bo1_log_emit(BO1_LOG_DEBUG, rid, fields, __VA_ARGS__)
#define bo1_log_info(rid, fields, ...)  bo1_log_emit(BO1_LOG_INFO, rid, fields, __VA_ARGS__)
#define bo1_log_warn(rid, fields, ...)  bo1_log_emit(BO1_LOG_WARN, rid, fields, __VA_ARGS__)
#define bo1_log_error(rid, fields, ...) bo1_log_emit(BO1_LOG_ERROR, rid, fields, __VA_ARGS__)
