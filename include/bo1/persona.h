/* bo1/persona.h - the catalog of advisory personas (zzz_important/personas.json).
 *
 * Loaded and validated once at start-up; immutable afterwards, so every function here
 * that takes a const catalog may run on any thread. The file format and the validation
 * rules are described in docs/internals/prompts.md. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "bo1/status.h"

struct bo1_persona_catalog;

/* Trait scores, each in [0, 1], in this order in bo1_persona.traits[] and in the JSON
 * object "traits" of the catalog file. */
enum bo1_trait {
    BO1_TRAIT_ANALYTICAL,     /* reasons from evidence and numbers */
    BO1_TRAIT_CREATIVE,       /* proposes unusual options */
    BO1_TRAIT_RISK_TOLERANCE, /* accepts uncertainty for upside */
    BO1_TRAIT_DETAIL,         /* attends to specifics and execution */
    BO1_TRAIT_ASSERTIVENESS,  /* argues firmly, pushes back */
    BO1_TRAIT_COUNT_
};

/* Catalog limits, checked by bo1_persona_catalog_load(). */
#define BO1_PERSONA_MIN_VISIBLE    40
#define BO1_PERSONA_MIN_CATEGORIES 12
#define BO1_PERSONA_MIN_TAGS       3
#define BO1_PERSONA_MAX_TAGS       8
#define BO1_PERSONA_MIN_WORDS      80 /* identity prompt */
#define BO1_PERSONA_MAX_WORDS      150

struct bo1_persona {
    const char *code;     /* lower_snake, unique */
    const char *name;     /* display name, e.g. "Maya Okafor" */
    const char *role;     /* role label, e.g. "Chief Financial Officer" */
    const char *category; /* e.g. "finance"; "hidden" for the hidden roles */
    const char *style;    /* response style, one sentence */
    const char *identity; /* identity prompt, 80-150 words */
    const char *const *tags;
    size_t n_tags;
    double traits[BO1_TRAIT_COUNT_]; /* order: enum bo1_trait */
    int hidden; /* 1 for facilitator, contrarian, skeptic, optimist, researcher */
};

/**
 * Load and validate the catalog file at @path.
 *
 * Checks: valid JSON; {"traits":[five names in enum order], "personas":[...]}; every entry
 * has every field with the right type; codes are unique lower_snake; 3-8 distinct tags;
 * traits in [0, 1]; identity 80-150 words; at least 40 visible personas in at least 12
 * categories; every hidden role present and flagged hidden; no two visible personas share
 * more than half of the smaller tag set.
 *
 * Returns: BO1_OK and *out (caller frees with bo1_persona_catalog_free());
 *          BO1_CONFIG_INVALID (or BO1_IO_ERROR when the file cannot be read) and, when @why
 *          is not NULL, *why = malloc'd sentence naming the file, the entry (index and
 *          code) and the field; BO1_NO_MEMORY.
 */
enum bo1_status bo1_persona_catalog_load(const char *path, struct bo1_persona_catalog **out,
                                         char **why);

/** Release the catalog and every persona in it. NULL-safe. */
void bo1_persona_catalog_free(struct bo1_persona_catalog *c);

/**
 * Look up a persona by code (visible or hidden).
 * Returns: borrowed; valid until the catalog is freed. NULL if @code is unknown.
 * Thread: any (the catalog is immutable after load).
 */
const struct bo1_persona *bo1_persona_catalog_get(const struct bo1_persona_catalog *c,
                                                  const char *code);

/** Number of personas, hidden ones included. Thread: any. */
size_t bo1_persona_catalog_count(const struct bo1_persona_catalog *c);

/** The @i-th persona in file order (hidden ones included). Returns: borrowed; NULL if out of
 * range. Thread: any. */
const struct bo1_persona *bo1_persona_catalog_at(const struct bo1_persona_catalog *c, size_t i);

/**
 * Serialise @p as {"code","name","role","category","style","identity","tags":[...],
 * "traits":{"analytical":..,...},"hidden":bool}.
 * Returns: new reference (caller json_decref()s), or NULL when out of memory.
 */
json_t *bo1_persona_to_json(const struct bo1_persona *p);

/** Name of trait @t ("analytical", ...). Returns: static string; NULL if out of range. */
const char *bo1_persona_trait_name(enum bo1_trait t);

/**
 * How much two personas' expertise overlaps: |tags(a) ∩ tags(b)| / min(|a|, |b|), in [0, 1].
 * Board diversity rule: two members may not overlap by more than 0.5.
 */
double bo1_persona_tag_overlap(const struct bo1_persona *a, const struct bo1_persona *b);

/**
 * The candidate list for the `select` prompt: one line per visible persona,
 *   <persona code="CODE" category="..." role="...">Name - tags: a, b, c. Style: ...</persona>
 * with every value XML-escaped. Pass it as the `candidates` placeholder.
 * Returns: malloc'd string (caller frees), or NULL when out of memory.
 */
char *bo1_persona_candidates_xml(const struct bo1_persona_catalog *c);

/**
 * The same rendering for an explicit list (e.g. the board, or a user-chosen list).
 * Entries of @ps that are NULL are skipped.
 * Returns: malloc'd string (caller frees), or NULL when out of memory.
 */
char *bo1_persona_list_xml(const struct bo1_persona *const *ps, size_t n);
