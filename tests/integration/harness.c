/* Integration-test harness: process control, free ports and HTTP over loopback. */
#include "harness.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <hiredis/hiredis.h>
#include <limits.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROCS 64

static pid_t started[MAX_PROCS];
static int n_started;

static void kill_all(void)
{
    for (int i = 0; i < n_started; i++) {
        if (started[i] > 0) {
            kill(started[i], SIGKILL);
            waitpid(started[i], NULL, 0);
        }
    }
    n_started = 0;
}

static void remember(pid_t pid)
{
    static int registered;

    if (!registered) {
        atexit(kill_all);
        registered = 1;
    }
    if (n_started < MAX_PROCS)
        started[n_started++] = pid;
}

static void forget(pid_t pid)
{
    for (int i = 0; i < n_started; i++)
        if (started[i] == pid)
            started[i] = 0;
}

long long h_now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void h_sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};

    while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
        ;
}

int h_free_port(void)
{
    struct sockaddr_in sa = {.sin_family = AF_INET};
    socklen_t len = sizeof(sa);
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int port = -1;

    if (fd < 0)
        return -1;
    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (bind(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    close(fd);
    return port;
}

const char *h_env_path(const char *env)
{
    const char *p = getenv(env);

    if (!p || !*p) {
        fprintf(stderr, "harness: %s is not set (run through meson test)\n", env);
        exit(1);
    }
    return p;
}

static int port_open(int port)
{
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    int ok;

    sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ok = connect(fd, (struct sockaddr *)&sa, sizeof(sa)) == 0;
    close(fd);
    return ok;
}

int h_proc_start(struct h_proc *p, char *const argv[], char *const envp[], int port, int wait_ms)
{
    static int seq;
    pid_t pid;
    long long deadline;

    snprintf(p->log_path, sizeof(p->log_path), "/tmp/bo1-itest-%d-%d.log", (int)getpid(), seq++);
    p->port = port;
    pid = fork();
    if (pid < 0)
        return -1;
    if (pid == 0) {
        int fd = open(p->log_path, O_WRONLY | O_CREAT | O_TRUNC, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        for (size_t i = 0; envp && envp[i]; i++) {
            const char *eq = strchr(envp[i], '=');
            char *name;
            if (!eq)
                continue;
            name = strndup(envp[i], (size_t)(eq - envp[i]));
            if (name)
                setenv(name, eq + 1, 1);
            free(name);
        }
        execvp(argv[0], argv);
        _exit(127);
    }
    p->pid = pid;
    remember(pid);
    deadline = h_now_ms() + wait_ms;
    while (h_now_ms() < deadline) {
        int status;
        if (port_open(port))
            return 0;
        if (waitpid(pid, &status, WNOHANG) == pid) {
            forget(pid);
            p->pid = 0;
            fprintf(stderr, "harness: %s exited before listening; log %s\n", argv[0], p->log_path);
            return -1;
        }
        h_sleep_ms(10);
    }
    fprintf(stderr, "harness: %s did not listen on %d; log %s\n", argv[0], port, p->log_path);
    return -1;
}

int h_proc_stop(struct h_proc *p, int sig, int wait_ms)
{
    long long deadline = h_now_ms() + wait_ms;
    int status;

    if (p->pid <= 0)
        return -1;
    kill(p->pid, sig);
    while (h_now_ms() < deadline) {
        if (waitpid(p->pid, &status, WNOHANG) == p->pid) {
            forget(p->pid);
            p->pid = 0;
            if (WIFEXITED(status))
                return WEXITSTATUS(status);
            return 128 + WTERMSIG(status);
        }
        h_sleep_ms(5);
    }
    return -1;
}

static int redis_cluster_mode(void);

int h_redis_start(struct h_proc *p)
{
    int port = h_free_port();

    /* A cluster node's bus port defaults to port + 10000: keep both in range. */
    for (int i = 0; i < 50 && redis_cluster_mode() && port > 55535; i++)
        port = h_free_port();
    return h_redis_start_on(p, port);
}

/* BO1_TEST_REDIS_CLUSTER=1: every Redis the harness starts is a single-node Redis Cluster
 * owning all 16384 slots, so a command or script whose keys span slots fails with
 * CROSSSLOT, and there is only database 0 (no SELECT). */
static int redis_cluster_mode(void)
{
    const char *v = getenv("BO1_TEST_REDIS_CLUSTER");

    return v && strcmp(v, "1") == 0;
}

/* Give the node every slot (a restart finds them in its nodes.conf: "busy" is fine) and
 * wait until the cluster says it is ok. Returns 0 on success. */
static int redis_cluster_ready(int port, int timeout_ms)
{
    long long deadline = h_now_ms() + timeout_ms;
    redisReply *r = h_redis(port, "CLUSTER ADDSLOTSRANGE 0 16383");

    if (r)
        freeReplyObject(r);
    do {
        int ok;
        r = h_redis(port, "CLUSTER INFO");
        ok = r && r->type == REDIS_REPLY_STRING && strstr(r->str, "cluster_state:ok");
        if (r)
            freeReplyObject(r);
        if (ok)
            return 0;
        h_sleep_ms(50);
    } while (h_now_ms() < deadline);
    fprintf(stderr, "harness: the Redis cluster on port %d never reached cluster_state:ok\n", port);
    return -1;
}

/* redis-server on @port with its data in a directory kept per port (and per mode), so a
 * restart on the same port finds it; @aof: append-only file with fsync always. */
static int redis_start(struct h_proc *p, int port, int aof)
{
    char dir[128];
    char portbuf[16];
    char busbuf[16];
    int cluster = redis_cluster_mode();

    snprintf(dir, sizeof(dir), "/tmp/bo1-itest-redis-%s%s%d-%d", aof ? "aof-" : "",
             cluster ? "cluster-" : "", (int)getpid(), port);
    mkdir(dir, 0700);
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(busbuf, sizeof(busbuf), "%d", cluster ? h_free_port() : 0);
    char *argv[] = {"redis-server",
                    "--port",
                    portbuf,
                    "--bind",
                    "127.0.0.1",
                    "--dir",
                    dir,
                    "--save",
                    "",
                    "--appendonly",
                    aof ? "yes" : "no",
                    "--appendfsync",
                    "always",
                    "--maxmemory-policy",
                    "noeviction",
                    cluster ? "--cluster-enabled" : NULL,
                    "yes",
                    "--cluster-config-file",
                    "nodes.conf",
                    "--cluster-port",
                    busbuf,
                    NULL};
    if (h_proc_start(p, argv, NULL, port, 5000) != 0)
        return -1;
    return cluster ? redis_cluster_ready(port, 10000) : 0;
}

int h_redis_start_on(struct h_proc *p, int port)
{
    return redis_start(p, port, 0);
}

int h_redis_start_aof(struct h_proc *p, int port)
{
    return redis_start(p, port, 1);
}

int h_bo1d_start(struct h_proc *p, int redis_port, char *const envp[])
{
    static char port_env[32];
    static char redis_env[64];
    static char data_env[1100];
    char *env[64];
    size_t n = 0;
    int port = h_free_port();
    const char *bin = h_env_path("BO1_TEST_BO1D");
    char *argv[] = {(char *)bin, NULL};

    snprintf(port_env, sizeof(port_env), "PORT=%d", port);
    snprintf(redis_env, sizeof(redis_env), "REDIS_URL=redis://127.0.0.1:%d/0", redis_port);
    env[n++] = port_env;
    env[n++] = redis_env;
    env[n++] = "BO1_ENV_FILE=/nonexistent";
    snprintf(data_env, sizeof(data_env), "BO1_DATA_DIR=%s/zzz_important",
             h_env_path("BO1_SOURCE_ROOT"));
    env[n++] = data_env;
    for (size_t i = 0; envp && envp[i] && n < 63; i++)
        env[n++] = envp[i];
    env[n] = NULL;
    return h_proc_start(p, argv, env, port, 10000);
}

int h_fake_start(struct h_proc *p, int latency_ms)
{
    const char *bin = h_env_path("BO1_TEST_FAKE_LLM");
    int port = h_free_port();
    char portbuf[16];
    char latbuf[16];
    char *argv[] = {(char *)bin, "--port", portbuf, "--latency-ms", latbuf, "--seed", "7", NULL};

    if (!bin)
        return -1;
    snprintf(portbuf, sizeof(portbuf), "%d", port);
    snprintf(latbuf, sizeof(latbuf), "%d", latency_ms);
    return h_proc_start(p, argv, NULL, port, 5000);
}

int h_bo1d_start_fake(struct h_proc *p, int redis_port, int fake_port, const char *api_key,
                      const char *const extra[])
{
    char urls[3][160];
    char key[160];
    char *env[48];
    size_t n = 0;

    snprintf(urls[0], sizeof(urls[0]), "ANTHROPIC_BASE_URL=http://127.0.0.1:%d", fake_port);
    snprintf(urls[1], sizeof(urls[1]), "VOYAGE_BASE_URL=http://127.0.0.1:%d", fake_port);
    snprintf(urls[2], sizeof(urls[2]), "BO1_EXPORTS_DIR=/tmp/bo1-itest-exports-%d", (int)getpid());
    snprintf(key, sizeof(key), "BO1_API_KEYS=%s", api_key);
    env[n++] = urls[0];
    env[n++] = urls[1];
    env[n++] = urls[2];
    env[n++] = key;
    env[n++] = "ANTHROPIC_API_KEY=sk-ant-fake";
    env[n++] = "VOYAGE_API_KEY=pa-fake";
    env[n++] = "BO1_RATE_CONTROL_PER_MIN=10000";
    env[n++] = "BO1_RATE_READS_PER_MIN=100000";
    env[n++] = "BO1_RATE_CREATE_PER_MIN=1000";
    env[n++] = "BO1_LLM_TIMEOUT_MS=5000";
    for (size_t i = 0; extra && extra[i] && n < 47; i++)
        env[n++] = (char *)extra[i];
    env[n] = NULL;
    /* h_bo1d_start copies the pointers into the child's environment before returning. */
    if (h_bo1d_start(p, redis_port, env) != 0)
        return -1;
    return h_wait_ready(p->port, 10000);
}

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct h_resp *r = arg;
    size_t n = size * nmemb;
    char *p = realloc(r->body, r->body_len + n + 1);

    if (!p)
        return 0;
    memcpy(p + r->body_len, ptr, n);
    r->body = p;
    r->body_len += n;
    r->body[r->body_len] = '\0';
    return n;
}

static size_t on_header(char *ptr, size_t size, size_t nmemb, void *arg)
{
    struct h_resp *r = arg;
    size_t n = size * nmemb;
    size_t old = r->headers ? strlen(r->headers) : 0;
    char *p = realloc(r->headers, old + n + 1);

    if (!p)
        return 0;
    memcpy(p + old, ptr, n);
    p[old + n] = '\0';
    r->headers = p;
    return n;
}

int h_http(struct h_resp *r, const char *method, int port, const char *path,
           const char *const headers[], const char *body, size_t body_len)
{
    char url[2048];
    struct curl_slist *hl = NULL;
    CURL *c = curl_easy_init();
    CURLcode rc;

    memset(r, 0, sizeof(*r));
    if (!c)
        return -1;
    snprintf(url, sizeof(url), "http://127.0.0.1:%d%s", port, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (strcmp(method, "HEAD") == 0)
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &r->total_s);
    }
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    if (!r->body) {
        r->body = calloc(1, 1);
        r->body_len = 0;
    }
    return rc == CURLE_OK ? 0 : -1;
}

char *h_resp_header(const struct h_resp *r, const char *name)
{
    size_t nlen = strlen(name);
    const char *line = r->headers;

    while (line && *line) {
        const char *eol = strstr(line, "\r\n");
        size_t len = eol ? (size_t)(eol - line) : strlen(line);
        if (len > nlen && line[nlen] == ':' && strncasecmp(line, name, nlen) == 0) {
            const char *v = line + nlen + 1;
            while (*v == ' ')
                v++;
            return strndup(v, (size_t)(line + len - v));
        }
        line = eol ? eol + 2 : NULL;
    }
    return NULL;
}

json_t *h_resp_json(const struct h_resp *r)
{
    return json_loadb(r->body, r->body_len, 0, NULL);
}

void h_resp_free(struct h_resp *r)
{
    free(r->body);
    free(r->headers);
    memset(r, 0, sizeof(*r));
}

double h_metric(int port, const char *name)
{
    struct h_resp r;
    double v = -1;
    char needle[128];
    const char *p;

    snprintf(needle, sizeof(needle), "\n%s ", name);
    if (h_http(&r, "GET", port, "/metrics", NULL, NULL, 0) == 0 && r.body &&
        (p = strstr(r.body, needle)))
        v = strtod(p + strlen(needle), NULL);
    h_resp_free(&r);
    return v;
}

int h_wait_ready(int port, int within_ms)
{
    long long deadline = h_now_ms() + within_ms;

    do {
        struct h_resp r;
        long status = -1;
        if (h_http(&r, "GET", port, "/ready", NULL, NULL, 0) == 0)
            status = r.status;
        h_resp_free(&r);
        if (status == 200)
            return 0;
        h_sleep_ms(20);
    } while (h_now_ms() < deadline);
    return -1;
}

static struct redisReply *redis_v(int port, const char *fmt, va_list ap)
{
    struct timeval tv = {2, 0};
    redisContext *c = redisConnectWithTimeout("127.0.0.1", port, tv);
    redisReply *r = NULL;

    if (c && !c->err) {
        redisSetTimeout(c, tv);
        r = redisvCommand(c, fmt, ap);
    }
    if (c)
        redisFree(c);
    return r;
}

struct redisReply *h_redis(int port, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;

    va_start(ap, fmt);
    r = redis_v(port, fmt, ap);
    va_end(ap);
    return r;
}

long long h_redis_int(int port, const char *fmt, ...)
{
    va_list ap;
    redisReply *r;
    long long v = LLONG_MIN;

    va_start(ap, fmt);
    r = redis_v(port, fmt, ap);
    va_end(ap);
    if (r && r->type == REDIS_REPLY_INTEGER)
        v = r->integer;
    if (r)
        freeReplyObject(r);
    return v;
}
