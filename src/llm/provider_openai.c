/* OpenAI-compatible chat completions (OpenAI, Ollama, vLLM, llama.cpp server, OpenRouter):
 * request body and reply decoding. System blocks become one system message (the API has no
 * per-block caching; providers cache prefixes by themselves). Usage is normalised to the
 * Anthropic meaning: "input" excludes the cached prompt tokens, which go to cache_read. */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "llm_internal.h"

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

enum bo1_status llm_openai_encode(const struct bo1_llm_request *rq, const char *model,
                                  struct bo1_buf *out)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *root = json_object();
    json_t *messages = json_array();
    json_t *stop = json_array();
    struct bo1_buf sys;
    char *s = NULL;

    bo1_buf_init(&sys, 0);
    if (!root || !messages || !stop)
        goto out;
    if (json_object_set_new(root, "model", text_value(model)) != 0 ||
        json_object_set_new(root, "max_tokens",
                            json_integer(rq->max_tokens ? rq->max_tokens : 1024)) != 0 ||
        json_object_set_new(root, "temperature", json_real(rq->temperature)) != 0)
        goto out;
    for (size_t i = 0; i < rq->n_system; i++) {
        if (i && bo1_buf_puts(&sys, "\n\n") != BO1_OK)
            goto out;
        if (bo1_buf_puts(&sys, rq->system[i].text ? rq->system[i].text : "") != BO1_OK)
            goto out;
    }
    if (rq->n_system) {
        json_t *m =
            json_pack("{s:s, s:o}", "role", "system", "content", text_value(bo1_buf_str(&sys)));
        if (!m || json_array_append_new(messages, m) != 0)
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
    if (json_object_set(root, "messages", messages) != 0)
        goto out;
    if (rq->n_stop && json_object_set(root, "stop", stop) != 0)
        goto out;
    s = json_dumps(root, JSON_COMPACT);
    if (!s)
        goto out;
    st = bo1_buf_puts(out, s);
out:
    free(s);
    bo1_buf_fini(&sys);
    json_decref(root);
    json_decref(messages);
    json_decref(stop);
    return st;
}

static int count_field(json_t *obj, const char *name, long *out)
{
    json_t *v = json_object_get(obj, name);

    *out = 0;
    if (!v || json_is_null(v))
        return 0;
    if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > (1LL << 40))
        return -1;
    *out = (long)json_integer_value(v);
    return 0;
}

static const char *map_finish(const char *fr)
{
    if (!fr)
        return "end_turn";
    if (strcmp(fr, "stop") == 0)
        return "end_turn";
    if (strcmp(fr, "length") == 0)
        return "max_tokens";
    return fr;
}

enum bo1_status llm_openai_decode(const char *body, size_t len, struct llm_answer *out, char *why,
                                  size_t why_len)
{
    enum bo1_status st = BO1_UPSTREAM_BAD_REPLY;
    json_t *root = NULL;
    json_t *choices;
    json_t *choice;
    json_t *message;
    json_t *content;
    json_t *fr;
    json_t *usage;
    json_t *v;
    long prompt = 0;
    long completion = 0;
    long cached = 0;
    json_error_t jerr;

    memset(out, 0, sizeof(*out));
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
    choices = json_object_get(root, "choices");
    if (!json_is_array(choices) || json_array_size(choices) == 0) {
        snprintf(why, why_len, "reply has no \"choices\"");
        goto out;
    }
    choice = json_array_get(choices, 0);
    if (!json_is_object(choice)) {
        snprintf(why, why_len, "choices[0] is not an object");
        goto out;
    }
    message = json_object_get(choice, "message");
    if (!json_is_object(message)) {
        snprintf(why, why_len, "choices[0] has no \"message\" object");
        goto out;
    }
    content = json_object_get(message, "content");
    if (content && !json_is_string(content) && !json_is_null(content)) {
        snprintf(why, why_len, "choices[0].message.content is not a string");
        goto out;
    }
    fr = json_object_get(choice, "finish_reason");
    if (fr && !json_is_string(fr) && !json_is_null(fr)) {
        snprintf(why, why_len, "choices[0].finish_reason is not a string");
        goto out;
    }
    usage = json_object_get(root, "usage");
    if (usage && !json_is_null(usage)) {
        if (!json_is_object(usage) || count_field(usage, "prompt_tokens", &prompt) != 0 ||
            count_field(usage, "completion_tokens", &completion) != 0) {
            snprintf(why, why_len, "\"usage\" has a field that is not a non-negative integer");
            goto out;
        }
        v = json_object_get(usage, "prompt_tokens_details");
        if (json_is_object(v) && count_field(v, "cached_tokens", &cached) != 0) {
            snprintf(why, why_len, "usage.prompt_tokens_details.cached_tokens is not a count");
            goto out;
        }
        if (cached > prompt)
            cached = prompt;
    }
    out->usage.input = prompt - cached;
    out->usage.output = completion;
    out->usage.cache_read = cached;
    out->usage.cache_write = 0;
    out->text = strdup(json_is_string(content) ? json_string_value(content) : "");
    out->stop_reason = strdup(map_finish(json_is_string(fr) ? json_string_value(fr) : NULL));
    v = json_object_get(root, "model");
    out->model = strdup(json_is_string(v) ? json_string_value(v) : "");
    v = json_object_get(root, "id");
    out->id = strdup(json_is_string(v) ? json_string_value(v) : "");
    if (!out->text || !out->stop_reason || !out->model || !out->id) {
        st = BO1_NO_MEMORY;
        goto out;
    }
    st = BO1_OK;
out:
    if (st != BO1_OK)
        llm_answer_fini(out);
    json_decref(root);
    return st;
}
