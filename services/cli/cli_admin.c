/*  cli_admin.c — gridcall redis setup, gridcall audit verify|tail. */
#include "cli_admin.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "cli_args.h"
#include "store.h"

#define AUDIT_PAGE 1000         //  entries read per call
#define HASH_LEN 40             //  hex digits of a SHA-1

static const char *const s_flags [] = { "--json", NULL };

int
cli_redis (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 0, s_flags);
    if (!verb || strcmp (verb, "setup") != 0) {
        fprintf (stderr, "usage: gridcall redis setup   (as a Redis user that may load "
                 "functions: gc-admin in deploy/redis-users.acl)\n");
        return 2;
    }
    store_t *store = store_new (config, "gridcall");
    json_t *reply = store ? store_setup (store) : NULL;
    int rc = 0;
    if (!json_is_true (json_object_get (reply, "ok"))) {
        fprintf (stderr, "gridcall: redis setup: %s\n",
                 reply ? json_string_value (json_object_get (reply, "message")) : "out of memory");
        rc = 1;
    }
    else {
        const char *version = json_string_value (json_object_get (reply, "version"));
        printf ("function library gridcall %s loaded into Redis\n", version);
        size_t i;
        json_t *warning;
        json_array_foreach (json_object_get (reply, "warnings"), i, warning)
            printf ("warning: %s\n", json_string_value (warning));
        //  a load replaces every transition: it goes to the audit chain
        char by [160];
        cli_principal (config, by, sizeof by);
        json_t *noted = store_callv (store, "gc_audit_add", by, "library.load", "gridcall",
                                     version, NULL);
        if (!json_is_true (json_object_get (noted, "ok"))) {
            fprintf (stderr, "gridcall: redis setup: the load could not be audited: %s\n",
                     noted ? json_string_value (json_object_get (noted, "message")) : "no answer");
            rc = 1;
        }
        json_decref (noted);
    }
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

//  Check entry number n (1-based) of the chain against the hash of the one
//  before (prev, updated to this entry's hash). Returns 0, or -1 with why
//  the link breaks in problem. An entry of an earlier gridcall repeats
//  prev in its text, which tells a replaced entry before it from an
//  altered one; a newer one links by its hash alone.
static int
s_check_entry (const char *entry, long long n, char *prev, char *problem, size_t size)
{
    size_t len = strlen (entry);
    if (len < HASH_LEN + 2 || entry [HASH_LEN] != ' ') {
        snprintf (problem, size, "it is not \"<hash> <entry>\"");
        return -1;
    }
    const char *text = entry + HASH_LEN + 1;
    json_t *json = json_loads (text, 0, NULL);
    const char *linked = json_string_value (json_object_get (json, "prev"));
    long long number = json_integer_value (json_object_get (json, "n"));
    int rc = -1;
    if (!json || !json_is_integer (json_object_get (json, "n")))
        snprintf (problem, size, "its text is not an audit entry");
    else
    if (number != n)
        snprintf (problem, size, "it says it is entry %lld: entries were removed or inserted", number);
    else
    if (linked && strcasecmp (linked, prev) != 0)
        snprintf (problem, size, "it does not link to entry %lld (entry %lld was altered or "
                  "replaced, or this one was)", n - 1, n - 1);
    else {
        zdigest_t *digest = zdigest_new ();
        zdigest_update (digest, (const byte *) prev, strlen (prev));
        zdigest_update (digest, (const byte *) text, strlen (text));
        if (strncasecmp (zdigest_string (digest), entry, HASH_LEN) != 0) {
            if (linked)
                snprintf (problem, size, "its content does not match its hash: it was altered");
            else
                snprintf (problem, size, "its hash does not follow from its content and entry "
                          "%lld's hash: it was altered, or entry %lld was replaced", n - 1, n - 1);
        }
        else
            rc = 0;
        zdigest_destroy (&digest);
    }
    json_decref (json);
    if (rc == 0)
        snprintf (prev, HASH_LEN + 1, "%.*s", HASH_LEN, entry);
    return rc;
}

//  One page of the chain from index from: the reply (caller decrefs) or
//  NULL with the reason printed.
static json_t *
s_page (store_t *store, long long from, long long count)
{
    char from_text [24], count_text [24];
    snprintf (from_text, sizeof from_text, "%lld", from);
    snprintf (count_text, sizeof count_text, "%lld", count);
    json_t *reply = store_callv (store, "gc_audit_range", from_text, count_text, NULL);
    if (!json_is_true (json_object_get (reply, "ok"))) {
        fprintf (stderr, "gridcall: audit: %s%s%s\n",
                 reply ? json_string_value (json_object_get (reply, "message")) : "no answer from Redis",
                 json_object_get (reply, "detail") ? ": " : "",
                 json_object_get (reply, "detail") ? json_string_value (json_object_get (reply, "detail")) : "");
        json_decref (reply);
        return NULL;
    }
    return reply;
}

static int
s_verify (store_t *store)
{
    char prev [HASH_LEN + 1];
    memset (prev, '0', HASH_LEN);
    prev [HASH_LEN] = 0;
    long long n = 0, total = 0;
    do {
        json_t *page = s_page (store, n, AUDIT_PAGE);
        if (!page)
            return 1;
        total = json_integer_value (json_object_get (page, "total"));
        json_t *entries = json_object_get (page, "entries");
        size_t count = json_is_array (entries) ? json_array_size (entries) : 0;
        for (size_t i = 0; i < count; i++) {
            const char *entry = json_string_value (json_array_get (entries, i));
            char problem [256];
            n++;
            if (s_check_entry (entry ? entry : "", n, prev, problem, sizeof problem)) {
                printf ("audit chain BROKEN at entry %lld of %lld: %s\n  entry: %.300s\n",
                        n, total, problem, entry ? entry : "(not text)");
                json_decref (page);
                return 1;
            }
        }
        json_decref (page);
        if (count == 0)
            break;
    } while (n < total);
    if (n < total) {
        printf ("audit chain BROKEN: %lld entries read of %lld\n", n, total);
        return 1;
    }
    //  the head is what an operator keeps outside Redis: a chain rewritten
    //  from some entry on holds together, but ends in another head
    printf ("audit chain holds: %lld entries, head %s\n", n, prev);
    return 0;
}

static int
s_tail (store_t *store, long long count, bool as_json)
{
    json_t *first = s_page (store, 0, 1);
    if (!first)
        return 1;
    long long total = json_integer_value (json_object_get (first, "total"));
    json_decref (first);
    long long from = total > count ? total - count : 0;
    json_t *page = total ? s_page (store, from, count) : NULL;
    if (total && !page)
        return 1;
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (page, "entries"), i, item) {
        const char *entry = json_string_value (item);
        json_t *e = entry && strlen (entry) > HASH_LEN ? json_loads (entry + HASH_LEN + 1, 0, NULL) : NULL;
        if (as_json)
            printf ("%s\n", entry && strlen (entry) > HASH_LEN ? entry + HASH_LEN + 1 : "null");
        else
        if (e) {
            time_t at = (time_t) (json_integer_value (json_object_get (e, "at")) / 1000);
            char when [32];
            strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime (&at));
            const char *who = json_string_value (json_object_get (e, "who"));
            printf ("%5lld  %sZ  %-16s %-20s by %s%s%s%s  %s\n",
                    json_integer_value (json_object_get (e, "n")), when,
                    json_string_value (json_object_get (e, "what")),
                    json_string_value (json_object_get (e, "subject")),
                    json_string_value (json_object_get (e, "by")),
                    who && *who ? " (" : "", who && *who ? who : "", who && *who ? ")" : "",
                    json_string_value (json_object_get (e, "note")));
        }
        else
            printf ("%5lld  (not an audit entry: %.80s)\n", from + (long long) i + 1, entry ? entry : "");
        json_decref (e);
    }
    if (!as_json)
        printf ("%lld entries in all; gridcall audit verify checks the chain\n", total);
    json_decref (page);
    return 0;
}

int
cli_audit (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 0, s_flags);
    const char *count = cli_positional (argc, argv, 1, s_flags);
    if (!verb || (strcmp (verb, "verify") && strcmp (verb, "tail"))
    ||  (count && atoll (count) <= 0)) {
        fprintf (stderr, "usage: gridcall audit verify | gridcall audit tail [N] [--json]\n");
        return 2;
    }
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    int rc = strcmp (verb, "verify") == 0
           ? s_verify (store)
           : s_tail (store, count ? (atoll (count) > AUDIT_PAGE ? AUDIT_PAGE : atoll (count)) : 20,
                     cli_flag (argc, argv, "--json"));
    store_destroy (&store);
    return rc;
}
