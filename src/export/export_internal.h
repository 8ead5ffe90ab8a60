/* export_internal.h - shared helpers of the report renderers. */
#pragma once

#include <jansson.h>

const char *rj_str(const json_t *o, const char *k, const char *dflt);
double rj_num(const json_t *o, const char *k, double dflt);
/* One sentence explaining a stop decision with its numbers. Caller frees. */
char *report_stop_text(const json_t *stop);
/* bo1_report_json() sharing the state's values instead of copying them: only for a report
 * that is read and freed before the state can change (the renderers). */
json_t *report_json_shared(const json_t *st);
