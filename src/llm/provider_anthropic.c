/* The Anthropic Messages API: request body and reply decoding. The decoder treats the
 * reply as untrusted bytes: every field is type-checked, and anything that is not a
 * well-formed message becomes BO1_UPSTREAM_BAD_REPLY with a reason. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_internal.h"

void llm_answer_fini(struct llm_answer *a)
{
    if (!a)
        return;
    free(a->text);
    free(a->stop_reason);
    free(a->model);
    free(a->id);
    memset(a, 0, sizeof(*a));
}

static enum bo1_status dump_into(json_t *root, struct bo1_buf *out)
{
    char *s = json_dumps(root, JSON_COMPACT);
    enum bo1_status st;

    if (!s)
        return BO1_NO_MEMORY;
    st = bo1_buf_puts(out, s);
    free(s);
    return st;
}

/* json_string() rejects invalid UTF-8; callers pass text that came from anywhere, so
 * fall back to a lossy copy rather than failing the call. */
static json_t *text_value(const char *s)
{
    json_t *v = json_string(s ? s : "");
    char *copy;

    if (v)
        return v;
    copy = strdup(s);
    if (!copy)
        return NULL;
    for (unsigned char *p = (unsigned char *)copy; *p; p++)
        if (*p >= 0x80)
            *p = '?';
    v = json_string(copy);
    free(copy);
    return v;
}

enum bo1_status llm_anthropic_encode(const struct bo1_llm_request *rq, const char *model,
                                     struct bo1_buf *out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *root = json_object();
    json_t *system = json_array();
    json_t *messages = json_array();
    json_t *stop = json_array();

    if (!root || !system || !messages || !stop)
        goto out;
    if (json_object_set_new(root, "model", text_value(model)) != 0 ||
        json_object_set_new(root, "max_tokens",
                            json_integer(rq->max_tokens ? rq->max_tokens : 1024)) != 0 ||
        json_object_set_new(root, "temperature", json_real(rq->temperature)) != 0)
        goto out;
    for (size_t i = 0; i < rq->n_system; i++) {
        json_t *b = json_pack("{s:s, s:o}", "type", "text", "text", text_value(rq->system[i].text));

        if (!b)
            goto out;
        if (rq->system[i].cache &&
            json_object_set_new(b, "cache_control", json_pack("{s:s}", "type", "ephemeral")) != 0) {
            json_decref(b);
            goto out;
        }
        if (json_array_append_new(system, b) != 0)
            goto out;
    }
    for (size_t i = 0; i < rq->n_messages; i++) {
        json_t *m = json_pack("{s:s, s:o}", "role", rq->messages[i].role, "content",
                              text_value(rq->messages[i].content));

        if (!m || json_array_append_new(messages, m) != 0)
            goto out;
    }
    for (size_t i = 0; i < rq->n_stop; i++)
        if (json_array_append_new(stop, text_value(rq->stop[i])) != 0)
            goto out;
    if (rq->n_system && json_object_set(root, "system", system) != 0)
        goto out;
    if (json_object_set(root, "messages", messages) != 0)
        goto out;
    if (rq->n_stop && json_object_set(root, "stop_sequences", stop) != 0)
        goto out;
    st = dump_into(root, out);
out:
    json_decref(root);
    json_decref(system);
    json_decref(messages);
    json_decref(stop);
    return st;
}

/* A token count: a non-negative integer, or absent/null (0). Anything else is an error. */
static int usage_field(json_t *usage, const char *name, long *out)
{
    json_t *v = json_object_get(usage, name);

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1LL << 40))
        return -1;
    *out = (long)json_integer_value(v);
    return 0;
}

static char *dup_or_empty(json_t *v)
{
    return strdup(json_is_string(v) ? json_string_value(v) : "");
}

enum bo1_status llm_anthropic_decode(const char *body, size_t len, struct llm_answer *out,
                                     char *why, size_t why_len)
{
    enum bo1_status st = BO1_UPSTREAM_BAD_REPLY;
    json_t *root = NULL;
    json_t *content;
    json_t *usage;
    json_t *v;
    struct bo1_buf text;
    json_error_t jerr;
    size_t i;
    json_t *block;

    memset(out, 0, sizeof(*out));
    bo1_buf_init(&text, 0);
    if (!body || len == 0) {
        snprintf(why, why_len, "empty reply body");
        goto out;
    }
    root = json_loadb(body, len, 0, &jerr);
    if (!root) {
        snprintf(why, why_len, "reply is not JSON (%s at byte %d)", jerr.text, jerr.position);
        llm_utf8_sanitize(why); /* jansson quotes the offending bytes */
        goto out;
    }
    if (!json_is_object(root)) {
        snprintf(why, why_len, "reply is not a JSON object");
        goto out;
    }
    v = json_object_get(root, "type");
    if (v && (!json_is_string(v) || strcmp(json_string_value(v), "message") != 0)) {
        snprintf(why, why_len, "reply \"type\" is not \"message\"");
        goto out;
    }
    content = json_object_get(root, "content");
    if (!json_is_array(content)) {
        snprintf(why, why_len, "reply has no \"content\" array");
        goto out;
    }
    json_array_foreach(content, i, block)
    {
        json_t *t;

        if (!json_is_object(block)) {
            snprintf(why, why_len, "content[%zu] is not an object", i);
            goto out;
        }
        t = json_object_get(block, "type");
        if (!json_is_string(t)) {
            snprintf(why, why_len, "content[%zu] has no \"type\"", i);
            goto out;
        }
        if (strcmp(json_string_value(t), "text") != 0)
            continue; /* thinking, tool_use...: not part of the answer text */
        t = json_object_get(block, "text");
        if (!json_is_string(t)) {
            snprintf(why, why_len, "content[%zu].text is not a string", i);
            goto out;
        }
        if (bo1_buf_append(&text, json_string_value(t), json_string_length(t)) != BO1_OK) {
            st = BO1_NO_MEMORY;
            goto out;
        }
    }
    v = json_object_get(root, "stop_reason");
    if (v && !json_is_string(v) && !json_is_null(v)) {
        snprintf(why, why_len, "\"stop_reason\" is not a string");
        goto out;
    }
    usage = json_object_get(root, "usage");
    if (!json_is_object(usage)) {
        snprintf(why, why_len, "reply has no \"usage\" object");
        goto out;
    }
    if (usage_field(usage, "input_tokens", &out->usage.input) != 0 ||
        usage_field(usage, "output_tokens", &out->usage.output) != 0 ||
        usage_field(usage, "cache_creation_input_tokens", &out->usage.cache_write) != 0 ||
        usage_field(usage, "cache_read_input_tokens", &out->usage.cache_read) != 0) {
        snprintf(why, why_len, "a usage field is not a non-negative integer");
        goto out;
    }
    out->stop_reason = dup_or_empty(v);
    out->model = dup_or_empty(json_object_get(root, "model"));
    out->id = dup_or_empty(json_object_get(root, "id"));
    out->text = bo1_buf_take(&text);
    if (!out->stop_reason || !out->model || !out->id || !out->text) {
        st = BO1_NO_MEMORY;
        goto out;
    }
    st = BO1_OK;
out:
    if (st != BO1_OK)
        llm_answer_fini(out);
    bo1_buf_fini(&text);
    json_decref(root);
    return st;
}
