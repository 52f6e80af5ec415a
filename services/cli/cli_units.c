/*  cli_units.c — `gridcall route` shows which units dispatch would offer a
    case to, ranked, with the reason each unit is in or out; `gridcall
    order` places service-card orders and lists what waits and what was
    delivered. Both read Redis through the store; neither changes a case
    except `order place`. */
#include "cli_args.h"
#include "cli_units.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <czmq.h>

#include "cli_client.h"
#include "codec.h"
#include "directory.h"
#include "store.h"
#include "street.h"

#define RANK_MAX 200            //  store calls carry at most 256 arguments
#define STALE_MS 3000           //  a unit not seen for this long is not connected

//  The directory Redis holds, or NULL (the reason printed).
static directory_t *
s_directory (store_t *store)
{
    json_t *reply = store_callv (store, "gc_dir_get", NULL);
    const char *text = json_string_value (json_object_get (reply, "json"));
    char err [512];
    directory_t *directory = text ? directory_parse (text, "redis dir:json", err, sizeof err) : NULL;
    if (!directory)
        fprintf (stderr, "gridcall: %s\n", text ? err : reply
                 ? json_string_value (json_object_get (reply, "message")) : "Redis did not answer");
    json_decref (reply);
    return directory;
}

typedef struct {
    const dir_unit_t *unit;     //  borrowed from the directory
    street_why_t why;           //  street_check's verdict
    bool connected;             //  seen by dispatch lately
    json_t *standing;           //  spare, accept, ontime... (borrowed from the reply)
    int rank;                   //  1.. for candidates, 0 when out
} s_row_t;

//  True when the unit's record fits and only its duty may keep it out.
static bool
s_fits_record (street_why_t why)
{
    return why == STREET_IN || why == STREET_OFF_DUTY || why == STREET_HOLIDAY;
}

//  Candidates first, ordered as dispatch ranks them: spare capacity, then
//  accept rate, then on-time rate.
static int
s_compare (const void *a, const void *b)
{
    const s_row_t *x = (const s_row_t *) a, *y = (const s_row_t *) b;
    bool xin = x->why == STREET_IN && x->connected, yin = y->why == STREET_IN && y->connected;
    if (xin != yin)
        return xin ? -1 : 1;
    if (!xin)
        return (int) x->why - (int) y->why;
    const char *keys [] = { "spare", "accept", "ontime" };
    for (int k = 0; k < 3; k++) {
        double p = json_number_value (json_object_get (x->standing, keys [k]));
        double q = json_number_value (json_object_get (y->standing, keys [k]));
        if (p != q)
            return p > q ? -1 : 1;
    }
    return 0;
}

int
cli_route (const config_t *config, int argc, char **argv)
{
    const char *grid = cli_opt (argc, argv, "--grid", NULL);
    const char *category = cli_opt (argc, argv, "--category", NULL);
    if (!grid || !category) {
        fprintf (stderr, "usage: gridcall route --grid G --category C [--tier T] "
                         "[--at YYYY-MM-DDTHH:MM] [--json]\n");
        return 2;
    }
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    directory_t *directory = s_directory (store);
    if (!directory) {
        store_destroy (&store);
        return 1;
    }
    int rc = 1;
    s_row_t *rows = NULL;
    json_t *ranks = NULL;
    const dir_category_t *cat = directory_category_find (directory, category);
    if (!cat || !directory_grid_find (directory, grid)) {
        fprintf (stderr, "gridcall: %s \"%s\" is not in the directory\n", cat ? "grid" : "category",
                 cat ? grid : category);
        goto cleanup;
    }
    int tier = cli_opt (argc, argv, "--tier", NULL) ? dir_tier_parse (cli_opt (argc, argv, "--tier", NULL))
                                               : cat->start_tier;
    if (tier == 0) {
        fprintf (stderr, "gridcall: --tier takes GRID, COMMUNITY, STREET or DISTRICT\n");
        goto cleanup;
    }
    const char *when = cli_opt (argc, argv, "--at", "now");
    long long at_ms = zclock_time ();
    if (strcmp (when, "now") != 0
    &&  street_parse (directory_utc_offset_minutes (directory), when, &at_ms)) {
        fprintf (stderr, "gridcall: --at takes YYYY-MM-DDTHH:MM in the street's local time\n");
        goto cleanup;
    }
    street_time_t at;
    street_local (directory, at_ms, &at);
    size_t count = directory_unit_count (directory);
    rows = calloc (count ? count : 1, sizeof *rows);
    const char **ids = calloc (count ? count : 1, sizeof (char *));
    if (!rows || !ids) {
        free (ids);
        goto cleanup;
    }
    size_t fitting = 0;
    for (size_t i = 0; i < count; i++) {
        rows [i].unit = directory_unit (directory, i);
        rows [i].why = street_check (directory, rows [i].unit, tier, grid, category, &at);
        if (s_fits_record (rows [i].why))
            ids [fitting++] = rows [i].unit->id;
    }
    //  the standing of the units that fit (Redis: capacity, load, record)
    ranks = json_array ();
    for (size_t start = 0; start < fitting; start += RANK_MAX) {
        size_t n = fitting - start < RANK_MAX ? fitting - start : RANK_MAX;
        json_t *reply = store_call (store, "gc_route_rank", (int) n, ids + start, NULL);
        json_array_extend (ranks, json_object_get (reply, "units"));
        json_decref (reply);
    }
    free (ids);
    long long now = zclock_time ();
    for (size_t i = 0; i < count; i++) {
        size_t k;
        json_t *item;
        json_array_foreach (ranks, k, item)
            if (strcmp (json_string_value (json_object_get (item, "unit")), rows [i].unit->id) == 0) {
                rows [i].standing = item;
                long long seen = json_integer_value (json_object_get (item, "seen"));
                rows [i].connected = seen > 0 && now - seen < STALE_MS;
            }
    }
    qsort (rows, count, sizeof *rows, s_compare);
    json_t *out = json_array ();
    int rank = 0;
    char local [32];
    street_format (&at, local, sizeof local);
    if (!cli_flag (argc, argv, "--json"))
        printf ("route %s %s at %s, local %s (weekday %d)\n", grid, category,
                dir_tier_name (tier), local, at.weekday);
    for (size_t i = 0; i < count; i++) {
        s_row_t *r = &rows [i];
        bool in = r->why == STREET_IN && r->connected;
        if (!s_fits_record (r->why) && !cli_flag (argc, argv, "--all"))
            continue;           //  units that do not fit at all: only with --all
        char reason [160];
        if (in) {
            r->rank = ++rank;
            snprintf (reason, sizeof reason, "spare %lld of %lld, accept rate %.2f, on time %.2f",
                      json_integer_value (json_object_get (r->standing, "spare")),
                      json_integer_value (json_object_get (r->standing, "capacity")),
                      json_number_value (json_object_get (r->standing, "accept")),
                      json_number_value (json_object_get (r->standing, "ontime")));
            if (json_integer_value (json_object_get (r->standing, "spare")) <= 0)
                strcat (reason, " (full: skipped until a case closes)");
        }
        else
        if (r->why == STREET_IN)
            snprintf (reason, sizeof reason, "not connected");
        else
        if (s_fits_record (r->why)) {
            long long next = street_next_duty (directory, r->unit, &at);
            street_time_t slot;
            street_local (directory, next, &slot);
            char shown [32];
            street_format (&slot, shown, sizeof shown);
            if (next > 0)
                snprintf (reason, sizeof reason, "%s; next on duty %s%s", street_why_text (r->why),
                          shown, r->connected ? "" : ", not connected");
            else
                snprintf (reason, sizeof reason, "%s", street_why_text (r->why));
        }
        else
            snprintf (reason, sizeof reason, "%s", street_why_text (r->why));
        if (cli_flag (argc, argv, "--json"))
            json_array_append_new (out, json_pack ("{s:s, s:b, s:i, s:s, s:b}", "unit", r->unit->id,
                                                   "in", in, "rank", r->rank, "reason", reason,
                                                   "connected", r->connected));
        else
        if (in)
            printf ("  %2d. %-10s %s\n", r->rank, r->unit->id, reason);
        else
            printf ("   out %-10s %s\n", r->unit->id, reason);
    }
    if (cli_flag (argc, argv, "--json")) {
        char *text = json_dumps (out, JSON_INDENT (2));
        printf ("%s\n", text);
        free (text);
    }
    else
    if (rank == 0)
        printf ("  no unit can take it now%s\n", cat->service ? "; a service order waits for the "
                "earliest next duty slot above" : "; the case waits");
    json_decref (out);
    rc = 0;
cleanup:
    json_decref (ranks);
    free (rows);
    directory_destroy (&directory);
    store_destroy (&store);
    return rc;
}

int
cli_order (const config_t *config, int argc, char **argv)
{
    const char *what = argc > 0 ? argv [0] : "";
    if (strcmp (what, "place") != 0 && strcmp (what, "decline") != 0 && strcmp (what, "list") != 0) {
        fprintf (stderr, "usage: gridcall order place ID [--who NAME] | order decline ID --reason TEXT "
                 "[--who NAME] | order list [--json]\n");
        return 2;
    }
    if ((strcmp (what, "place") == 0 || strcmp (what, "decline") == 0)
    &&  (argc < 2 || argv [1][0] == '-')) {
        fprintf (stderr, "usage: gridcall order place|decline ID [--reason TEXT] [--who NAME]\n");
        return 2;
    }
    int rc = 1;
    if (strcmp (what, "place") == 0 || strcmp (what, "decline") == 0) {
        //  the operator's decision goes through intake, which commits it
        //  and wakes dispatch (a placed order) and notify (the resident)
        Gridcall__V1__OrderDecision decision = GRIDCALL__V1__ORDER_DECISION__INIT;
        decision.case_id = argv [1];
        decision.place = strcmp (what, "place") == 0;
        decision.reason = (char *) cli_opt (argc, argv, "--reason", "");
        decision.operator_ = (char *) cli_opt (argc, argv, "--who", "operator");
        codec_msg_t answer;
        if (cli_client_ask (config, "order.decide", &decision.base, &answer))
            return 1;
        rc = cli_client_refused (decision.place ? "order place" : "order decline", &answer);
        if (!rc) {
            const Gridcall__V1__Ack *ack = (const Gridcall__V1__Ack *) answer.body;
            printf ("%s %s%s: %s\n", ack->case_id, decision.place ? "placed" : "declined",
                    ack->duplicate ? " already" : "", codec_state_name (ack->state));
        }
        codec_msg_reset (&answer);
        return rc;
    }
    else {
        store_t *store = cli_store (config);
        if (!store)
            return 1;
        json_t *reply = store_callv (store, "gc_orders", "100", NULL);
        if (reply && cli_flag (argc, argv, "--json")) {
            char *text = json_dumps (reply, JSON_INDENT (2) | JSON_SORT_KEYS);
            printf ("%s\n", text);
            free (text);
            rc = 0;
        }
        else
        if (reply) {
            printf ("orders waiting to be placed: %lld\n",
                    json_integer_value (json_object_get (reply, "waiting_count")));
            size_t i;
            json_t *item;
            json_array_foreach (json_object_get (reply, "waiting"), i, item)
                printf ("  %s  %-16s %-6s %s\n", json_string_value (json_object_get (item, "case_id")),
                        json_string_value (json_object_get (item, "category")),
                        json_string_value (json_object_get (item, "grid")),
                        json_string_value (json_object_get (item, "text")));
            printf ("services delivered by category:\n");
            const char *key;
            json_t *value;
            json_object_foreach (json_object_get (reply, "delivered"), key, value)
                printf ("  %-20s %s\n", key, json_string_value (value));
            rc = 0;
        }
        json_decref (reply);
        store_destroy (&store);
    }
    return rc;
}
