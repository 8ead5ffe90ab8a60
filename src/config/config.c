/* Configuration: one table of knobs (variable, kind, field, bounds, default, meaning),
 * read once from the environment and an optional .env file, validated, then immutable. */
#include "bo1/config.h"

#include "bo1/engine.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum knob_kind { KNOB_UINT, KNOB_DOUBLE, KNOB_STR, KNOB_SECRET, KNOB_ENUM, KNOB_BOOL, KNOB_URL };

struct knob {
    const char *name;
    enum knob_kind kind;
    size_t field;
    double min;
    double max;
    const char *def;
    const char *choices; /* KNOB_ENUM: '|'-separated, index stored as unsigned */
    const char *help;
};

#define FIELD(f) offsetof(struct bo1_config, f)

/* The order here is the order of README's table and of .env.example. */
static const struct knob knobs[] = {
    /* name, kind, field, min, max, default, choices, help */
    {"PORT", KNOB_UINT, FIELD(port), 1, 65535, "8000", NULL, "TCP port bo1d listens on"},
    {"BO1_BIND_ADDRESS", KNOB_STR, FIELD(bind_address), 0, 0, "0.0.0.0", NULL,
     "IPv4 address to listen on"},
    {"BO1_ENV", KNOB_ENUM, FIELD(env), 0, 0, "development", "development|production",
     "production refuses to start without BO1_API_KEYS"},
    {"BO1_HTTP_THREADS", KNOB_UINT, FIELD(http_threads), 0, 256, "0", NULL,
     "HTTP worker threads (0 = one per CPU)"},
    {"BO1_MAX_BODY_BYTES", KNOB_UINT, FIELD(max_body_bytes), 1024, 16777216, "65536", NULL,
     "largest accepted request body; larger gets 413"},
    {"BO1_CONN_TIMEOUT_S", KNOB_UINT, FIELD(conn_timeout_s), 1, 3600, "30", NULL,
     "idle connection timeout (slow or stuck clients are dropped)"},
    {"BO1_MAX_CONNECTIONS", KNOB_UINT, FIELD(max_connections), 16, 100000, "4096", NULL,
     "total concurrent connections"},
    {"BO1_MAX_CONNECTIONS_PER_IP", KNOB_UINT, FIELD(max_connections_per_ip), 1, 100000, "1024",
     NULL, "concurrent connections from one client address"},
    {"BO1_REQUEST_TIMEOUT_S", KNOB_UINT, FIELD(request_timeout_s), 1, 3600, "60", NULL,
     "a request (line, headers and body) must arrive in full within this, else the connection "
     "is closed (slowloris that trickles bytes)"},
    {"BO1_MAX_URI_BYTES", KNOB_UINT, FIELD(max_uri_bytes), 256, 65536, "4096", NULL,
     "longest accepted request target (path and query); longer gets 414"},
    {"BO1_MAX_HEADER_BYTES", KNOB_UINT, FIELD(max_header_bytes), 1024, 65536, "8192", NULL,
     "largest accepted header block (names, values, separators); larger gets 431"},
    {"BO1_MAX_DISCARD_BYTES", KNOB_UINT, FIELD(max_discard_bytes), 0, 1073741824, "8388608", NULL,
     "a body over BO1_MAX_BODY_BYTES is read and dropped up to this size so the 413 reaches the "
     "client; beyond, the connection is cut"},
    {"BO1_SSE_HEARTBEAT_S", KNOB_UINT, FIELD(sse_heartbeat_s), 1, 300, "15", NULL,
     "interval of the comment heartbeat on event streams"},
    {"BO1_SHUTDOWN_GRACE_S", KNOB_UINT, FIELD(shutdown_grace_s), 0, 300, "30", NULL,
     "on SIGTERM, how long in-flight requests may take to finish"},
    {"BO1_CORS_ORIGINS", KNOB_STR, FIELD(cors_origins), 0, 0, "", NULL,
     "comma-separated origins allowed by CORS (\"*\" for any; empty = CORS off)"},
    {"BO1_LOG_LEVEL", KNOB_ENUM, FIELD(log_level), 0, 0, "info", "debug|info|warn|error",
     "lowest log level written"},
    {"BO1_DATA_DIR", KNOB_STR, FIELD(data_dir), 0, 0, "zzz_important", NULL,
     "folder with personas.json, prompts/ and pricing.json"},
    {"BO1_EXPORTS_DIR", KNOB_STR, FIELD(exports_dir), 0, 0, "exports", NULL,
     "folder where finished reports are written"},
    {"BO1_API_KEYS", KNOB_SECRET, FIELD(api_keys), 0, 0, "", NULL,
     "comma-separated bearer API keys (empty = open API, development only)"},
    {"REDIS_URL", KNOB_STR, FIELD(redis_url), 0, 0, "redis://127.0.0.1:6379/0", NULL,
     "Redis address, redis://[:password@]host[:port][/db]"},
    {"REDIS_PASSWORD", KNOB_SECRET, FIELD(redis_password), 0, 0, "", NULL,
     "Redis password (overrides one in REDIS_URL)"},
    {"BO1_LLM_PROVIDER", KNOB_ENUM, FIELD(llm_provider), 0, 0, "anthropic", "anthropic|openai",
     "which chat API the model tiers use"},
    {"ANTHROPIC_API_KEY", KNOB_SECRET, FIELD(anthropic_api_key), 0, 0, "", NULL,
     "Anthropic key; when no provider key is set, scripts/run uses bo1-fake-llm"},
    {"ANTHROPIC_BASE_URL", KNOB_URL, FIELD(anthropic_base_url), 0, 0, "https://api.anthropic.com",
     NULL, "Anthropic Messages API base URL"},
    {"BO1_ANTHROPIC_VERSION", KNOB_STR, FIELD(anthropic_version), 0, 0, "2023-06-01", NULL,
     "anthropic-version header"},
    {"OPENAI_API_KEY", KNOB_SECRET, FIELD(openai_api_key), 0, 0, "", NULL,
     "key for an OpenAI-compatible API"},
    {"OPENAI_BASE_URL", KNOB_URL, FIELD(openai_base_url), 0, 0, "https://api.openai.com", NULL,
     "OpenAI-compatible base URL (Ollama, vLLM, llama.cpp server, OpenRouter)"},
    {"VOYAGE_API_KEY", KNOB_SECRET, FIELD(voyage_api_key), 0, 0, "", NULL, "Voyage embeddings key"},
    {"VOYAGE_BASE_URL", KNOB_URL, FIELD(voyage_base_url), 0, 0, "https://api.voyageai.com", NULL,
     "Voyage embeddings base URL"},
    {"BO1_EMBED_PROVIDER", KNOB_ENUM, FIELD(embed_provider), 0, 0, "auto",
     "auto|local|voyage|openai", "embeddings for convergence (auto: voyage if keyed, else local)"},
    {"BO1_EMBED_MODEL", KNOB_STR, FIELD(embed_model), 0, 0, "voyage-3.5-lite", NULL,
     "embedding model id"},
    {"BO1_MODEL_DEEP", KNOB_STR, FIELD(model_deep), 0, 0, "claude-sonnet-4-5", NULL,
     "model id of the deep tier"},
    {"BO1_MODEL_FAST", KNOB_STR, FIELD(model_fast), 0, 0, "claude-haiku-4-5", NULL,
     "model id of the fast tier"},
    {"BO1_LLM_TIMEOUT_MS", KNOB_UINT, FIELD(llm_timeout_ms), 1000, 600000, "60000", NULL,
     "timeout of one model call attempt"},
    {"BO1_LLM_MAX_INFLIGHT", KNOB_UINT, FIELD(llm_max_inflight), 1, 10000, "64", NULL,
     "model calls in flight at once; more wait in a fair queue"},
    {"BO1_LLM_MAX_ATTEMPTS", KNOB_UINT, FIELD(llm_max_attempts), 1, 5, "5", NULL,
     "attempts per model call, retries included"},
    {"BO1_MODEL_SIMULATED", KNOB_BOOL, FIELD(model_simulated), 0, 1, "false", NULL,
     "the provider is bo1-fake-llm: logs and reports say the model is simulated"},
    {"BO1_SESSION_BUDGET_USD", KNOB_DOUBLE, FIELD(session_budget_usd), 0.01, 1000, "2.0", NULL,
     "default budget of one deliberation"},
    {"BO1_SESSION_WALL_S", KNOB_UINT, FIELD(session_wall_s), 10, 86400, "1800", NULL,
     "wall-clock limit of one deliberation"},
    {"BO1_SESSION_IDLE_S", KNOB_UINT, FIELD(session_idle_s), 10, 86400, "600", NULL,
     "no-progress limit of one deliberation"},
    {"BO1_CLARIFY_TIMEOUT_S", KNOB_UINT, FIELD(clarify_timeout_s), 1, 86400, "600", NULL,
     "how long a clarifying question waits before proceeding with assumptions"},
    {"BO1_HARD_MAX_ROUNDS", KNOB_UINT, FIELD(hard_max_rounds), 1, 10, "10", NULL,
     "hard cap on rounds per sub-problem (complexity gives 3, 5 or 6; a request up to 10)"},
    {"BO1_MAX_RESEARCH", KNOB_UINT, FIELD(max_research), 0, 10, "2", NULL,
     "research requests per sub-problem"},
    {"BO1_MAX_CLARIFY", KNOB_UINT, FIELD(max_clarify), 0, 10, "2", NULL,
     "facilitator questions to the user per session"},
    {"BO1_CONVERGENCE_MIN", KNOB_DOUBLE, FIELD(convergence_min), 0, 1, "0.85", NULL,
     "convergence: mean pairwise similarity of a round above this (with low novelty) stops"},
    {"BO1_NOVELTY_MAX", KNOB_DOUBLE, FIELD(novelty_max), 0, 1, "0.30", NULL,
     "convergence: novelty of a round below this (with high similarity) stops"},
    {"BO1_DEADLOCK_CONFLICT", KNOB_DOUBLE, FIELD(deadlock_conflict), 0, 1, "0.70", NULL,
     "deadlock: conflict above this while novelty is low counts a deadlocked round"},
    {"BO1_DEADLOCK_NOVELTY", KNOB_DOUBLE, FIELD(deadlock_novelty), 0, 1, "0.40", NULL,
     "deadlock: novelty below this while conflict is high counts a deadlocked round"},
    {"BO1_DEADLOCK_ROUNDS", KNOB_UINT, FIELD(deadlock_rounds), 1, 10, "2", NULL,
     "deadlocked rounds in a row that force the vote"},
    {"BO1_BUDGET_VOTE_SHARE", KNOB_DOUBLE, FIELD(budget_vote_share), 0.1, 1, "0.80", NULL,
     "share of the session budget spent that forces the vote"},
    {"BO1_ONE_WAY_DOOR_SHARE", KNOB_DOUBLE, FIELD(one_way_door_share), 0.5, 1, "0.75", NULL,
     "vote share a one-way-door decision needs, else the outcome is defer"},
    {"BO1_DISSENT_COMMIT", KNOB_DOUBLE, FIELD(dissent_commit), 0, 1, "0.30", NULL,
     "dissent share from which the synthesis says \"disagree and commit\""},
    {"BO1_CONFIDENCE_COMMIT", KNOB_DOUBLE, FIELD(confidence_commit), 0, 1, "0.65", NULL,
     "mean vote confidence below which the synthesis says \"disagree and commit\""},
    {"BO1_CONFIDENCE_SPREAD", KNOB_DOUBLE, FIELD(confidence_spread), 0, 1, "0.40", NULL,
     "spread (max - min) of vote confidences from which the vote is confidence-weighted"},
    {"BO1_MAX_TOKENS_CONTRIBUTION", KNOB_UINT, FIELD(max_tokens_contribution), 64, 32000, "700",
     NULL, "output token limit of a member's contribution"},
    {"BO1_MAX_TOKENS_STRUCTURED", KNOB_UINT, FIELD(max_tokens_structured), 64, 32000, "1200", NULL,
     "output token limit of structured calls (decompose, select, facilitator, vote, ...)"},
    {"BO1_MAX_TOKENS_SYNTHESIS", KNOB_UINT, FIELD(max_tokens_synthesis), 64, 32000, "2500", NULL,
     "output token limit of a synthesis"},
    {"BO1_PROVIDER_WAIT_S", KNOB_DOUBLE, FIELD(provider_wait_s), 0.1, 3600, "5", NULL,
     "provider outage: first wait before a call is asked again (doubles per failed try)"},
    {"BO1_PROVIDER_WAIT_MAX_S", KNOB_DOUBLE, FIELD(provider_wait_max_s), 0.1, 3600, "30", NULL,
     "provider outage: longest wait between tries (at least BO1_PROVIDER_WAIT_S)"},
    {"BO1_SESSION_TTL_S", KNOB_UINT, FIELD(session_ttl_s), 60, 31536000, "604800", NULL,
     "how long finished sessions are kept in Redis"},
    {"BO1_UNSTARTED_TTL_S", KNOB_UINT, FIELD(unstarted_ttl_s), 1, 31536000, "604800", NULL,
     "how long a session created with start=false is kept if it is never started"},
    {"BO1_RATE_CREATE_PER_MIN", KNOB_UINT, FIELD(rate_create_per_min), 1, 100000, "30", NULL,
     "session creations per API key per minute (429 beyond)"},
    {"BO1_RATE_CONTROL_PER_MIN", KNOB_UINT, FIELD(rate_control_per_min), 1, 100000, "120", NULL,
     "lifecycle calls (start, pause, ...) per API key per minute"},
    {"BO1_RATE_READS_PER_MIN", KNOB_UINT, FIELD(rate_reads_per_min), 1, 1000000, "1200", NULL,
     "reads per API key per minute"},
    {"BO1_MAX_ACTIVE_SESSIONS", KNOB_UINT, FIELD(max_active_sessions), 1, 100000, "10", NULL,
     "sessions queued, running or awaiting input at once per API key"},
    {"BO1_EVENTS_MAX", KNOB_UINT, FIELD(events_max), 100, 1000000, "20000", NULL,
     "events kept per session (the Redis Stream is trimmed beyond)"},
    {"BO1_LEASE_MS", KNOB_UINT, FIELD(lease_ms), 1000, 600000, "10000", NULL,
     "lease of a running session; another instance takes over this long after a crash"},
    {"BO1_MAX_RUNNING", KNOB_UINT, FIELD(max_running), 1, 100000, "200", NULL,
     "deliberations one instance runs at once (more wait in the job stream)"},
};

#define N_KNOBS (sizeof(knobs) / sizeof(knobs[0]))

static char *xasprintf(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static char *xasprintf(const char *fmt, ...)
{
    va_list ap;
    char *s = NULL;
    int n;

    va_start(ap, fmt);
    n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0)
        return NULL;
    s = malloc((size_t)n + 1);
    if (!s)
        return NULL;
    va_start(ap, fmt);
    vsnprintf(s, (size_t)n + 1, fmt, ap);
    va_end(ap);
    return s;
}

static const char *env_lookup(char *const envp[], const char *name)
{
    size_t n = strlen(name);

    for (size_t i = 0; envp && envp[i]; i++)
        if (strncmp(envp[i], name, n) == 0 && envp[i][n] == '=')
            return envp[i] + n + 1;
    return NULL;
}

/* A parsed .env file: NAME=VALUE strings like envp. */
struct dotenv {
    char **vars;
    size_t n;
};

static void dotenv_free(struct dotenv *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->vars[i]);
    free(d->vars);
    d->vars = NULL;
    d->n = 0;
}

static char *trim(char *s)
{
    char *e;

    while (isspace((unsigned char)*s))
        s++;
    e = s + strlen(s);
    while (e > s && isspace((unsigned char)e[-1]))
        *--e = '\0';
    return s;
}

/* Lines are NAME=VALUE, optionally prefixed with "export "; '#' starts a comment line;
 * a value in matching single or double quotes loses them (no escapes inside). @text need
 * not be NUL-terminated; @name labels error messages. */
static enum bo1_status dotenv_parse(const char *text, size_t len, const char *name,
                                    struct dotenv *d, char **why)
{
    enum bo1_status st = BO1_OK;
    char line[4096];
    unsigned lineno = 0;
    size_t pos = 0;

    d->vars = NULL;
    d->n = 0;
    while (pos < len) {
        const char *nl = memchr(text + pos, '\n', len - pos);
        size_t llen = nl ? (size_t)(nl - (text + pos)) : len - pos;
        char *s;
        char *eq;
        char *key;
        char *value;
        char **grown;
        size_t vlen;

        lineno++;
        if (llen >= sizeof(line)) {
            /* fgets() used to split such a line in two; its tail then read as a line. */
            *why = xasprintf("%s:%u: line longer than %zu bytes", name, lineno, sizeof(line) - 1);
            st = BO1_CONFIG_INVALID;
            goto out;
        }
        memcpy(line, text + pos, llen);
        line[llen] = '\0';
        pos += nl ? (size_t)(nl - (text + pos)) + 1 : len - pos;
        s = trim(line);
        if (*s == '\0' || *s == '#')
            continue;
        if (strncmp(s, "export ", 7) == 0)
            s = trim(s + 7);
        eq = strchr(s, '=');
        if (!eq || eq == s) {
            *why = xasprintf("%s:%u: expected NAME=VALUE", name, lineno);
            st = BO1_CONFIG_INVALID;
            goto out;
        }
        *eq = '\0';
        key = trim(s);
        value = trim(eq + 1);
        vlen = strlen(value);
        if (vlen >= 2 && (value[0] == '"' || value[0] == '\'') && value[vlen - 1] == value[0]) {
            value[vlen - 1] = '\0';
            value++;
        }
        grown = realloc(d->vars, (d->n + 2) * sizeof(*grown)); /* NULL-terminated */
        if (!grown) {
            st = BO1_NO_MEMORY;
            goto out;
        }
        d->vars = grown;
        d->vars[d->n] = xasprintf("%s=%s", key, value);
        if (!d->vars[d->n]) {
            st = BO1_NO_MEMORY;
            goto out;
        }
        d->n++;
        d->vars[d->n] = NULL;
    }
out:
    if (st != BO1_OK)
        dotenv_free(d);
    return st;
}

#define DOTENV_MAX_BYTES (1u << 20)

/* Read the whole file @path into *@text (caller frees). A missing file gives an empty text. */
static enum bo1_status dotenv_read(const char *path, char **text, size_t *len, char **why)
{
    enum bo1_status st = BO1_CONFIG_INVALID;
    FILE *f = fopen(path, "r");
    char *buf = NULL;
    size_t n = 0;

    *text = NULL;
    *len = 0;
    if (!f)
        return errno == ENOENT ? BO1_OK : BO1_CONFIG_INVALID;
    buf = malloc(DOTENV_MAX_BYTES + 1);
    if (!buf) {
        st = BO1_NO_MEMORY;
        goto out;
    }
    n = fread(buf, 1, DOTENV_MAX_BYTES + 1, f);
    if (ferror(f))
        goto out;
    if (n > DOTENV_MAX_BYTES) {
        *why = xasprintf("%s: larger than %u bytes", path, DOTENV_MAX_BYTES);
        goto out;
    }
    *text = buf;
    *len = n;
    buf = NULL;
    st = BO1_OK;
out:
    free(buf);
    fclose(f);
    return st;
}

static int choice_index(const char *choices, const char *v)
{
    const char *p = choices;
    size_t vlen = strlen(v);
    int i = 0;

    while (*p) {
        const char *bar = strchr(p, '|');
        size_t len = bar ? (size_t)(bar - p) : strlen(p);
        if (len == vlen && strncmp(p, v, len) == 0)
            return i;
        if (!bar)
            break;
        p = bar + 1;
        i++;
    }
    return -1;
}

static int is_url(const char *v)
{
    return (strncmp(v, "http://", 7) == 0 && v[7]) || (strncmp(v, "https://", 8) == 0 && v[8]);
}

static enum bo1_status set_knob(struct bo1_config *cfg, const struct knob *k, const char *v,
                                char **why)
{
    char *base = (char *)cfg;
    char *end = NULL;

    switch (k->kind) {
    case KNOB_UINT: {
        unsigned long long n;
        errno = 0;
        if (!isdigit((unsigned char)v[0]))
            goto bad_range;
        n = strtoull(v, &end, 10);
        if (errno || *end || n < (unsigned long long)k->min || n > (unsigned long long)k->max)
            goto bad_range;
        *(unsigned *)(base + k->field) = (unsigned)n;
        return BO1_OK;
    }
    case KNOB_DOUBLE: {
        double d;
        errno = 0;
        d = strtod(v, &end);
        if (errno || end == v || *end || !(d >= k->min && d <= k->max))
            goto bad_range;
        *(double *)(base + k->field) = d;
        return BO1_OK;
    }
    case KNOB_BOOL:
        if (!strcmp(v, "1") || !strcmp(v, "true") || !strcmp(v, "yes") || !strcmp(v, "on"))
            *(unsigned *)(base + k->field) = 1;
        else if (!strcmp(v, "0") || !strcmp(v, "false") || !strcmp(v, "no") || !strcmp(v, "off"))
            *(unsigned *)(base + k->field) = 0;
        else {
            *why = xasprintf("%s=\"%s\" is not a boolean (allowed: true|false|1|0|yes|no)", k->name,
                             v);
            return BO1_CONFIG_INVALID;
        }
        return BO1_OK;
    case KNOB_ENUM: {
        int i = choice_index(k->choices, v);
        if (i < 0) {
            *why = xasprintf("%s=\"%s\" is not allowed (allowed: %s)", k->name, v, k->choices);
            return BO1_CONFIG_INVALID;
        }
        if (k->field == FIELD(log_level)) {
            char **slot = (char **)(base + k->field);
            *slot = strdup(v);
            return *slot ? BO1_OK : BO1_NO_MEMORY;
        }
        *(unsigned *)(base + k->field) = (unsigned)i;
        return BO1_OK;
    }
    case KNOB_URL:
        if (!is_url(v)) {
            *why = xasprintf("%s=\"%s\" is not an http:// or https:// URL", k->name, v);
            return BO1_CONFIG_INVALID;
        }
        /* fall through */
    case KNOB_STR:
    case KNOB_SECRET: {
        char **slot = (char **)(base + k->field);
        *slot = strdup(v);
        return *slot ? BO1_OK : BO1_NO_MEMORY;
    }
    }
    return BO1_INTERNAL;

bad_range:
    if (k->kind == KNOB_DOUBLE)
        *why = xasprintf("%s=\"%s\" is out of range (allowed: a number from %g to %g)", k->name, v,
                         k->min, k->max);
    else
        *why = xasprintf("%s=\"%s\" is out of range (allowed: an integer from %.0f to %.0f)",
                         k->name, v, k->min, k->max);
    return BO1_CONFIG_INVALID;
}

/* redis://[[user]:password@]host[:port][/db] */
static enum bo1_status parse_redis_url(struct bo1_config *cfg, char **why)
{
    const char *u = cfg->redis_url;
    const char *p;
    const char *at;
    const char *host_end;
    char *end = NULL;
    unsigned long port = 6379;
    unsigned long db = 0;

    if (strncmp(u, "redis://", 8) != 0)
        goto bad;
    p = u + 8;
    host_end = p + strcspn(p, "/");
    /* The last '@' ends the credentials, as in URL parsers: a password may hold '@'.
     * With the first one, the rest of the password became part of the host (and of the
     * logged REDIS_URL). */
    at = NULL;
    for (const char *q = p; q < host_end; q++)
        if (*q == '@')
            at = q;
    if (at) {
        const char *colon = memchr(p, ':', (size_t)(at - p));
        if (colon && !cfg->redis_password[0]) {
            free(cfg->redis_password);
            cfg->redis_password = strndup(colon + 1, (size_t)(at - colon - 1));
            if (!cfg->redis_password)
                return BO1_NO_MEMORY;
        }
        p = at + 1;
    }
    {
        const char *colon = memchr(p, ':', (size_t)(host_end - p));
        const char *hend = colon ? colon : host_end;
        if (hend == p)
            goto bad;
        cfg->redis_host = strndup(p, (size_t)(hend - p));
        if (!cfg->redis_host)
            return BO1_NO_MEMORY;
        if (colon) {
            errno = 0;
            port = strtoul(colon + 1, &end, 10);
            if (errno || end != host_end || port < 1 || port > 65535)
                goto bad;
        }
    }
    if (*host_end == '/' && host_end[1]) {
        errno = 0;
        db = strtoul(host_end + 1, &end, 10);
        if (errno || *end || db > 15)
            goto bad;
    }
    cfg->redis_port = (unsigned)port;
    cfg->redis_db = (unsigned)db;
    return BO1_OK;
bad:
    *why = xasprintf("REDIS_URL=\"%s\" is not valid (allowed: redis://[:password@]host[:port][/db "
                     "0-15])",
                     u);
    return BO1_CONFIG_INVALID;
}

static enum bo1_status check_cross_field(const struct bo1_config *cfg, char **why)
{
    if (cfg->env == BO1_ENV_PRODUCTION && !cfg->api_keys[0]) {
        *why = xasprintf("BO1_API_KEYS is empty: production (BO1_ENV=production) refuses to "
                         "start without API keys");
        return BO1_CONFIG_INVALID;
    }
    if (cfg->provider_wait_s > cfg->provider_wait_max_s) {
        *why = xasprintf("BO1_PROVIDER_WAIT_S=%g is larger than BO1_PROVIDER_WAIT_MAX_S=%g "
                         "(allowed: BO1_PROVIDER_WAIT_S <= BO1_PROVIDER_WAIT_MAX_S)",
                         cfg->provider_wait_s, cfg->provider_wait_max_s);
        return BO1_CONFIG_INVALID;
    }
    if (cfg->session_idle_s > cfg->session_wall_s) {
        *why = xasprintf("BO1_SESSION_IDLE_S=%u is larger than BO1_SESSION_WALL_S=%u "
                         "(allowed: BO1_SESSION_IDLE_S <= BO1_SESSION_WALL_S)",
                         cfg->session_idle_s, cfg->session_wall_s);
        return BO1_CONFIG_INVALID;
    }
    return BO1_OK;
}

void bo1_config_engine(const struct bo1_config *c, struct bo1_engine_config *ec)
{
    ec->model_deep = c->model_deep;
    ec->model_fast = c->model_fast;
    ec->simulated = (int)c->model_simulated;
    ec->budget_usd = c->session_budget_usd;
    ec->budget_vote_share = c->budget_vote_share;
    ec->wall_clock_s = c->session_wall_s;
    ec->no_progress_s = c->session_idle_s;
    ec->clarify_timeout_s = c->clarify_timeout_s;
    ec->hard_max_rounds = (int)c->hard_max_rounds;
    ec->max_research = (int)c->max_research;
    ec->max_clarify = (int)c->max_clarify;
    ec->convergence_min = c->convergence_min;
    ec->novelty_max = c->novelty_max;
    ec->deadlock_conflict = c->deadlock_conflict;
    ec->deadlock_novelty = c->deadlock_novelty;
    ec->deadlock_rounds = (int)c->deadlock_rounds;
    ec->one_way_door_share = c->one_way_door_share;
    ec->dissent_commit = c->dissent_commit;
    ec->confidence_commit = c->confidence_commit;
    ec->confidence_spread = c->confidence_spread;
    ec->max_tokens_contribution = c->max_tokens_contribution;
    ec->max_tokens_structured = c->max_tokens_structured;
    ec->max_tokens_synthesis = c->max_tokens_synthesis;
    ec->provider_wait_s = c->provider_wait_s;
    ec->provider_wait_max_s = c->provider_wait_max_s;
}

enum bo1_status bo1_config_load(struct bo1_config *cfg, char *const envp[], char **why)
{
    enum bo1_status st;
    const char *env_file = env_lookup(envp, "BO1_ENV_FILE");
    char *text = NULL;
    size_t len = 0;
    char *reason = NULL;

    memset(cfg, 0, sizeof(*cfg));
    if (!env_file)
        env_file = ".env";
    st = dotenv_read(env_file, &text, &len, &reason);
    if (st == BO1_CONFIG_INVALID && !reason)
        reason = xasprintf("BO1_ENV_FILE=\"%s\" cannot be read: %s", env_file, strerror(errno));
    if (st == BO1_OK)
        st = bo1_config_load_text(cfg, envp, text, len, env_file, &reason);
    free(text);
    if (st != BO1_OK) {
        if (why)
            *why = reason ? reason : xasprintf("%s", bo1_status_hint(st));
        else
            free(reason);
    }
    return st;
}

enum bo1_status bo1_config_load_text(struct bo1_config *cfg, char *const envp[], const char *dotenv,
                                     size_t dotenv_len, const char *dotenv_name, char **why)
{
    enum bo1_status st = BO1_OK;
    struct dotenv dot = {0};
    char *reason = NULL;

    memset(cfg, 0, sizeof(*cfg));
    st = dotenv_parse(dotenv ? dotenv : "", dotenv ? dotenv_len : 0,
                      dotenv_name ? dotenv_name : ".env", &dot, &reason);
    if (st != BO1_OK)
        goto out;

    for (size_t i = 0; i < N_KNOBS; i++) {
        const struct knob *k = &knobs[i];
        const char *v = env_lookup(envp, k->name);
        if (!v)
            v = env_lookup(dot.vars, k->name);
        if (!v)
            v = k->def;
        st = set_knob(cfg, k, v, &reason);
        if (st != BO1_OK)
            goto out;
    }
    st = parse_redis_url(cfg, &reason);
    if (st == BO1_OK)
        st = check_cross_field(cfg, &reason);
out:
    dotenv_free(&dot);
    if (st != BO1_OK) {
        bo1_config_fini(cfg);
        if (why)
            *why = reason ? reason : xasprintf("%s", bo1_status_hint(st));
        else
            free(reason);
    }
    return st;
}

void bo1_config_fini(struct bo1_config *cfg)
{
    if (!cfg)
        return;
    for (size_t i = 0; i < N_KNOBS; i++) {
        const struct knob *k = &knobs[i];
        if (k->kind == KNOB_STR || k->kind == KNOB_SECRET || k->kind == KNOB_URL ||
            k->field == FIELD(log_level)) {
            char **slot = (char **)((char *)cfg + k->field);
            free(*slot);
        }
    }
    free(cfg->redis_host);
    memset(cfg, 0, sizeof(*cfg));
}

static const char *choice_name(const char *choices, unsigned idx, char *out, size_t n)
{
    const char *p = choices;

    for (unsigned i = 0; i < idx && p; i++) {
        p = strchr(p, '|');
        if (p)
            p++;
    }
    if (!p)
        return "";
    snprintf(out, n, "%.*s", (int)strcspn(p, "|"), p);
    return out;
}

/* @url with any user:password@ part replaced, so a credential in a base URL is not logged. */
static json_t *redacted_url(const char *url)
{
    const char *host = strstr(url, "://");
    const char *at;
    size_t end;

    if (!host)
        return json_string(url);
    host += 3;
    end = strcspn(host, "/?#");
    at = memchr(host, '@', end);
    if (!at)
        return json_string(url);
    /* The last '@' before the path ends the credentials (a password may hold '@'). */
    while (memchr(at + 1, '@', end - (size_t)(at + 1 - host)))
        at = memchr(at + 1, '@', end - (size_t)(at + 1 - host));
    return json_sprintf("%.*s[redacted]@%s", (int)(host - url), url, at + 1);
}

json_t *bo1_config_to_json_redacted(const struct bo1_config *cfg)
{
    json_t *o = json_object();
    const char *base = (const char *)cfg;
    char tmp[64];

    if (!o)
        return NULL;
    for (size_t i = 0; i < N_KNOBS; i++) {
        const struct knob *k = &knobs[i];
        const void *f = base + k->field;
        json_t *v = NULL;

        switch (k->kind) {
        case KNOB_UINT:
            v = json_integer(*(const unsigned *)f);
            break;
        case KNOB_DOUBLE:
            v = json_real(*(const double *)f);
            break;
        case KNOB_BOOL:
            v = json_boolean(*(const unsigned *)f);
            break;
        case KNOB_ENUM:
            if (k->field == FIELD(log_level))
                v = json_string(*(char *const *)f);
            else
                v = json_string(choice_name(k->choices, *(const unsigned *)f, tmp, sizeof(tmp)));
            break;
        case KNOB_SECRET:
            v = json_string((*(char *const *)f)[0] ? "[redacted]" : "");
            break;
        case KNOB_STR:
            v = json_string(*(char *const *)f);
            break;
        case KNOB_URL:
            v = redacted_url(*(char *const *)f);
            break;
        }
        json_object_set_new(o, k->name, v ? v : json_null());
    }
    /* The URL may carry a password; log only where Redis is. */
    json_object_set_new(
        o, "REDIS_URL",
        json_sprintf("redis://%s:%u/%u", cfg->redis_host, cfg->redis_port, cfg->redis_db));
    return o;
}

/* Write text into a Markdown table cell: a "|" would end the cell, so it becomes " or ". */
static void write_cell(FILE *out, const char *text)
{
    for (const char *p = text; *p; p++) {
        if (*p == '|')
            fputs(" or ", out);
        else
            fputc(*p, out);
    }
}

void bo1_config_write_table(FILE *out, int env_example)
{
    for (size_t i = 0; i < N_KNOBS; i++) {
        const struct knob *k = &knobs[i];
        char allowed[160];

        if (k->kind == KNOB_UINT)
            snprintf(allowed, sizeof(allowed), "%.0f–%.0f", k->min, k->max);
        else if (k->kind == KNOB_DOUBLE)
            snprintf(allowed, sizeof(allowed), "%g–%g", k->min, k->max);
        else if (k->kind == KNOB_ENUM)
            snprintf(allowed, sizeof(allowed), "%s", k->choices);
        else if (k->kind == KNOB_BOOL)
            snprintf(allowed, sizeof(allowed), "true|false");
        else if (k->kind == KNOB_URL)
            snprintf(allowed, sizeof(allowed), "http(s) URL");
        else if (k->kind == KNOB_SECRET)
            snprintf(allowed, sizeof(allowed), "secret (never logged)");
        else
            snprintf(allowed, sizeof(allowed), "text");
        if (env_example)
            fprintf(out, "# %s (%s)\n%s%s=%s\n\n", k->help, allowed,
                    k->kind == KNOB_SECRET ? "# " : "", k->name, k->def);
        else {
            fprintf(out, "| `%s` | `%s` | ", k->name, k->def);
            write_cell(out, allowed);
            fputs(" | ", out);
            write_cell(out, k->help);
            fputs(" |\n", out);
        }
    }
}
