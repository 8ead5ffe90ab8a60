/* answers.c - deterministic answers for each MODEL_IO task, and hashed n-gram embeddings.
 *
 * Everything here is a pure function of (seed, task, prompt text): no shared state, so the
 * HTTP threads call it without the lock. Debates converge because, as <round>N</round>
 * grows, each speaker draws more sentences from a pool shared by every speaker of the
 * same problem (seeded by seed+problem only) and fewer from its own pool. */
#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bo1/buf.h"
#include "fake_internal.h"

uint64_t fake_hash(uint64_t h, const void *p, size_t len)
{
    const unsigned char *b = p;

    for (size_t i = 0; i < len; i++) {
        h ^= b[i];
        h *= 1099511628211ULL;
    }
    return h;
}

uint64_t fake_hash_str(uint64_t h, const char *s)
{
    return fake_hash(h, s ? s : "", s ? strlen(s) : 0);
}

uint64_t fake_rand_next(uint64_t *state)
{
    uint64_t z = (*state += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

double fake_rand_unit(uint64_t *state)
{
    return (double)(fake_rand_next(state) >> 11) / 9007199254740992.0;
}

static size_t pick(uint64_t *rng, size_t n)
{
    return n ? (size_t)(fake_rand_next(rng) % n) : 0;
}

#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ---- reading the prompt ---- */

struct prompt_info {
    int round;
    int subproblems; /* -1 = no marker */
    int clarify;
    int rounds;           /* [fake:rounds=N]: the round the facilitator calls a vote */
    char speaker[64];     /* from <speaker code=...>, <voter code=...> or <persona_identity> */
    char sub_problem[64]; /* <sub_problem id="..."> */
    int vote_allowed;     /* <limits vote_allowed="false"> makes it 0 */
    int max_rounds;       /* <limits max_rounds="N">, 0 = unknown */
    int research_left, clarify_left;                /* <limits ...>, -1 = unknown */
    int moderator_round, research_round, ask_round; /* [fake:moderator=R] ... 0 = none */
    char problem[1024];                             /* raw (escaped) problem text, shortened */
    char topic[8][32];                              /* content words of the problem */
    size_t n_topic;
    char candidates[24][64]; /* <persona code="..."> in order */
    size_t n_candidates;
};

static int marker_int(const char *prompt, const char *name, int dflt)
{
    char pat[64];
    const char *p;

    snprintf(pat, sizeof(pat), "[fake:%s=", name);
    p = strstr(prompt, pat);
    if (!p)
        return dflt;
    return atoi(p + strlen(pat));
}

/* Copy the value of attribute code=... that starts at @p into @out. */
static void read_code(const char *p, char *out, size_t n)
{
    char quote = 0;
    size_t i = 0;

    while (*p == ' ')
        p++;
    if (*p == '"' || *p == '\'')
        quote = *p++;
    while (*p && i + 1 < n) {
        if (quote ? *p == quote : (*p == ' ' || *p == '>' || *p == '/'))
            break;
        out[i++] = *p++;
    }
    out[i] = '\0';
}

static int is_stopword(const char *w)
{
    static const char *const stop[] = {
        "should", "would",   "could",    "their",  "there",  "these",    "those",       "about",
        "which",  "while",   "where",    "what",   "when",   "with",     "from",        "into",
        "that",   "this",    "have",     "been",   "will",   "your",     "ours",        "they",
        "them",   "then",    "than",     "also",   "some",   "more",     "most",        "very",
        "just",   "over",    "only",     "does",   "make",   "like",     "want",        "need",
        "each",   "other",   "after",    "before", "being",  "fake",     "subproblems", "clarify",
        "rounds", "quot",    "amp",      "expand", "launch", "open",     "build",       "hire",
        "sell",   "move",    "enter",    "start",  "adopt",  "invest",   "raise",       "switch",
        "create", "acquire", "increase", "reduce", "change", "consider", "pursue",      "second",
        "first",  "next",    "year",     "years",
    };
    for (size_t i = 0; i < COUNT(stop); i++)
        if (strcmp(w, stop[i]) == 0)
            return 1;
    return 0;
}

static void read_prompt(const char *prompt, struct prompt_info *pi)
{
    const char *p;

    memset(pi, 0, sizeof(*pi));
    p = strstr(prompt, "<round>");
    pi->round = p ? atoi(p + 7) : 1;
    if (pi->round < 1)
        pi->round = 1;
    pi->subproblems = marker_int(prompt, "subproblems", -1);
    pi->clarify = marker_int(prompt, "clarify", 0);
    pi->rounds = marker_int(prompt, "rounds", 3);
    pi->moderator_round = marker_int(prompt, "moderator", 0);
    pi->research_round = marker_int(prompt, "research", 0);
    pi->ask_round = marker_int(prompt, "ask", 0);
    p = strstr(prompt, "<speaker code=");
    if (p) {
        read_code(p + 14, pi->speaker, sizeof(pi->speaker));
    } else {
        const char *v = strstr(prompt, "<voter code=");
        const char *id = strstr(prompt, "<persona_identity code=");
        if (v)
            read_code(v + 12, pi->speaker, sizeof(pi->speaker));
        else if (id)
            read_code(id + 23, pi->speaker, sizeof(pi->speaker));
    }
    p = strstr(prompt, "<sub_problem id=");
    if (p)
        read_code(p + 16, pi->sub_problem, sizeof(pi->sub_problem));
    pi->vote_allowed = 1;
    pi->research_left = pi->clarify_left = -1;
    p = strstr(prompt, "<limits");
    if (p) {
        const char *end = strchr(p, '>');
        const char *a;
        char val[16];
        a = strstr(p, "vote_allowed=");
        if (a && (!end || a < end)) {
            read_code(a + 13, val, sizeof(val));
            pi->vote_allowed = strcmp(val, "false") != 0 && strcmp(val, "0") != 0;
        }
        a = strstr(p, "max_rounds=");
        if (a && (!end || a < end)) {
            read_code(a + 11, val, sizeof(val));
            pi->max_rounds = atoi(val);
        }
        a = strstr(p, "research_left=");
        if (a && (!end || a < end)) {
            read_code(a + 14, val, sizeof(val));
            pi->research_left = atoi(val);
        }
        a = strstr(p, "clarify_left=");
        if (a && (!end || a < end)) {
            read_code(a + 13, val, sizeof(val));
            pi->clarify_left = atoi(val);
        }
    }
    for (p = strstr(prompt, "<persona code="); p && pi->n_candidates < COUNT(pi->candidates);
         p = strstr(p + 1, "<persona code=")) {
        char code[64];
        int dup = 0;
        read_code(p + 14, code, sizeof(code));
        for (size_t i = 0; i < pi->n_candidates; i++)
            dup |= strcmp(pi->candidates[i], code) == 0;
        if (code[0] && !dup)
            snprintf(pi->candidates[pi->n_candidates++], sizeof(pi->candidates[0]), "%s", code);
    }
    p = strstr(prompt, "<problem>");
    if (p) {
        const char *end = strstr(p, "</problem>");
        size_t len = end ? (size_t)(end - p - 9) : strlen(p + 9);
        if (len >= sizeof(pi->problem))
            len = sizeof(pi->problem) - 1;
        memcpy(pi->problem, p + 9, len);
        pi->problem[len] = '\0';
    } else {
        /* No tagged problem: the last 300 bytes of the prompt stand in for it. */
        size_t len = strlen(prompt);
        const char *s = len > 300 ? prompt + len - 300 : prompt;
        snprintf(pi->problem, sizeof(pi->problem), "%s", s);
    }
    /* Content words of the problem give the answers their topic. */
    for (p = pi->problem; *p && pi->n_topic < COUNT(pi->topic);) {
        char w[32];
        size_t n = 0;
        int dup = 0;
        if (*p == '[') { /* skip [fake:...] markers */
            const char *e = strchr(p, ']');
            p = e ? e + 1 : p + 1;
            continue;
        }
        if (*p == '&') { /* skip escaped entities */
            const char *e = strchr(p, ';');
            p = e && e - p < 8 ? e + 1 : p + 1;
            continue;
        }
        if (!isalpha((unsigned char)*p)) {
            p++;
            continue;
        }
        while (isalpha((unsigned char)*p)) {
            if (n + 1 < sizeof(w))
                w[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[n] = '\0';
        if (n < 4 || is_stopword(w))
            continue;
        for (size_t i = 0; i < pi->n_topic; i++)
            dup |= strcmp(pi->topic[i], w) == 0;
        if (!dup)
            snprintf(pi->topic[pi->n_topic++], sizeof(pi->topic[0]), "%s", w);
    }
    if (pi->n_topic == 0)
        snprintf(pi->topic[pi->n_topic++], sizeof(pi->topic[0]), "proposal");
    /* Longer words are more often the nouns that name the subject: put them first
     * (insertion sort, stable for equal lengths). */
    for (size_t i = 1; i < pi->n_topic; i++) {
        char tmp[32];
        size_t j = i;
        memcpy(tmp, pi->topic[i], sizeof(tmp));
        while (j > 0 && strlen(pi->topic[j - 1]) < strlen(tmp)) {
            memcpy(pi->topic[j], pi->topic[j - 1], sizeof(tmp));
            j--;
        }
        memcpy(pi->topic[j], tmp, sizeof(tmp));
    }
}

static const char *topic(const struct prompt_info *pi, size_t i)
{
    return pi->topic[i % pi->n_topic];
}

/* ---- text templates ---- */

static const char *const angles[] = {
    "cost",       "risk",        "customer demand", "timeline",       "team capacity",
    "regulation", "competition", "cash flow",       "technical debt", "brand trust",
    "operations", "hiring",      "data quality",    "suppliers",      "long-term strategy",
};

/* %1$s = first topic word, %2$s = second topic word, %3$s = the speaker's angle. */
static const char *const personal_sentences[] = {
    "From the %3$s side, %1$s looks weaker than the enthusiasm around it suggests.",
    "I would want hard numbers on %3$s before anyone signs off on %1$s.",
    "My worry is that %2$s has been treated as settled when it is still an assumption.",
    "A cheap experiment on %1$s would tell us more than another month of debate.",
    "The %3$s exposure is real, but it is bounded if we keep the first step small.",
    "Past attempts at something like %1$s failed mostly on execution, not on the idea.",
    "If %2$s slips, the whole plan for %1$s slips with it, so that dependency needs an owner.",
    "I see a real upside in %1$s, provided %3$s is watched monthly.",
    "Competitors will react to %1$s, and we have not modelled what that does to %2$s.",
    "We should name the one metric that tells us %1$s is working within ninety days.",
    "The quiet cost here is attention: %1$s will pull people away from %2$s.",
    "Customers rarely ask for %1$s directly, yet they do complain about %2$s.",
    "I would rather stage %1$s than bet everything on a single launch.",
    "Look at %3$s first; it is where plans like this usually break.",
    "There is an option value in waiting, but it shrinks as %2$s moves.",
    "Our strongest evidence on %1$s is anecdotal, which is not nothing but is not enough.",
    "A reversible first step on %1$s lowers the stakes of being wrong.",
    "Funding %1$s means saying no to something else, and we should say what.",
    "My instinct says the %3$s question decides this more than %2$s does.",
    "If we do nothing, %2$s still changes around us, so inaction is a choice too.",
    "We can protect %3$s with a clear stop rule agreed in advance.",
    "The people closest to %2$s should review the plan before we commit.",
    "I am more optimistic about %1$s than the numbers alone justify, and I say so openly.",
    "A partner who already handles %2$s could cut the %3$s risk in half.",
};

/* Shared by every speaker of one problem: %1$s, %2$s topic words, %3$s the common option. */
static const char *const shared_sentences[] = {
    "We are converging on a plan to %3$s.",
    "A staged approach to %1$s keeps the downside small and the learning fast.",
    "Clear milestones on %2$s let us stop early if the evidence turns.",
    "The main risk is execution, and a named owner for %1$s addresses most of it.",
    "Everyone here seems to accept that %1$s needs a defined budget ceiling.",
    "I agree with the others that a ninety-day review of %1$s is the right checkpoint.",
    "Measuring %2$s from the first week gives us the evidence we keep asking for.",
    "The remaining disagreement is about pace, not direction.",
    "We should write down the conditions under which we would reverse on %1$s.",
    "Keeping %2$s stable while we test %1$s is the sensible order of work.",
    "A small pilot answers the open questions on %1$s better than more analysis.",
    "I can support this, provided the stop rule on %1$s is agreed in advance.",
};

static const char *const options[] = {
    "proceed with %s through a staged pilot and a ninety-day review",
    "proceed with %s now, with a fixed budget ceiling and monthly milestones",
    "defer %s for one quarter while gathering customer evidence",
    "pursue %s with a partner to share cost and risk",
};

static void add_fmt3(struct bo1_buf *b, const char *fmt, const char *a, const char *c,
                     const char *d)
{
    /* Templates use positional %1$s..%3$s; snprintf requires every argument referenced
     * in order, so substitute by hand. */
    for (const char *p = fmt; *p; p++) {
        if (p[0] == '%' && p[1] >= '1' && p[1] <= '3' && p[2] == '$' && p[3] == 's') {
            bo1_buf_puts(b, p[1] == '1' ? a : p[1] == '2' ? c : d);
            p += 3;
        } else {
            bo1_buf_append(b, p, 1);
        }
    }
}

/* Copy template @tmpl into @out, replacing its one "%s" with @arg (templates are data,
 * so they do not go through printf). */
static void fill1(char *out, size_t n, const char *tmpl, const char *arg)
{
    size_t o = 0;

    for (const char *p = tmpl; *p && o + 1 < n; p++) {
        if (p[0] == '%' && p[1] == 's') {
            for (const char *a = arg; *a && o + 1 < n; a++)
                out[o++] = *a;
            p++;
        } else {
            out[o++] = *p;
        }
    }
    out[o] = '\0';
}

static size_t count_words(const char *s)
{
    size_t n = 0;
    int in = 0;

    for (; *s; s++) {
        if (isspace((unsigned char)*s)) {
            in = 0;
        } else if (!in) {
            in = 1;
            n++;
        }
    }
    return n;
}

static void option_text(char *out, size_t n, size_t idx, const struct prompt_info *pi)
{
    fill1(out, n, options[idx % COUNT(options)], topic(pi, 0));
}

static uint64_t problem_hash(uint64_t seed, const struct prompt_info *pi)
{
    uint64_t h = fake_hash(FAKE_HASH_INIT, &seed, sizeof(seed));

    return fake_hash_str(fake_hash_str(h, pi->problem), pi->sub_problem);
}

static size_t consensus_option(uint64_t seed, const struct prompt_info *pi)
{
    uint64_t rng = problem_hash(seed, pi) ^ 0x6f7074696f6eULL;

    return pick(&rng, COUNT(options));
}

/* ---- tasks ---- */

static char *dump(json_t *j)
{
    char *s = j ? json_dumps(j, JSON_COMPACT | JSON_ENSURE_ASCII | JSON_REAL_PRECISION(6)) : NULL;

    json_decref(j);
    return s;
}

static char *answer_contribute(uint64_t seed, uint64_t prompt_h, const struct prompt_info *pi,
                               const char *task)
{
    struct bo1_buf b;
    struct bo1_buf body;
    uint64_t own = problem_hash(seed, pi);
    uint64_t shared = own ^ 0x736861726564ULL;
    const char *angle;
    char opt[256];
    double p_shared = 0.15 + 0.25 * (pi->round - 1);
    size_t used_personal = 0;
    size_t shared_i = 0;
    size_t target;
    uint64_t rng;

    if (p_shared > 0.85)
        p_shared = 0.85;
    own = fake_hash_str(own, pi->speaker[0] ? pi->speaker : task);
    rng = own ^ prompt_h ^ (uint64_t)pi->round * 0x51ed27ULL;
    angle = angles[fake_hash(own, "angle", 5) % COUNT(angles)];
    option_text(opt, sizeof(opt), consensus_option(seed, pi), pi);
    target = 110 + pick(&rng, 70);

    bo1_buf_init(&body, 0);
    {
        /* Start the personal pool at a per-speaker offset so speakers differ. */
        size_t start = pick(&rng, COUNT(personal_sentences));
        size_t shared_start = (size_t)(shared % COUNT(shared_sentences));
        while (count_words(bo1_buf_str(&body)) < target) {
            int is_shared = fake_rand_unit(&rng) < p_shared && shared_i < COUNT(shared_sentences);
            const char *fmt;
            if (is_shared) {
                fmt = shared_sentences[(shared_start + shared_i++) % COUNT(shared_sentences)];
            } else {
                fmt = personal_sentences[(start + used_personal * 7) % COUNT(personal_sentences)];
                used_personal++;
            }
            if (body.len)
                bo1_buf_puts(&body, " ");
            add_fmt3(&body, fmt, topic(pi, 0), topic(pi, 1), is_shared ? opt : angle);
            if (used_personal + shared_i > 40)
                break;
        }
    }

    bo1_buf_init(&b, 0);
    bo1_buf_printf(&b,
                   "<thinking>Round %d. I am weighing %s against %s, and checking where the "
                   "others already agree.</thinking>\n<contribution>%s</contribution>\n"
                   "<summary>%s favours a plan to %s, watching %s.</summary>",
                   pi->round, topic(pi, 0), angle, bo1_buf_str(&body),
                   pi->speaker[0] ? pi->speaker : "The speaker", opt, angle);
    bo1_buf_fini(&body);
    return bo1_buf_take(&b);
}

static char *answer_facilitate(uint64_t seed, const struct prompt_info *pi)
{
    static const char *const moderators[] = {"contrarian", "skeptic", "optimist"};
    json_t *j = json_object();
    uint64_t rng = problem_hash(seed, pi) ^ (uint64_t)pi->round;
    char reason[256];
    char text[256];
    int vote_round = pi->rounds;

    if (pi->max_rounds > 0 && pi->max_rounds < vote_round)
        vote_round = pi->max_rounds;
    if (pi->round == pi->moderator_round) {
        snprintf(reason, sizeof(reason),
                 "The board agreed on %.60s quickly; a moderator should test that view.",
                 topic(pi, 0));
        json_object_set_new(j, "action", json_string("moderator"));
        json_object_set_new(j, "moderator", json_string(moderators[pick(&rng, 3)]));
    } else if (pi->round == pi->research_round && pi->research_left != 0) {
        snprintf(reason, sizeof(reason), "The board lacks background on %.60s.", topic(pi, 0));
        snprintf(text, sizeof(text), "What do comparable cases show about %.60s?", topic(pi, 0));
        json_object_set_new(j, "action", json_string("research"));
        json_object_set_new(j, "research_query", json_string(text));
    } else if (pi->round == pi->ask_round && pi->clarify_left != 0) {
        snprintf(reason, sizeof(reason), "Only the person can say how much %.60s matters.",
                 topic(pi, 1));
        snprintf(text, sizeof(text), "How important is %.60s to you compared with cost?",
                 topic(pi, 1));
        json_object_set_new(j, "action", json_string("clarify"));
        json_object_set_new(j, "question", json_string(text));
    } else if (pi->round >= vote_round && pi->vote_allowed) {
        snprintf(reason, sizeof(reason),
                 "After %d rounds the positions on %.60s have converged enough to vote.", pi->round,
                 topic(pi, 0));
        json_object_set_new(j, "action", json_string("vote"));
    } else {
        static const char *const why[] = {
            "The board has not yet tested the assumptions about %s.",
            "Views on %s are still spread; another round should narrow them.",
            "Important angles on %s have not been heard from everyone yet.",
        };
        fill1(reason, sizeof(reason), why[pick(&rng, COUNT(why))], topic(pi, 0));
        json_object_set_new(j, "action", json_string("continue"));
        snprintf(text, sizeof(text), "What does %.60s mean for %.60s?",
                 angles[pick(&rng, COUNT(angles))], topic(pi, 0));
        json_object_set_new(j, "focus", json_string(text));
    }
    json_object_set_new(j, "reason", json_string(reason));
    return dump(j);
}

static char *answer_vote(uint64_t seed, uint64_t prompt_h, const struct prompt_info *pi)
{
    json_t *j = json_object();
    json_t *cond = json_array();
    uint64_t voter = fake_hash_str(problem_hash(seed, pi), pi->speaker);
    uint64_t rng = voter ^ prompt_h;
    size_t opt = consensus_option(seed, pi);
    int dissent = fake_hash(voter, "dissent", 7) % 5 == 0;
    char text[256];
    char reasoning[640]; /* the format below can produce up to 563 bytes */

    if (dissent)
        opt = (opt + 1 + fake_hash(voter, "which", 5) % (COUNT(options) - 1)) % COUNT(options);
    option_text(text, sizeof(text), opt, pi);
    text[0] = (char)toupper((unsigned char)text[0]);
    snprintf(reasoning, sizeof(reasoning),
             "%.60s After the discussion, the %.60s risk around %.60s is the deciding factor "
             "for me. The strongest argument was that a reversible first step lets us learn "
             "about %.60s before committing fully, while a clear owner and a budget ceiling "
             "keep the downside bounded. %.80s",
             dissent ? "I see it differently from most of the board." : "I agree with the board.",
             angles[fake_hash(voter, "angle", 5) % COUNT(angles)], topic(pi, 0), topic(pi, 1),
             dissent ? "I would still rather take a different path than the majority."
                     : "I am comfortable with where the board has landed.");
    json_array_append_new(cond, json_string("A named owner and a budget ceiling"));
    if (pick(&rng, 2))
        json_array_append_new(cond, json_string("A review after ninety days with a stop rule"));
    json_object_set_new(j, "recommendation", json_string(text));
    json_object_set_new(j, "reasoning", json_string(reasoning));
    json_object_set_new(j, "confidence",
                        json_real(round((0.55 + 0.35 * fake_rand_unit(&rng)) * 100) / 100));
    json_object_set_new(j, "conditions", cond);
    json_object_set_new(j, "reversible", json_boolean(opt != 1));
    return dump(j);
}

static json_t *str_list(const char *const *items, size_t n)
{
    json_t *a = json_array();

    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_string(items[i]));
    return a;
}

static char *answer_summarize(uint64_t seed, const struct prompt_info *pi)
{
    json_t *j = json_object();
    json_t *agree = json_array();
    json_t *disagree = json_array();
    char opt[256];
    char line[512];
    int n_agree = pi->round < 3 ? pi->round : 3;
    int n_dis = 3 - n_agree;
    static const char *const agreements[] = {
        "A staged approach limits the downside",
        "Success needs a named owner and clear milestones",
        "A stop rule should be agreed in advance",
    };
    static const char *const disagreements[] = {
        "How fast to move",
        "How much budget to commit up front",
        "Whether to bring in a partner",
    };

    option_text(opt, sizeof(opt), consensus_option(seed, pi), pi);
    snprintf(line, sizeof(line), "In round %d the board moved towards a plan to %s.", pi->round,
             opt);
    for (int i = 0; i < n_agree; i++)
        json_array_append_new(agree, json_string(agreements[i]));
    for (int i = 0; i < n_dis; i++)
        json_array_append_new(disagree, json_string(disagreements[i]));
    if (n_dis == 0)
        json_array_append_new(disagree, json_string("Minor differences on pace remain"));
    json_object_set_new(j, "summary", json_string(line));
    json_object_set_new(j, "agreements", agree);
    json_object_set_new(j, "disagreements", disagree);
    snprintf(line, sizeof(line), "What evidence on %.60s would change the plan?", topic(pi, 1));
    json_object_set_new(j, "open_questions", str_list((const char *[]){line}, 1));
    return dump(j);
}

static char *answer_research(uint64_t seed, uint64_t prompt_h, const struct prompt_info *pi)
{
    static const char *const conf[] = {"low", "medium", "high"};
    json_t *j = json_object();
    uint64_t rng = problem_hash(seed, pi) ^ prompt_h;
    char text[512];

    snprintf(text, sizeof(text),
             "Comparable cases involving %.60s show mixed results: staged efforts succeed more "
             "often than all-at-once launches, and %.60s is the most common cause of failure.",
             topic(pi, 0), angles[pick(&rng, COUNT(angles))]);
    json_object_set_new(j, "findings", json_string(text));
    json_object_set_new(j, "confidence", json_string(conf[pick(&rng, 3)]));
    json_object_set_new(j, "caveats",
                        json_string("Simulated research from bo1-fake-llm; no sources consulted."));
    return dump(j);
}

static char *answer_synthesize(uint64_t seed, const struct prompt_info *pi, int final)
{
    json_t *j = json_object();
    char opt[256];
    char text[512];

    option_text(opt, sizeof(opt), consensus_option(seed, pi), pi);
    snprintf(text, sizeof(text), "The board recommends to %s.", opt);
    json_object_set_new(j, "executive_summary", json_string(text));
    opt[0] = (char)toupper((unsigned char)opt[0]);
    json_object_set_new(j, "recommendation", json_string(opt));
    snprintf(text, sizeof(text),
             "Most members judged that a controlled first step on %.60s balances upside and %.60s.",
             topic(pi, 0), topic(pi, 1));
    json_object_set_new(j, "rationale", json_string(text));
    json_object_set_new(j, "vote_breakdown",
                        json_string("Most members in favour, one dissenting on pace."));
    json_object_set_new(j, "dissent",
                        str_list((const char *[]){"One member preferred a different pace."}, 1));
    json_object_set_new(j, "risks",
                        str_list((const char *[]){"Execution slips without a clear owner",
                                                  "Costs exceed the agreed ceiling"},
                                 2));
    json_object_set_new(j, "conditions",
                        str_list((const char *[]){"Budget ceiling", "Ninety-day review"}, 2));
    json_object_set_new(j, "implementation_steps",
                        str_list((const char *[]){"Name an owner", "Define the pilot",
                                                  "Review the results after ninety days"},
                                 3));
    json_object_set_new(j, "confidence", json_string("medium"));
    snprintf(text, sizeof(text), "How will %.60s respond to the first results?", topic(pi, 1));
    json_object_set_new(j, "open_questions", str_list((const char *[]){text}, 1));
    if (final) {
        json_object_set_new(
            j, "conflicts",
            str_list((const char *[]){"Sub-problems compete for the same budget"}, 1));
        json_object_set_new(j, "roadmap",
                            str_list((const char *[]){"Month 1: pilot", "Month 3: review",
                                                      "Month 6: scale or stop"},
                                     3));
    }
    return dump(j);
}

static char *answer_select(uint64_t seed, const struct prompt_info *pi)
{
    json_t *j = json_object();
    json_t *list = json_array();
    uint64_t rng = problem_hash(seed, pi) ^ 0x73656c656374ULL;
    size_t order[COUNT(pi->candidates)];
    size_t n = pi->n_candidates;
    size_t k = 3 + pick(&rng, 3);
    char text[256];

    for (size_t i = 0; i < n; i++)
        order[i] = i;
    for (size_t i = n; i > 1; i--) { /* Fisher-Yates, deterministic */
        size_t r = pick(&rng, i);
        size_t t = order[i - 1];
        order[i - 1] = order[r];
        order[r] = t;
    }
    if (k > n)
        k = n;
    for (size_t i = 0; i < k; i++) {
        json_t *p = json_object();
        snprintf(text, sizeof(text), "Brings the %.60s perspective on %.60s.",
                 angles[pick(&rng, COUNT(angles))], topic(pi, 0));
        json_object_set_new(p, "code", json_string(pi->candidates[order[i]]));
        json_object_set_new(p, "rationale", json_string(text));
        json_array_append_new(list, p);
    }
    json_object_set_new(j, "personas", list);
    snprintf(text, sizeof(text), "Covers strategy, %.60s and execution for %.60s.",
             angles[pick(&rng, COUNT(angles))], topic(pi, 0));
    json_object_set_new(j, "coverage", json_string(text));
    return dump(j);
}

static char *answer_clarify(const struct prompt_info *pi)
{
    static const char *const qs[][2] = {
        {"What budget is available for %s?", "The options differ mostly in cost."},
        {"By when must a decision on %s be made?", "Timing changes which options are open."},
        {"Who will own %s day to day?", "Execution risk depends on the owner."},
    };
    json_t *j = json_object();
    json_t *list = json_array();
    int n = pi->clarify < 0 ? 0 : pi->clarify > 3 ? 3 : pi->clarify;

    for (int i = 0; i < n; i++) {
        json_t *q = json_object();
        char id[16];
        char text[256];
        snprintf(id, sizeof(id), "q%d", i + 1);
        fill1(text, sizeof(text), qs[i][0], topic(pi, 0));
        json_object_set_new(q, "id", json_string(id));
        json_object_set_new(q, "question", json_string(text));
        json_object_set_new(q, "why", json_string(qs[i][1]));
        json_array_append_new(list, q);
    }
    json_object_set_new(j, "questions", list);
    return dump(j);
}

static char *answer_decompose(uint64_t seed, const struct prompt_info *pi)
{
    static const char *const goals[] = {
        "Establish the facts and constraints around %s", "Decide the approach to %s",
        "Plan the resources and budget for %s",          "Assess the risks of %s",
        "Define how success on %s will be measured",
    };
    json_t *j = json_object();
    json_t *list = json_array();
    uint64_t rng = problem_hash(seed, pi) ^ 0x6465636f6d70ULL;
    int n = pi->subproblems < 1 ? 1 : pi->subproblems > 5 ? 5 : pi->subproblems;
    char text[512];

    snprintf(text, sizeof(text), "The problem about %.60s %.60s.", topic(pi, 0),
             n == 1 ? "can be decided as a whole"
                    : "splits into parts that can be decided in turn");
    json_object_set_new(j, "analysis", json_string(text));
    json_object_set_new(j, "is_atomic", json_boolean(n == 1));
    for (int i = 0; i < n; i++) {
        json_t *sp = json_object();
        json_t *deps = json_array();
        char id[16];
        snprintf(id, sizeof(id), "sp%d", i + 1);
        json_object_set_new(sp, "id", json_string(id));
        if (n == 1)
            snprintf(text, sizeof(text), "Decide on %.60s", topic(pi, 0));
        else
            fill1(text, sizeof(text), goals[i], topic(pi, (size_t)i));
        json_object_set_new(sp, "goal", json_string(text));
        snprintf(text, sizeof(text), "Part %d of %d of the question about %.60s.", i + 1, n,
                 topic(pi, 0));
        json_object_set_new(sp, "context", json_string(text));
        json_object_set_new(sp, "complexity", json_integer(3 + (json_int_t)pick(&rng, 6)));
        if (n > 1 && i == n - 1)
            json_array_append_new(deps, json_string("sp1"));
        json_object_set_new(sp, "dependencies", deps);
        json_array_append_new(list, sp);
    }
    json_object_set_new(j, "sub_problems", list);
    return dump(j);
}

char *fake_answer_generate(uint64_t seed, const char *task, const char *prompt)
{
    struct prompt_info pi;
    uint64_t prompt_h;
    char *out = NULL;

    read_prompt(prompt, &pi);
    prompt_h = fake_hash_str(fake_hash(FAKE_HASH_INIT, &seed, sizeof(seed)), prompt);
    if (!task)
        task = "";
    if (strcmp(task, "contribute") == 0 || strcmp(task, "moderate") == 0)
        out = answer_contribute(seed, prompt_h, &pi, task);
    else if (strcmp(task, "facilitate") == 0)
        out = answer_facilitate(seed, &pi);
    else if (strcmp(task, "vote") == 0)
        out = answer_vote(seed, prompt_h, &pi);
    else if (strcmp(task, "summarize") == 0)
        out = answer_summarize(seed, &pi);
    else if (strcmp(task, "research") == 0)
        out = answer_research(seed, prompt_h, &pi);
    else if (strcmp(task, "synthesize") == 0)
        out = answer_synthesize(seed, &pi, 0);
    else if (strcmp(task, "synthesize_final") == 0)
        out = answer_synthesize(seed, &pi, 1);
    else if (strcmp(task, "select") == 0)
        out = answer_select(seed, &pi);
    else if (strcmp(task, "clarify") == 0)
        out = answer_clarify(&pi);
    else if (strcmp(task, "decompose") == 0)
        out = answer_decompose(seed, &pi);
    if (!out) {
        static const char *const generic[] = {
            "Here is a short simulated answer about %s.",
            "A brief simulated reply concerning %s.",
            "Simulated model output on the subject of %s.",
            "This fake answer touches on %s.",
        };
        char text[256];
        fill1(text, sizeof(text), generic[prompt_h % COUNT(generic)], topic(&pi, 0));
        out = strdup(text);
    }
    return out;
}

/* ---- embeddings ---- */

static void feature(float *out, size_t dim, uint64_t h, float w)
{
    out[(h >> 1) % dim] += (h & 1) ? w : -w;
}

void fake_embed(const char *text, float *out, size_t dim)
{
    char prev[64] = "";
    double norm = 0;
    const char *p = text ? text : "";

    memset(out, 0, dim * sizeof(*out));
    while (*p) {
        char w[64];
        size_t n = 0;
        char padded[70];
        if (!isalnum((unsigned char)*p)) {
            p++;
            continue;
        }
        while (*p && (isalnum((unsigned char)*p) || (unsigned char)*p >= 0x80)) {
            if (n + 1 < sizeof(w))
                w[n++] = (char)tolower((unsigned char)*p);
            p++;
        }
        w[n] = '\0';
        feature(out, dim, fake_hash_str(fake_hash_str(FAKE_HASH_INIT, "w:"), w), 1.0f);
        if (prev[0]) {
            uint64_t h = fake_hash_str(fake_hash_str(FAKE_HASH_INIT, "b:"), prev);
            feature(out, dim, fake_hash_str(fake_hash(h, " ", 1), w), 0.7f);
        }
        snprintf(padded, sizeof(padded), " %s ", w);
        for (size_t i = 0; i + 3 <= strlen(padded); i++)
            feature(out, dim, fake_hash(fake_hash_str(FAKE_HASH_INIT, "c:"), padded + i, 3), 0.3f);
        snprintf(prev, sizeof(prev), "%s", w);
    }
    for (size_t i = 0; i < dim; i++)
        norm += (double)out[i] * out[i];
    if (norm == 0) {
        out[0] = 1.0f;
        return;
    }
    norm = sqrt(norm);
    for (size_t i = 0; i < dim; i++)
        out[i] = (float)(out[i] / norm);
}
