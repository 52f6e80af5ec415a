/*  cli_timers.c — extend, park, unpark and clock: the operator's commands
    on case clocks. Each is one Redis Function call (35_extend.lua,
    05_clock.lua); times are the street's local case time. */
#include "cli_timers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "store.h"
#include "street.h"

//  Options of these commands that take no value.
static const char *const s_flags [] = { "--approve", "--refuse", "--request", "--json", NULL };

//  Who acts: --by, else $USER, else "operator".
static const char *
s_who (int argc, char **argv)
{
    const char *user = getenv ("USER");
    return cli_opt (argc, argv, "--by", user && *user ? user : "operator");
}

//  Parse TIME into case ms: a local date and time (street_parse) or "+N"
//  with m, h or d (case time from now). Returns 0, or -1 when malformed.
static int
s_parse_time (const char *text, long long case_now, int offset_minutes, long long *out)
{
    if (text [0] != '+')
        return street_parse (offset_minutes, text, out);
    char *end;
    long long n = strtoll (text + 1, &end, 10);
    long long unit = *end == 'm' ? 60000LL : *end == 'h' ? 3600000LL : *end == 'd' ? 86400000LL : 0;
    if (n <= 0 || end == text + 1 || !unit || end [1])
        return -1;
    *out = case_now + n * unit;
    return 0;
}

//  Format case ms as local "YYYY-MM-DD HH:MM" into buf.
static void
s_format_time (long long case_ms, int offset_minutes, char *buf, size_t size)
{
    street_time_t at;
    street_time (offset_minutes, case_ms, &at);
    street_format (&at, buf, size);
}

//  The case clock now: case ms and the street's offset. Returns 0 or -1.
static int
s_case_now (store_t *store, const char *scale, long long *case_now, int *offset)
{
    json_t *reply = store_callv (store, "gc_clock_get", scale, NULL);
    if (!json_is_true (json_object_get (reply, "ok"))) {
        json_decref (reply);
        return -1;
    }
    *case_now = (long long) json_number_value (json_object_get (reply, "case_now"));
    *offset = (int) json_integer_value (json_object_get (reply, "utc_offset_minutes"));
    json_decref (reply);
    return 0;
}

//  Print a function's reply: ok_text with the case and state, or the error.
//  Returns the exit status.
static int
s_report (const char *what, json_t *reply, const char *ok_text)
{
    if (!reply) {
        fprintf (stderr, "gridcall: %s: Redis did not answer\n", what);
        return 1;
    }
    if (!json_is_true (json_object_get (reply, "ok"))) {
        fprintf (stderr, "gridcall: %s: %s: %s\n", what,
                 json_string_value (json_object_get (reply, "code")),
                 json_string_value (json_object_get (reply, "message")));
        return 1;
    }
    printf ("case %s %s%s; now %s\n", json_string_value (json_object_get (reply, "case_id")),
            ok_text, json_is_true (json_object_get (reply, "duplicate")) ? " (already done)" : "",
            json_string_value (json_object_get (reply, "state")));
    return 0;
}

//  Common start: store, scale text, case clock, the case id. Returns the
//  store or NULL (message printed).
static store_t *
s_begin (const config_t *config, char *scale, size_t size, long long *case_now, int *offset)
{
    snprintf (scale, size, "%.17g", config_double (config, "time_scale"));
    store_t *store = cli_store (config);
    if (store && s_case_now (store, scale, case_now, offset)) {
        fprintf (stderr, "gridcall: cannot read the case clock\n");
        store_destroy (&store);
    }
    return store;
}

int
cli_extend (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    const char *until = cli_opt (argc, argv, "--until", NULL);
    const char *reason = cli_opt (argc, argv, "--reason", NULL);
    bool approve = cli_flag (argc, argv, "--approve");
    bool refuse = cli_flag (argc, argv, "--refuse");
    bool request = cli_flag (argc, argv, "--request");
    const char *unit = cli_opt (argc, argv, "--unit", NULL);
    if (!id || !reason || approve + refuse + request > 1 || (refuse && until)
    ||  (!approve && !refuse && !until) || (request && !unit)) {
        fprintf (stderr, "usage: gridcall extend ID --until TIME --reason TEXT [--by WHO]\n"
                 "       gridcall extend ID --approve [--until TIME] --reason TEXT [--by WHO]\n"
                 "       gridcall extend ID --refuse --reason TEXT [--by WHO]\n"
                 "       gridcall extend ID --request --unit U [--offer O] --until TIME --reason TEXT\n"
                 "TIME: YYYY-MM-DD[ HH:MM] (street local time) or +N[m|h|d] from now\n");
        return 2;
    }
    char scale [32], until_text [32] = "0", shown [64] = "";
    long long case_now, until_ms = 0;
    int offset;
    store_t *store = s_begin (config, scale, sizeof scale, &case_now, &offset);
    if (!store)
        return 1;
    if (until && s_parse_time (until, case_now, offset, &until_ms)) {
        fprintf (stderr, "gridcall: extend: \"%s\" is not a time (YYYY-MM-DD[ HH:MM] or +N[m|h|d])\n", until);
        store_destroy (&store);
        return 2;
    }
    snprintf (until_text, sizeof until_text, "%lld", until_ms);
    if (until_ms)
        s_format_time (until_ms, offset, shown, sizeof shown);
    json_t *reply;
    char done [128];
    if (request) {
        reply = store_callv (store, "gc_extend_request", id, unit, cli_opt (argc, argv, "--offer", ""),
                             until_text, reason, scale, NULL);
        snprintf (done, sizeof done, "extension to %s requested", shown);
    }
    else {
        const char *verb = approve ? "approve" : refuse ? "refuse" : "extend";
        reply = store_callv (store, "gc_extend_decide", id, s_who (argc, argv), verb, until_text,
                             reason, scale, NULL);
        if (refuse)
            snprintf (done, sizeof done, "extension refused");
        else {
            long long granted = json_integer_value (json_object_get (reply, "until_case"));
            if (granted)
                s_format_time (granted, offset, shown, sizeof shown);
            snprintf (done, sizeof done, "deadline extended to %s", shown);
        }
    }
    int rc = s_report ("extend", reply, done);
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

int
cli_park (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    const char *until = cli_opt (argc, argv, "--until", NULL);
    const char *reason = cli_opt (argc, argv, "--reason", NULL);
    if (!id || !until || !reason) {
        fprintf (stderr, "usage: gridcall park ID --until DATE --reason TEXT [--by WHO]\n"
                 "DATE: YYYY-MM-DD[ HH:MM] (street local time; a date alone is 00:00) or +N[m|h|d]\n");
        return 2;
    }
    char scale [32], review_text [32], shown [64], done [96];
    long long case_now, review;
    int offset;
    store_t *store = s_begin (config, scale, sizeof scale, &case_now, &offset);
    if (!store)
        return 1;
    if (s_parse_time (until, case_now, offset, &review)) {
        fprintf (stderr, "gridcall: park: \"%s\" is not a date (YYYY-MM-DD[ HH:MM] or +N[m|h|d])\n", until);
        store_destroy (&store);
        return 2;
    }
    snprintf (review_text, sizeof review_text, "%lld", review);
    s_format_time (review, offset, shown, sizeof shown);
    snprintf (done, sizeof done, "parked until %s", shown);
    json_t *reply = store_callv (store, "gc_park", id, s_who (argc, argv), review_text, reason,
                                 scale, NULL);
    int rc = s_report ("park", reply, done);
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

int
cli_unpark (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    if (!id) {
        fprintf (stderr, "usage: gridcall unpark ID [--reason TEXT] [--by WHO]\n");
        return 2;
    }
    char scale [32];
    snprintf (scale, sizeof scale, "%.17g", config_double (config, "time_scale"));
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, "gc_unpark", id, s_who (argc, argv),
                                 cli_opt (argc, argv, "--reason", ""), scale, NULL);
    int rc = s_report ("unpark", reply, "back from the parked ledger");
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

int
cli_clock (const config_t *config, int argc, char **argv)
{
    const char *set = cli_opt (argc, argv, "--set", NULL);
    char scale [32], shown [64];
    long long case_now, at;
    int offset;
    store_t *store = s_begin (config, scale, sizeof scale, &case_now, &offset);
    if (!store)
        return 1;
    int rc = 0;
    if (set) {
        char at_text [32];
        if (s_parse_time (set, case_now, offset, &at)) {
            fprintf (stderr, "gridcall: clock: \"%s\" is not a time (YYYY-MM-DD[ HH:MM] or +N[m|h|d])\n", set);
            store_destroy (&store);
            return 2;
        }
        snprintf (at_text, sizeof at_text, "%lld", at);
        json_t *reply = store_callv (store, "gc_clock_set", scale, at_text, NULL);
        rc = json_is_true (json_object_get (reply, "ok")) ? 0 : 1;
        json_decref (reply);
        case_now = at;
    }
    s_format_time (case_now, offset, shown, sizeof shown);
    if (cli_flag (argc, argv, "--json"))
        printf ("{\"case_now\": %lld, \"local\": \"%s\", \"scale\": %s}\n", case_now, shown, scale);
    else
        printf ("case time %s (UTC%+d:%02d), %s case seconds per second\n", shown, offset / 60,
                abs (offset % 60), scale);
    store_destroy (&store);
    return rc;
}

int
cli_case_timers (const config_t *config, int argc, char **argv)
{
    if (argc < 1)
        return 2;
    if (strcmp (argv [0], "extend") == 0)
        return cli_extend (config, argc - 1, argv + 1);
    if (strcmp (argv [0], "park") == 0)
        return cli_park (config, argc - 1, argv + 1);
    if (strcmp (argv [0], "unpark") == 0)
        return cli_unpark (config, argc - 1, argv + 1);
    return 2;
}
