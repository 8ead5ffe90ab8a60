/* The session data model's pure helpers (ids, notify channels) and a static check of the
 * Lua scripts: every key a script touches is one it was given in KEYS, so that declaring
 * keys of one slot (which Redis Cluster enforces with CROSSSLOT) is enough to keep every
 * script on one slot. A single Redis, even in cluster mode, does not refuse a script that
 * builds a key name itself, hence this check. */
#include <check.h>
#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/store/scripts.h"
#include "bo1/sessions.h"

#define ID "AbCdEfGhIjKlMnOpQrSt_-"

START_TEST(test_notify_channel_gives_the_session_id)
{
    char id[32];

    ck_assert_int_eq(bo1_sessions_notify_parse("bo1:{" ID "}:notify", id), BO1_OK);
    ck_assert_str_eq(id, ID);
}
END_TEST

START_TEST(test_other_channels_are_refused)
{
    static const char *const bad[] = {
        "",
        "bo1:{}:notify",
        "bo1:{" ID "}:events",
        "bo1:{" ID "}:notifyx",
        "bo2:{" ID "}:notify",
        "bo1:{" ID "x}:notify",                /* 23 characters */
        "bo1:{AbCdEfGhIjKlMnOpQrSt.-}:notify", /* not base64url */
        "bo1:{" ID ID "}:notify",
        "bo1:{*}:notify",
    };
    char id[32];

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(bo1_sessions_notify_parse(bad[i], id) != BO1_OK, "accepted %s", bad[i]);
}
END_TEST

START_TEST(test_new_ids_are_valid_and_differ)
{
    char a[32], b[32];

    bo1_sessions_new_id(a);
    bo1_sessions_new_id(b);
    ck_assert(bo1_sessions_id_valid(a));
    ck_assert(bo1_sessions_id_valid(b));
    ck_assert_str_ne(a, b);
}
END_TEST

/* --- the static key check --- */

/* Commands allowed without a key argument. TIME takes none. PUBLISH takes a channel, not a
 * key: channels belong to no slot (Redis Cluster broadcasts PUBLISH to every node), so the
 * notify channel bo1:{<id>}:notify may be built from ARGV. */
static const char *const no_key[] = {"TIME", "PUBLISH", NULL};
/* Every argument is a key. */
static const char *const all_keys[] = {"DEL", "UNLINK", "EXISTS", "TOUCH", "MGET", NULL};
/* The first two arguments are keys. */
static const char *const two_keys[] = {"RENAME",    "RENAMENX", "SMOVE", "LMOVE",
                                       "RPOPLPUSH", "COPY",     NULL};
/* Keys in other places (or none that could be checked): never in a script. */
static const char *const banned[] = {
    "KEYS",        "SCAN",       "SELECT",      "EVAL",        "EVALSHA",    "XREAD",
    "XREADGROUP",  "SORT",       "ZUNIONSTORE", "ZINTERSTORE", "ZDIFFSTORE", "SUNIONSTORE",
    "SINTERSTORE", "SDIFFSTORE", "MSET",        "MSETNX",      "FLUSHALL",   "FLUSHDB",
    "MIGRATE",     "BITOP",      "GEORADIUS",   "PFMERGE",     NULL};

static int in_list(const char *const *list, const char *name)
{
    for (; *list; list++)
        if (strcmp(*list, name) == 0)
            return 1;
    return 0;
}

/* @a (length @n, trimmed) is exactly KEYS[<index>], the index a number, a name or a
 * simple sum without brackets or concatenation. */
static int is_keys_ref(const char *a, size_t n)
{
    while (n && isspace((unsigned char)*a)) {
        a++;
        n--;
    }
    while (n && isspace((unsigned char)a[n - 1]))
        n--;
    if (n < 7 || strncmp(a, "KEYS[", 5) != 0 || a[n - 1] != ']')
        return 0;
    for (size_t i = 5; i < n - 1; i++)
        if (!(isalnum((unsigned char)a[i]) || a[i] == '_' || a[i] == '#' || a[i] == '+' ||
              a[i] == '-' || a[i] == ' '))
            return 0;
    return n > 6;
}

#define MAX_CALL_ARGS 32

/* Split the argument list starting after "(" at @p into top-level arguments. Returns the
 * count, or -1 when the call does not close. */
static int split_args(const char *p, const char *arg[], size_t len[])
{
    int depth = 0;
    int n = 0;
    const char *start = p;

    for (; *p; p++) {
        if (*p == '\'' || *p == '"') {
            char q = *p;
            for (p++; *p && *p != q; p++)
                if (*p == '\\' && p[1])
                    p++;
            if (!*p)
                return -1;
        } else if (*p == '(' || *p == '{' || *p == '[') {
            depth++;
        } else if (*p == ')' || *p == '}' || *p == ']') {
            if (depth == 0) {
                if (n < MAX_CALL_ARGS) {
                    arg[n] = start;
                    len[n++] = (size_t)(p - start);
                }
                return n;
            }
            depth--;
        } else if (*p == ',' && depth == 0 && n < MAX_CALL_ARGS) {
            arg[n] = start;
            len[n++] = (size_t)(p - start);
            start = p + 1;
        }
    }
    return -1;
}

/* Check one script. Returns the number of problems (each written to @err, which holds
 * the first), and adds the number of calls checked to @calls. */
static int check_script(const char *text, char err[256], int *calls)
{
    int problems = 0;
    const char *p = text;

    err[0] = '\0';
#define PROBLEM(...)                                                                               \
    do {                                                                                           \
        if (!problems++)                                                                           \
            snprintf(err, 256, __VA_ARGS__);                                                       \
    } while (0)
    while ((p = strstr(p, "redis.")) != NULL) {
        const char *args[MAX_CALL_ARGS];
        size_t len[MAX_CALL_ARGS];
        char name[32];
        size_t nl = 0;
        const char *q;
        int n;

        p += strlen("redis.");
        if (strncmp(p, "call", 4) == 0)
            q = p + 4;
        else if (strncmp(p, "pcall", 5) == 0)
            q = p + 5;
        else
            continue; /* redis.log, redis.sha1hex, ... */
        if (*q != '(') {
            PROBLEM("redis.call used other than as a direct call: %.40s", p);
            continue;
        }
        n = split_args(q + 1, args, len);
        (*calls)++;
        if (n < 1) {
            PROBLEM("unparsable call: %.40s", p);
            continue;
        }
        while (len[0] && isspace((unsigned char)*args[0])) {
            args[0]++;
            len[0]--;
        }
        if (len[0] < 2 || (args[0][0] != '\'' && args[0][0] != '"')) {
            PROBLEM("command is not a string literal: %.40s", p);
            continue;
        }
        for (size_t i = 1; i < len[0] && args[0][i] != args[0][0] && nl + 1 < sizeof(name); i++)
            name[nl++] = (char)toupper((unsigned char)args[0][i]);
        name[nl] = '\0';
        if (in_list(no_key, name))
            continue;
        if (in_list(banned, name)) {
            PROBLEM("%s may not be used in a script", name);
            continue;
        }
        if (n < 2) {
            PROBLEM("%s without a key", name);
            continue;
        }
        for (int i = 1; i < n; i++) {
            int key = i == 1 || (i == 2 && in_list(two_keys, name)) || in_list(all_keys, name);
            if (key && !is_keys_ref(args[i], len[i]))
                PROBLEM("%s: key argument %d is not KEYS[...]: %.*s", name, i,
                        (int)(len[i] < 60 ? len[i] : 60), args[i]);
        }
    }
#undef PROBLEM
    return problems;
}

START_TEST(test_every_script_touches_only_keys_it_is_given)
{
    int calls = 0;
    size_t n = 0;

    for (const struct bo1_lua_script *s = bo1_lua_all; s->name; s++, n++) {
        char err[256];
        int problems = check_script(s->text, err, &calls);
        ck_assert_msg(problems == 0, "script %s: %d problem(s), first: %s", s->name, problems, err);
    }
    ck_assert_uint_eq(n, 21);
    /* The parser found the calls (the scripts make well over a hundred). */
    ck_assert_int_ge(calls, 100);
}
END_TEST

/* The table the check walks lists every script defined in scripts.c. */
START_TEST(test_every_script_is_in_the_table)
{
    const char *root = getenv("BO1_SOURCE_ROOT");
    char path[1024];
    char line[512];
    FILE *f;
    size_t defined = 0;
    size_t listed = 0;

    ck_assert_ptr_nonnull(root);
    snprintf(path, sizeof(path), "%s/src/store/scripts.c", root);
    f = fopen(path, "r");
    ck_assert_ptr_nonnull(f);
    while (fgets(line, sizeof(line), f))
        if (strncmp(line, "const char bo1_lua_", 19) == 0)
            defined++;
    fclose(f);
    for (const struct bo1_lua_script *s = bo1_lua_all; s->name; s++)
        listed++;
    ck_assert_uint_gt(defined, 0);
    ck_assert_uint_eq(listed, defined);
}
END_TEST

/* The check catches each way a script could reach a key it was not given. */
START_TEST(test_the_key_check_refuses_undeclared_keys)
{
    static const char *const bad[] = {
        "redis.call('XADD', 'bo1:jobs', '*', 'session', ARGV[1])\n",
        "return redis.call('HMGET', 'bo1:{' .. ARGV[1] .. '}:session', 'doc')\n",
        "redis.call('ZCOUNT', KEYS[1] .. ':created', '-inf', '+inf')\n",
        "local k = KEYS[1]\nredis.call('GET', k)\n",
        "redis.call(ARGV[1], KEYS[1])\n",
        "redis.call('DEL', KEYS[1], 'bo1:other')\n",
        "redis.call('SMOVE', KEYS[1], 'bo1:x', ARGV[1])\n",
        "local c = redis.call\nc('GET', 'bo1:x')\n",
        "redis.pcall('SET', ARGV[2], 'x')\n",
        "redis.call('KEYS', '*')\n",
        "redis.call('EVAL', 'return 1', 1, KEYS[1])\n",
        "redis.call('GET')\n",
    };
    static const char good[] = "local v = redis.call('HMGET', KEYS[1], 'a', 'b')\n"
                               "redis.call('DEL', KEYS[1], KEYS[2])\n"
                               "redis.call('ZADD', KEYS[k], string.format('%d', 1), ARGV[1])\n"
                               "redis.call('PUBLISH', 'bo1:{' .. ARGV[1] .. '}:notify', 'x')\n"
                               "local t = redis.call('TIME')\n";
    char err[256];
    int calls = 0;

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        ck_assert_msg(check_script(bad[i], err, &calls) > 0, "accepted: %s", bad[i]);
    calls = 0;
    ck_assert_msg(check_script(good, err, &calls) == 0, "refused: %s", err);
    ck_assert_int_eq(calls, 5);
}
END_TEST

static Suite *store_suite(void)
{
    Suite *s = suite_create("store");
    TCase *tc = tcase_create("store");

    tcase_add_test(tc, test_notify_channel_gives_the_session_id);
    tcase_add_test(tc, test_other_channels_are_refused);
    tcase_add_test(tc, test_new_ids_are_valid_and_differ);
    tcase_add_test(tc, test_every_script_touches_only_keys_it_is_given);
    tcase_add_test(tc, test_every_script_is_in_the_table);
    tcase_add_test(tc, test_the_key_check_refuses_undeclared_keys);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    SRunner *sr = srunner_create(store_suite());
    int failed;

    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}
