/* Vector helpers and the local embedding: a signed feature-hashing ("hashing trick") bag of
 * lower-cased words, word bigrams and character trigrams, log-scaled and L2-normalised.
 * No model, no network, deterministic everywhere (FNV-1a with fixed seeds). Common English
 * function words are skipped so that unrelated texts do not look alike because both say
 * "the" and "of". */
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/embed.h"

#define MAX_WORD 64

static const char *const stopwords[] = {
    "a",     "an",   "and",  "are",  "as",    "at",   "be",   "been",  "but",  "by",   "can",
    "do",    "does", "for",  "from", "had",   "has",  "have", "he",    "her",  "his",  "i",
    "if",    "in",   "into", "is",   "it",    "its",  "me",   "my",    "not",  "of",   "on",
    "or",    "our",  "she",  "so",   "than",  "that", "the",  "their", "them", "then", "there",
    "these", "they", "this", "to",   "too",   "us",   "was",  "we",    "were", "what", "when",
    "which", "who",  "will", "with", "would", "you",  "your",
};

static int is_stopword(const char *w, size_t n)
{
    for (size_t i = 0; i < sizeof(stopwords) / sizeof(stopwords[0]); i++)
        if (strlen(stopwords[i]) == n && memcmp(stopwords[i], w, n) == 0)
            return 1;
    return 0;
}

static uint64_t fnv1a(uint64_t h, const void *p, size_t n)
{
    const unsigned char *s = p;

    for (size_t i = 0; i < n; i++) {
        h ^= s[i];
        h *= 0x100000001b3ull;
    }
    return h;
}

static void add_feature(double *acc, size_t dim, uint64_t seed, const void *p, size_t n,
                        double weight)
{
    uint64_t h = fnv1a(seed, p, n);

    /* Mix so that the bucket and the sign use independent bits. */
    h ^= h >> 33;
    h *= 0xff51afd7ed558ccdull;
    h ^= h >> 33;
    acc[h % dim] += (h >> 63) ? -weight : weight;
}

/* Word characters: ASCII letters and digits, and every byte of a multi-byte UTF-8
 * sequence (so accented and non-Latin words stay whole). */
static int word_byte(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c >= 0x80;
}

void bo1_embed_local(const char *text, float *out, size_t dim)
{
    double *acc;
    char prev[MAX_WORD];
    size_t prev_len = 0;
    const unsigned char *p = (const unsigned char *)(text ? text : "");

    if (dim == 0)
        return;
    memset(out, 0, dim * sizeof(*out));
    acc = calloc(dim, sizeof(*acc));
    if (!acc)
        return; /* the zero vector: similar to nothing */
    while (*p) {
        char w[MAX_WORD + 2];
        size_t n = 0;

        if (!word_byte(*p)) {
            p++;
            continue;
        }
        while (*p && word_byte(*p)) {
            if (n < MAX_WORD)
                w[n++] = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
            p++;
        }
        if (is_stopword(w, n))
            continue;
        add_feature(acc, dim, 0xcbf29ce484222325ull, w, n, 1.0);
        if (prev_len) {
            char pair[2 * MAX_WORD + 1];

            memcpy(pair, prev, prev_len);
            pair[prev_len] = ' ';
            memcpy(pair + prev_len + 1, w, n);
            add_feature(acc, dim, 0x84222325cbf29ce4ull, pair, prev_len + 1 + n, 0.5);
        }
        /* Character trigrams of "<word>" catch shared stems (price, pricing, priced). */
        {
            char padded[MAX_WORD + 2];

            padded[0] = '<';
            memcpy(padded + 1, w, n);
            padded[n + 1] = '>';
            for (size_t i = 0; i + 3 <= n + 2; i++)
                add_feature(acc, dim, 0x9e3779b97f4a7c15ull, padded + i, 3, 0.25);
        }
        memcpy(prev, w, n);
        prev_len = n;
    }
    for (size_t i = 0; i < dim; i++)
        out[i] = (float)(acc[i] >= 0 ? log1p(acc[i]) : -log1p(-acc[i]));
    free(acc);
    bo1_embed_normalise(out, dim);
}

void bo1_embed_normalise(float *v, size_t dim)
{
    double sum = 0;

    for (size_t i = 0; i < dim; i++)
        sum += (double)v[i] * v[i];
    if (sum <= 0 || !isfinite(sum))
        return;
    sum = sqrt(sum);
    for (size_t i = 0; i < dim; i++)
        v[i] = (float)(v[i] / sum);
}

double bo1_embed_cosine(const float *a, const float *b, size_t dim)
{
    double dot = 0;
    double na = 0;
    double nb = 0;

    for (size_t i = 0; i < dim; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (na <= 0 || nb <= 0)
        return 0;
    return dot / (sqrt(na) * sqrt(nb));
}
