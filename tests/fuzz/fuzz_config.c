/* fuzz_config.c - libFuzzer target over configuration parsing.
 *
 * The input is the process environment, one NAME=VALUE per line, then a line "%%", then
 * the contents of the .env file (no "%%": all of it is the .env file). It goes through
 * bo1_config_load_text() and, when that succeeds, the redacted dump. Beyond "no crash", it
 * checks the contract: a loaded configuration is in range and its dump hides every secret;
 * a refused one says why and leaves nothing to free. tests/unit/test_fuzz_corpus.c replays
 * the corpus.
 *
 * fuzz-core: yes
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_MAX_ENV 64

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_config: contract broken: %s\n", what);
        abort();
    }
}

static int fuzz_all_zero(const struct bo1_config *cfg)
{
    static const struct bo1_config zero;

    return memcmp(cfg, &zero, sizeof(zero)) == 0;
}

static void fuzz_loaded(const struct bo1_config *cfg)
{
    static const char *const secrets[] = {"BO1_API_KEYS", "REDIS_PASSWORD", "ANTHROPIC_API_KEY",
                                          "OPENAI_API_KEY", "VOYAGE_API_KEY"};
    json_t *dump;
    const char *url;

    fuzz_check(cfg->port >= 1 && cfg->port <= 65535, "port out of range");
    fuzz_check(cfg->redis_port >= 1 && cfg->redis_port <= 65535, "redis port out of range");
    fuzz_check(cfg->redis_db <= 15, "redis db out of range");
    fuzz_check(cfg->redis_host && cfg->redis_host[0], "no redis host");
    fuzz_check(cfg->bind_address && cfg->api_keys && cfg->redis_password && cfg->log_level &&
                   cfg->anthropic_base_url && cfg->openai_base_url && cfg->voyage_base_url,
               "a string knob is NULL");
    fuzz_check(cfg->session_budget_usd >= 0.01 && cfg->session_budget_usd <= 1000,
               "budget out of range");
    fuzz_check(cfg->env != 1 || cfg->api_keys[0], "production without API keys");
    dump = bo1_config_to_json_redacted(cfg);
    fuzz_check(dump != NULL, "no redacted dump");
    for (size_t i = 0; i < sizeof(secrets) / sizeof(secrets[0]); i++) {
        const char *v = json_string_value(json_object_get(dump, secrets[i]));
        fuzz_check(v && (strcmp(v, "") == 0 || strcmp(v, "[redacted]") == 0),
                   "a secret is not redacted");
    }
    url = json_string_value(json_object_get(dump, "REDIS_URL"));
    fuzz_check(!url || !strchr(url, '@'), "the logged REDIS_URL carries credentials");
    json_decref(dump);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *copy = malloc(size + 1);
    char *envp[FUZZ_MAX_ENV + 1];
    size_t n_env = 0;
    const char *dotenv;
    size_t dotenv_len;
    struct bo1_config cfg;
    char *why = NULL;
    enum bo1_status st;
    char *p;
    char *sep;

    if (!copy)
        return 0;
    memcpy(copy, data, size);
    copy[size] = '\0';
    sep = strstr(copy, "%%\n");
    if (sep && (sep == copy || sep[-1] == '\n')) {
        *sep = '\0';
        dotenv = (const char *)data + (sep + 3 - copy);
        dotenv_len = size - (size_t)(sep + 3 - copy);
        for (p = copy; *p && n_env < FUZZ_MAX_ENV;) {
            char *nl = strchr(p, '\n');
            if (nl)
                *nl = '\0';
            envp[n_env++] = p;
            p = nl ? nl + 1 : p + strlen(p);
        }
    } else {
        dotenv = (const char *)data;
        dotenv_len = size;
    }
    envp[n_env] = NULL;

    memset(&cfg, 0xA5, sizeof(cfg));
    st = bo1_config_load_text(&cfg, envp, dotenv, dotenv_len, "fuzz.env", &why);
    if (st == BO1_OK) {
        fuzz_check(why == NULL, "reason set on success");
        fuzz_loaded(&cfg);
        bo1_config_fini(&cfg);
        fuzz_check(fuzz_all_zero(&cfg), "fini leaves fields set");
    } else {
        fuzz_check(st == BO1_CONFIG_INVALID || st == BO1_NO_MEMORY, "unexpected status");
        fuzz_check(why != NULL && why[0] != '\0', "refused without a reason");
        fuzz_check(fuzz_all_zero(&cfg), "a refused configuration holds something");
    }
    free(why);
    free(copy);
    return 0;
}
