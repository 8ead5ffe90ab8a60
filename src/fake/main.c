/* bo1-fake-llm - a fake model provider speaking the Anthropic Messages, OpenAI chat
 * completions and embeddings wire formats, for tests, benchmarks and the offline demo.
 * main() reads flags, starts the server and waits for SIGTERM/SIGINT. */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <unistd.h>

#include "bo1/log.h"
#include "fake_internal.h"
#include "server.h"

static const char usage[] =
    "usage: bo1-fake-llm --port N [options]\n"
    "\n"
    "A fake model provider: POST /v1/messages (Anthropic), /v1/chat/completions (OpenAI),\n"
    "/v1/embeddings (Voyage/OpenAI). Answers follow MODEL_IO.md by the X-Bo1-Task header.\n"
    "\n"
    "options:\n"
    "  --port N               port to listen on (required; 0 is not allowed)\n"
    "  --host ADDR            IPv4 address to bind (default 127.0.0.1)\n"
    "  --seed S               seed for answers and fault rates (default 1)\n"
    "  --latency-ms N         fixed latency before every model reply\n"
    "  --latency-min-ms A --latency-max-ms B   uniform latency in [A, B]\n"
    "  --api-key K            require x-api-key: K or Authorization: Bearer K (else 401)\n"
    "  --fault SPEC           add a fault rule (repeatable); SPEC is JSON or key=value,...\n"
    "  --embed-dim N          embedding dimension (default 256)\n"
    "  --max-requests N       request log size (default 10000)\n"
    "  --threads N            HTTP threads (default 4)\n"
    "  --log-level L          debug|info|warn|error (default info)\n"
    "\n"
    "fault rule fields (JSON object, or key=value pairs for --fault):\n"
    "  task, session, path    match only these (omitted = any)\n"
    "  error                  429 | spend_limit | 500 | 529 | malformed | truncated | reset | "
    "hang\n"
    "                         (omitted = latency only)\n"
    "  rate                   fraction of matching requests that fail, 0..1 (deterministic by "
    "seed)\n"
    "  count                  fail only the next N matching requests\n"
    "  latency_ms | latency_min_ms + latency_max_ms   latency for matching requests\n"
    "  retry_after            retry-after header, seconds\n"
    "  retry_after_ms         retry-after-ms header\n"
    "  should_retry           true|false: send x-should-retry\n"
    "  hang_ms                for error=hang: close after this long (default 600000)\n"
    "  e.g. --fault error=429,count=2,retry_after=1,task=vote\n"
    "\n"
    "admin endpoints:\n"
    "  GET /_fake/health\n"
    "  GET|DELETE /_fake/requests[?task=&session=&path=]\n"
    "  GET|POST|DELETE /_fake/faults   POST a rule, an array, or "
    "{\"faults\":[...],\"replace\":true}\n"
    "  POST|DELETE /_fake/script       POST {\"task\":s, \"session\"?:s, \"texts\":[s]}\n";

static int parse_num(const char *s, long lo, long hi, long *out)
{
    char *end = NULL;
    long v;

    errno = 0;
    v = strtol(s, &end, 10);
    if (errno || !end || *end || end == s || v < lo || v > hi)
        return -1;
    *out = v;
    return 0;
}

static void raise_fd_limit(void)
{
    struct rlimit rl;

    /* 1,000 concurrent clients need more descriptors than a typical soft limit of 1024. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
        rl.rlim_cur = rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
}

int main(int argc, char **argv)
{
    static const struct option longopts[] = {
        {"port", required_argument, NULL, 'p'},
        {"host", required_argument, NULL, 'H'},
        {"seed", required_argument, NULL, 's'},
        {"latency-ms", required_argument, NULL, 'l'},
        {"latency-min-ms", required_argument, NULL, 'a'},
        {"latency-max-ms", required_argument, NULL, 'b'},
        {"api-key", required_argument, NULL, 'k'},
        {"fault", required_argument, NULL, 'f'},
        {"embed-dim", required_argument, NULL, 'd'},
        {"max-requests", required_argument, NULL, 'm'},
        {"threads", required_argument, NULL, 't'},
        {"log-level", required_argument, NULL, 'L'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    struct fake_state st;
    struct fake_server *srv = NULL;
    struct fake_server_opts opts = {.host = "127.0.0.1", .threads = 4};
    long port = -1, seed = 1, lat = 0, lat_min = -1, lat_max = -1, dim = 256, max_req = 10000;
    long threads = 4;
    const char *api_key = NULL;
    const char *faults[64];
    size_t n_faults = 0;
    sigset_t sigs;
    int sig = 0;
    int rc = 2;
    int c;

    while ((c = getopt_long(argc, argv, "h", longopts, NULL)) != -1) {
        long *slot = NULL;
        long lo = 0, hi = 0;
        switch (c) {
        case 'p':
            slot = &port, lo = 1, hi = 65535;
            break;
        case 'H':
            opts.host = optarg;
            break;
        case 's':
            slot = &seed, lo = -2147483647L - 1, hi = 2147483647L;
            break;
        case 'l':
            slot = &lat, lo = 0, hi = 3600000;
            break;
        case 'a':
            slot = &lat_min, lo = 0, hi = 3600000;
            break;
        case 'b':
            slot = &lat_max, lo = 0, hi = 3600000;
            break;
        case 'k':
            api_key = optarg;
            break;
        case 'f':
            if (n_faults == sizeof(faults) / sizeof(faults[0])) {
                fprintf(stderr, "bo1-fake-llm: at most 64 --fault flags\n");
                return 2;
            }
            faults[n_faults++] = optarg;
            break;
        case 'd':
            slot = &dim, lo = 1, hi = 8192;
            break;
        case 'm':
            slot = &max_req, lo = 1, hi = 10000000;
            break;
        case 't':
            slot = &threads, lo = 1, hi = 64;
            break;
        case 'L': {
            enum bo1_log_level lvl;
            if (bo1_log_level_parse(optarg, &lvl) != 0) {
                fprintf(stderr, "bo1-fake-llm: bad --log-level\n");
                return 2;
            }
            bo1_log_set_level(lvl);
            break;
        }
        case 'h':
            fputs(usage, stdout);
            return 0;
        default:
            fputs(usage, stderr);
            return 2;
        }
        if (slot && parse_num(optarg, lo, hi, slot) != 0) {
            fprintf(stderr, "bo1-fake-llm: bad value '%s'\n", optarg);
            return 2;
        }
    }
    if (port < 1 || optind != argc) {
        fputs(usage, stderr);
        return 2;
    }
    if ((lat_min >= 0) != (lat_max >= 0) || lat_min > lat_max) {
        fprintf(stderr, "bo1-fake-llm: --latency-min-ms and --latency-max-ms go together\n");
        return 2;
    }
    if (fake_state_init(&st, (size_t)max_req) != BO1_OK) {
        fprintf(stderr, "bo1-fake-llm: out of memory\n");
        return 1;
    }
    st.seed = (uint64_t)seed;
    st.api_key = api_key;
    st.embed_dim = (size_t)dim;
    st.default_latency_ms = lat;
    st.default_latency_min_ms = lat_min;
    st.default_latency_max_ms = lat_max;
    for (size_t i = 0; i < n_faults; i++) {
        struct fake_fault *f = NULL;
        char *why = NULL;
        if (fake_fault_from_spec(faults[i], &f, &why) != BO1_OK) {
            fprintf(stderr, "bo1-fake-llm: --fault '%s': %s\n", faults[i], why ? why : "invalid");
            free(why);
            goto out;
        }
        fake_state_add_fault_locked(&st, f);
    }
    opts.port = (unsigned)port;
    opts.threads = (unsigned)threads;
    raise_fd_limit();
    signal(SIGPIPE, SIG_IGN);

    /* A shell starting us in the background may have set SIGINT to "ignore", and an ignored
     * signal never reaches sigwait(): restore the defaults first. */
    signal(SIGINT, SIG_DFL);
    signal(SIGTERM, SIG_DFL);
    /* Block the stop signals in every thread; main waits for them with sigwait(). */
    sigemptyset(&sigs);
    sigaddset(&sigs, SIGTERM);
    sigaddset(&sigs, SIGINT);
    pthread_sigmask(SIG_BLOCK, &sigs, NULL);

    if (fake_server_start(&opts, &st, &srv) != BO1_OK) {
        bo1_log_error(NULL, json_pack("{s:s, s:i}", "host", opts.host, "port", (int)port),
                      "bo1-fake-llm could not listen");
        rc = 1;
        goto out;
    }
    bo1_log_info(NULL,
                 json_pack("{s:s, s:i, s:I, s:I, s:i, s:b}", "host", opts.host, "port", (int)port,
                           "seed", (json_int_t)seed, "latency_ms", (json_int_t)lat, "faults",
                           (int)n_faults, "api_key_required", api_key != NULL),
                 "bo1-fake-llm listening (simulated model provider)");
    while (sigwait(&sigs, &sig) != 0)
        ;
    bo1_log_info(NULL, json_pack("{s:i}", "signal", sig), "bo1-fake-llm stopping");
    fake_server_stop(srv);
    rc = 0;
out:
    fake_state_fini(&st);
    return rc;
}
