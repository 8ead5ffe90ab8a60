/* Replays the checked-in corpus tests/fuzz/corpus/<FUZZ_TARGET>/ through one libFuzzer target
 * (FUZZ_SOURCE, included here) under the normal toolchain, without libFuzzer, so every crash
 * once found stays fixed: one Check test per corpus file. tests/meson.build builds this once
 * per target and runs it under both the normal and the ASan+UBSan build. */
#include <check.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include FUZZ_SOURCE

#define MAX_INPUTS      8192
#define MAX_INPUT_BYTES (4u << 20)

static char *inputs[MAX_INPUTS];
static size_t n_inputs;
static size_t n_skipped; /* inputs past MAX_INPUTS: a test failure, not a silent skip */

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static void collect(void)
{
    const char *root = getenv("BO1_SOURCE_ROOT");
    char dir[1024];
    DIR *d;
    struct dirent *e;

    snprintf(dir, sizeof(dir), "%s/tests/fuzz/corpus/%s", root ? root : ".", FUZZ_TARGET);
    d = opendir(dir);
    for (e = d ? readdir(d) : NULL; e; e = readdir(d)) {
        char path[1400];

        if (e->d_name[0] == '.')
            continue;
        if (n_inputs >= MAX_INPUTS ||
            snprintf(path, sizeof(path), "%s/%s", dir, e->d_name) >= (int)sizeof(path)) {
            n_skipped++;
            continue;
        }
        inputs[n_inputs++] = strdup(path);
    }
    if (d)
        closedir(d);
    qsort(inputs, n_inputs, sizeof(inputs[0]), cmp_str);
}

START_TEST(test_fuzz_corpus_input_keeps_contract)
{
    FILE *f = fopen(inputs[_i], "rb");
    uint8_t *buf;
    uint8_t *exact;
    size_t n;

    ck_assert_msg(f != NULL, "cannot open %s", inputs[_i]);
    buf = malloc(MAX_INPUT_BYTES + 1);
    ck_assert_ptr_nonnull(buf);
    n = fread(buf, 1, MAX_INPUT_BYTES + 1, f);
    fclose(f);
    ck_assert_msg(n <= MAX_INPUT_BYTES, "%s is larger than %u bytes", inputs[_i], MAX_INPUT_BYTES);
    /* An exact-size copy so ASan sees any read past the input. */
    exact = malloc(n ? n : 1);
    ck_assert_ptr_nonnull(exact);
    memcpy(exact, buf, n);
    free(buf);
    ck_assert_int_eq(LLVMFuzzerTestOneInput(exact, n), 0);
    free(exact);
}
END_TEST

START_TEST(test_fuzz_corpus_is_not_empty)
{
    ck_assert_msg(n_inputs >= FUZZ_MIN_INPUTS, "only %zu corpus inputs for %s", n_inputs,
                  FUZZ_TARGET);
    ck_assert_msg(n_skipped == 0, "%zu corpus inputs not replayed (raise MAX_INPUTS)", n_skipped);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("corpus_" FUZZ_TARGET);
    TCase *tc = tcase_create("replay");
    SRunner *sr;
    int failed;

    collect();
    tcase_add_test(tc, test_fuzz_corpus_is_not_empty);
    if (n_inputs > 0)
        tcase_add_loop_test(tc, test_fuzz_corpus_input_keeps_contract, 0, (int)n_inputs);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    for (size_t i = 0; i < n_inputs; i++)
        free(inputs[i]);
    return failed == 0 ? 0 : 1;
}
