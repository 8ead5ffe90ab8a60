/* prompt/escape.c - turning user text into inert data inside XML-tagged prompts.
 *
 * Escaping & < > " is enough: with them gone a value can neither close the tag that fences
 * it nor open a tag of its own, and a quoted attribute value cannot end early. */
#include <stdlib.h>
#include <string.h>

#include "bo1/prompt.h"

static enum bo1_status put_escaped(struct bo1_buf *b, const char *s)
{
    enum bo1_status st = BO1_OK;
    const char *run = s;

    /* Copy runs of ordinary bytes at once; most text has nothing to escape. */
    for (; *s; s++) {
        const char *rep = NULL;

        switch (*s) {
        case '&':
            rep = "&amp;";
            break;
        case '<':
            rep = "&lt;";
            break;
        case '>':
            rep = "&gt;";
            break;
        case '"':
            rep = "&quot;";
            break;
        default:
            continue;
        }
        st = bo1_buf_append(b, run, (size_t)(s - run));
        if (st == BO1_OK)
            st = bo1_buf_puts(b, rep);
        if (st != BO1_OK)
            return st;
        run = s + 1;
    }
    return bo1_buf_append(b, run, (size_t)(s - run));
}

static int is_tag_name(const char *s)
{
    if (!s || !((*s >= 'a' && *s <= 'z') || *s == '_'))
        return 0;
    for (; *s; s++) {
        if (!((*s >= 'a' && *s <= 'z') || (*s >= '0' && *s <= '9') || *s == '_' || *s == '-'))
            return 0;
    }
    return 1;
}

char *bo1_prompt_escape(const char *text)
{
    struct bo1_buf b;
    char *s = NULL;

    bo1_buf_init(&b, 0);
    if (put_escaped(&b, text ? text : "") == BO1_OK)
        s = bo1_buf_take(&b);
    bo1_buf_fini(&b);
    return s;
}

char *bo1_prompt_fence(const char *tag, const char *user_text)
{
    struct bo1_buf b;
    char *s = NULL;

    if (!is_tag_name(tag))
        return NULL;
    bo1_buf_init(&b, 0);
    if (bo1_buf_printf(&b, "<%s>", tag) != BO1_OK)
        goto out;
    if (put_escaped(&b, user_text ? user_text : "") != BO1_OK)
        goto out;
    if (bo1_buf_printf(&b, "</%s>", tag) != BO1_OK)
        goto out;
    s = bo1_buf_take(&b);
out:
    bo1_buf_fini(&b);
    return s;
}

enum bo1_status bo1_prompt_append_element(struct bo1_buf *b, const char *tag,
                                          const char *const *attrs, const char *text)
{
    enum bo1_status st;

    if (!is_tag_name(tag))
        return BO1_BAD_FIELD;
    for (size_t i = 0; attrs && attrs[i]; i += 2) {
        if (!is_tag_name(attrs[i]) || !attrs[i + 1])
            return BO1_BAD_FIELD;
    }
    st = bo1_buf_printf(b, "<%s", tag);
    for (size_t i = 0; attrs && attrs[i] && st == BO1_OK; i += 2) {
        st = bo1_buf_printf(b, " %s=\"", attrs[i]);
        if (st == BO1_OK)
            st = put_escaped(b, attrs[i + 1]);
        if (st == BO1_OK)
            st = bo1_buf_puts(b, "\"");
    }
    if (st == BO1_OK)
        st = bo1_buf_puts(b, ">");
    if (st == BO1_OK)
        st = put_escaped(b, text ? text : "");
    if (st == BO1_OK)
        st = bo1_buf_printf(b, "</%s>\n", tag);
    return st;
}

const char *bo1_prompt_phase(unsigned round)
{
    if (round <= 2)
        return "explore";
    if (round <= 4)
        return "challenge";
    return "converge";
}
