/* engine_critical_path - how much a deliberation's wall time exceeds the model latency on
 * its critical path (issue 4 figures).
 *
 * Starts bo1-fake-llm at a fixed latency (--latency-ms, default 200) and drives whole
 * deliberations through the engine wired as app.c wires it: the real gateway (curl on the
 * libuv loop), the embedder, the shipped prompt templates and persona catalog. Checkpoints
 * are serialised (as a store would) and dropped; events are counted. Every model and
 * embedding call is timed around the effect (issue -> callback).
 *
 * Critical path: starting from the call that finished last, repeatedly step to the call
 * that finished latest before the current one started (the answer that unblocked it). The
 * chain's length times the fixed latency is the model latency on the critical path; the
 * ratio printed is wall time (start -> terminal event) / that sum. The remainder is split
 * into engine gaps between chained calls, transport overhead (measured call time beyond
 * the fixed latency), and the head and tail outside any call.
 *
 * Also per deliberation: CPU time of this process (engine + gateway + embedder; the fake is
 * another process), peak heap in use (mallinfo2, sampled at every effect), tokens and the
 * cache-read share (cache_read / (input + cache_write + cache_read)).
 *
 * Usage: engine_critical_path [--latency-ms L] [--runs R] [--scenario single|three|both]
 *                             [--remote-embed] [--fake PATH] [--verbose] */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <malloc.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"
#include "bo1/embed.h"
#include "bo1/engine.h"
#include "bo1/llm.h"
#include "bo1/loop.h"
#include "bo1/persona.h"
#include "bo1/prompt.h"

#ifndef BO1_FAKE_LLM_PATH
#define BO1_FAKE_LLM_PATH "bo1-fake-llm"
#endif
#ifndef BO1_SOURCE_ROOT
#define BO1_SOURCE_ROOT "."
#endif

#define MAX_CALLS 4096

struct call {
    double s, e;
    char task[24];
    int embed;
};

struct run {
    struct bo1_loop *loop;
    struct bo1_llm *gw;
    struct bo1_embedder *emb;
    struct bo1_engine *e;
    struct bo1_session *s;
    struct call calls[MAX_CALLS];
    size_t n_calls;
    double t_start, t_end;
    size_t heap_base, heap_peak;
    int events, checkpoints, done;
    char final_status[32];
    uv_timer_t stopper;
};

struct tramp {
    struct run *r;
    size_t idx;
    bo1_llm_done_cb *cb;
    bo1_embed_done_cb *ecb;
    void *arg;
};

static void sample_heap(struct run *r)
{
    struct mallinfo2 mi = mallinfo2();

    if (mi.uordblks > r->heap_peak)
        r->heap_peak = mi.uordblks;
}

static size_t discard(char *p, size_t size, size_t n, void *arg)
{
    (void)p;
    (void)arg;
    return size * n;
}

/* Drop the fake's prompt cache (and request log) so every run starts cold. */
static int reset_fake(const char *base)
{
    char url[128];
    long code = 0;
    CURL *c = curl_easy_init();

    if (!c)
        return -1;
    snprintf(url, sizeof(url), "%s/_fake/reset", base);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
    curl_easy_cleanup(c);
    return code == 200 ? 0 : -1;
}

/* ---- effects, timed ---- */

static size_t call_begin(struct run *r, const char *task, int embed)
{
    size_t i = r->n_calls < MAX_CALLS ? r->n_calls++ : MAX_CALLS - 1;

    r->calls[i].s = bench_mono_s();
    r->calls[i].e = 0;
    r->calls[i].embed = embed;
    snprintf(r->calls[i].task, sizeof(r->calls[i].task), "%s", task ? task : "?");
    sample_heap(r);
    return i;
}

static void on_model_done(const struct bo1_llm_response *resp, void *arg)
{
    struct tramp *t = arg;

    t->r->calls[t->idx].e = bench_mono_s();
    sample_heap(t->r);
    t->cb(resp, t->arg);
    free(t);
}

static enum bo1_status fx_call_model(void *ctx, const struct bo1_llm_request *rq,
                                     bo1_llm_done_cb *cb, void *arg)
{
    struct run *r = ctx;
    struct tramp *t = calloc(1, sizeof(*t));
    enum bo1_status st;

    if (!t)
        return BO1_NO_MEMORY;
    *t = (struct tramp){.r = r, .idx = call_begin(r, rq->task, 0), .cb = cb, .arg = arg};
    st = bo1_llm_call(r->gw, rq, on_model_done, t, NULL);
    if (st != BO1_OK) {
        r->n_calls--;
        free(t);
    }
    return st;
}

static void on_embed_done(enum bo1_status st, const float *const *vecs, size_t n, size_t dim,
                          void *arg)
{
    struct tramp *t = arg;

    t->r->calls[t->idx].e = bench_mono_s();
    sample_heap(t->r);
    t->ecb(st, vecs, n, dim, t->arg);
    free(t);
}

static enum bo1_status fx_embed(void *ctx, const char *sid, const char *const *texts, size_t n,
                                bo1_embed_done_cb *cb, void *arg)
{
    struct run *r = ctx;
    struct tramp *t = calloc(1, sizeof(*t));
    enum bo1_status st;

    if (!t)
        return BO1_NO_MEMORY;
    *t = (struct tramp){.r = r, .idx = call_begin(r, "embed", 1), .ecb = cb, .arg = arg};
    st = bo1_embed_texts(r->emb, sid, texts, n, on_embed_done, t);
    if (st != BO1_OK) {
        r->n_calls--;
        free(t);
    }
    return st;
}

static void fx_checkpoint(void *ctx, const char *sid, const json_t *state)
{
    struct run *r = ctx;
    char *text = json_dumps(state, JSON_COMPACT); /* what a store would do */

    (void)sid;
    sample_heap(r);
    free(text);
    r->checkpoints++;
}

static void on_stopper(uv_timer_t *t)
{
    struct run *r = t->data;

    bo1_loop_stop(r->loop);
}

static void fx_publish(void *ctx, const char *sid, const char *type, json_t *data)
{
    struct run *r = ctx;

    (void)sid;
    r->events++;
    sample_heap(r);
    if (!strcmp(type, "session.status")) {
        const char *st = json_string_value(json_object_get(data, "status"));
        if (st && (!strcmp(st, "completed") || !strcmp(st, "failed") || !strcmp(st, "cancelled"))) {
            r->done = 1;
            r->t_end = bench_mono_s();
            snprintf(r->final_status, sizeof(r->final_status), "%s", st);
            uv_timer_start(&r->stopper, on_stopper, 0, 0);
        }
    }
    json_decref(data);
}

static double fx_now(void *ctx)
{
    struct timespec ts;

    (void)ctx;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ---- the critical path ---- */

struct path_stats {
    size_t len, model_len, embed_len;
    double nominal;    /* model latency on the chain: the fixed latency per remote call */
    double measured;   /* sum of measured call times on the chain */
    double gaps;       /* sum of gaps between chained calls */
    double head, tail; /* start -> first chained call, last chained call -> end */
};

static struct path_stats critical_path(const struct run *r, double latency_s, int remote_embed,
                                       int verbose)
{
    struct path_stats ps = {0};
    long cur = -1;
    double last_e = 0;
    long chain[MAX_CALLS];
    size_t n = 0;

    for (size_t i = 0; i < r->n_calls; i++)
        if (r->calls[i].e > last_e) {
            last_e = r->calls[i].e;
            cur = (long)i;
        }
    while (cur >= 0 && n < MAX_CALLS) {
        const struct call *c = &r->calls[cur];
        long prev = -1;
        double best = 0;

        chain[n++] = cur;
        for (size_t i = 0; i < r->n_calls; i++)
            if (r->calls[i].e > 0 && r->calls[i].e <= c->s && r->calls[i].e > best) {
                best = r->calls[i].e;
                prev = (long)i;
            }
        cur = prev;
    }
    ps.len = n;
    for (size_t k = n; k-- > 0;) {
        const struct call *c = &r->calls[chain[k]];
        ps.measured += c->e - c->s;
        if (c->embed)
            ps.embed_len++;
        else
            ps.model_len++;
        /* A local embedding is engine work, not model latency. */
        ps.nominal += c->embed && !remote_embed ? 0.0 : latency_s;
        if (k == n - 1)
            ps.head = c->s - r->t_start;
        else
            ps.gaps += c->s - r->calls[chain[k + 1]].e;
        if (k == 0)
            ps.tail = r->t_end - c->e;
        if (verbose)
            fprintf(stderr, "  %-18s start %+8.1f ms  took %6.1f ms\n", c->task,
                    (c->s - r->t_start) * 1e3, (c->e - c->s) * 1e3);
    }
    return ps;
}

/* ---- one deliberation ---- */

static struct bo1_prompts *prompts;
static struct bo1_persona_catalog *catalog;
static const struct bo1_persona **personas;
static size_t n_personas;

static int deliberate(const char *base, const char *statement, unsigned latency, int remote_embed,
                      int verbose, const char *label)
{
    static struct run r; /* large: keep it off the stack */
    char pricing[1024];
    char *why = NULL;
    struct bo1_llm_options opt = BO1_LLM_OPTIONS_DEFAULTS;
    struct bo1_engine_config cfg = BO1_ENGINE_CONFIG_DEFAULTS;
    json_t *req;
    json_t *state;
    double c0, cpu;
    int rc = 0;

    memset(&r, 0, sizeof(r));
    if (reset_fake(base) != 0) {
        fprintf(stderr, "cannot reset the fake\n");
        return 1;
    }
    snprintf(pricing, sizeof(pricing), "%s/zzz_important/pricing.json", BO1_SOURCE_ROOT);
    if (bo1_loop_new(&r.loop) != BO1_OK)
        return 1;
    opt.anthropic_base_url = base;
    opt.anthropic_api_key = "bench-key";
    opt.model_fast = "claude-haiku-4-5";
    opt.model_deep = "claude-sonnet-4-5";
    opt.pricing_path = pricing;
    opt.timeout_ms = 30000;
    if (remote_embed) {
        opt.embed_provider = BO1_EMBED_PROVIDER_VOYAGE;
        opt.voyage_base_url = base;
        opt.voyage_api_key = "bench-key";
    }
    if (bo1_llm_new(r.loop, &opt, &r.gw, &why) != BO1_OK ||
        bo1_embedder_new(r.gw, &r.emb, &why) != BO1_OK) {
        fprintf(stderr, "gateway: %s\n", why ? why : "?");
        return 1;
    }
    cfg.personas = personas;
    cfg.n_personas = n_personas;
    cfg.prompts = prompts;
    cfg.simulated = 1;
    cfg.model_fast = opt.model_fast;
    cfg.model_deep = opt.model_deep;
    struct bo1_engine_effects fx = {.call_model = fx_call_model,
                                    .embed = fx_embed,
                                    .checkpoint = fx_checkpoint,
                                    .publish = fx_publish,
                                    .now_s = fx_now,
                                    .ctx = &r};
    uv_timer_init(bo1_loop_uv(r.loop), &r.stopper);
    r.stopper.data = &r;
    r.e = bo1_engine_new(&cfg, &fx);
    req = json_pack("{s:{s:s}}", "problem", "statement", statement);
    if (bo1_engine_create(r.e, "bench-1", req, &r.s, NULL) != BO1_OK) {
        fprintf(stderr, "create failed\n");
        return 1;
    }
    json_decref(req);
    r.heap_base = r.heap_peak = mallinfo2().uordblks;
    c0 = bench_cpu_s();
    r.t_start = bench_mono_s();
    if (bo1_engine_start(r.e, r.s) != BO1_OK) {
        fprintf(stderr, "start failed\n");
        return 1;
    }
    bo1_loop_run(r.loop);
    cpu = bench_cpu_s() - c0;
    if (!r.done) {
        fprintf(stderr, "the deliberation did not finish\n");
        rc = 1;
    }

    struct path_stats ps = critical_path(&r, latency / 1e3, remote_embed, verbose);
    double wall = r.t_end - r.t_start;
    double nominal = ps.nominal;
    state = bo1_session_to_json(r.s);
    const json_t *costs = json_object_get(state, "costs");
    long in = (long)json_integer_value(json_object_get(costs, "input"));
    long out = (long)json_integer_value(json_object_get(costs, "output"));
    long cw = (long)json_integer_value(json_object_get(costs, "cache_write"));
    long cr = (long)json_integer_value(json_object_get(costs, "cache_read"));
    long calls = (long)json_integer_value(json_object_get(costs, "calls"));
    size_t sps = json_array_size(json_object_get(state, "sub_problems"));
    size_t rounds = 0;
    for (size_t i = 0; i < sps; i++)
        rounds += json_array_size(
            json_object_get(json_array_get(json_object_get(state, "sub_problems"), i), "rounds"));

    printf("%s: status %s, %zu sub-problem(s), %zu round(s), %zu model+embed calls (ledger "
           "%ld), %d events, %d checkpoints\n",
           label, r.final_status, sps, rounds, r.n_calls, calls, r.events, r.checkpoints);
    printf("  wall %.3f s; critical path %zu calls (%zu model, %zu embed) = %.3f s of model "
           "latency at %u ms -> ratio %.3f (vs measured call times %.3f s -> %.3f)\n",
           wall, ps.len, ps.model_len, ps.embed_len, nominal, latency,
           nominal > 0 ? wall / nominal : 0, ps.measured, ps.measured > 0 ? wall / ps.measured : 0);
    printf("  beyond the model latency: engine gaps %.1f ms, transport and local embedding "
           "%.1f ms, head %.1f ms, tail %.1f ms\n",
           ps.gaps * 1e3, (ps.measured - nominal) * 1e3, ps.head * 1e3, ps.tail * 1e3);
    printf("  cpu %.3f s (engine + gateway, this process); peak heap in use +%.1f MiB over "
           "%.1f MiB before; process peak RSS %ld MiB\n",
           cpu, (double)(r.heap_peak - r.heap_base) / (1 << 20), (double)r.heap_base / (1 << 20),
           bench_peak_rss_kb() / 1024);
    printf("  tokens: input %ld, output %ld, cache_write %ld, cache_read %ld; cache-read share "
           "%.1f %% of input-side tokens; cost $%.4f\n",
           in, out, cw, cr, (in + cw + cr) ? 100.0 * (double)cr / (double)(in + cw + cr) : 0.0,
           json_number_value(json_object_get(costs, "total_usd")));
    fflush(stdout);
    if (strcmp(r.final_status, "completed") != 0)
        rc = 1;
    json_decref(state);
    bo1_session_free(r.s);
    bo1_engine_free(r.e);
    /* bo1_loop_free closes the stopper timer with every other handle. */
    bo1_embedder_free(r.emb);
    bo1_llm_free(r.gw);
    bo1_loop_free(r.loop);
    free(why);
    return rc;
}

static int load_assets(void)
{
    char path[1024];
    char *why = NULL;

    snprintf(path, sizeof(path), "%s/zzz_important/prompts", BO1_SOURCE_ROOT);
    if (bo1_prompts_load(path, &prompts, &why) != BO1_OK) {
        fprintf(stderr, "prompts: %s\n", why ? why : "?");
        return -1;
    }
    snprintf(path, sizeof(path), "%s/zzz_important/personas.json", BO1_SOURCE_ROOT);
    if (bo1_persona_catalog_load(path, &catalog, &why) != BO1_OK) {
        fprintf(stderr, "personas: %s\n", why ? why : "?");
        return -1;
    }
    n_personas = bo1_persona_catalog_count(catalog);
    personas = calloc(n_personas, sizeof(*personas));
    for (size_t i = 0; i < n_personas; i++)
        personas[i] = bo1_persona_catalog_at(catalog, i);
    return 0;
}

int main(int argc, char **argv)
{
    unsigned latency = 200;
    unsigned runs = 3;
    int remote_embed = 0;
    int verbose = 0;
    const char *scenario = "both";
    const char *fake =
        getenv("BO1_TEST_FAKE_LLM") ? getenv("BO1_TEST_FAKE_LLM") : BO1_FAKE_LLM_PATH;
    static const char single[] = "Should we move our SaaS from $8K MRR to $20K with a sales "
                                 "hire, a co-founder or product-led growth?";
    static const char three[] = "Plan our European expansion [fake:subproblems=3] for the next "
                                "year, hiring and pricing included.";
    char base[64];
    int port;
    pid_t pid;
    int rc = 0;

    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--latency-ms") && i + 1 < argc)
            latency = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--runs") && i + 1 < argc)
            runs = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--scenario") && i + 1 < argc)
            scenario = argv[++i];
        else if (!strcmp(argv[i], "--remote-embed"))
            remote_embed = 1;
        else if (!strcmp(argv[i], "--fake") && i + 1 < argc)
            fake = argv[++i];
        else if (!strcmp(argv[i], "--verbose"))
            verbose = 1;
        else {
            fprintf(stderr,
                    "usage: %s [--latency-ms L] [--runs R] [--scenario single|three|both] "
                    "[--remote-embed] [--fake PATH] [--verbose]\n",
                    argv[0]);
            return 2;
        }
    }
    if (load_assets() != 0)
        return 1;
    port = bench_free_port();
    pid = bench_start_fake(fake, port, latency, 7);
    if (pid < 0) {
        fprintf(stderr, "could not start %s\n", fake);
        return 1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    printf("engine_critical_path: fake latency %u ms, embeddings %s, %u run(s) per scenario\n",
           latency, remote_embed ? "voyage wire via the fake (same latency)" : "local", runs);
    for (unsigned i = 0; i < runs; i++) {
        char label[64];
        if (strcmp(scenario, "three") != 0) {
            snprintf(label, sizeof(label), "single #%u", i + 1);
            rc |= deliberate(base, single, latency, remote_embed, verbose, label);
        }
        if (strcmp(scenario, "single") != 0) {
            snprintf(label, sizeof(label), "three #%u", i + 1);
            rc |= deliberate(base, three, latency, remote_embed, verbose, label);
        }
    }
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    free(personas);
    bo1_persona_catalog_free(catalog);
    bo1_prompts_free(prompts);
    return rc;
}
