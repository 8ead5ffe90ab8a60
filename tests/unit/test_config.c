/* Unit tests for config: defaults, overrides, .env handling and each invalid case. */
#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bo1/config.h"
#include "bo1/engine.h"

static enum bo1_status load(struct bo1_config *cfg, const char *const *env, char **why)
{
    char *envp[64];
    size_t n = 0;

    envp[n++] = "BO1_ENV_FILE=/nonexistent/.env";
    for (size_t i = 0; env && env[i]; i++)
        envp[n++] = (char *)env[i];
    envp[n] = NULL;
    return bo1_config_load(cfg, envp, why);
}

START_TEST(test_config_defaults_apply_when_nothing_is_set)
{
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, NULL, &why), BO1_OK);
    ck_assert_uint_eq(cfg.port, 8000);
    ck_assert_uint_eq(cfg.max_body_bytes, 65536);
    ck_assert_str_eq(cfg.redis_host, "127.0.0.1");
    ck_assert_uint_eq(cfg.redis_port, 6379);
    ck_assert_uint_eq(cfg.env, BO1_ENV_DEVELOPMENT);
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_double_eq_tol(cfg.session_budget_usd, 2.0, 1e-9);
    bo1_config_fini(&cfg);
}
END_TEST

START_TEST(test_config_environment_overrides_defaults)
{
    const char *env[] = {"PORT=9001",
                         "REDIS_URL=redis://:pw@redis.local:6380/2",
                         "BO1_LOG_LEVEL=debug",
                         "BO1_ENV=production",
                         "BO1_API_KEYS=k1,k2",
                         "BO1_SESSION_BUDGET_USD=0.5",
                         "BO1_MODEL_SIMULATED=yes",
                         NULL};
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, env, &why), BO1_OK);
    ck_assert_uint_eq(cfg.port, 9001);
    ck_assert_str_eq(cfg.redis_host, "redis.local");
    ck_assert_uint_eq(cfg.redis_port, 6380);
    ck_assert_uint_eq(cfg.redis_db, 2);
    ck_assert_str_eq(cfg.redis_password, "pw");
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_uint_eq(cfg.env, BO1_ENV_PRODUCTION);
    ck_assert_uint_eq(cfg.model_simulated, 1);
    ck_assert_double_eq_tol(cfg.session_budget_usd, 0.5, 1e-9);
    bo1_config_fini(&cfg);
}
END_TEST

START_TEST(test_config_process_environment_wins_over_env_file)
{
    char path[] = "/tmp/bo1-test-envXXXXXX";
    int fd = mkstemp(path);
    FILE *f = fdopen(fd, "w");
    char file_env[300];
    char *envp[4];
    struct bo1_config cfg;
    char *why = NULL;

    fputs("# comment\nexport PORT=7000\nBO1_LOG_LEVEL=\"warn\"\n\nBO1_DATA_DIR='/srv/d'\n", f);
    fclose(f);
    snprintf(file_env, sizeof(file_env), "BO1_ENV_FILE=%s", path);
    envp[0] = file_env;
    envp[1] = "BO1_LOG_LEVEL=error";
    envp[2] = NULL;
    ck_assert_int_eq(bo1_config_load(&cfg, envp, &why), BO1_OK);
    ck_assert_uint_eq(cfg.port, 7000);
    ck_assert_str_eq(cfg.log_level, "error");
    ck_assert_str_eq(cfg.data_dir, "/srv/d");
    bo1_config_fini(&cfg);
    unlink(path);
}
END_TEST

static const struct {
    const char *setting;
    const char *must_mention;
} invalid_cases[] = {
    {"PORT=0", "PORT"},
    {"PORT=65536", "1 to 65535"},
    {"PORT=80a", "PORT"},
    {"PORT=-1", "PORT"},
    {"PORT=", "PORT"},
    {"BO1_MAX_BODY_BYTES=10", "BO1_MAX_BODY_BYTES"},
    {"BO1_HTTP_THREADS=9999", "0 to 256"},
    {"BO1_LOG_LEVEL=loud", "debug|info|warn|error"},
    {"BO1_ENV=staging", "development|production"},
    {"BO1_LLM_PROVIDER=gemini", "anthropic|openai"},
    {"BO1_MODEL_SIMULATED=maybe", "BO1_MODEL_SIMULATED"},
    {"BO1_SESSION_BUDGET_USD=abc", "BO1_SESSION_BUDGET_USD"},
    {"BO1_SESSION_BUDGET_USD=0", "0.01"},
    {"BO1_LLM_MAX_ATTEMPTS=6", "1 to 5"},
    {"ANTHROPIC_BASE_URL=ftp://x", "ANTHROPIC_BASE_URL"},
    {"REDIS_URL=http://x", "REDIS_URL"},
    {"REDIS_URL=redis://:6379", "REDIS_URL"},
    {"REDIS_URL=redis://host:99999", "REDIS_URL"},
    {"REDIS_URL=redis://host/99", "REDIS_URL"},
    {"BO1_ENV=production", "BO1_API_KEYS"},
    /* the engine knobs: each out-of-range value names the variable and its range */
    {"BO1_HARD_MAX_ROUNDS=0",
     "BO1_HARD_MAX_ROUNDS=\"0\" is out of range (allowed: an integer from 1 to 10)"},
    {"BO1_HARD_MAX_ROUNDS=11", "BO1_HARD_MAX_ROUNDS"},
    {"BO1_MAX_RESEARCH=11",
     "BO1_MAX_RESEARCH=\"11\" is out of range (allowed: an integer from 0 to 10)"},
    {"BO1_MAX_CLARIFY=-1", "BO1_MAX_CLARIFY"},
    {"BO1_CONVERGENCE_MIN=1.5",
     "BO1_CONVERGENCE_MIN=\"1.5\" is out of range (allowed: a number from 0 to 1)"},
    {"BO1_NOVELTY_MAX=-0.1", "BO1_NOVELTY_MAX"},
    {"BO1_DEADLOCK_CONFLICT=2", "BO1_DEADLOCK_CONFLICT"},
    {"BO1_DEADLOCK_NOVELTY=x", "BO1_DEADLOCK_NOVELTY"},
    {"BO1_DEADLOCK_ROUNDS=0", "BO1_DEADLOCK_ROUNDS"},
    {"BO1_BUDGET_VOTE_SHARE=0.05",
     "BO1_BUDGET_VOTE_SHARE=\"0.05\" is out of range (allowed: a number from 0.1 to 1)"},
    {"BO1_ONE_WAY_DOOR_SHARE=0.4", "from 0.5 to 1"},
    {"BO1_DISSENT_COMMIT=1.01", "BO1_DISSENT_COMMIT"},
    {"BO1_CONFIDENCE_COMMIT=nan", "BO1_CONFIDENCE_COMMIT"},
    {"BO1_CONFIDENCE_SPREAD=3", "BO1_CONFIDENCE_SPREAD"},
    {"BO1_MAX_TOKENS_CONTRIBUTION=10", "BO1_MAX_TOKENS_CONTRIBUTION"},
    {"BO1_MAX_TOKENS_STRUCTURED=40000", "from 64 to 32000"},
    {"BO1_MAX_TOKENS_SYNTHESIS=0", "BO1_MAX_TOKENS_SYNTHESIS"},
    {"BO1_PROVIDER_WAIT_S=0", "BO1_PROVIDER_WAIT_S"},
    {"BO1_PROVIDER_WAIT_MAX_S=4000", "BO1_PROVIDER_WAIT_MAX_S"},
    /* cross-field rules */
    {"BO1_PROVIDER_WAIT_S=60", "BO1_PROVIDER_WAIT_S <= BO1_PROVIDER_WAIT_MAX_S"},
    {"BO1_SESSION_IDLE_S=3600", "BO1_SESSION_IDLE_S <= BO1_SESSION_WALL_S"},
};

START_TEST(test_config_rejects_invalid_value_naming_variable)
{
    const char *env[] = {invalid_cases[_i].setting, NULL};
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, env, &why), BO1_CONFIG_INVALID);
    ck_assert_ptr_nonnull(why);
    ck_assert_msg(strstr(why, invalid_cases[_i].must_mention) != NULL, "%s: message '%s'",
                  invalid_cases[_i].setting, why);
    free(why);
}
END_TEST

/* Every number ENGINE.md gives reaches the engine unchanged when nothing is set. */
START_TEST(test_config_engine_defaults_equal_engine_md)
{
    const struct bo1_engine_config d = BO1_ENGINE_CONFIG_DEFAULTS;
    struct bo1_engine_config ec = {0};
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, NULL, &why), BO1_OK);
    bo1_config_engine(&cfg, &ec);
    ck_assert_double_eq_tol(ec.budget_usd, d.budget_usd, 1e-9);
    ck_assert_double_eq_tol(ec.budget_vote_share, 0.80, 1e-9);
    ck_assert_double_eq_tol(ec.budget_vote_share, d.budget_vote_share, 1e-9);
    ck_assert_double_eq_tol(ec.wall_clock_s, 1800, 1e-9);
    ck_assert_double_eq_tol(ec.wall_clock_s, d.wall_clock_s, 1e-9);
    ck_assert_double_eq_tol(ec.no_progress_s, 600, 1e-9);
    ck_assert_double_eq_tol(ec.no_progress_s, d.no_progress_s, 1e-9);
    ck_assert_double_eq_tol(ec.clarify_timeout_s, d.clarify_timeout_s, 1e-9);
    ck_assert_int_eq(ec.hard_max_rounds, 10);
    ck_assert_int_eq(ec.hard_max_rounds, d.hard_max_rounds);
    ck_assert_int_eq(ec.max_research, 2);
    ck_assert_int_eq(ec.max_research, d.max_research);
    ck_assert_int_eq(ec.max_clarify, 2);
    ck_assert_int_eq(ec.max_clarify, d.max_clarify);
    ck_assert_double_eq_tol(ec.convergence_min, 0.85, 1e-9);
    ck_assert_double_eq_tol(ec.convergence_min, d.convergence_min, 1e-9);
    ck_assert_double_eq_tol(ec.novelty_max, 0.30, 1e-9);
    ck_assert_double_eq_tol(ec.novelty_max, d.novelty_max, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_conflict, 0.70, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_conflict, d.deadlock_conflict, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_novelty, 0.40, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_novelty, d.deadlock_novelty, 1e-9);
    ck_assert_int_eq(ec.deadlock_rounds, 2);
    ck_assert_int_eq(ec.deadlock_rounds, d.deadlock_rounds);
    ck_assert_double_eq_tol(ec.one_way_door_share, 0.75, 1e-9);
    ck_assert_double_eq_tol(ec.one_way_door_share, d.one_way_door_share, 1e-9);
    ck_assert_double_eq_tol(ec.dissent_commit, 0.30, 1e-9);
    ck_assert_double_eq_tol(ec.dissent_commit, d.dissent_commit, 1e-9);
    ck_assert_double_eq_tol(ec.confidence_commit, 0.65, 1e-9);
    ck_assert_double_eq_tol(ec.confidence_commit, d.confidence_commit, 1e-9);
    ck_assert_double_eq_tol(ec.confidence_spread, d.confidence_spread, 1e-9);
    ck_assert_uint_eq(ec.max_tokens_contribution, d.max_tokens_contribution);
    ck_assert_uint_eq(ec.max_tokens_structured, d.max_tokens_structured);
    ck_assert_uint_eq(ec.max_tokens_synthesis, d.max_tokens_synthesis);
    ck_assert_double_eq_tol(ec.provider_wait_s, d.provider_wait_s, 1e-9);
    ck_assert_double_eq_tol(ec.provider_wait_max_s, d.provider_wait_max_s, 1e-9);
    bo1_config_fini(&cfg);
}
END_TEST

START_TEST(test_config_engine_overrides_reach_engine_config)
{
    const char *env[] = {"BO1_HARD_MAX_ROUNDS=4",
                         "BO1_MAX_RESEARCH=0",
                         "BO1_MAX_CLARIFY=1",
                         "BO1_CONVERGENCE_MIN=0.9",
                         "BO1_NOVELTY_MAX=0.2",
                         "BO1_DEADLOCK_CONFLICT=0.6",
                         "BO1_DEADLOCK_NOVELTY=0.5",
                         "BO1_DEADLOCK_ROUNDS=3",
                         "BO1_BUDGET_VOTE_SHARE=0.5",
                         "BO1_ONE_WAY_DOOR_SHARE=0.9",
                         "BO1_DISSENT_COMMIT=0.25",
                         "BO1_CONFIDENCE_COMMIT=0.7",
                         "BO1_CONFIDENCE_SPREAD=0.3",
                         "BO1_MAX_TOKENS_CONTRIBUTION=900",
                         "BO1_MAX_TOKENS_STRUCTURED=1500",
                         "BO1_MAX_TOKENS_SYNTHESIS=4000",
                         "BO1_PROVIDER_WAIT_S=2",
                         "BO1_PROVIDER_WAIT_MAX_S=2",
                         "BO1_CLARIFY_TIMEOUT_S=42",
                         "BO1_SESSION_WALL_S=120",
                         "BO1_SESSION_IDLE_S=60",
                         NULL};
    struct bo1_engine_config ec = BO1_ENGINE_CONFIG_DEFAULTS;
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, env, &why), BO1_OK);
    bo1_config_engine(&cfg, &ec);
    ck_assert_int_eq(ec.hard_max_rounds, 4);
    ck_assert_int_eq(ec.max_research, 0);
    ck_assert_int_eq(ec.max_clarify, 1);
    ck_assert_double_eq_tol(ec.convergence_min, 0.9, 1e-9);
    ck_assert_double_eq_tol(ec.novelty_max, 0.2, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_conflict, 0.6, 1e-9);
    ck_assert_double_eq_tol(ec.deadlock_novelty, 0.5, 1e-9);
    ck_assert_int_eq(ec.deadlock_rounds, 3);
    ck_assert_double_eq_tol(ec.budget_vote_share, 0.5, 1e-9);
    ck_assert_double_eq_tol(ec.one_way_door_share, 0.9, 1e-9);
    ck_assert_double_eq_tol(ec.dissent_commit, 0.25, 1e-9);
    ck_assert_double_eq_tol(ec.confidence_commit, 0.7, 1e-9);
    ck_assert_double_eq_tol(ec.confidence_spread, 0.3, 1e-9);
    ck_assert_uint_eq(ec.max_tokens_contribution, 900);
    ck_assert_uint_eq(ec.max_tokens_structured, 1500);
    ck_assert_uint_eq(ec.max_tokens_synthesis, 4000);
    ck_assert_double_eq_tol(ec.provider_wait_s, 2, 1e-9);
    ck_assert_double_eq_tol(ec.provider_wait_max_s, 2, 1e-9);
    ck_assert_double_eq_tol(ec.clarify_timeout_s, 42, 1e-9);
    ck_assert_double_eq_tol(ec.wall_clock_s, 120, 1e-9);
    ck_assert_double_eq_tol(ec.no_progress_s, 60, 1e-9);
    bo1_config_fini(&cfg);
}
END_TEST

START_TEST(test_config_bad_env_file_line_is_reported)
{
    char path[] = "/tmp/bo1-test-envXXXXXX";
    int fd = mkstemp(path);
    char file_env[300];
    char *envp[2];
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(write(fd, "PORT=1\nnot a setting\n", 21), 21);
    close(fd);
    snprintf(file_env, sizeof(file_env), "BO1_ENV_FILE=%s", path);
    envp[0] = file_env;
    envp[1] = NULL;
    ck_assert_int_eq(bo1_config_load(&cfg, envp, &why), BO1_CONFIG_INVALID);
    ck_assert_ptr_nonnull(strstr(why, ":2:"));
    free(why);
    unlink(path);
}
END_TEST

START_TEST(test_config_redis_password_may_hold_an_at_sign)
{
    const char *env[] = {"REDIS_URL=redis://:p@ss@cache.local:6390/3", NULL};
    struct bo1_config cfg;
    char *why = NULL;

    ck_assert_int_eq(load(&cfg, env, &why), BO1_OK);
    ck_assert_str_eq(cfg.redis_password, "p@ss");
    ck_assert_str_eq(cfg.redis_host, "cache.local");
    ck_assert_uint_eq(cfg.redis_port, 6390);
    ck_assert_uint_eq(cfg.redis_db, 3);
    bo1_config_fini(&cfg);
}
END_TEST

START_TEST(test_config_load_text_reads_env_file_contents)
{
    char *envp[] = {"PORT=9100", NULL};
    const char dotenv[] = "# c\nexport PORT=1\nBO1_LOG_LEVEL='warn'\n";
    struct bo1_config cfg;
    char *why = NULL;
    char *long_line = malloc(5000);

    ck_assert_int_eq(bo1_config_load_text(&cfg, envp, dotenv, strlen(dotenv), "t.env", &why),
                     BO1_OK);
    ck_assert_uint_eq(cfg.port, 9100);
    ck_assert_str_eq(cfg.log_level, "warn");
    bo1_config_fini(&cfg);

    ck_assert_ptr_nonnull(long_line);
    memset(long_line, 'a', 5000);
    memcpy(long_line, "BO1_DATA_DIR=", 13);
    ck_assert_int_eq(bo1_config_load_text(&cfg, envp, long_line, 5000, "t.env", &why),
                     BO1_CONFIG_INVALID);
    ck_assert_ptr_nonnull(strstr(why, "t.env:1: line longer than"));
    free(why);
    free(long_line);
}
END_TEST

START_TEST(test_config_redacts_secrets)
{
    const char *env[] = {"ANTHROPIC_API_KEY=sk-ant-secret",
                         "REDIS_URL=redis://:hunter2@h:1/0",
                         "BO1_API_KEYS=topsecret",
                         "OPENAI_BASE_URL=https://bob:pa@ss@proxy.example:8443/v1",
                         "ANTHROPIC_BASE_URL=https://api.anthropic.com/path@x",
                         NULL};
    struct bo1_config cfg;
    char *why = NULL;
    json_t *j;
    char *text;

    ck_assert_int_eq(load(&cfg, env, &why), BO1_OK);
    j = bo1_config_to_json_redacted(&cfg);
    text = json_dumps(j, 0);
    ck_assert_ptr_null(strstr(text, "sk-ant-secret"));
    ck_assert_ptr_null(strstr(text, "hunter2"));
    ck_assert_ptr_null(strstr(text, "topsecret"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "ANTHROPIC_API_KEY")), "[redacted]");
    ck_assert_str_eq(json_string_value(json_object_get(j, "OPENAI_API_KEY")), "");
    /* Credentials in a base URL are not logged; the rest of the URL is. */
    ck_assert_ptr_null(strstr(text, "pa@ss"));
    ck_assert_ptr_null(strstr(text, "bob"));
    ck_assert_str_eq(json_string_value(json_object_get(j, "OPENAI_BASE_URL")),
                     "https://[redacted]@proxy.example:8443/v1");
    ck_assert_str_eq(json_string_value(json_object_get(j, "ANTHROPIC_BASE_URL")),
                     "https://api.anthropic.com/path@x");
    free(text);
    json_decref(j);
    bo1_config_fini(&cfg);
}
END_TEST

static Suite *config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");

    tcase_add_test(tc, test_config_defaults_apply_when_nothing_is_set);
    tcase_add_test(tc, test_config_environment_overrides_defaults);
    tcase_add_test(tc, test_config_process_environment_wins_over_env_file);
    tcase_add_loop_test(tc, test_config_rejects_invalid_value_naming_variable, 0,
                        (int)(sizeof(invalid_cases) / sizeof(invalid_cases[0])));
    tcase_add_test(tc, test_config_engine_defaults_equal_engine_md);
    tcase_add_test(tc, test_config_engine_overrides_reach_engine_config);
    tcase_add_test(tc, test_config_bad_env_file_line_is_reported);
    tcase_add_test(tc, test_config_redacts_secrets);
    tcase_add_test(tc, test_config_redis_password_may_hold_an_at_sign);
    tcase_add_test(tc, test_config_load_text_reads_env_file_contents);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(config_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
