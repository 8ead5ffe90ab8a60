/* prompt/templates.c - parse template files once, render them per model call.
 *
 * Parsing happens at load, so every error (missing file, bad syntax, unknown placeholder)
 * stops start-up instead of a deliberation. The parsed form is a list of sections, each a
 * list of literal and placeholder segments; it is never written after load. */
#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/prompt.h"

#define MAX_INCLUDE_DEPTH 4
#define MAX_SECTIONS      (BO1_PROMPT_MAX_SYSTEM + 1)
#define MAX_FILE_BYTES    (256 * 1024)

enum seg_kind { SEG_TEXT, SEG_VAR };

struct seg {
    enum seg_kind kind;
    char *text;                       /* SEG_TEXT: literal text */
    const struct bo1_prompt_var *var; /* SEG_VAR: entry of the task's table */
};

struct section {
    int is_user;
    int cache;
    struct seg *segs;
    size_t n, cap;
};

struct template
{
    const char *task;
    const struct bo1_prompt_var *vars;
    size_t n_vars;
    struct section sections[MAX_SECTIONS];
    size_t n_sections;
};

struct bo1_prompts {
    struct template *t;
    size_t n;
};

/* State while one task's template (and what it includes) is parsed. */
struct parser {
    const char *dir;
    struct template *t;
    char **why;
};

__attribute__((format(printf, 3, 4))) static enum bo1_status fail(char **why, enum bo1_status st,
                                                                  const char *fmt, ...)
{
    struct bo1_buf b;
    va_list ap;

    if (!why)
        return st;
    free(*why);
    *why = NULL;
    bo1_buf_init(&b, 0);
    va_start(ap, fmt);
    if (bo1_buf_vprintf(&b, fmt, ap) == BO1_OK)
        *why = bo1_buf_take(&b);
    va_end(ap);
    bo1_buf_fini(&b);
    return st;
}

static void template_fini(struct template *t)
{
    for (size_t i = 0; i < t->n_sections; i++) {
        for (size_t j = 0; j < t->sections[i].n; j++)
            free(t->sections[i].segs[j].text);
        free(t->sections[i].segs);
    }
    memset(t, 0, sizeof(*t));
}

void bo1_prompts_free(struct bo1_prompts *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        template_fini(&p->t[i]);
    free(p->t);
    free(p);
}

/* Read a whole file. Returns BO1_OK, BO1_NOT_FOUND, BO1_IO_ERROR, BO1_TOO_LARGE or
 * BO1_NO_MEMORY. */
static enum bo1_status read_file(const char *path, char **out)
{
    enum bo1_status st = BO1_IO_ERROR;
    struct bo1_buf b;
    char chunk[4096];
    FILE *f = fopen(path, "rb");
    size_t got;

    bo1_buf_init(&b, MAX_FILE_BYTES);
    if (!f) {
        st = errno == ENOENT ? BO1_NOT_FOUND : BO1_IO_ERROR;
        goto out;
    }
    st = bo1_buf_puts(&b, "");
    while (st == BO1_OK) {
        got = fread(chunk, 1, sizeof(chunk), f);
        if (got == 0)
            break;
        st = bo1_buf_append(&b, chunk, got);
    }
    if (st == BO1_OK && ferror(f))
        st = BO1_IO_ERROR;
    if (st != BO1_OK)
        goto out;
    if (strlen(bo1_buf_str(&b)) != b.len) {
        st = BO1_IO_ERROR; /* a NUL byte: not a text file */
        goto out;
    }
    *out = bo1_buf_take(&b);
out:
    if (f)
        fclose(f);
    bo1_buf_fini(&b);
    return st;
}

static enum bo1_status push_seg(struct section *sec, enum seg_kind kind, const char *text,
                                size_t len, const struct bo1_prompt_var *var)
{
    struct seg *s;

    /* Merge adjacent literal text so render appends fewer pieces. */
    if (kind == SEG_TEXT && sec->n > 0 && sec->segs[sec->n - 1].kind == SEG_TEXT) {
        struct seg *last = &sec->segs[sec->n - 1];
        size_t old = strlen(last->text);
        char *grown = realloc(last->text, old + len + 1);

        if (!grown)
            return BO1_NO_MEMORY;
        memcpy(grown + old, text, len);
        grown[old + len] = '\0';
        last->text = grown;
        return BO1_OK;
    }
    if (sec->n == sec->cap) {
        size_t cap = sec->cap ? sec->cap * 2 : 8;
        struct seg *grown = realloc(sec->segs, cap * sizeof(*grown));

        if (!grown)
            return BO1_NO_MEMORY;
        sec->segs = grown;
        sec->cap = cap;
    }
    s = &sec->segs[sec->n];
    memset(s, 0, sizeof(*s));
    s->kind = kind;
    s->var = var;
    if (kind == SEG_TEXT) {
        s->text = strndup(text, len);
        if (!s->text)
            return BO1_NO_MEMORY;
    }
    sec->n++;
    return BO1_OK;
}

static const struct bo1_prompt_var *find_var(const struct template *t, const char *name, size_t len)
{
    for (size_t i = 0; i < t->n_vars; i++) {
        if (strlen(t->vars[i].name) == len && strncmp(t->vars[i].name, name, len) == 0)
            return &t->vars[i];
    }
    return NULL;
}

static int is_name(const char *s, size_t len)
{
    if (len == 0 || !(islower((unsigned char)s[0]) || s[0] == '_'))
        return 0;
    for (size_t i = 1; i < len; i++) {
        if (!islower((unsigned char)s[i]) && !isdigit((unsigned char)s[i]) && s[i] != '_')
            return 0;
    }
    return 1;
}

/* Trim spaces and tabs; returns the trimmed span through @b/@e. */
static void trim_span(const char **b, const char **e)
{
    while (*b < *e && isspace((unsigned char)**b))
        (*b)++;
    while (*e > *b && isspace((unsigned char)(*e)[-1]))
        (*e)--;
}

static enum bo1_status parse_file(struct parser *ps, const char *name, int depth,
                                  const char *included_from);

/* One line of template text (without its newline) into the current section. */
static enum bo1_status parse_text_line(struct parser *ps, const char *file, unsigned line_no,
                                       const char *line, size_t len)
{
    struct template *t = ps->t;
    struct section *sec = &t->sections[t->n_sections - 1];
    const char *p = line;
    const char *end = line + len;
    enum bo1_status st;

    while (p < end) {
        const char *open = NULL;
        const char *close = NULL;
        const char *nb;
        const char *ne;

        for (const char *q = p; q + 1 < end; q++) {
            if (q[0] == '{' && q[1] == '{') {
                open = q;
                break;
            }
        }
        if (!open)
            return push_seg(sec, SEG_TEXT, p, (size_t)(end - p), NULL);
        st = push_seg(sec, SEG_TEXT, p, (size_t)(open - p), NULL);
        if (st != BO1_OK)
            return st;
        for (const char *q = open + 2; q + 1 < end; q++) {
            if (q[0] == '}' && q[1] == '}') {
                close = q;
                break;
            }
        }
        if (!close)
            return fail(ps->why, BO1_CONFIG_INVALID, "%s:%u: \"{{\" without a closing \"}}\"", file,
                        line_no);
        nb = open + 2;
        ne = close;
        trim_span(&nb, &ne);
        if (nb < ne && *nb == '!') {
            /* An inline comment. */
        } else if (nb < ne && *nb == '>') {
            return fail(ps->why, BO1_CONFIG_INVALID,
                        "%s:%u: an include {{> name}} must be alone on its line", file, line_no);
        } else if (!is_name(nb, (size_t)(ne - nb))) {
            return fail(ps->why, BO1_CONFIG_INVALID,
                        "%s:%u: placeholder {{%.*s}} is not a name ([a-z_][a-z0-9_]*)", file,
                        line_no, (int)(close - open - 2), open + 2);
        } else {
            const struct bo1_prompt_var *v = find_var(t, nb, (size_t)(ne - nb));

            if (!v)
                return fail(ps->why, BO1_CONFIG_INVALID,
                            "%s:%u: unknown placeholder {{%.*s}}: task \"%s\" does not provide it",
                            file, line_no, (int)(ne - nb), nb, t->task);
            st = push_seg(sec, SEG_VAR, NULL, 0, v);
            if (st != BO1_OK)
                return st;
        }
        p = close + 2;
    }
    return BO1_OK;
}

/* Section header lines: "[[system cache]]", "[[system]]", "[[user]]". Returns 1 and sets the
 * flags when @line is one, 0 when it is not a header, -1 when it looks like one but is not
 * valid. */
static int parse_header(const char *b, const char *e, int *is_user, int *cache)
{
    char word[64];
    size_t n;

    if (e - b < 4 || b[0] != '[' || b[1] != '[')
        return 0;
    if (e[-1] != ']' || e[-2] != ']')
        return -1;
    n = (size_t)(e - b - 4);
    if (n >= sizeof(word))
        return -1;
    memcpy(word, b + 2, n);
    word[n] = '\0';
    *is_user = 0;
    *cache = 0;
    if (strcmp(word, "system cache") == 0) {
        *cache = 1;
        return 1;
    }
    if (strcmp(word, "system") == 0)
        return 1;
    if (strcmp(word, "user") == 0) {
        *is_user = 1;
        return 1;
    }
    return -1;
}

static enum bo1_status open_section(struct parser *ps, const char *file, unsigned line_no,
                                    int is_user, int cache)
{
    struct template *t = ps->t;
    struct section *prev = t->n_sections ? &t->sections[t->n_sections - 1] : NULL;

    if (prev && prev->is_user)
        return fail(ps->why, BO1_CONFIG_INVALID,
                    "%s:%u: no section may follow [[user]] (the user message comes last)", file,
                    line_no);
    if (!is_user && t->n_sections == BO1_PROMPT_MAX_SYSTEM)
        return fail(ps->why, BO1_CONFIG_INVALID, "%s:%u: more than %d system sections", file,
                    line_no, BO1_PROMPT_MAX_SYSTEM);
    if (cache && prev && !prev->cache)
        return fail(ps->why, BO1_CONFIG_INVALID,
                    "%s:%u: [[system cache]] after an uncached [[system]] section (the cached, "
                    "stable prefix must come first)",
                    file, line_no);
    t->sections[t->n_sections].is_user = is_user;
    t->sections[t->n_sections].cache = cache;
    t->n_sections++;
    return BO1_OK;
}

static enum bo1_status parse_text(struct parser *ps, const char *file, const char *text, int depth)
{
    enum bo1_status st = BO1_OK;
    const char *line = text;
    unsigned line_no = 0;

    while (*line && st == BO1_OK) {
        const char *nl = strchr(line, '\n');
        const char *end = nl ? nl : line + strlen(line);
        const char *b = line;
        const char *e = end;
        int is_user;
        int cache;
        int hdr;

        line_no++;
        if (e > b && e[-1] == '\r')
            e--; /* tolerate CRLF files */
        trim_span(&b, &e);
        hdr = parse_header(b, e, &is_user, &cache);
        if (hdr < 0) {
            st = fail(ps->why, BO1_CONFIG_INVALID,
                      "%s:%u: unknown section \"%.*s\" (use [[system cache]], [[system]] or "
                      "[[user]])",
                      file, line_no, (int)(e - b), b);
        } else if (hdr > 0) {
            if (depth > 0)
                st = fail(ps->why, BO1_CONFIG_INVALID,
                          "%s:%u: an included file may not start sections", file, line_no);
            else
                st = open_section(ps, file, line_no, is_user, cache);
        } else if (e - b >= 5 && strncmp(b, "{{!", 3) == 0 && e - 2 == strstr(b, "}}")) {
            /* A comment line: dropped with its newline. */
        } else if (e - b >= 5 && strncmp(b, "{{>", 3) == 0 && e - 2 == strstr(b, "}}")) {
            const char *nb = b + 3;
            const char *ne = e - 2;
            char name[128];

            trim_span(&nb, &ne);
            if (!is_name(nb, (size_t)(ne - nb)) || (size_t)(ne - nb) >= sizeof(name)) {
                st = fail(ps->why, BO1_CONFIG_INVALID, "%s:%u: bad include name \"%.*s\"", file,
                          line_no, (int)(ne - nb), nb);
            } else if (ps->t->n_sections == 0) {
                st = fail(ps->why, BO1_CONFIG_INVALID, "%s:%u: include before the first section",
                          file, line_no);
            } else {
                memcpy(name, nb, (size_t)(ne - nb));
                name[ne - nb] = '\0';
                st = parse_file(ps, name, depth + 1, file);
            }
        } else if (ps->t->n_sections == 0) {
            if (b != e)
                st = fail(ps->why, BO1_CONFIG_INVALID,
                          "%s:%u: text before the first section header", file, line_no);
        } else {
            st = parse_text_line(ps, file, line_no, line, (size_t)(e - line));
            if (st == BO1_OK)
                st = push_seg(&ps->t->sections[ps->t->n_sections - 1], SEG_TEXT, "\n", 1, NULL);
        }
        line = nl ? nl + 1 : end;
    }
    return st;
}

static enum bo1_status parse_file(struct parser *ps, const char *name, int depth,
                                  const char *included_from)
{
    enum bo1_status st;
    struct bo1_buf path;
    char *text = NULL;

    bo1_buf_init(&path, 0);
    st = bo1_buf_printf(&path, "%s/%s.txt", ps->dir, name);
    if (st != BO1_OK)
        goto out;
    if (depth > MAX_INCLUDE_DEPTH) {
        st = fail(ps->why, BO1_CONFIG_INVALID,
                  "%s: included from %s more than %d levels deep (an include cycle?)",
                  bo1_buf_str(&path), included_from, MAX_INCLUDE_DEPTH);
        goto out;
    }
    st = read_file(bo1_buf_str(&path), &text);
    if (st == BO1_NOT_FOUND) {
        if (included_from)
            st = fail(ps->why, BO1_CONFIG_INVALID, "%s: missing (included from %s)",
                      bo1_buf_str(&path), included_from);
        else
            st = fail(ps->why, BO1_CONFIG_INVALID, "%s: missing template for task \"%s\"",
                      bo1_buf_str(&path), ps->t->task);
        goto out;
    }
    if (st != BO1_OK && st != BO1_NO_MEMORY) {
        st = fail(ps->why, BO1_CONFIG_INVALID, "%s: cannot be read as a text file (%s)",
                  bo1_buf_str(&path), bo1_status_name(st));
        goto out;
    }
    if (st != BO1_OK)
        goto out;
    st = parse_text(ps, bo1_buf_str(&path), text, depth);
    if (st != BO1_OK || depth > 0)
        goto out;

    /* Whole-template rules, checked once the top file is done. */
    if (ps->t->n_sections == 0 || !ps->t->sections[ps->t->n_sections - 1].is_user) {
        st = fail(ps->why, BO1_CONFIG_INVALID, "%s: needs a [[user]] section at the end",
                  bo1_buf_str(&path));
        goto out;
    }
    for (size_t i = 0; i < ps->t->n_vars; i++) {
        const struct bo1_prompt_var *v = &ps->t->vars[i];
        int used = 0;

        for (size_t s = 0; s < ps->t->n_sections && !used; s++) {
            for (size_t j = 0; j < ps->t->sections[s].n && !used; j++)
                used = ps->t->sections[s].segs[j].var == v;
        }
        if (v->required && !used) {
            st = fail(ps->why, BO1_CONFIG_INVALID,
                      "%s: required placeholder {{%s}} is not used (%s)", bo1_buf_str(&path),
                      v->name, v->doc);
            goto out;
        }
    }
out:
    free(text);
    bo1_buf_fini(&path);
    return st;
}

enum bo1_status bo1_prompts_load(const char *dir, struct bo1_prompts **out, char **why)
{
    enum bo1_status st = BO1_NO_MEMORY;
    struct bo1_prompts *p = NULL;
    const char *const *tasks = bo1_prompt_tasks();
    size_t n = 0;

    if (why)
        *why = NULL;
    while (tasks[n])
        n++;
    p = calloc(1, sizeof(*p));
    if (!p)
        goto out;
    p->t = calloc(n, sizeof(*p->t));
    if (!p->t)
        goto out;
    for (size_t i = 0; i < n; i++) {
        struct parser ps = {.dir = dir, .t = &p->t[i], .why = why};

        p->n = i + 1;
        p->t[i].task = tasks[i];
        p->t[i].vars = bo1_prompt_task_vars(tasks[i], &p->t[i].n_vars);
        st = parse_file(&ps, tasks[i], 0, NULL);
        if (st != BO1_OK)
            goto out;
    }

    *out = p;
    p = NULL;
out:
    bo1_prompts_free(p);
    return st;
}

void bo1_prompt_fini(struct bo1_prompt *pr)
{
    if (!pr)
        return;
    for (size_t i = 0; i < BO1_PROMPT_MAX_SYSTEM; i++)
        free(pr->system[i].text);
    free(pr->user);
    memset(pr, 0, sizeof(*pr));
}

/* The text of one value: strings as they are, numbers printed. */
static enum bo1_status value_text(const json_t *v, char *num, size_t num_len, const char **out)
{
    if (json_is_string(v)) {
        *out = json_string_value(v);
        return BO1_OK;
    }
    if (json_is_integer(v)) {
        snprintf(num, num_len, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        *out = num;
        return BO1_OK;
    }
    if (json_is_real(v)) {
        snprintf(num, num_len, "%g", json_real_value(v));
        *out = num;
        return BO1_OK;
    }
    return BO1_BAD_FIELD;
}

static enum bo1_status render_var(struct bo1_buf *b, const struct template *t,
                                  const struct bo1_prompt_var *v, const json_t *vars, char **why)
{
    enum bo1_status st;
    json_t *val = json_object_get(vars, v->name);
    char num[64];
    const char *text;
    char *piece;

    if (!val)
        return fail(why, BO1_BAD_FIELD, "task \"%s\": placeholder {{%s}} has no value (%s)",
                    t->task, v->name, v->doc);
    st = value_text(val, num, sizeof(num), &text);
    if (st != BO1_OK)
        return fail(why, BO1_BAD_FIELD,
                    "task \"%s\": placeholder {{%s}} must be a string or a number", t->task,
                    v->name);
    if (v->kind == BO1_PROMPT_VAR_XML)
        return bo1_buf_puts(b, text);
    piece = v->kind == BO1_PROMPT_VAR_FENCE ? bo1_prompt_fence(v->fence, text)
                                            : bo1_prompt_escape(text);
    if (!piece)
        return BO1_NO_MEMORY;
    st = bo1_buf_puts(b, piece);
    free(piece);
    return st;
}

/* Render one section and trim surrounding whitespace. */
static enum bo1_status render_section(const struct template *t, const struct section *sec,
                                      const json_t *vars, char **out, char **why)
{
    enum bo1_status st = BO1_OK;
    struct bo1_buf b;
    const char *s;
    const char *e;

    bo1_buf_init(&b, 0);
    for (size_t i = 0; i < sec->n && st == BO1_OK; i++) {
        if (sec->segs[i].kind == SEG_TEXT)
            st = bo1_buf_puts(&b, sec->segs[i].text);
        else
            st = render_var(&b, t, sec->segs[i].var, vars, why);
    }
    if (st == BO1_OK) {
        s = bo1_buf_str(&b);
        e = s + b.len;
        trim_span(&s, &e);
        *out = strndup(s, (size_t)(e - s));
        if (!*out)
            st = BO1_NO_MEMORY;
    }
    bo1_buf_fini(&b);
    return st;
}

enum bo1_status bo1_prompts_render(const struct bo1_prompts *p, const char *task,
                                   const json_t *vars, struct bo1_prompt *out, char **why)
{
    enum bo1_status st = BO1_NOT_FOUND;
    const struct template *t = NULL;
    const char *key;
    json_t *val;

    memset(out, 0, sizeof(*out));
    if (why)
        *why = NULL;
    for (size_t i = 0; p && task && i < p->n; i++) {
        if (strcmp(p->t[i].task, task) == 0)
            t = &p->t[i];
    }
    if (!t)
        return fail(why, BO1_NOT_FOUND, "no template for task \"%s\"", task ? task : "(null)");
    if (!json_is_object(vars))
        return fail(why, BO1_BAD_FIELD, "task \"%s\": vars must be a JSON object", task);
    /* A name outside the table is an engine bug (a typo would otherwise be silent). */
    json_object_foreach((json_t *)vars, key, val)
    {
        if (!find_var(t, key, strlen(key)))
            return fail(why, BO1_BAD_FIELD, "task \"%s\": unknown placeholder {{%s}} in vars", task,
                        key);
    }
    for (size_t i = 0; i < t->n_sections; i++) {
        const struct section *sec = &t->sections[i];
        char **dst = sec->is_user ? &out->user : &out->system[out->n_system].text;

        st = render_section(t, sec, vars, dst, why);
        if (st != BO1_OK)
            goto out;
        if (!sec->is_user)
            out->system[out->n_system++].cache = sec->cache;
    }
    st = BO1_OK;
out:
    if (st != BO1_OK)
        bo1_prompt_fini(out);
    return st;
}
