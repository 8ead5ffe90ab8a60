/* fuzz_provider.c - libFuzzer target over the model provider reply decoders.
 *
 * The first input byte picks the decoder: 0 Anthropic Messages 200 body, 1 OpenAI chat 200
 * body, 2 embeddings reply (the second byte gives the number of vectors asked for, 1 to 8),
 * 3 an error reply through the retry classifier (the second byte gives the HTTP status),
 * 4 retry-after-ms / retry-after header values (newline-separated). The rest is the reply.
 * Beyond "no crash", it checks the contract: a decoded answer is complete, NUL-free UTF-8
 * with non-negative token counts; vectors are finite and unit length (or zero); a refusal
 * always has a reason that is itself valid UTF-8. tests/unit/test_fuzz_corpus.c replays the
 * corpus.
 *
 * fuzz-core: yes
 */
#include <jansson.h>
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "../../src/embed/embed_internal.h"
#include "../../src/llm/llm_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void fuzz_check(int ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_provider: contract broken: %s\n", what);
        abort();
    }
}

/* Valid UTF-8 that jansson can hold as a string (what events and logs need). */
static int fuzz_utf8(const char *s)
{
    json_t *v = json_string(s);

    json_decref(v);
    return v != NULL;
}

static void fuzz_chat(int openai, const char *body, size_t len)
{
    struct llm_answer a;
    char why[256] = "";
    enum bo1_status st;

    memset(&a, 0xA5, sizeof(a));
    st = openai ? llm_openai_decode(body, len, &a, why, sizeof(why))
                : llm_anthropic_decode(body, len, &a, why, sizeof(why));
    if (st == BO1_OK) {
        fuzz_check(a.text && a.stop_reason && a.model && a.id, "a string of the answer is NULL");
        fuzz_check(fuzz_utf8(a.text) && fuzz_utf8(a.stop_reason) && fuzz_utf8(a.model) &&
                       fuzz_utf8(a.id),
                   "answer string is not valid UTF-8");
        fuzz_check(a.usage.input >= 0 && a.usage.output >= 0 && a.usage.cache_read >= 0 &&
                       a.usage.cache_write >= 0,
                   "negative token count");
    } else {
        fuzz_check(st == BO1_UPSTREAM_BAD_REPLY || st == BO1_NO_MEMORY, "unexpected status");
        fuzz_check(!a.text && !a.stop_reason && !a.model && !a.id, "strings left on failure");
        fuzz_check(why[0] != '\0', "refused without a reason");
        fuzz_check(fuzz_utf8(why), "reason is not valid UTF-8");
    }
    llm_answer_fini(&a);
}

static void fuzz_embed(size_t n, const char *body, size_t len)
{
    float *vecs = (float *)1;
    size_t dim = 99;
    char why[256] = "";
    enum bo1_status st = embed_decode(body, len, n, &vecs, &dim, why, sizeof(why));

    if (st == BO1_OK) {
        fuzz_check(vecs != NULL && dim >= 1, "no vectors on success");
        for (size_t i = 0; i < n; i++) {
            double norm = 0;
            for (size_t k = 0; k < dim; k++) {
                fuzz_check(isfinite(vecs[i * dim + k]), "a vector holds inf or NaN");
                norm += (double)vecs[i * dim + k] * vecs[i * dim + k];
            }
            fuzz_check(norm == 0 || fabs(norm - 1.0) < 1e-3, "a vector is not unit length");
        }
        free(vecs);
    } else {
        fuzz_check(st == BO1_UPSTREAM_BAD_REPLY || st == BO1_NO_MEMORY, "unexpected status");
        fuzz_check(vecs == NULL && dim == 0, "vectors left on failure");
        fuzz_check(why[0] != '\0', "refused without a reason");
    }
}

static void fuzz_error(long http, const char *body, size_t len)
{
    struct llm_attempt a = {
        .http_status = http, .body = body, .body_len = len, .provider = "anthropic"};
    struct llm_verdict v;

    llm_classify(&a, 1700000000, &v);
    if (http >= 200 && http < 300) {
        fuzz_check(v.status == BO1_OK, "2xx not OK");
        return;
    }
    fuzz_check(v.status != BO1_OK, "error status classified OK");
    fuzz_check(v.message[0] != '\0', "error without a message");
    fuzz_check(strnlen(v.message, sizeof(v.message)) < sizeof(v.message), "message unbounded");
    fuzz_check(fuzz_utf8(v.message), "error message is not valid UTF-8");
    fuzz_check(v.wait_ms >= -1, "negative wait");
}

static void fuzz_retry_after(const char *text)
{
    char *copy = strdup(text);
    char *nl;
    long ms;

    if (!copy)
        return;
    nl = strchr(copy, '\n');
    if (nl)
        *nl = '\0';
    ms = llm_retry_after_ms(copy, nl ? nl + 1 : NULL, 1700000000);
    fuzz_check(ms >= -1 && ms <= 24L * 3600 * 1000, "wait out of bounds");
    ms = llm_retry_after_ms(NULL, copy, 1700000000);
    fuzz_check(ms >= -1 && ms <= 24L * 3600 * 1000, "wait out of bounds");
    free(copy);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char *body;
    size_t len;

    if (size < 2)
        return 0;
    /* An exact-size copy without a terminator, as the transport hands it over. */
    len = size - 2;
    body = malloc(len ? len : 1);
    if (!body)
        return 0;
    memcpy(body, data + 2, len);
    switch (data[0] % 5) {
    case 0:
    case 1:
        fuzz_chat(data[0] % 5, body, len);
        break;
    case 2:
        fuzz_embed(1 + data[1] % 8, body, len);
        break;
    case 3:
        fuzz_error(200 + (long)data[1] * 2, body, len);
        break;
    default: {
        char *text = malloc(len + 1);
        if (text) {
            memcpy(text, body, len);
            text[len] = '\0';
            fuzz_retry_after(text);
            free(text);
        }
        break;
    }
    }
    free(body);
    return 0;
}
