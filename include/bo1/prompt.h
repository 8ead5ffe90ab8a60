/* bo1/prompt.h - prompt templates (zzz_important/prompts/) and their rendering.
 *
 * One template file per MODEL_IO task, loaded and checked once at start-up; immutable
 * afterwards, so rendering may run on any thread. The file format, the placeholder table
 * and the rules for user text are in docs/internals/prompts.md. */
#pragma once

#include <jansson.h>
#include <stddef.h>

#include "bo1/buf.h"
#include "bo1/status.h"

struct bo1_prompts;

#define BO1_PROMPT_MAX_SYSTEM 4 /* providers allow at most four cache breakpoints */

struct bo1_prompt_block {
    char *text; /* owned by the struct bo1_prompt */
    int cache;  /* 1: stable prefix, send with cache_control */
};

struct bo1_prompt {
    struct bo1_prompt_block system[BO1_PROMPT_MAX_SYSTEM]; /* cached blocks come first */
    size_t n_system;
    char *user; /* the per-call part: the one user message */
};

/* How render treats the value of a placeholder. */
enum bo1_prompt_var_kind {
    BO1_PROMPT_VAR_FENCE, /* user (or model) text: escaped, then wrapped in <fence>...</fence> */
    BO1_PROMPT_VAR_PLAIN, /* a short engine value (number, code, name): escaped, not wrapped */
    BO1_PROMPT_VAR_XML,   /* engine-built markup, inserted verbatim: build it only with
                           * bo1_prompt_append_element() or bo1_persona_*_xml() */
};

struct bo1_prompt_var {
    const char *name; /* as written in templates: {{name}} */
    enum bo1_prompt_var_kind kind;
    const char *fence; /* the tag for BO1_PROMPT_VAR_FENCE, else NULL */
    int required;      /* the task's template must use it */
    const char *doc;   /* one line for docs and error messages */
};

/**
 * The placeholder table of MODEL_IO task @task.
 * Returns: borrowed static array, *n set to its length; NULL (and *n = 0) for an unknown task.
 * Thread: any.
 */
const struct bo1_prompt_var *bo1_prompt_task_vars(const char *task, size_t *n);

/** The MODEL_IO task names, in a static NULL-terminated array. Thread: any. */
const char *const *bo1_prompt_tasks(void);

/**
 * Load and check every task template from directory @dir (<dir>/<task>.txt, plus the files
 * they include). Fails when a template is missing or unreadable, has a syntax error, uses a
 * placeholder not in its task's table, lacks a required placeholder, or orders sections
 * wrongly.
 * Returns: BO1_OK and *out (caller frees with bo1_prompts_free()); BO1_CONFIG_INVALID and,
 *          if @why is not NULL, *why = malloc'd sentence naming the file (and line and
 *          placeholder); BO1_NO_MEMORY.
 */
enum bo1_status bo1_prompts_load(const char *dir, struct bo1_prompts **out, char **why);

/** Release the templates. NULL-safe. */
void bo1_prompts_free(struct bo1_prompts *p);

/**
 * Render the template of @task with @vars, a JSON object whose members are the placeholders
 * (string, integer or real values). Fenced placeholders are escaped and wrapped here, so the
 * caller passes raw user text. @out is initialised by this call (release with
 * bo1_prompt_fini(), also after a failure).
 * Returns: BO1_OK; BO1_NOT_FOUND for an unknown task; BO1_BAD_FIELD when a placeholder the
 *          template uses has no value, a value has the wrong type, or @vars holds a name that
 *          is not in the task's table (*why names it); BO1_NO_MEMORY.
 * Thread: any (the templates are immutable after load).
 */
enum bo1_status bo1_prompts_render(const struct bo1_prompts *p, const char *task,
                                   const json_t *vars, struct bo1_prompt *out, char **why);

/** Free the texts of @pr and zero it. NULL-safe; safe on a zeroed struct. */
void bo1_prompt_fini(struct bo1_prompt *pr);

/**
 * Escape @text for an XML-tagged prompt: & < > " become &amp; &lt; &gt; &quot;.
 * Returns: malloc'd string (caller frees); NULL when out of memory. NULL @text gives "".
 */
char *bo1_prompt_escape(const char *text);

/**
 * Fence user text as data: "<tag>" + escaped @user_text + "</tag>". The text cannot close
 * the tag or open another one because every < > & is escaped.
 * Returns: malloc'd string (caller frees); NULL when out of memory or @tag is not a plain
 * name ([a-z_][a-z0-9_-]*).
 */
char *bo1_prompt_fence(const char *tag, const char *user_text);

/**
 * Append one element "<tag a1="v1" ...>text</tag>\n" to @b for an XML placeholder. @attrs is
 * NULL or a NULL-terminated list of name, value pairs; values and @text are escaped.
 * Returns: BO1_OK; BO1_BAD_FIELD if @tag or an attribute name is not a plain name;
 *          the statuses of bo1_buf_append().
 */
enum bo1_status bo1_prompt_append_element(struct bo1_buf *b, const char *tag,
                                          const char *const *attrs, const char *text);

/**
 * The deliberation phase of round @round (1-based): "explore" for rounds 1-2, "challenge"
 * for 3-4, "converge" from 5 on. Pass it as the `phase` placeholder; the shared protocol
 * tells the model what each phase asks. Returns: static string.
 */
const char *bo1_prompt_phase(unsigned round);
