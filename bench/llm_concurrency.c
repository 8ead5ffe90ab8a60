/* llm_concurrency - N concurrent model calls through the gateway to bo1-fake-llm.
 *
 * Starts the fake (--latency-ms L) on a free port, makes N calls at once on one libuv loop
 * (in-flight cap = N), and prints wall time, CPU time per call in this process (the gateway
 * side only; the fake is another process) and peak RSS, for R rounds. Round 1 opens N
 * connections; later rounds reuse them (keep-alive).
 *
 * Usage: llm_concurrency [--calls N] [--latency-ms L] [--rounds R] [--openai]
 *                        [--fake PATH] [--pricing PATH] */
#include <arpa/inet.h>
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
#include "bo1/llm.h"
#include "bo1/loop.h"

#ifndef BO1_FAKE_LLM_PATH
#define BO1_FAKE_LLM_PATH "bo1-fake-llm"
#endif
#ifndef BO1_SOURCE_ROOT
#define BO1_SOURCE_ROOT "."
#endif

static struct bo1_loop *loop;
static int pending;
static int ok_count;
static int fail_count;
static enum bo1_status first_error;
static char first_message[512];

static unsigned long long connections_opened(struct bo1_llm *gw)
{
    struct bo1_buf m;
    const char *p;
    unsigned long long n = 0;

    bo1_buf_init(&m, 0);
    if (bo1_llm_metrics(gw, &m) == BO1_OK) {
        p = strstr(bo1_buf_str(&m), "\nbo1_llm_connections_opened_total ");
        if (p)
            n = strtoull(p + strlen("\nbo1_llm_connections_opened_total "), NULL, 10);
    }
    bo1_buf_fini(&m);
    return n;
}

static void on_done(const struct bo1_llm_response *r, void *arg)
{
    (void)arg;
    if (r->status == BO1_OK) {
        ok_count++;
    } else {
        if (fail_count++ == 0) {
            first_error = r->status;
            snprintf(first_message, sizeof(first_message), "%s", r->error_message);
        }
    }
    if (--pending == 0)
        uv_stop(bo1_loop_uv(loop));
}

int main(int argc, char **argv)
{
    unsigned calls = 1000;
    unsigned latency = 100;
    unsigned rounds = 3;
    int openai = 0;
    const char *fake =
        getenv("BO1_TEST_FAKE_LLM") ? getenv("BO1_TEST_FAKE_LLM") : BO1_FAKE_LLM_PATH;
    char pricing[1024];
    char base[64];
    struct bo1_llm_options o = BO1_LLM_OPTIONS_DEFAULTS;
    struct bo1_llm *gw = NULL;
    char *why = NULL;
    int port;
    pid_t pid;
    int rc = 0;
    static const struct bo1_llm_block sys[] = {
        {.text = "You are a member of a deliberation board.", .cache = 1}};
    static const struct bo1_llm_message msg[] = {
        {.role = "user",
         .content = "<problem>Should we raise prices?</problem> <round>1</round> "
                    "<speaker code=\"cfo\">"}};
    struct bo1_llm_request rq = {.task = "contribute",
                                 .session_id = "bench",
                                 .tier = BO1_LLM_TIER_DEEP,
                                 .system = sys,
                                 .n_system = 1,
                                 .messages = msg,
                                 .n_messages = 1,
                                 .max_tokens = 600};

    snprintf(pricing, sizeof(pricing), "%s/zzz_important/pricing.json", BO1_SOURCE_ROOT);
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--calls") == 0 && i + 1 < argc)
            calls = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--latency-ms") == 0 && i + 1 < argc)
            latency = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--rounds") == 0 && i + 1 < argc)
            rounds = (unsigned)atoi(argv[++i]);
        else if (strcmp(argv[i], "--openai") == 0)
            openai = 1;
        else if (strcmp(argv[i], "--fake") == 0 && i + 1 < argc)
            fake = argv[++i];
        else if (strcmp(argv[i], "--pricing") == 0 && i + 1 < argc)
            snprintf(pricing, sizeof(pricing), "%s", argv[++i]);
        else {
            fprintf(stderr,
                    "usage: %s [--calls N] [--latency-ms L] [--rounds R] [--openai] "
                    "[--fake PATH] [--pricing PATH]\n",
                    argv[0]);
            return 2;
        }
    }
    if (calls == 0 || rounds == 0)
        return 2;
    port = bench_free_port();
    pid = bench_start_fake(fake, port, latency, 1);
    if (pid < 0) {
        fprintf(stderr, "could not start %s\n", fake);
        return 1;
    }
    snprintf(base, sizeof(base), "http://127.0.0.1:%d", port);
    if (bo1_loop_new(&loop) != BO1_OK)
        return 1;
    o.provider = openai ? BO1_LLM_PROVIDER_OPENAI : BO1_LLM_PROVIDER_ANTHROPIC;
    o.anthropic_base_url = base;
    o.openai_base_url = base;
    o.model_fast = "fake-fast";
    o.model_deep = "fake-deep";
    o.pricing_path = pricing;
    o.max_inflight = calls;
    o.timeout_ms = 30000;
    if (bo1_llm_new(loop, &o, &gw, &why) != BO1_OK) {
        fprintf(stderr, "bo1_llm_new: %s\n", why ? why : "?");
        kill(pid, SIGKILL);
        return 1;
    }
    printf("llm_concurrency: %u concurrent calls, fake latency %u ms, provider %s\n", calls,
           latency, openai ? "openai" : "anthropic");
    for (unsigned r = 1; r <= rounds; r++) {
        double t0 = bench_mono_s();
        double c0 = bench_cpu_s();
        double wall;
        double cpu;
        unsigned long long conns0 = connections_opened(gw);

        ok_count = fail_count = 0;
        for (unsigned i = 0; i < calls; i++) {
            pending++;
            if (bo1_llm_call(gw, &rq, on_done, NULL, NULL) != BO1_OK) {
                pending--;
                fail_count++;
            }
        }
        while (pending > 0)
            uv_run(bo1_loop_uv(loop), UV_RUN_DEFAULT);
        wall = bench_mono_s() - t0;
        cpu = bench_cpu_s() - c0;
        printf("round %u: wall %.3f s, ok %d, failed %d, cpu %.1f us/call, peak rss %ld KiB, "
               "new connections %llu\n",
               r, wall, ok_count, fail_count, cpu * 1e6 / calls, bench_peak_rss_kb(),
               connections_opened(gw) - conns0);
        if (fail_count) {
            printf("  first failure: %s: %s\n", bo1_status_name(first_error), first_message);
            rc = 1;
        }
    }
    bo1_llm_free(gw);
    bo1_loop_free(loop);
    kill(pid, SIGTERM);
    waitpid(pid, NULL, 0);
    free(why);
    return rc;
}
