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

static double now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static double cpu_s(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return (double)ru.ru_utime.tv_sec + (double)ru.ru_utime.tv_usec / 1e6 +
           (double)ru.ru_stime.tv_sec + (double)ru.ru_stime.tv_usec / 1e6;
}

static long peak_rss_kb(void)
{
    struct rusage ru;

    getrusage(RUSAGE_SELF, &ru);
    return ru.ru_maxrss;
}

static int free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

static int port_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET,
                             .sin_port = htons((uint16_t)port),
                             .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    if (fd < 0)
        return 0;
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

static pid_t start_fake(const char *path, int port, unsigned latency)
{
    char portbuf[16];
    char latbuf[16];
    pid_t pid;

    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(latbuf, sizeof(latbuf), "%u", latency);
    pid = fork();
    if (pid == 0) {
        if (!freopen("/dev/null", "w", stdout) || !freopen("/dev/null", "w", stderr))
            _exit(126);
        execl(path, path, "--port", portbuf, "--latency-ms", latbuf, "--seed", "1", (char *)NULL);
        _exit(127);
    }
    for (int i = 0; i < 500 && pid > 0; i++) {
        if (port_open(port))
            return pid;
        usleep(10000);
    }
    if (pid > 0)
        kill(pid, SIGKILL);
    return -1;
}

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
    port = free_port();
    pid = start_fake(fake, port, latency);
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
        double t0 = now_s();
        double c0 = cpu_s();
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
        wall = now_s() - t0;
        cpu = cpu_s() - c0;
        printf("round %u: wall %.3f s, ok %d, failed %d, cpu %.1f us/call, peak rss %ld KiB, "
               "new connections %llu\n",
               r, wall, ok_count, fail_count, cpu * 1e6 / calls, peak_rss_kb(),
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
