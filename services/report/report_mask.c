/*  report_mask.c — phone numbers masked for every reader but the export
    role. Free text is searched with one POSIX regular expression (mobile
    or landline, standing alone); person fields also lose every long run
    of digits, whatever stands around it. */
#include "report_mask.h"

#include <pthread.h>
#include <regex.h>
#include <stdlib.h>
#include <string.h>

#define PERSON_DIGITS_MIN 7         //  a run this long in a person field is masked
#define KEPT_TAIL 4                 //  digits left at the end (138****0000)
#define MASKED 4                    //  digits masked before them

//  A mainland mobile (optionally +86 / 0086, 3-4-4 groups) or a landline
//  with its area code. Boundaries are checked by hand (POSIX has no \b).
static const char *s_pattern =
    "(\\+?(00)?86[- ]?)?1[3-9][0-9]([- ]?[0-9]{4}){2}"
    "|0[1-9][0-9]{1,2}-?[0-9]{7,8}";

static regex_t s_regex;
static int s_regex_rc = -1;
static pthread_once_t s_once = PTHREAD_ONCE_INIT;

static void
s_compile (void)
{
    s_regex_rc = regcomp (&s_regex, s_pattern, REG_EXTENDED);
}

static bool
s_alnum (char c)
{
    return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
s_digit (char c)
{
    return c >= '0' && c <= '9';
}

//  Mask the digits of text [from, to): the MASKED digits before the last
//  KEPT_TAIL become '*'; separators stay.
static void
s_mask_span (char *text, size_t from, size_t to)
{
    size_t digits = 0;
    for (size_t i = from; i < to; i++)
        digits += s_digit (text [i]);
    if (digits <= KEPT_TAIL)
        return;
    size_t first = digits > KEPT_TAIL + MASKED ? digits - KEPT_TAIL - MASKED : 0;
    size_t last = digits - KEPT_TAIL;       //  exclusive
    size_t n = 0;
    for (size_t i = from; i < to; i++)
        if (s_digit (text [i])) {
            if (n >= first && n < last)
                text [i] = '*';
            n++;
        }
}

//  A character before a number that makes it part of something else:
//  a letter or digit, or the joints of ids, decimals and paths.
static bool
s_joined_before (char c)
{
    return s_alnum (c) || c == '-' || c == '_' || c == '.' || c == '/';
}

//  Free text: mask each standing-alone match of the pattern, in place.
static void
s_mask_free (char *text)
{
    size_t at = 0;
    size_t len = strlen (text);
    regmatch_t m;
    while (at < len && regexec (&s_regex, text + at, 1, &m, at ? REG_NOTBOL : 0) == 0) {
        size_t from = at + (size_t) m.rm_so;
        size_t to = at + (size_t) m.rm_eo;
        bool alone = (from == 0 || !s_joined_before (text [from - 1]))
                  && (to >= len || !s_alnum (text [to]));
        if (alone) {
            s_mask_span (text, from, to);
            at = to;
        }
        else {
            //  every start inside the same run of letters and digits is
            //  joined too: skip the run (keeps a long digit string linear)
            at = from + 1;
            while (at < len && s_alnum (text [at - 1]) && s_alnum (text [at]))
                at++;
        }
    }
}

//  Person fields: every run of PERSON_DIGITS_MIN digits or more.
static void
s_mask_runs (char *text)
{
    size_t i = 0;
    while (text [i]) {
        if (!s_digit (text [i])) {
            i++;
            continue;
        }
        size_t from = i;
        while (s_digit (text [i]))
            i++;
        if (i - from >= PERSON_DIGITS_MIN)
            s_mask_span (text, from, i);
    }
}

char *
report_mask_text (const char *text, bool person)
{
    pthread_once (&s_once, s_compile);
    char *out = strdup (text ? text : "");
    if (!out)
        return NULL;
    if (s_regex_rc == 0)
        s_mask_free (out);
    else
        s_mask_runs (out);          //  no regex (cannot happen): mask harder, not less
    if (person)
        s_mask_runs (out);
    return out;
}

//  Mask one JSON string in place; a NUL inside it splits it into parts
//  masked one by one. Returns 0 or -1.
static int
s_mask_string (json_t *string, bool person)
{
    const char *value = json_string_value (string);
    size_t len = json_string_length (string);
    char *out = malloc (len + 1);
    if (!out)
        return -1;
    for (size_t at = 0; at <= len; ) {
        size_t part = strlen (value + at);
        char *masked = report_mask_text (value + at, person);
        if (!masked) {
            free (out);
            return -1;
        }
        memcpy (out + at, masked, part + 1);
        free (masked);
        at += part + 1;
    }
    int rc = memcmp (out, value, len) == 0 ? 0 : json_string_setn_nocheck (string, out, len);
    free (out);
    return rc;
}

static int
s_mask_value (json_t *value, bool person)
{
    int rc = 0;
    if (json_is_string (value))
        return s_mask_string (value, person);
    if (json_is_object (value)) {
        const char *key;
        json_t *item;
        json_object_foreach (value, key, item) {
            bool who = strcmp (key, "reporter") == 0 || strcmp (key, "who") == 0;
            rc |= s_mask_value (item, who);
        }
    }
    else
    if (json_is_array (value)) {
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item)
            rc |= s_mask_value (item, person);
    }
    return rc ? -1 : 0;
}

int
report_mask_json (json_t *doc)
{
    return s_mask_value (doc, false);
}
