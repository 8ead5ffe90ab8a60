/* export_internal.h - shared helpers of the report renderers. */
#pragma once

#include <jansson.h>

const char *rj_str(const json_t *o, const char *k, const char *dflt);
double rj_num(const json_t *o, const char *k, double dflt);
/* One sentence explaining a stop decision with its numbers. Caller frees. */
char *report_stop_text(const json_t *stop);
