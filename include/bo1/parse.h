/* bo1/parse.h - defensive parsing of model answers (spec/MODEL_IO.md).
 *
 * Pure functions with no shared state: any thread. A model answer is untrusted text; these
 * functions never read outside [text, text + len), reject inputs over BO1_PARSE_MAX_BYTES,
 * bound nesting depth, and hand back JSON whose strings are valid UTF-8 without NUL.
 * The tolerated and fatal defects, defaults and clamps are listed in docs/internals/parse.md. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "bo1/status.h"

/** Largest answer accepted, in bytes (1 MiB). Larger answers fail with BO1_PARSE_FAILED. */
#define BO1_PARSE_MAX_BYTES (1024u * 1024u)

/** Deepest JSON nesting accepted (objects and arrays). Deeper candidates are skipped. */
#define BO1_PARSE_MAX_DEPTH 32

/**
 * Parse the text of a model answer for MODEL_IO task @task.
 *
 * @text need not be NUL-terminated; exactly @len bytes are read (text may be NULL when
 * len is 0). On BO1_OK *out is a new JSON object normalised to the task's shape (every
 * field present, defaults filled, numbers and confidence words coerced, unknown fields
 * dropped). contribute/moderate give {"thinking","contribution","summary"}.
 *
 * Returns: BO1_OK; BO1_PARSE_FAILED when the answer is unusable (the caller retries once,
 * then uses the task's fallback); BO1_INTERNAL for an unknown @task or NULL @out;
 * BO1_NO_MEMORY. On any failure *out is untouched and *why (if why != NULL) gets a
 * malloc'd one-line reason (NULL if even that allocation failed); the caller free()s it.
 * Truncation (stop_reason max_tokens) is the caller's check.
 * Thread: any.
 */
enum bo1_status bo1_parse_answer(const char *task, const char *text, size_t len, json_t **out,
                                 char **why);

/**
 * Find the first JSON object in free-form model text and decode it.
 *
 * Skips a byte-order mark, prose and Markdown code fences (a fenced block is tried first),
 * repairs invalid UTF-8 (each bad byte becomes U+FFFD), drops trailing commas outside
 * strings, escapes raw control characters inside strings and turns "\u0000" into U+FFFD.
 * Returns: BO1_OK with *json a new reference (caller json_decref()s); BO1_PARSE_FAILED with a
 * malloc'd reason in *why (if why != NULL) when no object decodes; BO1_NO_MEMORY.
 * Thread: any.
 */
enum bo1_status bo1_parse_extract_json(const char *text, size_t len, json_t **json, char **why);

/**
 * Name of the @i-th task bo1_parse_answer() knows, in MODEL_IO.md order.
 * Returns: static string, or NULL when @i is past the last task (for iteration).
 */
const char *bo1_parse_task_name(size_t i);
