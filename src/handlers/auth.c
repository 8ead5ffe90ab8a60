/* Bearer API keys, held as SHA-256 hashes and compared in constant time. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "bo1/auth.h"
#include "bo1/sha256.h"

struct bo1_auth {
    size_t n;
    uint8_t (*hashes)[32];
};

enum bo1_status bo1_auth_new(const char *keys, struct bo1_auth **out)
{
    struct bo1_auth *a = calloc(1, sizeof(*a));
    const char *p = keys ? keys : "";
    size_t cap = 1;

    if (!a)
        return BO1_NO_MEMORY;
    for (const char *q = p; *q; q++)
        cap += *q == ',';
    a->hashes = calloc(cap, sizeof(*a->hashes));
    if (!a->hashes) {
        free(a);
        return BO1_NO_MEMORY;
    }
    while (*p) {
        size_t len = strcspn(p, ",");
        const char *s = p;
        size_t l = len;
        while (l && *s == ' ') {
            s++;
            l--;
        }
        while (l && s[l - 1] == ' ')
            l--;
        if (l)
            bo1_sha256(s, l, a->hashes[a->n++]);
        p += len;
        if (*p == ',')
            p++;
    }
    *out = a;
    return BO1_OK;
}

void bo1_auth_free(struct bo1_auth *a)
{
    if (!a)
        return;
    free(a->hashes);
    free(a);
}

int bo1_auth_open(const struct bo1_auth *a)
{
    return a->n == 0;
}

enum bo1_status bo1_auth_check(const struct bo1_auth *a, const char *authorization, char owner[17])
{
    static const char hex[] = "0123456789abcdef";
    uint8_t h[32];
    const char *key;
    int found = 0;

    if (a->n == 0) {
        memcpy(owner, "public", 7);
        return BO1_OK;
    }
    if (!authorization || strncasecmp(authorization, "Bearer ", 7) != 0)
        return BO1_UNAUTHORIZED;
    key = authorization + 7;
    while (*key == ' ')
        key++;
    if (!*key || strlen(key) > 512)
        return BO1_UNAUTHORIZED;
    bo1_sha256(key, strlen(key), h);
    for (size_t i = 0; i < a->n; i++)
        found |= bo1_ct_equal(h, a->hashes[i], 32);
    if (!found)
        return BO1_UNAUTHORIZED;
    for (int i = 0; i < 8; i++) {
        owner[2 * i] = hex[h[i] >> 4];
        owner[2 * i + 1] = hex[h[i] & 15];
    }
    owner[16] = '\0';
    return BO1_OK;
}
