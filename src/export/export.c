/* Writing a report to disk: exports/<id>_<YYYYmmdd_HHMMSS>.{md,json}. Each file is written
 * to a temporary name and renamed, so a reader never sees half a report. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "bo1/report.h"
#include "bo1/session.h"
#include "export_internal.h"

static enum bo1_status mkdirs(const char *dir)
{
    char path[4096];
    size_t n = strlen(dir);

    if (n == 0 || n >= sizeof(path))
        return BO1_IO_ERROR;
    memcpy(path, dir, n + 1);
    for (size_t i = 1; i <= n; i++) {
        if (path[i] != '/' && path[i] != '\0')
            continue;
        char c = path[i];
        path[i] = '\0';
        if (mkdir(path, 0755) != 0 && errno != EEXIST)
            return BO1_IO_ERROR;
        path[i] = c;
    }
    return BO1_OK;
}

static enum bo1_status write_file(const char *path, const struct bo1_buf *b)
{
    char tmp[4200];
    FILE *f;
    size_t w;

    snprintf(tmp, sizeof(tmp), "%s.tmp.%ld", path, (long)getpid());
    f = fopen(tmp, "wb");
    if (!f)
        return BO1_IO_ERROR;
    w = fwrite(bo1_buf_str(b), 1, b->len, f);
    if (fclose(f) != 0 || w != b->len || rename(tmp, path) != 0) {
        unlink(tmp);
        return BO1_IO_ERROR;
    }
    return BO1_OK;
}

/* Session ids are opaque but must not escape the directory. */
static int safe_id(const char *id)
{
    if (!*id || strlen(id) > 200)
        return 0;
    for (const char *p = id; *p; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '-' || *p == '_'))
            return 0;
    return 1;
}

enum bo1_status bo1_report_export_rendered(const char *id, const struct bo1_buf *md,
                                           const struct bo1_buf *js, const char *dir, double now_s,
                                           json_t **paths_out)
{
    char stamp[32], p_md[4096], p_js[4096];
    time_t t = (time_t)now_s;
    struct tm tm;
    enum bo1_status st;

    if (paths_out)
        *paths_out = NULL;
    if (!safe_id(id))
        return BO1_BAD_FIELD;
    gmtime_r(&t, &tm);
    strftime(stamp, sizeof(stamp), "%Y%m%d_%H%M%S", &tm);
    if (snprintf(p_md, sizeof(p_md), "%s/%s_%s.md", dir, id, stamp) >= (int)sizeof(p_md) ||
        snprintf(p_js, sizeof(p_js), "%s/%s_%s.json", dir, id, stamp) >= (int)sizeof(p_js))
        return BO1_IO_ERROR;
    st = mkdirs(dir);
    if (st == BO1_OK)
        st = write_file(p_md, md);
    if (st == BO1_OK)
        st = write_file(p_js, js);
    if (st == BO1_OK && paths_out)
        *paths_out = json_pack("[s, s]", p_md, p_js);
    return st;
}

enum bo1_status bo1_report_export_state(const json_t *state, const char *dir, double now_s,
                                        json_t **paths_out)
{
    const char *id = rj_str(state, "id", "");
    struct bo1_buf md, js;
    enum bo1_status st;

    if (paths_out)
        *paths_out = NULL;
    if (!safe_id(id))
        return BO1_BAD_FIELD;
    bo1_buf_init(&md, 0);
    bo1_buf_init(&js, 0);
    st = bo1_report_render_md(state, &md);
    if (st == BO1_OK)
        st = bo1_report_render_json(state, &js);
    if (st == BO1_OK)
        st = bo1_report_export_rendered(id, &md, &js, dir, now_s, paths_out);
    bo1_buf_fini(&md);
    bo1_buf_fini(&js);
    return st;
}

enum bo1_status bo1_report_export(const struct bo1_session *s, const char *dir, double now_s,
                                  json_t **paths_out)
{
    return bo1_report_export_state(bo1_session_state(s), dir, now_s, paths_out);
}
