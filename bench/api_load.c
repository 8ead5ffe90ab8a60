/* api_load - load on a running bo1d through its HTTP API (issue 5 figures, and the issue 4
 * ratio measured through the API). One process, one libcurl multi handle, no threads.
 *
 *   api_load sse  --url URL [--clients 1000] [--epoll] [--server-pid PID]
 *     Creates one session with options.start=false, opens N SSE streams on it, waits until
 *     the server counts N SSE clients (GET /metrics), starts the session and reads every
 *     stream to its end. Checks that every client received exactly the session's event log
 *     (GET .../events pages, same ids in the same order). Delay = receipt time (wall clock,
 *     this process) - the event's "ts" (stamped by the runner when the engine publishes;
 *     millisecond resolution), over every live event (ts after the start request) of every
 *     client. --epoll: raw sockets on one epoll instead of libcurl (HTTP/1.0, so the stream
 *     is not chunked and ends with the connection).
 *
 *   api_load many --url URL [--sessions 200] [--latency-ms L] [--server-pid PID]
 *                 [--fake-pid PID] [--redis-pid PID]
 *     Creates N sessions at once (options.start=true), polls each until it ends, then reads
 *     each session document: wall per deliberation (start request -> finished_at, and
 *     engine started_at -> finished_at) and the critical-path ratio from the ledger (each
 *     call's end "at" and "latency_ms"; chain from the last call back through the call that
 *     ended latest before each one started; model latency = chain length x L). With PIDs:
 *     CPU seconds of each process over the run, of bo1d's libuv loop thread (the thread named
 *     "bo1-loop" in /proc/PID/task/TID/comm), and bo1d's peak RSS (VmHWM).
 *
 * Usage: see above. Exit status 0 when every check passed. */
#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

static const char *base_url = "http://127.0.0.1:8000";

static double wall_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_REALTIME, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* "2026-12-04T22:10:13.766Z" -> seconds since the epoch. */
static double iso_to_s(const char *iso)
{
    struct tm tm = {0};
    int ms = 0;

    if (!iso || sscanf(iso, "%d-%d-%dT%d:%d:%d.%d", &tm.tm_year, &tm.tm_mon, &tm.tm_mday,
                       &tm.tm_hour, &tm.tm_min, &tm.tm_sec, &ms) != 7)
        return 0;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + ms / 1000.0;
}

/* ---- process figures from /proc ---- */

/* CPU seconds (user + system) from a /proc stat file: a process's or one thread's. */
static double stat_cpu_s(const char *path)
{
    char buf[2048];
    unsigned long ut = 0, st = 0;
    FILE *f;
    char *p;

    f = fopen(path, "r");
    if (!f)
        return 0;
    if (!fgets(buf, sizeof(buf), f)) {
        fclose(f);
        return 0;
    }
    fclose(f);
    p = strrchr(buf, ')');
    /* fields after ") ": state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %lu %lu", &ut, &st) != 2)
        return 0;
    return (double)(ut + st) / (double)sysconf(_SC_CLK_TCK);
}

static double proc_cpu_s(long pid)
{
    char path[64];

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/stat", pid);
    return stat_cpu_s(path);
}

/* CPU seconds of bo1d's libuv loop thread (named "bo1-loop"; without such a thread, an older
 * build, the busiest thread), or -1. */
static double loop_thread_cpu_s(long pid)
{
    char path[96];
    char comm[32];
    double best = -1, named = -1;
    DIR *d;
    struct dirent *de;

    if (pid <= 0)
        return -1;
    snprintf(path, sizeof(path), "/proc/%ld/task", pid);
    d = opendir(path);
    if (!d)
        return -1;
    while ((de = readdir(d))) {
        FILE *f;
        double cpu;
        if (de->d_name[0] == '.')
            continue;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/stat", pid, de->d_name);
        cpu = stat_cpu_s(path);
        if (cpu > best)
            best = cpu;
        snprintf(path, sizeof(path), "/proc/%ld/task/%.20s/comm", pid, de->d_name);
        f = fopen(path, "r");
        if (f && fgets(comm, sizeof(comm), f) && strncmp(comm, "bo1-loop", 8) == 0)
            named = cpu;
        if (f)
            fclose(f);
    }
    closedir(d);
    return named >= 0 ? named : best;
}

static long proc_status_kb(long pid, const char *field)
{
    char path[64];
    char line[256];
    long kb = 0;
    size_t n = strlen(field);
    FILE *f;

    if (pid <= 0)
        return 0;
    snprintf(path, sizeof(path), "/proc/%ld/status", pid);
    f = fopen(path, "r");
    if (!f)
        return 0;
    while (fgets(line, sizeof(line), f))
        if (!strncmp(line, field, n) && line[n] == ':')
            kb = strtol(line + n + 1, NULL, 10);
    fclose(f);
    return kb;
}

/* ---- a growable byte buffer ---- */

struct mem {
    char *p;
    size_t len, cap;
};

static void mem_add(struct mem *m, const char *d, size_t n)
{
    if (m->len + n + 1 > m->cap) {
        size_t cap = m->cap ? m->cap * 2 : 1024;
        while (cap < m->len + n + 1)
            cap *= 2;
        m->p = realloc(m->p, cap);
        if (!m->p)
            abort();
        m->cap = cap;
    }
    memcpy(m->p + m->len, d, n);
    m->len += n;
    m->p[m->len] = '\0';
}

static size_t on_mem(char *d, size_t size, size_t n, void *arg)
{
    mem_add(arg, d, size * n);
    return size * n;
}

/* Synchronous request; returns the parsed JSON body (or NULL) and the status. */
static json_t *http(const char *method, const char *path, const char *body, long *status)
{
    char url[512];
    struct mem m = {0};
    CURL *c = curl_easy_init();
    struct curl_slist *h = curl_slist_append(NULL, "Content-Type: application/json");
    json_t *j = NULL;

    *status = 0;
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
    if (body)
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &m);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    if (curl_easy_perform(c) == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, status);
        if (m.p)
            j = json_loads(m.p, 0, NULL);
        if (!j && m.p && strstr(path, "/metrics"))
            j = json_string(m.p);
    }
    free(m.p);
    curl_slist_free_all(h);
    curl_easy_cleanup(c);
    return j;
}

static long metric(const char *name)
{
    long st;
    json_t *t = http("GET", "/metrics", NULL, &st);
    const char *s = json_string_value(t);
    long v = -1;
    char key[128];
    const char *p;

    snprintf(key, sizeof(key), "\n%s ", name);
    if (s && (p = strstr(s, key)))
        v = strtol(p + strlen(key), NULL, 10);
    json_decref(t);
    return v;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

static double pct(const double *sorted, size_t n, double p)
{
    size_t i;

    if (!n)
        return 0;
    i = (size_t)ceil(p / 100.0 * (double)n);
    return sorted[i ? i - 1 : 0];
}

/* ---- SSE fan-out ---- */

struct sse_client {
    CURL *easy;
    struct mem line; /* the current, incomplete line */
    char id[48];     /* id of the event being read */
    json_t *ids;     /* every event id received, in order */
    json_t *delays;  /* for each of them: seconds from publish to receipt (null if replay) */
    int fd;          /* --epoll: the socket */
    int headers;     /* --epoll: the response head was read */
    int ready;       /* the stream is open (first bytes received) */
    int done;
    long status;
    CURLcode result;
};

static double *delays;
static size_t n_delays, cap_delays;
static double live_after; /* events stamped before this are replay */
static struct {
    char type[32];
    double delay;
} slow[4]; /* the slowest event types seen (for the report) */

static void note_slow(const char *type, double d)
{
    size_t i;

    if (!type)
        return;
    for (i = 0; i < 4 && slow[i].type[0] && strcmp(slow[i].type, type); i++)
        ;
    if (i == 4) {
        i = 3;
        for (size_t k = 0; k < 4; k++)
            if (slow[k].delay < slow[i].delay)
                i = k;
        if (slow[i].delay >= d)
            return;
        slow[i].delay = 0;
    }
    if (d > slow[i].delay) {
        snprintf(slow[i].type, sizeof(slow[i].type), "%s", type);
        slow[i].delay = d;
    }
}

static void on_sse_line(struct sse_client *c, const char *line, double now)
{
    if (!strncmp(line, "id: ", 4)) {
        snprintf(c->id, sizeof(c->id), "%s", line + 4);
    } else if (!strncmp(line, "data: ", 6)) {
        /* Only "ts" and "type" are needed: read them without parsing the whole event, so
         * the client's own cost stays small next to the server's. */
        const char *p = strstr(line, "\"ts\":\"");
        const char *ty = strstr(line, "\"type\":\"");
        char type[32] = "";
        double ts = p ? iso_to_s(p + 6) : 0;
        if (ty)
            sscanf(ty + 8, "%31[^\"]", type);
        json_array_append_new(c->ids, json_string(c->id));
        json_array_append_new(c->delays, ts >= live_after ? json_real(now - ts) : json_null());
        if (ts >= live_after) {
            if (n_delays == cap_delays) {
                cap_delays = cap_delays ? cap_delays * 2 : 65536;
                delays = realloc(delays, cap_delays * sizeof(*delays));
                if (!delays)
                    abort();
            }
            delays[n_delays++] = now - ts;
            note_slow(type, now - ts);
        }
    } else if (!strncmp(line, "retry:", 6)) {
        c->ready = 1;
    }
}

static size_t on_sse_data(char *d, size_t size, size_t n, void *arg)
{
    struct sse_client *c = arg;
    size_t len = size * n;
    double now = wall_s();

    for (size_t i = 0; i < len; i++) {
        if (d[i] == '\n') {
            on_sse_line(c, c->line.p ? c->line.p : "", now);
            c->line.len = 0;
            if (c->line.p)
                c->line.p[0] = '\0';
        } else {
            mem_add(&c->line, d + i, 1);
        }
    }
    return len;
}

static void pump(CURLM *multi, int timeout_ms)
{
    int running;
    CURLMsg *msg;
    int left;

    curl_multi_perform(multi, &running);
    curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(multi, &running);
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        struct sse_client *c = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&c);
        if (c) {
            c->done = 1;
            c->result = msg->data.result;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_RESPONSE_CODE, &c->status);
        }
    }
}

/* ---- the same streams over raw sockets and epoll (--epoll) ----
 * HTTP/1.0 requests: the server then sends the stream unchunked and closes it at the end. */

static int epfd = -1;

static int sse_connect(struct sse_client *c, const struct sockaddr_in *sa, const char *path)
{
    char req[512];
    int n;
    struct epoll_event ev = {.events = EPOLLIN};

    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (const struct sockaddr *)sa, sizeof(*sa)) != 0)
        return -1;
    n = snprintf(req, sizeof(req),
                 "GET %s HTTP/1.0\r\nHost: bench\r\nAccept: text/event-stream\r\n\r\n", path);
    if (write(c->fd, req, (size_t)n) != n)
        return -1;
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);
    ev.data.ptr = c;
    return epoll_ctl(epfd, EPOLL_CTL_ADD, c->fd, &ev);
}

static void sse_read(struct sse_client *c)
{
    char buf[65536];
    ssize_t n;

    while ((n = read(c->fd, buf, sizeof(buf))) > 0) {
        char *p = buf;
        size_t len = (size_t)n;
        if (!c->headers) {
            char *end;
            mem_add(&c->line, buf, len);
            end = strstr(c->line.p, "\r\n\r\n");
            if (!end)
                continue;
            c->headers = 1;
            sscanf(c->line.p, "HTTP/%*s %ld", &c->status);
            size_t body = (size_t)(end + 4 - c->line.p);
            size_t rest = c->line.len - body;
            memmove(buf, c->line.p + body, rest);
            c->line.len = 0;
            c->line.p[0] = '\0';
            p = buf;
            len = rest;
        }
        on_sse_data(p, 1, len, c);
    }
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK)) {
        epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
        close(c->fd);
        c->fd = -1;
        c->done = 1;
        c->result = n == 0 ? CURLE_OK : CURLE_RECV_ERROR;
    }
}

static void epoll_pump(int timeout_ms)
{
    struct epoll_event evs[256];
    int n = epoll_wait(epfd, evs, 256, timeout_ms);

    for (int i = 0; i < n; i++)
        sse_read(evs[i].data.ptr);
}

static json_t *event_log(const char *id)
{
    json_t *all = json_array();
    char after[48] = "0";
    char path[256];

    for (;;) {
        long st;
        snprintf(path, sizeof(path), "/api/v1/sessions/%s/events?after=%s&limit=1000", id, after);
        json_t *page = http("GET", path, NULL, &st);
        json_t *evs = json_object_get(page, "events");
        size_t i;
        json_t *ev;
        json_array_foreach(evs, i, ev) json_array_append(all, json_object_get(ev, "id"));
        int more = json_is_true(json_object_get(page, "has_more"));
        const char *last = json_string_value(json_object_get(page, "last_id"));
        if (last)
            snprintf(after, sizeof(after), "%s", last);
        json_decref(page);
        if (!more || !last)
            break;
    }
    return all;
}

static int use_epoll;
static useconds_t poll_us = 750000; /* --poll-ms */

static void sse_pump(CURLM *multi, int timeout_ms)
{
    if (use_epoll)
        epoll_pump(timeout_ms);
    else
        pump(multi, timeout_ms);
}

static int run_sse(int n_clients, long server_pid)
{
    long st;
    char path[256];
    char url[512];
    const char *body = "{\"problem\":{\"statement\":\"Should we move our SaaS from $8K MRR to $20K "
                       "with a sales hire, a co-founder or product-led growth?\"},"
                       "\"options\":{\"start\":false}}";
    json_t *s = http("POST", "/api/v1/sessions", body, &st);
    const char *sid = json_string_value(json_object_get(s, "id"));
    struct sse_client *cl = calloc((size_t)n_clients, sizeof(*cl));
    struct curl_slist *hdr = curl_slist_append(NULL, "Accept: text/event-stream");
    CURLM *multi = curl_multi_init();
    double t0, deadline;
    int ready, done;
    double cpu0, cpu1, t_start, t_end;
    int rc = 0;

    if (st != 201 || !sid) {
        fprintf(stderr, "create failed: %ld\n", st);
        return 1;
    }
    printf("sse: session %s, %d clients over %s\n", sid, n_clients,
           use_epoll ? "raw sockets + epoll (HTTP/1.0)" : "libcurl multi (HTTP/1.1)");
    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n_clients + 16);
    snprintf(url, sizeof(url), "%s/api/v1/sessions/%s/events", base_url, sid);
    for (int i = 0; i < n_clients; i++) {
        struct sse_client *c = &cl[i];
        c->ids = json_array();
        c->delays = json_array();
        c->easy = curl_easy_init();
        curl_easy_setopt(c->easy, CURLOPT_URL, url);
        curl_easy_setopt(c->easy, CURLOPT_HTTPHEADER, hdr);
        curl_easy_setopt(c->easy, CURLOPT_WRITEFUNCTION, on_sse_data);
        curl_easy_setopt(c->easy, CURLOPT_WRITEDATA, c);
        curl_easy_setopt(c->easy, CURLOPT_PRIVATE, c);
        curl_easy_setopt(c->easy, CURLOPT_FORBID_REUSE, 1L);
        if (!use_epoll) {
            curl_multi_add_handle(multi, c->easy);
        } else {
            struct sockaddr_in sa = {.sin_family = AF_INET};
            char host[64] = "127.0.0.1";
            int port = 80;
            sscanf(base_url, "http://%63[^:]:%d", host, &port);
            sa.sin_port = htons((uint16_t)port);
            inet_pton(AF_INET, host, &sa.sin_addr);
            if (epfd < 0)
                epfd = epoll_create1(0);
            snprintf(path, sizeof(path), "/api/v1/sessions/%s/events", sid);
            if (sse_connect(c, &sa, path) != 0) {
                fprintf(stderr, "connect %d: %s\n", i, strerror(errno));
                c->done = 1;
            }
        }
    }
    /* Wait until every stream is open and the hub counts every client. */
    t0 = wall_s();
    deadline = t0 + 60;
    do {
        sse_pump(multi, 50);
        ready = done = 0;
        for (int i = 0; i < n_clients; i++) {
            ready += cl[i].ready;
            done += cl[i].done;
        }
    } while (ready + done < n_clients && wall_s() < deadline);
    while (metric("bo1_sse_clients") < n_clients && wall_s() < deadline)
        sse_pump(multi, 50);
    printf("  %d streams open after %.2f s (%d ended early), server counts %ld SSE clients\n",
           ready, wall_s() - t0, done, metric("bo1_sse_clients"));
    if (ready < n_clients || done) {
        printf("  FAILED: not every client connected\n");
        rc = 1;
    }

    /* Start the session; from here every event is live. */
    cpu0 = proc_cpu_s(server_pid);
    live_after = wall_s() - 0.001;
    t_start = wall_s();
    snprintf(path, sizeof(path), "/api/v1/sessions/%s/start", sid);
    json_decref(http("POST", path, "", &st));
    if (st != 200 && st != 202) {
        fprintf(stderr, "start failed: %ld\n", st);
        rc = 1;
    }
    deadline = wall_s() + 300;
    do {
        sse_pump(multi, 100);
        done = 0;
        for (int i = 0; i < n_clients; i++)
            done += cl[i].done;
    } while (done < n_clients && wall_s() < deadline);
    t_end = wall_s();
    cpu1 = proc_cpu_s(server_pid);

    json_t *log = event_log(sid);
    size_t n_log = json_array_size(log);
    int complete = 0, http_ok = 0;
    for (int i = 0; i < n_clients; i++) {
        http_ok += cl[i].status == 200 && cl[i].result == CURLE_OK;
        complete += json_equal(cl[i].ids, log);
    }
    qsort(delays, n_delays, sizeof(*delays), cmp_double);
    printf("  session ran %.2f s; event log %zu events; %d/%d clients ended cleanly, %d/%d "
           "received exactly the log (same ids, same order)\n",
           t_end - t_start, n_log, http_ok, n_clients, complete, n_clients);
    printf("  publish -> receipt over %zu live deliveries: p50 %.1f ms, p90 %.1f ms, p99 %.1f ms, "
           "max %.1f ms\n",
           n_delays, pct(delays, n_delays, 50) * 1e3, pct(delays, n_delays, 90) * 1e3,
           pct(delays, n_delays, 99) * 1e3, n_delays ? delays[n_delays - 1] * 1e3 : 0);
    /* Per event: the first client's receipt shows the server pipeline (publish -> Redis ->
     * hub -> socket); the last one's adds the fan-out to every client. */
    {
        double *first = calloc(n_log ? n_log : 1, sizeof(double));
        double *lastd = calloc(n_log ? n_log : 1, sizeof(double));
        size_t k = 0;
        for (size_t e = 0; e < n_log; e++) {
            double lo = 1e9, hi = -1;
            for (int i = 0; i < n_clients; i++) {
                const json_t *d = json_array_get(cl[i].delays, e);
                if (!json_is_real(d))
                    continue;
                lo = fmin(lo, json_real_value(d));
                hi = fmax(hi, json_real_value(d));
            }
            if (hi >= 0) {
                first[k] = lo;
                lastd[k] = hi;
                k++;
            }
        }
        qsort(first, k, sizeof(double), cmp_double);
        qsort(lastd, k, sizeof(double), cmp_double);
        printf("  per event (%zu live events): first client p50 %.1f ms / max %.1f ms; last client "
               "p50 %.1f ms / max %.1f ms\n",
               k, pct(first, k, 50) * 1e3, k ? first[k - 1] * 1e3 : 0, pct(lastd, k, 50) * 1e3,
               k ? lastd[k - 1] * 1e3 : 0);
        free(first);
        free(lastd);
    }
    {
        struct rusage ru;
        getrusage(RUSAGE_SELF, &ru);
        printf("  this client process: %.2f CPU s in all\n",
               (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 + (double)ru.ru_stime.tv_sec +
                   ru.ru_stime.tv_usec / 1e6);
    }
    printf("  slowest event types (max delay):");
    for (size_t i = 0; i < 4 && slow[i].type[0]; i++)
        printf(" %s %.1f ms", slow[i].type, slow[i].delay * 1e3);
    printf("\n");
    if (server_pid > 0)
        printf("  bo1d: %.2f CPU s while the session ran, RSS %ld KiB, peak %ld KiB\n", cpu1 - cpu0,
               proc_status_kb(server_pid, "VmRSS"), proc_status_kb(server_pid, "VmHWM"));
    if (complete != n_clients)
        rc = 1;
    for (int i = 0; i < n_clients; i++) {
        curl_multi_remove_handle(multi, cl[i].easy);
        curl_easy_cleanup(cl[i].easy);
        json_decref(cl[i].ids);
        json_decref(cl[i].delays);
        free(cl[i].line.p);
    }
    curl_multi_cleanup(multi);
    curl_slist_free_all(hdr);
    free(cl);
    json_decref(log);
    json_decref(s);
    return rc;
}

/* ---- many deliberations ---- */

struct req {
    CURL *easy;
    struct mem body;
    struct curl_slist *hdr;
    int done;
    long status;
};

static void req_start(CURLM *multi, struct req *r, const char *method, const char *path,
                      const char *body)
{
    char url[512];

    free(r->body.p);
    memset(&r->body, 0, sizeof(r->body));
    r->done = 0;
    r->status = 0;
    if (!r->easy) {
        r->easy = curl_easy_init();
        r->hdr = curl_slist_append(NULL, "Content-Type: application/json");
    }
    snprintf(url, sizeof(url), "%s%s", base_url, path);
    curl_easy_setopt(r->easy, CURLOPT_URL, url);
    curl_easy_setopt(r->easy, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(r->easy, CURLOPT_HTTPHEADER, r->hdr);
    curl_easy_setopt(r->easy, CURLOPT_POSTFIELDS, body);
    if (!body)
        curl_easy_setopt(r->easy, CURLOPT_HTTPGET, 1L);
    curl_easy_setopt(r->easy, CURLOPT_WRITEFUNCTION, on_mem);
    curl_easy_setopt(r->easy, CURLOPT_WRITEDATA, &r->body);
    curl_easy_setopt(r->easy, CURLOPT_PRIVATE, (char *)NULL);
    curl_easy_setopt(r->easy, CURLOPT_TIMEOUT, 60L);
    curl_multi_add_handle(multi, r->easy);
}

static int pump_reqs(CURLM *multi, struct req *rs, int n, int timeout_ms)
{
    int running;
    CURLMsg *msg;
    int left;
    int finished = 0;

    curl_multi_perform(multi, &running);
    curl_multi_poll(multi, NULL, 0, timeout_ms, NULL);
    curl_multi_perform(multi, &running);
    while ((msg = curl_multi_info_read(multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        for (int i = 0; i < n; i++)
            if (rs[i].easy == msg->easy_handle) {
                rs[i].done = 1;
                curl_easy_getinfo(rs[i].easy, CURLINFO_RESPONSE_CODE, &rs[i].status);
                curl_multi_remove_handle(multi, rs[i].easy);
                finished++;
            }
    }
    return finished;
}

struct call {
    double s, e;
};

static int cmp_call_end(const void *a, const void *b)
{
    const struct call *x = a, *y = b;
    return x->e < y->e ? -1 : x->e > y->e;
}

/* Critical-path length (calls) from the ledger; see the header comment. */
static size_t ledger_chain(const json_t *ledger, double *measured)
{
    size_t n = json_array_size(ledger);
    struct call *c = calloc(n ? n : 1, sizeof(*c));
    size_t len = 0;
    long cur;

    *measured = 0;
    for (size_t i = 0; i < n; i++) {
        const json_t *e = json_array_get(ledger, i);
        c[i].e = json_number_value(json_object_get(e, "at"));
        c[i].s = c[i].e - (double)json_integer_value(json_object_get(e, "latency_ms")) / 1e3;
    }
    qsort(c, n, sizeof(*c), cmp_call_end);
    cur = (long)n - 1;
    while (cur >= 0) {
        long prev = -1;
        len++;
        *measured += c[cur].e - c[cur].s;
        /* "at" and latency_ms are in whole ms: allow 1 ms of rounding */
        for (long i = cur - 1; i >= 0; i--)
            if (c[i].e <= c[cur].s + 0.0015) {
                prev = i;
                break;
            }
        cur = prev;
    }
    free(c);
    return len;
}

static int run_many(int n, unsigned latency_ms, long server_pid, long fake_pid, long redis_pid)
{
    CURLM *multi = curl_multi_init();
    struct req *rs = calloc((size_t)n, sizeof(*rs));
    char **ids = calloc((size_t)n, sizeof(*ids));
    int *ended = calloc((size_t)n, sizeof(*ended));
    double cpu_b0 = proc_cpu_s(server_pid), cpu_f0 = proc_cpu_s(fake_pid),
           cpu_r0 = proc_cpu_s(redis_pid), cpu_l0 = loop_thread_cpu_s(server_pid);
    long rss0 = proc_status_kb(server_pid, "VmRSS");
    double t0 = wall_s(), deadline = t0 + 600;
    int left = n, created = 0, completed = 0;
    int rc = 0;
    char path[256];
    char body[512];

    curl_multi_setopt(multi, CURLMOPT_MAXCONNECTS, (long)n + 16);
    for (int i = 0; i < n; i++) {
        snprintf(body, sizeof(body),
                 "{\"problem\":{\"statement\":\"Deliberation %d of %d: should we move our SaaS "
                 "from $8K MRR to $20K with a sales hire, a co-founder or product-led "
                 "growth?\"}}",
                 i + 1, n);
        req_start(multi, &rs[i], "POST", "/api/v1/sessions", body);
    }
    while (left > 0 && wall_s() < deadline)
        left -= pump_reqs(multi, rs, n, 100);
    for (int i = 0; i < n; i++) {
        json_t *j = rs[i].body.p ? json_loads(rs[i].body.p, 0, NULL) : NULL;
        const char *id = json_string_value(json_object_get(j, "id"));
        if (rs[i].status == 201 && id) {
            ids[i] = strdup(id);
            created++;
        } else {
            ended[i] = 1;
            if (created + 1 == i + 1 || i < 3)
                fprintf(stderr, "create %d: status %ld %s\n", i, rs[i].status,
                        rs[i].body.p ? rs[i].body.p : "");
        }
        json_decref(j);
    }
    printf("many: %d/%d sessions created in %.2f s\n", created, n, wall_s() - t0);

    /* Poll every session until it ends, at most one request per session in flight. */
    left = created;
    for (int i = 0; i < n; i++)
        rs[i].done = 1;
    while (left > 0 && wall_s() < deadline) {
        for (int i = 0; i < n; i++)
            if (!ended[i] && rs[i].done) {
                json_t *j = rs[i].body.p ? json_loads(rs[i].body.p, 0, NULL) : NULL;
                const char *status = json_string_value(json_object_get(j, "status"));
                if (rs[i].status == 200 && status &&
                    (!strcmp(status, "completed") || !strcmp(status, "failed") ||
                     !strcmp(status, "cancelled"))) {
                    ended[i] = 1;
                    left--;
                } else {
                    snprintf(path, sizeof(path), "/api/v1/sessions/%s", ids[i]);
                    req_start(multi, &rs[i], "GET", path, NULL);
                }
                json_decref(j);
            }
        pump_reqs(multi, rs, n, 250);
        usleep(poll_us); /* each session is polled about every poll_us + 0.25 s */
        if (server_pid > 0 && kill((pid_t)server_pid, 0) != 0) {
            printf("  FAILED: bo1d (pid %ld) is gone\n", server_pid);
            break;
        }
    }
    double t_end = wall_s();
    double cpu_b = proc_cpu_s(server_pid) - cpu_b0, cpu_f = proc_cpu_s(fake_pid) - cpu_f0,
           cpu_r = proc_cpu_s(redis_pid) - cpu_r0, cpu_l = loop_thread_cpu_s(server_pid) - cpu_l0;
    long hwm = proc_status_kb(server_pid, "VmHWM");

    double *walls = calloc((size_t)n, sizeof(double)), *engine = calloc((size_t)n, sizeof(double)),
           *ratios = calloc((size_t)n, sizeof(double)), *queue = calloc((size_t)n, sizeof(double));
    size_t k = 0;
    long calls = 0;
    double last_finished = 0;
    for (int i = 0; i < n; i++) {
        if (!ids[i] || !rs[i].body.p)
            continue;
        json_t *j = json_loads(rs[i].body.p, 0, NULL);
        const char *status = json_string_value(json_object_get(j, "status"));
        if (status && !strcmp(status, "completed")) {
            double created_at = iso_to_s(json_string_value(json_object_get(j, "created_at")));
            double started = json_number_value(json_object_get(j, "started_at"));
            double finished = json_number_value(json_object_get(j, "finished_at"));
            double measured;
            const json_t *ledger = json_object_get(j, "ledger");
            size_t chain = ledger_chain(ledger, &measured);
            completed++;
            if (finished > last_finished)
                last_finished = finished;
            calls += (long)json_array_size(ledger);
            walls[k] = finished - created_at;
            engine[k] = finished - started;
            queue[k] = started - created_at;
            ratios[k] = chain ? engine[k] / ((double)chain * latency_ms / 1e3) : 0;
            k++;
        } else {
            fprintf(stderr, "session %s ended %s\n", ids[i], status ? status : "(unknown)");
        }
        json_decref(j);
    }
    qsort(walls, k, sizeof(double), cmp_double);
    qsort(engine, k, sizeof(double), cmp_double);
    qsort(queue, k, sizeof(double), cmp_double);
    qsort(ratios, k, sizeof(double), cmp_double);
    printf("  %d/%d completed; the last finished %.2f s after the first create request (the "
           "client saw it at %.2f s); %ld model calls (%.0f/s)\n",
           completed, n, last_finished - t0, t_end - t0, calls,
           (double)calls / (last_finished - t0));
    printf("  per deliberation, create -> finished: p50 %.2f s, p90 %.2f s, max %.2f s "
           "(of which waiting to be claimed: p50 %.3f s, max %.3f s)\n",
           pct(walls, k, 50), pct(walls, k, 90), k ? walls[k - 1] : 0, pct(queue, k, 50),
           k ? queue[k - 1] : 0);
    printf("  per deliberation, engine start -> finished / (critical-path calls x %u ms): p50 "
           "%.3f, p90 %.3f, max %.3f\n",
           latency_ms, pct(ratios, k, 50), pct(ratios, k, 90), k ? ratios[k - 1] : 0);
    if (server_pid > 0)
        printf("  bo1d: %.2f CPU s in all = %.3f CPU s per deliberation; RSS %ld KiB before, "
               "peak %ld KiB -> %.1f KiB per concurrent deliberation\n",
               cpu_b, completed ? cpu_b / completed : 0, rss0, hwm,
               completed ? (double)(hwm - rss0) / completed : 0);
    if (server_pid > 0 && cpu_l0 >= 0)
        printf("  bo1d loop thread: %.2f CPU s = %.4f CPU s per deliberation; %.0f %% of the "
               "wall time from the first create to the last finish\n",
               cpu_l, completed ? cpu_l / completed : 0,
               last_finished > t0 ? 100.0 * cpu_l / (last_finished - t0) : 0);
    if (fake_pid > 0 || redis_pid > 0)
        printf("  bo1-fake-llm: %.2f CPU s; redis: %.2f CPU s\n", cpu_f, cpu_r);
    if (completed != n)
        rc = 1;
    for (int i = 0; i < n; i++) {
        if (rs[i].easy) {
            curl_multi_remove_handle(multi, rs[i].easy);
            curl_easy_cleanup(rs[i].easy);
        }
        curl_slist_free_all(rs[i].hdr);
        free(rs[i].body.p);
        free(ids[i]);
    }
    curl_multi_cleanup(multi);
    free(rs);
    free(ids);
    free(ended);
    free(walls);
    free(engine);
    free(ratios);
    free(queue);
    return rc;
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "";
    int clients = 1000, sessions = 200;
    unsigned latency = 300;
    long server_pid = 0, fake_pid = 0, redis_pid = 0;
    int rc;

    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--url") && i + 1 < argc)
            base_url = argv[++i];
        else if (!strcmp(argv[i], "--clients") && i + 1 < argc)
            clients = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--sessions") && i + 1 < argc)
            sessions = atoi(argv[++i]);
        else if (!strcmp(argv[i], "--latency-ms") && i + 1 < argc)
            latency = (unsigned)atoi(argv[++i]);
        else if (!strcmp(argv[i], "--poll-ms") && i + 1 < argc)
            poll_us = (useconds_t)atoi(argv[++i]) * 1000;
        else if (!strcmp(argv[i], "--epoll"))
            use_epoll = 1;
        else if (!strcmp(argv[i], "--server-pid") && i + 1 < argc)
            server_pid = atol(argv[++i]);
        else if (!strcmp(argv[i], "--fake-pid") && i + 1 < argc)
            fake_pid = atol(argv[++i]);
        else if (!strcmp(argv[i], "--redis-pid") && i + 1 < argc)
            redis_pid = atol(argv[++i]);
        else
            mode = "";
    }
    if (strcmp(mode, "sse") != 0 && strcmp(mode, "many") != 0) {
        fprintf(stderr,
                "usage: %s sse|many --url URL [--clients N] [--sessions N] "
                "[--latency-ms L] [--server-pid P] [--fake-pid P] [--redis-pid P]\n",
                argv[0]);
        return 2;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    rc = !strcmp(mode, "sse") ? run_sse(clients, server_pid)
                              : run_many(sessions, latency, server_pid, fake_pid, redis_pid);
    curl_global_cleanup();
    return rc;
}
