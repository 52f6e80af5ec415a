/*  cli_status.c — see cli_status.h. Each daemon instance writes its record
    (gc_instance_beat) every second with a 5 s TTL; an instance whose record
    lapsed is listed as silent until a day has passed. */
#include "cli_status.h"

#include <hiredis/hiredis.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "store.h"

//  "1.2 s ago" / "-" for a wall-clock time in ms seen from now.
static void
s_ago (char *buf, size_t size, long long now, long long at)
{
    if (at <= 0)
        snprintf (buf, size, "-");
    else
        snprintf (buf, size, "%.1f s ago", (double) (now - at) / 1000.0);
}

//  "redis 10.0.0.1:6379: master, offset 1234, 2 replicas" and a line per
//  replica with its offset and how many bytes of the stream it lacks.
static void
s_print_replication (const json_t *r)
{
    if (!r) {
        printf ("redis: replication unknown (ROLE failed)\n");
        return;
    }
    const char *role = json_string_value (json_object_get (r, "role"));
    json_t *replicas = json_object_get (r, "replicas");
    printf ("redis %s: %s, offset %lld", json_string_value (json_object_get (r, "server")),
            role ? role : "?", json_integer_value (json_object_get (r, "offset")));
    if (json_is_array (replicas))
        printf (", %zu replica%s connected\n", json_array_size (replicas),
                json_array_size (replicas) == 1 ? "" : "s");
    else
    if (json_object_get (r, "primary"))
        printf (" (replica of %s, link %s)\n", json_string_value (json_object_get (r, "primary")),
                json_string_value (json_object_get (r, "state")));
    else
        printf ("\n");
    size_t index;
    json_t *item;
    json_array_foreach (replicas, index, item)
        printf ("  replica %-22s offset %lld, lag %lld bytes\n",
                json_string_value (json_object_get (item, "addr")),
                json_integer_value (json_object_get (item, "offset")),
                json_integer_value (json_object_get (item, "lag_bytes")));
}

int
cli_status (const config_t *config, int argc, char **argv)
{
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, "gc_instances", NULL);
    if (!json_is_true (json_object_get (reply, "ok"))) {
        fprintf (stderr, "gridcall status: %s\n", reply
                 ? json_string_value (json_object_get (reply, "message")) : "Redis is unreachable");
        json_decref (reply);
        store_destroy (&store);
        return 1;
    }
    long long now = json_integer_value (json_object_get (reply, "now"));
    json_t *list = json_object_get (reply, "instances");
    //  each record is the JSON the instance wrote: parse it in place
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item) {
        const char *text = json_string_value (json_object_get (item, "record"));
        json_t *record = text && *text ? json_loads (text, 0, NULL) : NULL;
        json_object_set_new (item, "record", record ? record : json_null ());
    }
    //  Redis's own replication (ROLE on the node the store reached: the
    //  primary, behind Sentinel): null when ROLE failed
    json_t *replication = store_replication (store);
    json_object_set_new (reply, "redis", replication ? replication : json_null ());
    if (cli_flag (argc, argv, "--json")) {
        char *text = json_dumps (reply, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("%s\n", text);
        free (text);
        json_decref (reply);
        store_destroy (&store);
        return 0;
    }
    printf ("%-9s %-24s %-8s %-12s %-12s %8s %5s  %s\n", "daemon", "instance", "role",
            "last beat", "last sweep", "rss_kb", "fds", "pid@host");
    json_array_foreach (list, index, item) {
        json_t *r = json_object_get (item, "record");
        const char *name = json_string_value (json_object_get (item, "name"));
        const char *slash = name ? strchr (name, '/') : NULL;
        char beat [32], sweep [32];
        snprintf (beat, sizeof beat, "%.1f s ago",
                  (double) json_integer_value (json_object_get (item, "seen_ms")) / 1000.0);
        s_ago (sweep, sizeof sweep, now, json_integer_value (json_object_get (r, "last_sweep_ms")));
        const char *role = json_string_value (json_object_get (r, "role"));
        printf ("%-9.*s %-24s %-8s %-12s %-12s %8lld %5lld  %lld@%s\n",
                slash ? (int) (slash - name) : 0, name ? name : "", slash ? slash + 1 : "?",
                json_is_null (r) ? "silent" : role ? role : "active", beat, sweep,
                json_integer_value (json_object_get (r, "rss_kb")),
                json_integer_value (json_object_get (r, "fds")),
                json_integer_value (json_object_get (r, "pid")),
                json_string_value (json_object_get (r, "host")) ? json_string_value (json_object_get (r, "host")) : "?");
    }
    if (json_array_size (list) == 0)
        printf ("(no instance has reported in the last day)\n");
    json_t *lag = json_object_get (reply, "lag");
    printf ("lag (oldest due work): dispatch %lld ms, notify %lld ms, escalate %lld ms\n",
            json_integer_value (json_object_get (lag, "dispatch")),
            json_integer_value (json_object_get (lag, "notify")),
            json_integer_value (json_object_get (lag, "escalate")));
    const char *lease = json_string_value (json_object_get (reply, "lease"));
    printf ("dispatch lease: %s (%lld ms left), epoch %s\n", lease && *lease ? lease : "nobody",
            json_integer_value (json_object_get (reply, "lease_ttl")) > 0
            ? json_integer_value (json_object_get (reply, "lease_ttl")) : 0,
            json_string_value (json_object_get (reply, "epoch")));
    s_print_replication (replication);
    json_decref (reply);
    store_destroy (&store);
    return 0;
}
