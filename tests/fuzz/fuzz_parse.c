/* fuzz_parse.c - libFuzzer target over the model-answer parsers.
 *
 * The first input byte picks the MODEL_IO task (modulo the task count); the rest is the
 * answer text. Beyond "no crash", it checks the contract: a result is an object whose
 * strings are NUL-free UTF-8 that jansson can encode, and a failure always has a reason.
 * tests/unit/test_fuzz_corpus.c includes this file to replay the corpus under gcc.
 *
 * fuzz-sources: src/parse/extract.c src/parse/answer.c src/core/buf.c src/core/status.c
 * fuzz-pkgs: jansson
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static size_t fuzz_task_count(void)
{
    size_t n = 0;

    while (bo1_parse_task_name(n))
        n++;
    return n;
}

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_parse: contract broken: %s\n", what);
        abort();
    }
}

static int fuzz_strings_clean(const json_t *v)
{
    const char *k;
    json_t *iv;
    size_t i;

    if (json_is_string(v))
        return strlen(json_string_value(v)) == json_string_length(v);
    json_array_foreach(v, i, iv)
    {
        if (!fuzz_strings_clean(iv))
            return 0;
    }
    json_object_foreach((json_t *)v, k, iv)
    {
        if (!fuzz_strings_clean(iv))
            return 0;
    }
    return 1;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static size_t n_tasks;
    const char *task;
    const char *text;
    json_t *out = NULL;
    char *why = NULL;
    char *dump;
    enum bo1_status st;

    if (size == 0)
        return 0;
    if (n_tasks == 0)
        n_tasks = fuzz_task_count();
    task = bo1_parse_task_name(data[0] % n_tasks);
    text = size > 1 ? (const char *)data + 1 : NULL;
    st = bo1_parse_answer(task, text, size - 1, &out, &why);
    if (st == BO1_OK) {
        fuzz_check(json_is_object(out), "result is not an object");
        fuzz_check(why == NULL, "reason set on success");
        fuzz_check(fuzz_strings_clean(out), "a string holds NUL");
        dump = json_dumps(out, JSON_ENSURE_ASCII);
        fuzz_check(dump != NULL, "result cannot be encoded (invalid UTF-8?)");
        free(dump);
    } else {
        fuzz_check(st == BO1_PARSE_FAILED, "unexpected status");
        fuzz_check(out == NULL, "result set on failure");
        fuzz_check(why != NULL && why[0] != '\0', "failure without a reason");
    }
    json_decref(out);
    free(why);

    /* The extractor on its own, over the whole input. */
    out = NULL;
    why = NULL;
    st = bo1_parse_extract_json((const char *)data, size, &out, &why);
    fuzz_check((st == BO1_OK) == (out != NULL), "extract: result/status mismatch");
    fuzz_check(st == BO1_OK || why != NULL, "extract: failure without a reason");
    json_decref(out);
    free(why);
    return 0;
}
