/*  cli_timers.c — extend, park, unpark and clock: the operator's commands
    on case clocks. Extend, park and unpark are requests to intake
    (extend.decide, park, unpark), which commits them and wakes dispatch
    and notify; the CLI reads the case clock from Redis to turn "+2d" and
    local dates into case time (street.h). clock reads and sets it. */
#include "cli_timers.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_client.h"
#include "store.h"
#include "street.h"

//  Options of these commands that take no value.
static const char *const s_flags [] = { "--approve", "--refuse", "--json", NULL };

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

//  The scale the case clock runs at, as the last read found it (a read
//  keeps the cluster's scale; this CLI's time_scale only starts a clock).
static double s_running = 0;

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
    s_running = json_number_value (json_object_get (reply, "scale"));
    json_decref (reply);
    return 0;
}

//  Send one operator request to intake and print its answer: ok_text
//  with the case and its state, or the error. Returns the exit status.
static int
s_intake (const config_t *config, const char *type, const ProtobufCMessage *body,
          const char *ok_text)
{
    codec_msg_t reply;
    if (cli_client_ask (config, type, body, &reply))
        return 1;
    int rc = cli_client_refused (type, &reply);
    if (!rc) {
        const Gridcall__V1__Ack *ack = (const Gridcall__V1__Ack *) reply.body;
        printf ("case %s %s%s; now %s\n", ack->case_id, ok_text,
                ack->duplicate ? " (already done)" : "", codec_state_name (ack->state));
    }
    codec_msg_reset (&reply);
    return rc;
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
    if (!id || !reason || (approve && refuse) || (refuse && until) || (!approve && !refuse && !until)) {
        fprintf (stderr, "usage: gridcall extend ID --until TIME --reason TEXT [--by WHO]\n"
                 "       gridcall extend ID --approve [--until TIME] --reason TEXT [--by WHO]\n"
                 "       gridcall extend ID --refuse --reason TEXT [--by WHO]\n"
                 "TIME: YYYY-MM-DD[ HH:MM] (street local time) or +N[m|h|d] from now\n"
                 "(a unit asks for more time with the unit protocol's extend)\n");
        return 2;
    }
    char scale [32], done [96] = "deadline extended as requested";
    long long case_now, until_ms = 0;
    int offset;
    store_t *store = until ? s_begin (config, scale, sizeof scale, &case_now, &offset) : NULL;
    if (until && !store)
        return 1;
    store_destroy (&store);
    if (until && s_parse_time (until, case_now, offset, &until_ms)) {
        fprintf (stderr, "gridcall: extend: \"%s\" is not a time (YYYY-MM-DD[ HH:MM] or +N[m|h|d])\n", until);
        return 2;
    }
    if (refuse)
        snprintf (done, sizeof done, "extension refused");
    else
    if (until_ms) {
        char shown [32];
        s_format_time (until_ms, offset, shown, sizeof shown);
        snprintf (done, sizeof done, "deadline extended to %s", shown);
    }
    Gridcall__V1__ExtendDecision decision = GRIDCALL__V1__EXTEND_DECISION__INIT;
    decision.case_id = (char *) id;
    decision.verb = approve ? GRIDCALL__V1__EXTEND_VERB__EXTEND_APPROVE
                  : refuse ? GRIDCALL__V1__EXTEND_VERB__EXTEND_REFUSE
                  : GRIDCALL__V1__EXTEND_VERB__EXTEND_DIRECT;
    decision.until_ms = until_ms;
    decision.reason = (char *) reason;
    decision.operator_ = (char *) s_who (argc, argv);
    return s_intake (config, "extend.decide", &decision.base, done);
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
    char scale [32], shown [32], done [96];
    long long case_now, review;
    int offset;
    store_t *store = s_begin (config, scale, sizeof scale, &case_now, &offset);
    if (!store)
        return 1;
    store_destroy (&store);
    if (s_parse_time (until, case_now, offset, &review)) {
        fprintf (stderr, "gridcall: park: \"%s\" is not a date (YYYY-MM-DD[ HH:MM] or +N[m|h|d])\n", until);
        return 2;
    }
    s_format_time (review, offset, shown, sizeof shown);
    snprintf (done, sizeof done, "parked until %s", shown);
    Gridcall__V1__Park park = GRIDCALL__V1__PARK__INIT;
    park.case_id = (char *) id;
    park.review_ms = review;
    park.reason = (char *) reason;
    park.operator_ = (char *) s_who (argc, argv);
    return s_intake (config, "park", &park.base, done);
}

//  merge KEEP DUP: the duplicate closes as MERGED into the case kept; its
//  reporter hears when KEEP closes. An operator's decision, never automatic.
int
cli_merge (const config_t *config, int argc, char **argv)
{
    const char *keep = cli_positional (argc, argv, 0, s_flags);
    const char *dup = cli_positional (argc, argv, 1, s_flags);
    if (!keep || !dup) {
        fprintf (stderr, "usage: gridcall merge KEEP DUP [--note TEXT] [--by WHO]\n"
                 "the duplicate DUP closes as MERGED into the case KEEP\n");
        return 2;
    }
    char done [160];
    snprintf (done, sizeof done, "merged into %.64s", keep);
    Gridcall__V1__Merge merge = GRIDCALL__V1__MERGE__INIT;
    merge.keep_case_id = (char *) keep;
    merge.duplicate_case_id = (char *) dup;
    merge.note = (char *) cli_opt (argc, argv, "--note", "");
    merge.operator_ = (char *) s_who (argc, argv);
    return s_intake (config, "merge", &merge.base, done);
}

int
cli_unpark (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    if (!id) {
        fprintf (stderr, "usage: gridcall unpark ID [--reason TEXT] [--by WHO]\n");
        return 2;
    }
    Gridcall__V1__Unpark unpark = GRIDCALL__V1__UNPARK__INIT;
    unpark.case_id = (char *) id;
    unpark.reason = (char *) cli_opt (argc, argv, "--reason", "");
    unpark.operator_ = (char *) s_who (argc, argv);
    return s_intake (config, "unpark", &unpark.base, "back from the parked ledger");
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
        char by [160];
        cli_principal (config, by, sizeof by);
        json_t *reply = store_callv (store, "gc_clock_set", scale, at_text, by, NULL);
        rc = json_is_true (json_object_get (reply, "ok")) ? 0 : 1;
        json_decref (reply);
        case_now = at;
    }
    else
    if (s_running > 0)
        snprintf (scale, sizeof scale, "%.17g", s_running);
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
