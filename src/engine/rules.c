/* The engine's rules as pure functions: round limits, phases, similarity metrics, the stop
 * rules, dependency-graph repair, board choice and vote aggregation. No effects, no clock:
 * everything they need comes in as arguments, so unit tests pin each rule down. */
#include <ctype.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "engine_internal.h"

int rules_max_rounds(int complexity, int requested, int hard_cap)
{
    int n;

    if (hard_cap <= 0)
        hard_cap = 10;
    if (requested > 0)
        n = requested;
    else if (complexity <= 3)
        n = 3;
    else if (complexity <= 6)
        n = 5;
    else
        n = 6;
    return n > hard_cap ? hard_cap : n;
}

const char *rules_phase(int round)
{
    if (round <= 2)
        return "explore";
    if (round <= 4)
        return "challenge";
    return "converge";
}

double rules_cosine(const float *a, const float *b, size_t dim)
{
    double dot = 0, na = 0, nb = 0;

    for (size_t i = 0; i < dim; i++) {
        dot += (double)a[i] * b[i];
        na += (double)a[i] * a[i];
        nb += (double)b[i] * b[i];
    }
    if (na <= 0 || nb <= 0)
        return 0.0;
    return dot / (sqrt(na) * sqrt(nb));
}

double rules_convergence(const float *const *v, size_t n, size_t dim)
{
    double sum = 0;
    size_t pairs = 0;

    if (n < 2)
        return 1.0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = i + 1; j < n; j++) {
            sum += rules_cosine(v[i], v[j], dim);
            pairs++;
        }
    return sum / (double)pairs;
}

double rules_novelty(const float *const *cur, size_t n_cur, const float *const *prev, size_t n_prev,
                     size_t dim)
{
    double sum = 0;

    if (n_prev == 0 || n_cur == 0)
        return 1.0;
    for (size_t i = 0; i < n_cur; i++) {
        double best = -1.0;
        for (size_t j = 0; j < n_prev; j++) {
            double c = rules_cosine(cur[i], prev[j], dim);
            if (c > best)
                best = c;
        }
        sum += 1.0 - best;
    }
    return sum / (double)n_cur;
}

double rules_conflict(double convergence, size_t agreements, size_t disagreements)
{
    double spread = 1.0 - convergence;

    if (spread < 0)
        spread = 0;
    if (spread > 1)
        spread = 1;
    if (agreements + disagreements == 0)
        return spread;
    return 0.5 * spread + 0.5 * (double)disagreements / (double)(agreements + disagreements);
}

json_t *rules_stop(const struct stop_input *in, enum stop_action *action, int *streak_out)
{
    const struct bo1_engine_config *cfg = in->cfg;
    const char *rule = "none";
    enum stop_action act = STOP_NONE;
    int deadlocked_now = in->have_metrics && in->conflict > cfg->deadlock_conflict &&
                         in->novelty < cfg->deadlock_novelty;
    int streak = deadlocked_now ? in->deadlock_streak + 1 : 0;

    if (in->round >= in->max_rounds) {
        rule = "max_rounds";
        act = STOP_VOTE;
    } else if (in->have_metrics && in->round >= 2 && in->n_contributions >= 2 &&
               in->convergence > cfg->convergence_min && in->novelty < cfg->novelty_max) {
        rule = "convergence";
        act = STOP_VOTE;
    } else if (streak >= cfg->deadlock_rounds) {
        rule = "deadlock";
        act = STOP_VOTE;
    } else if (in->budget > 0 && in->spent >= in->budget) {
        rule = "budget_exhausted";
        act = STOP_HALT;
    } else if (in->budget > 0 && in->spent >= cfg->budget_vote_share * in->budget) {
        rule = "budget";
        act = STOP_VOTE;
    } else if (in->elapsed_s >= cfg->wall_clock_s) {
        rule = "wall_clock";
        act = STOP_HALT;
    } else if (in->idle_s >= cfg->no_progress_s) {
        rule = "no_progress";
        act = STOP_HALT;
    }
    *action = act;
    *streak_out = streak;
    json_t *out =
        json_pack("{s:s, s:s, s:i, s:{s:i, s:i, s:f, s:f, s:f, s:i, s:f, s:f, s:f, s:f, s:f, s:f}}",
                  "rule", rule, "action",
                  act == STOP_NONE   ? "continue"
                  : act == STOP_VOTE ? "vote"
                                     : "halt",
                  "round", in->round, "numbers", "round", in->round, "max_rounds", in->max_rounds,
                  "convergence", in->convergence, "novelty", in->novelty, "conflict", in->conflict,
                  "deadlock_rounds", streak, "spent_usd", in->spent, "budget_usd", in->budget,
                  "budget_share", in->budget > 0 ? in->spent / in->budget : 0.0, "elapsed_s",
                  in->elapsed_s, "idle_s", in->idle_s, "convergence_min", cfg->convergence_min);
    json_t *nums = json_object_get(out, "numbers");
    json_object_set_new(nums, "novelty_max", json_real(cfg->novelty_max));
    json_object_set_new(nums, "deadlock_conflict", json_real(cfg->deadlock_conflict));
    json_object_set_new(nums, "deadlock_novelty", json_real(cfg->deadlock_novelty));
    json_object_set_new(nums, "budget_vote_share", json_real(cfg->budget_vote_share));
    json_object_set_new(nums, "wall_clock_s", json_real(cfg->wall_clock_s));
    json_object_set_new(nums, "no_progress_s", json_real(cfg->no_progress_s));
    return out;
}

/* ---- dependency graph ---- */

#define MAX_SP 32

static int reaches(int adj[MAX_SP][MAX_SP], size_t n, size_t from, size_t to)
{
    int seen[MAX_SP] = {0};
    size_t stack[MAX_SP * MAX_SP];
    size_t top = 0;

    stack[top++] = from;
    while (top) {
        size_t u = stack[--top];
        if (u == to)
            return 1;
        if (seen[u])
            continue;
        seen[u] = 1;
        for (size_t v = 0; v < n; v++)
            if (adj[u][v] && !seen[v])
                stack[top++] = v;
    }
    return 0;
}

static int find_id(const json_t *sps, const char *id)
{
    for (size_t i = 0; i < json_array_size(sps); i++)
        if (strcmp(jstr(json_array_get(sps, i), "id", ""), id) == 0)
            return (int)i;
    return -1;
}

static void add_repair(json_t *repairs, const char *kind, const char *sp, const char *dep)
{
    json_array_append_new(repairs, json_pack("{s:s, s:s, s:s}", "kind", kind, "sub_problem", sp,
                                             "dependency", dep ? dep : ""));
}

size_t rules_dag_repair(json_t *sps, json_t *repairs)
{
    size_t n = json_array_size(sps);
    size_t count = 0;
    int adj[MAX_SP][MAX_SP] = {{0}};

    if (n > MAX_SP)
        n = MAX_SP;
    /* Ids first: every sub-problem needs a unique, non-empty id for edges to mean anything. */
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_array_get(sps, i);
        const char *id = jstr(sp, "id", "");
        int dup = 0;
        for (size_t j = 0; j < i; j++)
            if (strcmp(jstr(json_array_get(sps, j), "id", ""), id) == 0)
                dup = 1;
        if (!*id || dup) {
            char buf[32];
            snprintf(buf, sizeof(buf), "sp%zu", i + 1);
            add_repair(repairs, dup ? "duplicate_id_renamed" : "missing_id_named", buf, id);
            json_object_set_new(sp, "id", json_string(buf));
            count++;
        }
    }
    for (size_t i = 0; i < n; i++) {
        json_t *sp = json_array_get(sps, i);
        json_t *deps = json_object_get(sp, "dependencies");
        json_t *kept = json_array();
        const char *id = jstr(sp, "id", "");
        for (size_t k = 0; json_is_array(deps) && k < json_array_size(deps); k++) {
            const char *d = json_string_value(json_array_get(deps, k));
            int j = d ? find_id(sps, d) : -1;
            if (j < 0 || (size_t)j >= n) {
                add_repair(repairs, "unknown_dependency_dropped", id, d ? d : "(not a string)");
                count++;
            } else if ((size_t)j == i) {
                add_repair(repairs, "self_dependency_dropped", id, d);
                count++;
            } else if (adj[i][j]) {
                add_repair(repairs, "duplicate_dependency_dropped", id, d);
                count++;
            } else if (reaches(adj, n, (size_t)j, i)) {
                /* d already depends (transitively) on this sub-problem: the edge closes a
                 * cycle, so it goes. Edges are considered in document order, which makes the
                 * repair deterministic. */
                add_repair(repairs, "cycle_broken", id, d);
                count++;
            } else {
                adj[i][j] = 1;
                json_array_append_new(kept, json_string(d));
            }
        }
        json_object_set_new(sp, "dependencies", kept);
    }
    return count;
}

int rules_topo_order(const json_t *sps, size_t *order)
{
    size_t n = json_array_size(sps);
    int placed[MAX_SP] = {0};
    size_t k = 0;

    if (n > MAX_SP)
        return -1;
    while (k < n) {
        int progress = 0;
        for (size_t i = 0; i < n; i++) {
            const json_t *deps = json_object_get(json_array_get(sps, i), "dependencies");
            int ready = !placed[i];
            for (size_t d = 0; ready && d < json_array_size(deps); d++) {
                int j = find_id(sps, json_string_value(json_array_get(deps, d)));
                if (j >= 0 && !placed[j])
                    ready = 0;
            }
            if (ready) {
                placed[i] = 1;
                order[k++] = i;
                progress = 1;
            }
        }
        if (!progress)
            return -1;
    }
    return 0;
}

/* ---- board ---- */

static const struct bo1_persona *persona_find(const struct bo1_persona *const *ps, size_t n,
                                              const char *code)
{
    for (size_t i = 0; code && i < n; i++)
        if (ps[i] && ps[i]->code && strcmp(ps[i]->code, code) == 0)
            return ps[i];
    return NULL;
}

double rules_tag_overlap(const struct bo1_persona *a, const struct bo1_persona *b)
{
    size_t common = 0;
    size_t smaller = a->n_tags < b->n_tags ? a->n_tags : b->n_tags;

    if (smaller == 0)
        return 0.0;
    for (size_t i = 0; i < a->n_tags; i++)
        for (size_t j = 0; j < b->n_tags; j++)
            if (strcasecmp(a->tags[i], b->tags[j]) == 0) {
                common++;
                break;
            }
    return (double)common / (double)smaller;
}

static int board_fits(const struct bo1_persona *const *ps, size_t n, const json_t *members,
                      const struct bo1_persona *p, const char **why)
{
    if (json_array_size(members) >= 5) {
        *why = "board_full";
        return 0;
    }
    for (size_t i = 0; i < json_array_size(members); i++) {
        const char *c = json_string_value(json_array_get(members, i));
        const struct bo1_persona *m = persona_find(ps, n, c);
        if (strcmp(c, p->code) == 0) {
            *why = "duplicate";
            return 0;
        }
        if (m && rules_tag_overlap(m, p) > 0.5) {
            *why = "expertise_overlap";
            return 0;
        }
    }
    return 1;
}

/* The fixed balanced trio: strategy, domain depth, practical operation. Each slot takes the
 * first visible persona of the first listed category that fits the diversity rule. */
static const char *const trio_slots[3][4] = {
    {"strategy", "leadership", "product", NULL},
    {"finance", "technology", "data", "legal"},
    {"operations", "sales", "customers", "marketing"},
};

static void board_fill(const struct bo1_persona *const *ps, size_t n, json_t *members)
{
    const char *why;

    for (size_t s = 0; s < 3 && json_array_size(members) < 3; s++)
        for (size_t c = 0; c < 4 && trio_slots[s][c]; c++) {
            int took = 0;
            for (size_t i = 0; i < n && !took; i++) {
                const struct bo1_persona *p = ps[i];
                if (!p || p->hidden || !p->category || strcasecmp(p->category, trio_slots[s][c]))
                    continue;
                if (board_fits(ps, n, members, p, &why)) {
                    json_array_append_new(members, json_string(p->code));
                    took = 1;
                }
            }
            if (took)
                break;
        }
    /* A catalog without those categories still yields a board. */
    for (size_t i = 0; i < n && json_array_size(members) < 3; i++)
        if (ps[i] && !ps[i]->hidden && board_fits(ps, n, members, ps[i], &why))
            json_array_append_new(members, json_string(ps[i]->code));
}

json_t *rules_board(const struct bo1_persona *const *personas, size_t n, const json_t *proposed,
                    int user_list)
{
    json_t *members = json_array();
    json_t *dropped = json_array();
    int fallback = 0;

    for (size_t i = 0; json_is_array(proposed) && i < json_array_size(proposed); i++) {
        const char *code = json_string_value(json_array_get(proposed, i));
        const struct bo1_persona *p = persona_find(personas, n, code);
        const char *why = NULL;
        if (!p || p->hidden)
            why = "unknown_code";
        else
            board_fits(personas, n, members, p, &why);
        if (why)
            json_array_append_new(dropped,
                                  json_pack("{s:s, s:s}", "code", code ? code : "", "reason", why));
        else
            json_array_append_new(members, json_string(p->code));
    }
    if (json_array_size(members) < 3) {
        if (!user_list) {
            /* The model's choice is unusable: the fixed trio replaces it entirely. */
            json_array_clear(members);
            fallback = 1;
        }
        board_fill(personas, n, members);
    }
    return json_pack("{s:o, s:o, s:b, s:b}", "members", members, "dropped", dropped, "fallback",
                     fallback, "user_list", user_list);
}

/* ---- votes ---- */

static void norm_words(const char *s, char *out, size_t cap)
{
    size_t k = 0;
    int space = 1;

    for (; s && *s && k + 1 < cap; s++) {
        unsigned char c = (unsigned char)*s;
        if (isalnum(c)) {
            out[k++] = (char)tolower(c);
            space = 0;
        } else if (!space) {
            out[k++] = ' ';
            space = 1;
        }
    }
    while (k > 0 && out[k - 1] == ' ')
        k--;
    out[k] = '\0';
}

/* Word-set Jaccard similarity of two normalised strings. */
static double jaccard(const char *a, const char *b)
{
    char wa[64][32], wb[64][32];
    size_t na = 0, nb = 0, common = 0;
    const char *p;

    for (p = a; *p && na < 64;) {
        size_t l = strcspn(p, " ");
        if (l && l < 32) {
            memcpy(wa[na], p, l);
            wa[na++][l] = 0;
        }
        p += l;
        p += strspn(p, " ");
    }
    for (p = b; *p && nb < 64;) {
        size_t l = strcspn(p, " ");
        if (l && l < 32) {
            memcpy(wb[nb], p, l);
            wb[nb++][l] = 0;
        }
        p += l;
        p += strspn(p, " ");
    }
    if (na == 0 && nb == 0)
        return 1.0;
    for (size_t i = 0; i < na; i++)
        for (size_t j = 0; j < nb; j++)
            if (strcmp(wa[i], wb[j]) == 0) {
                common++;
                break;
            }
    return (double)common / (double)(na + nb - common);
}

json_t *rules_aggregate(const json_t *votes, int one_way_door_option,
                        const struct bo1_engine_config *cfg)
{
    size_t n = json_array_size(votes);
    json_t *options = json_array(); /* [{recommendation, key, members:[], count, weight}] */
    json_t *abstained = json_array();
    json_t *dissenters = json_array();
    double cmin = 1.0, cmax = 0.0, csum = 0.0;
    size_t valid = 0, irreversible = 0;
    json_t *res = NULL;

    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(votes, i);
        const char *who = jstr(v, "persona", "");
        const char *rec = jstr(v, "recommendation", "");
        double c = jnum(v, "confidence", 0.5);
        char key[1024];
        json_t *opt = NULL;

        if (jbool(v, "failed", 0) || !*rec) {
            json_array_append_new(abstained, json_string(who));
            continue;
        }
        valid++;
        if (c < cmin)
            cmin = c;
        if (c > cmax)
            cmax = c;
        csum += c;
        if (!jbool(v, "reversible", 1))
            irreversible++;
        norm_words(rec, key, sizeof(key));
        /* Same recommendation = same words, or mostly the same words (Jaccard >= 0.6). */
        for (size_t k = 0; k < json_array_size(options) && !opt; k++) {
            json_t *o = json_array_get(options, k);
            if (jaccard(key, jstr(o, "key", "")) >= 0.6)
                opt = o;
        }
        if (!opt) {
            opt = json_pack("{s:s, s:s, s:[], s:i, s:f}", "recommendation", rec, "key", key,
                            "members", "count", 0, "weight", 0.0);
            json_array_append_new(options, opt);
        }
        json_array_append_new(json_object_get(opt, "members"), json_string(who));
        json_object_set_new(opt, "count", json_integer(jint(opt, "count", 0) + 1));
        json_object_set_new(opt, "weight", json_real(jnum(opt, "weight", 0) + c));
    }

    int weighted = valid > 1 && (cmax - cmin) >= cfg->confidence_spread;
    int one_way = one_way_door_option || (valid > 0 && irreversible * 2 > valid);
    double total_w = 0;
    size_t best = 0;
    for (size_t k = 0; k < json_array_size(options); k++)
        total_w += jnum(json_array_get(options, k), "weight", 0);
    for (size_t k = 1; k < json_array_size(options); k++) {
        const json_t *o = json_array_get(options, k), *b = json_array_get(options, best);
        double so = weighted ? jnum(o, "weight", 0) : jint(o, "count", 0);
        double sb = weighted ? jnum(b, "weight", 0) : jint(b, "count", 0);
        /* Ties go to the higher summed confidence, then to the earlier option. */
        if (so > sb || (so == sb && jnum(o, "weight", 0) > jnum(b, "weight", 0)))
            best = k;
    }
    const json_t *win = json_array_get(options, best);
    double share = 0;
    if (win)
        share = weighted ? (total_w > 0 ? jnum(win, "weight", 0) / total_w : 0)
                         : (double)jint(win, "count", 0) / (double)valid;
    double count_share = win && valid ? (double)jint(win, "count", 0) / (double)valid : 0;
    double dissent = win ? 1.0 - count_share : 1.0;
    double mean_c = valid ? csum / (double)valid : 0;
    const char *outcome = win ? jstr(win, "recommendation", "") : "";
    const char *method = weighted ? "confidence_weighted" : "majority";
    int deferred = 0;

    if (!win) {
        outcome = "defer / gather more information";
        method = "no_valid_votes";
        deferred = 1;
    } else if (one_way && share < cfg->one_way_door_share) {
        outcome = "defer / gather more information";
        method = "one_way_door_supermajority_not_reached";
        deferred = 1;
    } else if (!weighted && (size_t)jint(win, "count", 0) * 2 <= valid &&
               json_array_size(options) > 1) {
        /* A plurality, not a majority: still the board's leading view, said plainly. */
        method = "plurality";
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *v = json_array_get(votes, i);
        const char *who = jstr(v, "persona", "");
        int in_win = 0;
        if (jbool(v, "failed", 0) || !*jstr(v, "recommendation", ""))
            continue;
        for (size_t k = 0; win && k < json_array_size(json_object_get(win, "members")); k++)
            if (!strcmp(json_string_value(json_array_get(json_object_get(win, "members"), k)), who))
                in_win = 1;
        if (!in_win)
            json_array_append_new(dissenters, json_string(who));
    }
    int commit = valid > 0 && (dissent >= cfg->dissent_commit || mean_c < cfg->confidence_commit);
    json_t *split = json_array();
    for (size_t k = 0; k < json_array_size(options); k++) {
        const json_t *o = json_array_get(options, k);
        json_array_append_new(split,
                              json_pack("{s:s, s:i, s:f, s:O}", "recommendation",
                                        jstr(o, "recommendation", ""), "votes", jint(o, "count", 0),
                                        "confidence_sum", jnum(o, "weight", 0), "members",
                                        json_object_get(o, "members")));
    }
    res = json_pack("{s:s, s:s, s:b, s:b, s:f, s:f, s:f, s:f, s:f, s:i, s:o, s:o, s:o, s:b}",
                    "outcome", outcome, "method", method, "deferred", deferred, "one_way_door",
                    one_way, "winning_share", share, "dissent_share", dissent, "mean_confidence",
                    mean_c, "confidence_min", valid ? cmin : 0.0, "confidence_max",
                    valid ? cmax : 0.0, "valid_votes", (int)valid, "split", split, "dissenters",
                    dissenters, "abstained", abstained, "disagree_and_commit", commit);
    /* The threshold that applied, so a report never has to assume the design default. */
    json_object_set_new(res, "one_way_door_share", json_real(cfg->one_way_door_share));
    json_decref(options);
    return res;
}

/* ---- local embedding ---- */

static uint32_t fnv1a(const char *s, size_t n)
{
    uint32_t h = 2166136261u;

    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)s[i];
        h *= 16777619u;
    }
    return h;
}

void rules_embed_local(const char *text, float *out, size_t dim)
{
    char norm[8192];
    size_t len;
    double sq = 0;

    memset(out, 0, dim * sizeof(*out));
    norm_words(text, norm, sizeof(norm));
    len = strlen(norm);
    for (const char *p = norm; *p;) {
        size_t l = strcspn(p, " ");
        if (l > 2) { /* short words carry little meaning */
            uint32_t h = fnv1a(p, l);
            out[h % dim] += (h & 0x80000000u) ? -1.0f : 1.0f;
        }
        p += l;
        p += strspn(p, " ");
    }
    for (size_t i = 0; i + 3 <= len; i++) {
        uint32_t h = fnv1a(norm + i, 3) * 2654435761u;
        out[h % dim] += (h & 1u) ? -0.25f : 0.25f;
    }
    for (size_t i = 0; i < dim; i++)
        sq += (double)out[i] * out[i];
    if (sq > 0) {
        float inv = (float)(1.0 / sqrt(sq));
        for (size_t i = 0; i < dim; i++)
            out[i] *= inv;
    }
}
