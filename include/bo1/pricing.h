/* bo1/pricing.h - the model price table (zzz_important/pricing.json).
 *
 * Loaded and validated once at start, immutable afterwards, so any thread may read it.
 * Prices are US dollars per million tokens. File shape:
 *   {"models": {"<model id>": {"input": 3.0, "output": 15.0,
 *                              "cache_write": 3.75, "cache_read": 0.30}, ...}} */
#pragma once

#include <stddef.h>

#include "bo1/status.h"

struct bo1_pricing;

struct bo1_price {
    double input, output, cache_write, cache_read; /* USD per million tokens */
};

/**
 * Load and validate @path. Every model needs all four fields as non-negative numbers.
 * Returns BO1_OK and *out, or BO1_CONFIG_INVALID with *why (malloc'd, if @why is not NULL)
 * naming the file, the model and the field at fault; BO1_NO_MEMORY.
 */
enum bo1_status bo1_pricing_load(const char *path, struct bo1_pricing **out, char **why);

/** Same as bo1_pricing_load() from a JSON text; @origin names it in errors. */
enum bo1_status bo1_pricing_parse(const char *text, size_t len, const char *origin,
                                  struct bo1_pricing **out, char **why);

/** NULL-safe. */
void bo1_pricing_free(struct bo1_pricing *p);

/** The price of @model, or NULL when unknown. Borrowed. Thread: any. */
const struct bo1_price *bo1_pricing_get(const struct bo1_pricing *p, const char *model);

/** Number of models in the table. */
size_t bo1_pricing_count(const struct bo1_pricing *p);

/**
 * Cost in USD of the given token counts at @model's price. Returns 1 and sets *usd when the
 * model is priced; returns 0 and sets *usd to 0 when it is not (cost unknown, not free).
 */
int bo1_pricing_cost(const struct bo1_pricing *p, const char *model, long input, long output,
                     long cache_write, long cache_read, double *usd);
