/*  cli_commands.c — directory, report, case, stats, verify, evaluate. */
#include "cli_commands.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli_args.h"
#include "cli_client.h"
#include "codec.h"
#include "directory.h"
#include "store.h"

//  Options of these commands that take no value.
static const char *const s_flags [] = { "--json", "--pass", "--fail", NULL };

//  Print a failed store reply, with Redis's own words when it refused
//  (the operator's terminal, unlike a client, may see them); returns 1.
static int
s_store_fail (const char *what, const json_t *reply)
{
    const char *detail = json_string_value (json_object_get (reply, "detail"));
    fprintf (stderr, "gridcall: %s: %s: %s%s%s\n", what,
             reply ? json_string_value (json_object_get (reply, "code")) : "UNAVAILABLE",
             reply ? json_string_value (json_object_get (reply, "message")) : "no answer from Redis",
             detail ? ": " : "", detail ? detail : "");
    return 1;
}

int
cli_directory (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 0, s_flags);
    const char *file = cli_positional (argc, argv, 1, s_flags);
    if (!verb || !file || (strcmp (verb, "load") && strcmp (verb, "check"))) {
        fprintf (stderr, "usage: gridcall directory load|check FILE\n");
        return 2;
    }
    char err [1024];
    directory_t *directory = directory_load (file, err, sizeof err);
    if (!directory) {
        fprintf (stderr, "gridcall: %s\n", err);
        return 1;
    }
    printf ("%s: %s, %zu communities, %zu grids, %zu categories, %zu units\n", file,
            directory_street_name (directory), directory_community_count (directory),
            directory_grid_count (directory), directory_category_count (directory),
            directory_unit_count (directory));
    int rc = 0;
    if (strcmp (verb, "load") == 0) {
        store_t *store = cli_store (config);
        //  a Redis still loading its AOF answers LOADING: wait for it (a minute)
        for (int64_t end = zclock_mono () + 60000; store && store_ensure (store)
                                                   && zclock_mono () < end; )
            zclock_sleep (200);
        char by [160];
        cli_principal (config, by, sizeof by);
        const char *json = directory_json (directory);
        json_t *reply = store && json ? store_directory_load (store, json, by) : NULL;
        if (!json_is_true (json_object_get (reply, "ok")))
            rc = s_store_fail ("directory load", reply);
        else
            printf ("loaded into Redis as directory version %lld\n",
                    json_integer_value (json_object_get (reply, "version")));
        json_decref (reply);
        store_destroy (&store);
    }
    directory_destroy (&directory);
    return rc;
}

//  Send one request to intake and print its answer; returns exit status.
static int
s_intake (const config_t *config, const char *type, const ProtobufCMessage *body)
{
    codec_msg_t reply;
    if (cli_client_ask (config, type, body, &reply))
        return 1;
    int rc = cli_client_refused (type, &reply);
    if (!rc && strcmp (reply.type, "report.ok") == 0) {
        Gridcall__V1__ReportReply *r = (Gridcall__V1__ReportReply *) reply.body;
        time_t by = (time_t) (r->resolve_by_ms / 1000);
        char when [32];
        strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime (&by));
        printf ("case %s%s\n  grid %s%s%s, tier %s, state %s, resolve by %s UTC\n", r->case_id,
                r->duplicate ? " (already filed with this key)" : "", r->grid,
                *r->building ? ", building " : "", r->building, codec_tier_name (r->tier),
                codec_state_name (r->state), when);
        //  suggestions only: an operator decides (gridcall merge KEEP DUP)
        for (size_t i = 0; i < r->n_possible_duplicates; i++)
            printf ("  possible duplicate of %s\n", r->possible_duplicates [i]);
    }
    else
    if (!rc) {
        Gridcall__V1__Ack *a = (Gridcall__V1__Ack *) reply.body;
        printf ("case %s is %s%s\n", a->case_id, codec_state_name (a->state),
                a->duplicate ? " (already done)" : "");
    }
    codec_msg_reset (&reply);
    return rc;
}

int
cli_report (const config_t *config, int argc, char **argv)
{
    const char *text = cli_positional (argc, argv, 0, s_flags);
    const char *grid = cli_opt (argc, argv, "--grid", "");
    const char *category = cli_opt (argc, argv, "--category", NULL);
    const char *lat = cli_opt (argc, argv, "--lat", NULL);
    const char *lon = cli_opt (argc, argv, "--lon", NULL);
    const char *address_id = cli_opt (argc, argv, "--address-id", "");
    const char *address = cli_opt (argc, argv, "--address", "");
    const char *building = cli_opt (argc, argv, "--building", "");
    bool place = (lat && lon) || *address_id || *address || *building;
    if (!text || (!*grid && !place) || !category || (!lat != !lon)) {
        fprintf (stderr, "usage: gridcall report --category C (--grid G | --lat LAT --lon LON | "
                 "--address-id B | --address TEXT | --building B) [--reporter R] "
                 "[--channel CHANNEL] [--key KEY] \"text\"\n"
                 "a place instead of a grid is resolved by intake over the directory's geometry\n");
        return 2;
    }
    Gridcall__V1__GeoPoint point = GRIDCALL__V1__GEO_POINT__INIT;
    char *end_lat = NULL, *end_lon = NULL;
    if (lat) {
        point.lat = strtod (lat, &end_lat);
        point.lon = strtod (lon, &end_lon);
        if (*end_lat || *end_lon || end_lat == lat || end_lon == lon) {
            fprintf (stderr, "gridcall: --lat and --lon are decimal degrees (39.8012 110.0034)\n");
            return 2;
        }
    }
    char key [96];
    snprintf (key, sizeof key, "cli-%d-%lld-%u", (int) getpid (), (long long) zclock_time (),
              (unsigned) randof (1000000));
    Gridcall__V1__Report report = GRIDCALL__V1__REPORT__INIT;
    report.idempotency_key = (char *) cli_opt (argc, argv, "--key", key);
    report.grid = (char *) grid;
    report.category = (char *) category;
    report.text = (char *) text;
    report.reporter = (char *) cli_opt (argc, argv, "--reporter", getenv ("USER") ? getenv ("USER") : "operator");
    report.building = (char *) building;
    report.point = lat ? &point : NULL;
    report.address_id = (char *) address_id;
    report.address_string = (char *) address;
    int channel = codec_channel_parse (cli_opt (argc, argv, "--channel", "OPERATOR"));
    if (!channel) {
        fprintf (stderr, "gridcall: unknown channel (GRID_WORKER, RESIDENT_APP, HOTLINE, "
                 "SERVICE_CARD, OPEN311, OPERATOR)\n");
        return 2;
    }
    report.channel = channel;
    return s_intake (config, "report", &report.base);
}

int
cli_verify (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    bool pass = cli_flag (argc, argv, "--pass");
    if (!id || pass == cli_flag (argc, argv, "--fail")) {
        fprintf (stderr, "usage: gridcall verify ID --pass|--fail [--note TEXT] [--verifier WHO]\n");
        return 2;
    }
    Gridcall__V1__Verify verify = GRIDCALL__V1__VERIFY__INIT;
    verify.case_id = (char *) id;
    verify.pass = pass;
    verify.note = (char *) cli_opt (argc, argv, "--note", "");
    verify.verifier = (char *) cli_opt (argc, argv, "--verifier", "operator");
    return s_intake (config, "verify", &verify.base);
}

int
cli_evaluate (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    const char *score = cli_positional (argc, argv, 1, s_flags);
    if (!id || !score) {
        fprintf (stderr, "usage: gridcall evaluate ID SCORE(1-5) [--comment TEXT]\n");
        return 2;
    }
    Gridcall__V1__Evaluate evaluate = GRIDCALL__V1__EVALUATE__INIT;
    evaluate.case_id = (char *) id;
    long long value;
    if (cli_number ("SCORE", score, 0, UINT32_MAX, &value))
        return 2;
    evaluate.score = (uint32_t) value;
    evaluate.comment = (char *) cli_opt (argc, argv, "--comment", "");
    evaluate.resident = (char *) cli_opt (argc, argv, "--resident", "resident");
    return s_intake (config, "evaluate", &evaluate.base);
}

static void
s_print_time (const char *label, json_t *ms)
{
    long long v = json_is_string (ms) ? atoll (json_string_value (ms)) : json_integer_value (ms);
    if (v <= 0)
        return;
    time_t t = (time_t) (v / 1000);
    char when [32];
    strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime (&t));
    printf ("  %-10s %s.%03lldZ\n", label, when, v % 1000);
}

int
cli_case (const config_t *config, int argc, char **argv)
{
    const char *id = cli_positional (argc, argv, 0, s_flags);
    if (!id) {
        fprintf (stderr, "usage: gridcall case ID [--json]\n");
        return 2;
    }
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, "gc_case_get", id, NULL);
    int rc = 0;
    json_t *c = json_object_get (reply, "case");
    if (!c)
        rc = s_store_fail ("case", reply);
    else
    if (cli_flag (argc, argv, "--json")) {
        //  the timeline entries are JSON texts; print them as objects
        json_t *timeline = json_array ();
        size_t i;
        json_t *entry;
        json_array_foreach (json_object_get (c, "timeline"), i, entry)
            json_array_append_new (timeline, json_loads (json_string_value (entry), 0, NULL));
        json_object_set_new (c, "timeline", timeline);
        char *text = json_dumps (c, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("%s\n", text);
        free (text);
    }
    else {
#define F(name) (json_string_value (json_object_get (c, name)) ? json_string_value (json_object_get (c, name)) : "")
        printf ("case %s\n  %-10s %s\n  %-10s %s\n  %-10s %s (community %s)\n  %-10s %s\n"
                "  %-10s %s %s\n  %-10s %s via %s\n  %-10s %s\n",
                F ("id"), "state", F ("state"), "tier", codec_tier_name (atoi (F ("tier"))),
                "grid", F ("grid"), F ("community"), "category", F ("category"),
                "unit", *F ("unit") ? F ("unit") : "-",
                *F ("responsible") ? F ("responsible") : "", "reporter", F ("reporter"),
                F ("channel"), "text", F ("text"));
        s_print_time ("reported", json_object_get (c, "created"));
        s_print_time ("deadline", json_object_get (c, "resolve_by"));
        if (*F ("satisfaction"))
            printf ("  %-10s %s/5\n", "evaluated", F ("satisfaction"));
        printf ("timeline:\n");
        size_t i;
        json_t *entry;
        json_array_foreach (json_object_get (c, "timeline"), i, entry) {
            json_t *e = json_loads (json_string_value (entry), 0, NULL);
            long long at = json_integer_value (json_object_get (e, "at"));
            long long deadline = json_integer_value (json_object_get (e, "deadline"));
            time_t t = (time_t) (at / 1000), d = (time_t) (deadline / 1000);
            char when [32], due [32];
            strftime (when, sizeof when, "%Y-%m-%d %H:%M:%S", gmtime (&t));
            strftime (due, sizeof due, "%m-%d %H:%M:%S", gmtime (&d));
            printf ("  %s.%03lld  %-13s %-10s by %-12s tier %-9s unit %-6s due %s  %s\n", when,
                    at % 1000, json_string_value (json_object_get (e, "what")),
                    json_string_value (json_object_get (e, "state")),
                    *json_string_value (json_object_get (e, "who")) ? json_string_value (json_object_get (e, "who")) : "-",
                    codec_tier_name ((int) json_integer_value (json_object_get (e, "tier"))),
                    *json_string_value (json_object_get (e, "unit")) ? json_string_value (json_object_get (e, "unit")) : "-",
                    due, json_string_value (json_object_get (e, "note")));
            json_decref (e);
        }
#undef F
    }
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

static void
s_print_counts (const char *title, json_t *object)
{
    printf ("%s:", title);
    const char *key;
    json_t *value;
    int shown = 0;
    json_object_foreach (object, key, value) {
        long long n = json_is_string (value) ? atoll (json_string_value (value)) : json_integer_value (value);
        if (n) {
            printf ("%s %s=%lld", shown++ % 8 == 7 ? "\n   " : "", key, n);
        }
    }
    printf ("%s\n", shown ? "" : " none");
}

int
cli_stats (const config_t *config, int argc, char **argv)
{
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, "gc_stats", NULL);
    //  gc_stats answers its figures without "ok"; a refusal says ok false
    if (!reply || json_is_false (json_object_get (reply, "ok"))) {
        int rc = s_store_fail ("stats", reply);
        json_decref (reply);
        store_destroy (&store);
        return rc;
    }
    if (cli_flag (argc, argv, "--json")) {
        char *text = json_dumps (reply, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("%s\n", text);
        free (text);
    }
    else {
        s_print_counts ("cases by state", json_object_get (reply, "state"));
        s_print_counts ("open by tier", json_object_get (reply, "open_tier"));
        s_print_counts ("open by category", json_object_get (reply, "open_category"));
        s_print_counts ("open by grid", json_object_get (reply, "open_grid"));
        s_print_counts ("totals", json_object_get (reply, "total"));
        printf ("pending: dispatch=%lld notify=%lld  timers=%lld  dead letters: notify=%lld\n",
                json_integer_value (json_object_get (json_object_get (reply, "pending"), "dispatch")),
                json_integer_value (json_object_get (json_object_get (reply, "pending"), "notify")),
                json_integer_value (json_object_get (reply, "timers")),
                json_integer_value (json_object_get (json_object_get (reply, "dead"), "notify")));
    }
    json_decref (reply);
    store_destroy (&store);
    return 0;
}
