/* Status table lookups; the table itself lives in bo1/status.h. */
#include "bo1/status.h"

static const struct {
    const char *name;
    unsigned http;
    const char *hint;
} table[] = {
#define BO1_STATUS_ROW(name, http, hint) {#name, http, hint},
    BO1_STATUS_TABLE(BO1_STATUS_ROW)
#undef BO1_STATUS_ROW
};

static int in_range(enum bo1_status st)
{
    return (unsigned)st < sizeof(table) / sizeof(table[0]);
}

const char *bo1_status_name(enum bo1_status st)
{
    return in_range(st) ? table[st].name : "UNKNOWN";
}

const char *bo1_status_hint(enum bo1_status st)
{
    return in_range(st) ? table[st].hint : "unknown status";
}

unsigned bo1_status_http(enum bo1_status st)
{
    return in_range(st) ? table[st].http : 500;
}
