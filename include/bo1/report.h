/* bo1/report.h - the final report of a deliberation, in Markdown and JSON.
 *
 * Renderers are pure functions of the session state (the checkpoint JSON of bo1/session.h),
 * so the API can render a report from a stored state without an engine. Any thread. */
#pragma once

#include <jansson.h>

#include "bo1/buf.h"
#include "bo1/session.h"
#include "bo1/status.h"

/**
 * The report as a JSON object (recommendation, synthesis, votes, stop reasons, assumptions,
 * transcript, costs, timings, disclaimer, simulated flag).
 * Returns: new reference, or NULL when out of memory or @state is not a session state.
 */
json_t *bo1_report_json(const json_t *state);

/** Render the JSON report into @out (appends). BO1_TOO_LARGE / BO1_NO_MEMORY / BO1_BAD_FIELD. */
enum bo1_status bo1_report_render_json(const json_t *state, struct bo1_buf *out);

/** Render the Markdown report into @out (appends). Same statuses. */
enum bo1_status bo1_report_render_md(const json_t *state, struct bo1_buf *out);

/**
 * Write <dir>/<id>_<YYYYmmdd_HHMMSS>.md and .json (UTC time @now_s; the directory is
 * created if missing). @paths_out (may be NULL): a new array of the two paths written.
 * Returns BO1_IO_ERROR when a file cannot be written.
 */
enum bo1_status bo1_report_export(const struct bo1_session *s, const char *dir, double now_s,
                                  json_t **paths_out);

/** As bo1_report_export() from a state document. */
enum bo1_status bo1_report_export_state(const json_t *state, const char *dir, double now_s,
                                        json_t **paths_out);

/** As bo1_report_export() with the two reports already rendered (bo1_report_render_md(),
 * bo1_report_render_json()) for the session @id. BO1_BAD_FIELD for an id unfit for a file
 * name. */
enum bo1_status bo1_report_export_rendered(const char *id, const struct bo1_buf *md,
                                           const struct bo1_buf *js, const char *dir, double now_s,
                                           json_t **paths_out);
