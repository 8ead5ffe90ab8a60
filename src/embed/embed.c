/* The embedder: remote batches through the gateway's transport (retries, breaker, headers
 * included), or the local embedding. A job is one bo1_embed_texts() call; it splits into
 * batches sent in parallel and reports once, when every batch has answered or the first
 * one failed (the others are then cancelled). Loop thread only. */
#include <float.h>
#include <jansson.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <uv.h>

#include "bo1/embed.h"
#include "bo1/llm.h"
#include "bo1/loop.h"
#include "embed_internal.h"

struct job;

struct batch {
    struct job *job;
    size_t offset, count;
    struct bo1_llm_call *handle; /* NULL once answered */
};

struct job {
    struct bo1_embedder *e;
    struct job *prev, *next;
    bo1_embed_done_cb *cb;
    void *arg;
    size_t n;
    size_t dim;
    float *vecs; /* n * dim */
    struct batch *batches;
    size_t n_batches, pending;
    enum bo1_status status;
    int cancelling;  /* inside a cancel sweep: the sweeper delivers, not the callbacks */
    int local_ready; /* local: vectors computed, waiting for the timer */
};

struct bo1_embedder {
    struct bo1_llm *gw;
    const struct bo1_llm_options *opt;
    uv_timer_t *timer; /* delivers local jobs outside bo1_embed_texts() */
    struct job *jobs;
    char *url;
    char *auth;
    int freeing;
};

static void job_unlink(struct job *j)
{
    struct bo1_embedder *e = j->e;

    if (j->prev)
        j->prev->next = j->next;
    else
        e->jobs = j->next;
    if (j->next)
        j->next->prev = j->prev;
}

static void job_deliver(struct job *j)
{
    job_unlink(j);
    if (j->status == BO1_OK) {
        const float **ptrs = malloc(j->n * sizeof(*ptrs));

        if (!ptrs) {
            j->cb(BO1_NO_MEMORY, NULL, 0, 0, j->arg);
        } else {
            for (size_t i = 0; i < j->n; i++)
                ptrs[i] = j->vecs + i * j->dim;
            j->cb(BO1_OK, ptrs, j->n, j->dim, j->arg);
            free(ptrs);
        }
    } else {
        j->cb(j->status, NULL, 0, 0, j->arg);
    }
    free(j->vecs);
    free(j->batches);
    free(j);
}

enum bo1_status embed_decode(const char *body, size_t len, size_t n, float **out, size_t *dim,
                             char *why, size_t why_len)
{
    enum bo1_status st = BO1_UPSTREAM_BAD_REPLY;
    json_t *root = NULL;
    json_t *data;
    json_t *item;
    float *vecs = NULL;
    unsigned char *seen = NULL;
    size_t d = 0;
    size_t i;

    *out = NULL;
    *dim = 0;
    root = body && len ? json_loadb(body, len, 0, NULL) : NULL;
    if (!json_is_object(root)) {
        snprintf(why, why_len, "embeddings reply is not a JSON object");
        goto out;
    }
    data = json_object_get(root, "data");
    if (!json_is_array(data) || json_array_size(data) != n) {
        snprintf(why, why_len, "embeddings reply has no \"data\" array of %zu items", n);
        goto out;
    }
    seen = calloc(n ? n : 1, 1);
    if (!seen) {
        st = BO1_NO_MEMORY;
        goto out;
    }
    json_array_foreach(data, i, item)
    {
        json_t *emb = json_object_get(item, "embedding");
        json_t *idx = json_object_get(item, "index");
        size_t at = i;
        size_t k;
        json_t *x;

        if (!json_is_array(emb) || json_array_size(emb) == 0 || json_array_size(emb) > 65536) {
            snprintf(why, why_len, "data[%zu].embedding is not a non-empty array", i);
            goto out;
        }
        if (idx) {
            if (!json_is_integer(idx) || json_integer_value(idx) < 0 ||
                (size_t)json_integer_value(idx) >= n) {
                snprintf(why, why_len, "data[%zu].index is out of range", i);
                goto out;
            }
            at = (size_t)json_integer_value(idx);
        }
        if (seen[at]) {
            snprintf(why, why_len, "data[%zu].index %zu is repeated", i, at);
            goto out;
        }
        seen[at] = 1;
        if (!vecs) {
            d = json_array_size(emb);
            vecs = calloc(n * d, sizeof(*vecs));
            if (!vecs) {
                st = BO1_NO_MEMORY;
                goto out;
            }
        } else if (json_array_size(emb) != d) {
            snprintf(why, why_len, "data[%zu].embedding has %zu numbers, expected %zu", i,
                     json_array_size(emb), d);
            goto out;
        }
        json_array_foreach(emb, k, x)
        {
            /* A double beyond the float range would become inf, and the vector NaN. */
            if (!json_is_number(x) || !isfinite(json_number_value(x)) ||
                fabs(json_number_value(x)) > FLT_MAX) {
                snprintf(why, why_len, "data[%zu].embedding[%zu] is not a float", i, k);
                goto out;
            }
            vecs[at * d + k] = (float)json_number_value(x);
        }
        bo1_embed_normalise(vecs + at * d, d);
    }
    if (n == 0 || !vecs) {
        snprintf(why, why_len, "embeddings reply is empty");
        goto out;
    }
    *out = vecs;
    *dim = d;
    vecs = NULL;
    st = BO1_OK;
out:
    free(vecs);
    free(seen);
    json_decref(root);
    return st;
}

static void on_batch_done(const struct bo1_llm_http_result *res, void *arg)
{
    struct batch *b = arg;
    struct job *j = b->job;
    enum bo1_status st = res->status;
    float *vecs = NULL;
    size_t dim = 0;
    char why[256];

    b->handle = NULL;
    j->pending--;
    if (st == BO1_OK && j->status == BO1_OK) {
        st = embed_decode(res->body, res->body_len, b->count, &vecs, &dim, why, sizeof(why));
        if (st == BO1_OK && !j->vecs) {
            j->dim = dim;
            j->vecs = calloc(j->n * dim, sizeof(*j->vecs));
            if (!j->vecs)
                st = BO1_NO_MEMORY;
        } else if (st == BO1_OK && dim != j->dim) {
            st = BO1_UPSTREAM_BAD_REPLY;
        }
        if (st == BO1_OK)
            memcpy(j->vecs + b->offset * dim, vecs, b->count * dim * sizeof(*vecs));
        free(vecs);
    }
    if (st != BO1_OK && j->status == BO1_OK) {
        j->status = st;
        /* Fail fast: the other batches are of no use now. Their callbacks run from
         * inside bo1_llm_cancel() and only count down. */
        j->cancelling = 1;
        for (size_t i = 0; i < j->n_batches; i++)
            if (j->batches[i].handle)
                bo1_llm_cancel(j->batches[i].handle);
        j->cancelling = 0;
    }
    if (j->pending == 0 && !j->cancelling)
        job_deliver(j);
}

static void on_timer(uv_timer_t *t)
{
    struct bo1_embedder *e = t->data;

    for (;;) {
        struct job *j = e->jobs;

        while (j && !j->local_ready)
            j = j->next;
        if (!j)
            break;
        job_deliver(j);
    }
}

static enum bo1_status send_batch(struct bo1_embedder *e, struct job *j, struct batch *b,
                                  const char *session_id, const char *const *texts)
{
    enum bo1_status st = BO1_NO_MEMORY;
    json_t *root = json_object();
    json_t *input = json_array();
    char *body = NULL;
    const char *headers[2] = {e->auth, NULL};
    struct bo1_llm_post p;

    if (!root || !input)
        goto out;
    for (size_t i = 0; i < b->count; i++) {
        json_t *s = json_string(texts[b->offset + i]);

        if (!s)
            s = json_string(""); /* not UTF-8: embed nothing rather than fail the job */
        if (json_array_append_new(input, s) != 0)
            goto out;
    }
    if (json_object_set(root, "input", input) != 0 ||
        json_object_set_new(root, "model", json_string(e->opt->embed_model)) != 0)
        goto out;
    if (e->opt->embed_provider == BO1_EMBED_PROVIDER_VOYAGE &&
        json_object_set_new(root, "input_type", json_string("document")) != 0)
        goto out;
    body = json_dumps(root, JSON_COMPACT);
    if (!body)
        goto out;
    memset(&p, 0, sizeof(p));
    p.provider = bo1_embedder_provider_name(e);
    p.model = e->opt->embed_model;
    p.url = e->url;
    p.headers = e->auth ? headers : NULL;
    p.body = body;
    p.body_len = strlen(body);
    p.task = "embed";
    p.session_id = session_id;
    b->job = j;
    st = bo1_llm_post_json(e->gw, &p, on_batch_done, b, &b->handle);
    if (st == BO1_OK)
        j->pending++;
out:
    free(body);
    json_decref(root);
    json_decref(input);
    return st;
}

enum bo1_status bo1_embed_texts(struct bo1_embedder *e, const char *session_id,
                                const char *const *texts, size_t n, bo1_embed_done_cb *cb,
                                void *arg)
{
    struct job *j;
    size_t per;
    enum bo1_status st;

    if (!e || !texts || n == 0 || !cb || e->freeing)
        return BO1_BAD_REQUEST;
    for (size_t i = 0; i < n; i++)
        if (!texts[i])
            return BO1_BAD_REQUEST;
    j = calloc(1, sizeof(*j));
    if (!j)
        return BO1_NO_MEMORY;
    j->e = e;
    j->cb = cb;
    j->arg = arg;
    j->n = n;
    j->status = BO1_OK;
    if (e->opt->embed_provider == BO1_EMBED_PROVIDER_LOCAL) {
        j->dim = e->opt->embed_dim;
        j->vecs = calloc(n * j->dim, sizeof(*j->vecs));
        if (!j->vecs) {
            free(j);
            return BO1_NO_MEMORY;
        }
        for (size_t i = 0; i < n; i++)
            bo1_embed_local(texts[i], j->vecs + i * j->dim, j->dim);
        j->local_ready = 1;
        j->next = e->jobs;
        if (e->jobs)
            e->jobs->prev = j;
        e->jobs = j;
        uv_timer_start(e->timer, on_timer, 0, 0);
        return BO1_OK;
    }
    per = e->opt->embed_batch;
    j->n_batches = (n + per - 1) / per;
    j->batches = calloc(j->n_batches, sizeof(*j->batches));
    if (!j->batches) {
        free(j);
        return BO1_NO_MEMORY;
    }
    j->next = e->jobs;
    if (e->jobs)
        e->jobs->prev = j;
    e->jobs = j;
    for (size_t i = 0; i < j->n_batches; i++) {
        j->batches[i].offset = i * per;
        j->batches[i].count = (i + 1) * per <= n ? per : n - i * per;
        st = send_batch(e, j, &j->batches[i], session_id, texts);
        if (st != BO1_OK) {
            if (j->pending == 0) {
                /* Nothing was sent: fail synchronously, the callback never runs. */
                job_unlink(j);
                free(j->batches);
                free(j);
                return st;
            }
            /* Some batches are out: fail the job through the callback. */
            j->status = st;
            j->cancelling = 1;
            for (size_t k = 0; k < i; k++)
                if (j->batches[k].handle)
                    bo1_llm_cancel(j->batches[k].handle);
            j->cancelling = 0;
            job_deliver(j);
            return BO1_OK;
        }
    }
    return BO1_OK;
}

const char *bo1_embedder_provider_name(const struct bo1_embedder *e)
{
    switch (e->opt->embed_provider) {
    case BO1_EMBED_PROVIDER_VOYAGE:
        return "voyage";
    case BO1_EMBED_PROVIDER_OPENAI:
        return "openai";
    case BO1_EMBED_PROVIDER_LOCAL:
        break;
    }
    return "local";
}

static void on_timer_closed(uv_handle_t *h)
{
    free(h);
}

enum bo1_status bo1_embedder_new(struct bo1_llm *gw, struct bo1_embedder **out, char **why)
{
    struct bo1_embedder *e = calloc(1, sizeof(*e));
    const struct bo1_llm_options *opt = bo1_llm_options_get(gw);
    const char *key = NULL;
    const char *base = NULL;
    size_t n;

    if (!e)
        return BO1_NO_MEMORY;
    e->gw = gw;
    e->opt = opt;
    e->timer = calloc(1, sizeof(*e->timer));
    if (!e->timer || uv_timer_init(bo1_loop_uv(bo1_llm_loop(gw)), e->timer) != 0) {
        free(e->timer);
        free(e);
        return BO1_NO_MEMORY;
    }
    e->timer->data = e;
    switch (opt->embed_provider) {
    case BO1_EMBED_PROVIDER_VOYAGE:
        base = opt->voyage_base_url;
        key = opt->voyage_api_key;
        break;
    case BO1_EMBED_PROVIDER_OPENAI:
        base = opt->openai_base_url;
        key = opt->openai_api_key;
        break;
    case BO1_EMBED_PROVIDER_LOCAL:
        break;
    default:
        if (why)
            *why = strdup("embed: unknown embedding provider");
        bo1_embedder_free(e);
        return BO1_CONFIG_INVALID;
    }
    if (base) {
        n = strlen(base);
        while (n && base[n - 1] == '/')
            n--;
        e->url = malloc(n + sizeof("/v1/embeddings"));
        if (key && key[0])
            e->auth = malloc(strlen(key) + sizeof("Authorization: Bearer "));
        if (!e->url || (key && key[0] && !e->auth)) {
            bo1_embedder_free(e);
            return BO1_NO_MEMORY;
        }
        memcpy(e->url, base, n);
        strcpy(e->url + n, "/v1/embeddings");
        if (e->auth)
            sprintf(e->auth, "Authorization: Bearer %s", key);
    }
    *out = e;
    return BO1_OK;
}

void bo1_embedder_free(struct bo1_embedder *e)
{
    if (!e)
        return;
    e->freeing = 1;
    while (e->jobs) {
        struct job *j = e->jobs;

        if (j->local_ready) {
            j->status = BO1_CANCELLED;
            job_deliver(j);
            continue;
        }
        j->status = BO1_CANCELLED;
        for (size_t i = 0; i < j->n_batches && e->jobs == j; i++)
            if (j->batches[i].handle)
                bo1_llm_cancel(j->batches[i].handle);
    }
    if (uv_is_closing((uv_handle_t *)e->timer)) {
        free(e->timer); /* closed by a loop-wide walk already */
    } else {
        uv_timer_stop(e->timer);
        uv_close((uv_handle_t *)e->timer, on_timer_closed); /* freed when the loop next runs */
    }
    free(e->url);
    free(e->auth);
    free(e);
}
