/*  report_api.c — routes and JSON answers of the report's HTTP API, built
    from the replies of the read-only store functions (gc_case_get,
    gc_stats). Counters arrive as strings from Redis hashes and leave as
    JSON integers; fixed sets (states, tiers, totals) are zero-filled. */
#include "report_api.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <time.h>
#include <stdlib.h>
#include <string.h>

#include "gridcall.pb-c.h"
#include "log.h"
#include "street.h"

#define CASES_PREFIX "/api/cases/"
#define MATTERS_PREFIX "/api/matters/"
#define STATIC_PREFIX "/static/"

//  Every stats:total counter the function library moves.
static const char *s_totals [] = {
    "reported", "offers", "offers_expired", "declines", "resolved", "resolved_on_time",
    "closed", "reopened", "evaluated", "satisfaction_sum", "escalations",
    "overdue_repeats", "notified", "notify_dead", NULL
};

static const char *s_pending [] = { "dispatch", "notify", NULL };
static const char *s_dead [] = { "notify", NULL };

#define COMMUNITY_PREFIX "/api/community/"
#define COMMUNITY_NAME_MAX 32   //  bytes of a view or ledger name

//  Split "/api/community/<name>[.csv]" (report_community.h): true with
//  name filled (checked to be [a-z_]) and *csv set, else false.
static bool
s_community_route (const char *path, char *name, bool *csv)
{
    size_t plen = strlen (COMMUNITY_PREFIX);
    if (strncmp (path, COMMUNITY_PREFIX, plen) != 0)
        return false;
    const char *rest = path + plen;
    size_t n = strlen (rest);
    *csv = n > 4 && strcmp (rest + n - 4, ".csv") == 0;
    if (*csv)
        n -= 4;
    if (n == 0 || n >= COMMUNITY_NAME_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!((rest [i] >= 'a' && rest [i] <= 'z') || rest [i] == '_'))
            return false;
    memcpy (name, rest, n);
    name [n] = 0;
    return true;
}

report_route_t
report_api_route (const char *path, char *id)
{
    size_t len = strnlen (path, REPORT_URL_MAX + 1);
    if (len > REPORT_URL_MAX)
        return REPORT_ROUTE_TOO_LONG;
    if (strcmp (path, "/") == 0)
        return REPORT_ROUTE_PAGE;
    if (strcmp (path, "/api/stats") == 0)
        return REPORT_ROUTE_STATS;
    if (strcmp (path, "/healthz") == 0)
        return REPORT_ROUTE_HEALTH;
    static const struct { const char *path; report_route_t route; } exact [] = {
        { "/api/cases", REPORT_ROUTE_CASES }, { "/api/units", REPORT_ROUTE_UNITS },
        { "/api/snapshot", REPORT_ROUTE_SNAPSHOT }, { "/api/stream", REPORT_ROUTE_STREAM },
        { "/api/ledger.csv", REPORT_ROUTE_LEDGER }, { "/metrics", REPORT_ROUTE_METRICS },
        { "/api/matters", REPORT_ROUTE_MATTERS }
    };
    for (size_t i = 0; i < sizeof exact / sizeof exact [0]; i++)
        if (strcmp (path, exact [i].path) == 0)
            return exact [i].route;
    size_t slen = strlen (STATIC_PREFIX);
    if (len > slen && strncmp (path, STATIC_PREFIX, slen) == 0) {
        const char *name = path + slen;
        size_t n = len - slen;
        if (n > REPORT_CASE_ID_MAX || name [0] == '.' || !report_api_case_id_valid (name, n))
            return REPORT_ROUTE_NOT_FOUND;
        memcpy (id, name, n);
        id [n] = 0;
        return REPORT_ROUTE_STATIC;
    }
    bool csv;
    if (s_community_route (path, id, &csv))
        return csv ? REPORT_ROUTE_COMMUNITY_CSV : REPORT_ROUTE_COMMUNITY;
    static const struct { const char *prefix; report_route_t route; } by_id [] = {
        { CASES_PREFIX, REPORT_ROUTE_CASE }, { MATTERS_PREFIX, REPORT_ROUTE_MATTER }
    };
    for (size_t i = 0; i < sizeof by_id / sizeof by_id [0]; i++) {
        size_t plen = strlen (by_id [i].prefix);
        if (len > plen && strncmp (path, by_id [i].prefix, plen) == 0) {
            const char *rest = path + plen;
            size_t n = len - plen;
            if (!report_api_case_id_valid (rest, n))
                return REPORT_ROUTE_BAD_ID;
            memcpy (id, rest, n);
            id [n] = 0;
            return by_id [i].route;
        }
    }
    return REPORT_ROUTE_NOT_FOUND;
}

bool
report_api_method_ok (const char *method)
{
    return strcmp (method, "GET") == 0 || strcmp (method, "HEAD") == 0;
}

bool
report_api_case_id_valid (const char *id, size_t len)
{
    if (len == 0 || len > REPORT_CASE_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++) {
        char c = id [i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        ||    c == '.' || c == '_' || c == '-'))
            return false;
    }
    return true;
}

//  The name of the index-th value of a wire enum after UNSPECIFIED, without
//  its prefix ("STATE_", "TIER_"), or NULL past the last.
static const char *
s_enum_name (const ProtobufCEnumDescriptor *enum_, const char *prefix, size_t index)
{
    size_t skip = strlen (prefix);
    size_t seen = 0;
    for (unsigned i = 0; i < enum_->n_values; i++) {
        const ProtobufCEnumValue *v = &enum_->values [i];
        if (v->value == 0 || strncmp (v->name, prefix, skip) != 0)
            continue;
        if (seen++ == index)
            return v->name + skip;
    }
    return NULL;
}

const char *
report_api_state_name (size_t index)
{
    return s_enum_name (&gridcall__v1__case_state__descriptor, "STATE_", index);
}

bool
report_api_state_known (const char *name)
{
    for (size_t i = 0; name && report_api_state_name (i); i++)
        if (strcmp (report_api_state_name (i), name) == 0)
            return true;
    return false;
}

const char *
report_api_tier_name (long long tier)
{
    const ProtobufCEnumValue *v = tier > 0 && tier < 100
        ? protobuf_c_enum_descriptor_get_value (&gridcall__v1__tier__descriptor, (int) tier) : NULL;
    return v && strncmp (v->name, "TIER_", 5) == 0 ? v->name + 5 : NULL;
}

json_t *
report_api_error (const char *code, const char *message)
{
    return json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", code, "message", message);
}

bool
report_api_int (const json_t *json, long long *value)
{
    if (json_is_integer (json)) {
        *value = json_integer_value (json);
        return true;
    }
    if (json_is_real (json)) {
        double d = json_real_value (json);
        if (d < -9.0e15 || d > 9.0e15 || d != (double) (long long) d)
            return false;
        *value = (long long) d;
        return true;
    }
    if (!json_is_string (json))
        return false;
    const char *text = json_string_value (json);
    size_t len = json_string_length (json);
    if (len == 0 || !((text [0] >= '0' && text [0] <= '9') || text [0] == '-'))
        return false;
    char *end = NULL;
    errno = 0;
    long long v = strtoll (text, &end, 10);
    if (errno || end == text || (size_t) (end - text) != len)
        return false;
    *value = v;
    return true;
}

//  Set key to src's integer, or to null when src holds none.
static void
s_put_int (json_t *out, const char *key, const json_t *src)
{
    long long v;
    json_object_set_new (out, key, report_api_int (src, &v) ? json_integer (v) : json_null ());
}

//  Set key to src's integer only when src holds one.
static void
s_put_int_opt (json_t *out, const char *key, const json_t *src)
{
    long long v;
    if (report_api_int (src, &v))
        json_object_set_new (out, key, json_integer (v));
}

//  Set key to src's string, or to "" when src is not a string.
static void
s_put_str (json_t *out, const char *key, const json_t *src)
{
    json_object_set_new (out, key, json_is_string (src)
                         ? json_stringn (json_string_value (src), json_string_length (src))
                         : json_string (""));
}

//  Set key to src's string only when src is one.
static void
s_put_str_opt (json_t *out, const char *key, const json_t *src)
{
    if (json_is_string (src))
        s_put_str (out, key, src);
}

//  Set lat and lon to the map point a report was filed with (two decimal
//  strings), or both to null when it had none.
static void
s_put_point (json_t *out, const json_t *lat, const json_t *lon)
{
    const char *a = json_string_value (lat), *b = json_string_value (lon);
    char *end_a = NULL, *end_b = NULL;
    double y = a ? strtod (a, &end_a) : 0, x = b ? strtod (b, &end_b) : 0;
    bool have = a && b && end_a != a && !*end_a && end_b != b && !*end_b;
    json_object_set_new (out, "lat", have ? json_real (y) : json_null ());
    json_object_set_new (out, "lon", have ? json_real (x) : json_null ());
}

//  Set key to the name of src's tier number, or to null.
static void
s_put_tier (json_t *out, const char *key, const json_t *src)
{
    long long tier;
    const char *name = report_api_int (src, &tier) ? report_api_tier_name (tier) : NULL;
    json_object_set_new (out, key, name ? json_string (name) : json_null ());
}

//  Set key to the name of src's tier number only when src holds one.
static void
s_put_tier_opt (json_t *out, const char *key, const json_t *src)
{
    if (src)
        s_put_tier (out, key, src);
}

//  Convert one timeline entry (the JSON text the function library pushed)
//  to the API's event. Returns NULL when the text is not a JSON object.
static json_t *
s_event (const char *text, size_t len)
{
    json_t *ev = json_loadb (text, len, 0, NULL);
    if (!json_is_object (ev)) {
        json_decref (ev);
        return NULL;
    }
    json_t *out = json_object ();
    if (out) {
        s_put_int (out, "at_ms", json_object_get (ev, "at"));
        s_put_str (out, "what", json_object_get (ev, "what"));
        s_put_str (out, "who", json_object_get (ev, "who"));
        s_put_str (out, "state", json_object_get (ev, "state"));
        s_put_tier (out, "tier", json_object_get (ev, "tier"));
        s_put_str (out, "unit", json_object_get (ev, "unit"));
        s_put_int (out, "deadline_ms", json_object_get (ev, "deadline"));
        s_put_str (out, "note", json_object_get (ev, "note"));
        s_put_int (out, "version", json_object_get (ev, "version"));
        //  details some events carry
        s_put_str_opt (out, "offer_id", json_object_get (ev, "offer"));
        s_put_str_opt (out, "offer_unit", json_object_get (ev, "offer_unit"));
        s_put_int_opt (out, "answer_by_ms", json_object_get (ev, "answer_by"));
        s_put_int_opt (out, "due_ms", json_object_get (ev, "due"));
        s_put_int_opt (out, "late_ms", json_object_get (ev, "late_ms"));
        //  a climb's details (docs/escalation.md): the tier it left, the
        //  units the community call summons, the unit that gave it back
        s_put_tier_opt (out, "from_tier", json_object_get (ev, "from_tier"));
        s_put_int_opt (out, "joint", json_object_get (ev, "joint"));
        s_put_str_opt (out, "prev_unit", json_object_get (ev, "prev_unit"));
    }
    json_decref (ev);
    return out;
}

//  Convert the timeline list; unreadable entries are skipped with a warning.
//  An empty list may arrive as {} (how cjson encodes an empty table).
static json_t *
s_timeline (const json_t *src, const char *case_id)
{
    json_t *out = json_array ();
    if (!out || !json_is_array (src))
        return out;
    size_t i;
    json_t *entry;
    json_array_foreach (src, i, entry) {
        json_t *ev = json_is_string (entry)
                   ? s_event (json_string_value (entry), json_string_length (entry)) : NULL;
        if (ev)
            json_array_append_new (out, ev);
        else
            log_warning ("report: case \"%s\" timeline entry %zu is not a JSON object; skipped",
                         case_id, i);
    }
    return out;
}

json_t *
report_api_media_link (const char *url)
{
    if (!url)
        return NULL;
    if (strncmp (url, "media:", 6) == 0)
        return json_sprintf ("/media/%s", url + 6);
    if (strncmp (url, "https://", 8) == 0 || strncmp (url, "http://", 7) == 0)
        return json_string (url);
    return NULL;
}

json_t *
report_api_media (const json_t *field)
{
    json_t *out = json_array ();
    const char *text = json_string_value (field);
    json_t *list = text && *text ? json_loads (text, 0, NULL) : NULL;
    size_t i;
    json_t *item;
    json_array_foreach (list, i, item) {
        json_t *link = report_api_media_link (json_string_value (item));
        if (link)
            json_array_append_new (out, link);
    }
    json_decref (list);
    return out;
}

json_t *
report_api_case (const json_t *c)
{
    if (!json_is_object (c))
        return NULL;
    json_t *out = json_object ();
    if (!out)
        return NULL;
    s_put_str (out, "case_id", json_object_get (c, "id"));
    s_put_str (out, "ledger_no", json_object_get (c, "ledger"));
    s_put_str (out, "grid", json_object_get (c, "grid"));
    s_put_str (out, "community", json_object_get (c, "community"));
    s_put_str (out, "category", json_object_get (c, "category"));
    s_put_str (out, "text", json_object_get (c, "text"));
    s_put_str (out, "channel", json_object_get (c, "channel"));
    s_put_str (out, "reporter", json_object_get (c, "reporter"));
    s_put_str (out, "building", json_object_get (c, "building"));
    s_put_str (out, "location", json_object_get (c, "location"));
    s_put_point (out, json_object_get (c, "lat"), json_object_get (c, "lon"));
    s_put_str (out, "state", json_object_get (c, "state"));
    s_put_tier (out, "tier", json_object_get (c, "tier"));
    s_put_str (out, "unit", json_object_get (c, "unit"));
    s_put_str (out, "responsible", json_object_get (c, "responsible"));
    s_put_str (out, "waiting", json_object_get (c, "waiting"));
    //  a merged case names the case it follows
    s_put_str_opt (out, "merged_into", json_object_get (c, "merged_into"));
    s_put_int (out, "created_ms", json_object_get (c, "created"));
    s_put_int (out, "resolve_by_ms", json_object_get (c, "resolve_by"));
    //  the deadline the case started with, kept through climbs and extensions
    s_put_int (out, "due0_ms", json_object_get (c, "due0"));
    s_put_int (out, "resolved_ms", json_object_get (c, "resolved"));
    s_put_int (out, "closed_ms", json_object_get (c, "closed"));
    s_put_int (out, "version", json_object_get (c, "version"));
    s_put_int (out, "satisfaction", json_object_get (c, "satisfaction"));
    //  joint handling and climbs: units the tier's community call summons
    //  (null until a climb records it: the directory's rule applies), the
    //  unit that held the case before its last climb or parking ("" when
    //  none), how many tiers it climbed
    s_put_int (out, "joint", json_object_get (c, "joint"));
    s_put_str (out, "prev_unit", json_object_get (c, "prev_unit"));
    long long climbs = 0;
    report_api_int (json_object_get (c, "climbs"), &climbs);
    json_object_set_new (out, "climbs", json_integer (climbs));
    json_object_set_new (out, "media", report_api_media (json_object_get (c, "media")));
    const char *id = json_string_value (json_object_get (c, "id"));
    json_object_set_new (out, "timeline", s_timeline (json_object_get (c, "timeline"),
                                                      id ? id : "?"));
    return out;
}

//  Add src's integer counters to out, which is returned. Non-numeric
//  values are skipped.
static json_t *
s_counts_add (json_t *out, const json_t *src)
{
    const char *key;
    json_t *value;
    json_object_foreach ((json_t *) src, key, value) {
        long long n;
        if (report_api_int (value, &n))
            json_object_set_new (out, key, json_integer (n));
        else
            log_debug ("report: stats counter \"%s\" is not an integer; skipped", key);
    }
    return out;
}

//  Counts from a stats hash as integers: the names in fill (may be NULL)
//  first, at zero, then whatever src holds.
static json_t *
s_counts (const json_t *src, const char **fill)
{
    json_t *out = json_object ();
    for (int i = 0; out && fill && fill [i]; i++)
        json_object_set_new (out, fill [i], json_integer (0));
    return out ? s_counts_add (out, src) : NULL;
}

//  The index-th tier name (GRID first), for s_counts_of.
static const char *
s_tier_at (size_t index)
{
    return report_api_tier_name ((long long) index + 1);
}

//  Counts as s_counts, the names to zero-fill coming from name_at (an
//  enum of the wire contract) until it returns NULL.
static json_t *
s_counts_of (const json_t *src, const char *(*name_at) (size_t index))
{
    json_t *out = json_object ();
    for (size_t i = 0; out && name_at (i); i++)
        json_object_set_new (out, name_at (i), json_integer (0));
    return out ? s_counts_add (out, src) : NULL;
}

json_t *
report_api_stats (const json_t *s)
{
    if (!json_is_object (s))
        return NULL;
    json_t *out = json_object ();
    if (!out)
        return NULL;
    s_put_int (out, "at_ms", json_object_get (s, "now"));
    json_t *by_tier = s_counts_of (json_object_get (s, "open_tier"), s_tier_at);
    long long open = 0;
    for (int t = 1; report_api_tier_name (t); t++) {
        //  a counter is whatever text the hash holds: the sum saturates
        //  rather than overflow (found by tests/fuzz/fuzz_report_api.c)
        long long n = json_integer_value (json_object_get (by_tier, report_api_tier_name (t)));
        if (__builtin_add_overflow (open, n, &open))
            open = n > 0 ? LLONG_MAX : LLONG_MIN;
    }
    json_object_set_new (out, "open", json_integer (open));
    json_object_set_new (out, "by_state", s_counts_of (json_object_get (s, "state"), report_api_state_name));
    json_object_set_new (out, "open_by_tier", by_tier);
    json_object_set_new (out, "open_by_grid", s_counts (json_object_get (s, "open_grid"), NULL));
    json_object_set_new (out, "open_by_category",
                         s_counts (json_object_get (s, "open_category"), NULL));
    json_object_set_new (out, "reported_by_category",
                         s_counts (json_object_get (s, "reported_category"), NULL));
    json_object_set_new (out, "totals", s_counts (json_object_get (s, "total"), s_totals));
    json_object_set_new (out, "pending", s_counts (json_object_get (s, "pending"), s_pending));
    long long timers = 0;
    report_api_int (json_object_get (s, "timers"), &timers);
    json_object_set_new (out, "timers", json_integer (timers));
    json_object_set_new (out, "dead", s_counts (json_object_get (s, "dead"), s_dead));
    return out;
}

//  The answer when the store gave no usable reply: 503 when Redis is
//  unreachable (reply NULL), 502 when it answered with an error.
static json_t *
s_store_failure (const json_t *reply, int *status)
{
    if (!reply) {
        *status = 503;
        return report_api_error ("UNAVAILABLE", "the store is unreachable; retry shortly");
    }
    *status = 502;
    return report_api_error ("STORE_ERROR", "the store answered with an error");
}

//  True when a function reply says it failed ({"ok":false,...}).
static bool
s_failed (const json_t *reply)
{
    return !json_is_object (reply) || json_is_false (json_object_get (reply, "ok"));
}

json_t *
report_api_case_answer (const json_t *reply, int *status)
{
    const char *code = json_string_value (json_object_get (reply, "code"));
    if (reply && s_failed (reply) && code && strcmp (code, "UNKNOWN_CASE") == 0) {
        *status = 404;
        return report_api_error ("UNKNOWN_CASE", "no such case");
    }
    if (reply && !s_failed (reply)) {
        json_t *out = report_api_case (json_object_get (reply, "case"));
        if (out) {
            *status = 200;
            return out;
        }
    }
    return s_store_failure (reply, status);
}

json_t *
report_api_matter_answer (const json_t *reply, int *status)
{
    const char *code = json_string_value (json_object_get (reply, "code"));
    if (reply && s_failed (reply) && code && strcmp (code, "UNKNOWN_MATTER") == 0) {
        *status = 404;
        return report_api_error ("UNKNOWN_MATTER", "no such matter");
    }
    json_t *matter = reply && !s_failed (reply) ? json_object_get (reply, "matter") : NULL;
    if (json_is_object (matter)) {
        *status = 200;
        return json_deep_copy (matter);
    }
    return s_store_failure (reply, status);
}

json_t *
report_api_matters_answer (const json_t *reply, int *status)
{
    if (reply && !s_failed (reply) && json_is_object (json_object_get (reply, "board"))) {
        json_t *out = json_pack ("{s:O, s:O, s:O, s:O, s:O, s:O}",
            "stages", json_object_get (reply, "stages"), "board", json_object_get (reply, "board"),
            "meetings", json_object_get (reply, "meetings"),
            "levels", json_object_get (reply, "levels"),
            "templates", json_object_get (reply, "templates"),
            "count", json_object_get (reply, "count"));
        if (out) {
            *status = 200;
            return out;
        }
    }
    return s_store_failure (reply, status);
}

json_t *
report_api_stats_answer (const json_t *reply, int *status)
{
    json_t *out = reply && !s_failed (reply) ? report_api_stats (reply) : NULL;
    if (out) {
        *status = 200;
        return out;
    }
    return s_store_failure (reply, status);
}

json_t *
report_api_health_answer (const json_t *reply, int *status)
{
    if (reply && !s_failed (reply)) {
        *status = 200;
        return json_pack ("{s:b, s:s}", "ok", 1, "redis", "up");
    }
    *status = 503;
    return json_pack ("{s:b, s:s}", "ok", 0, "redis", reply ? "error" : "down");
}

//  The value of hex digit c, or -1.
static int
s_hex (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

int
report_api_arg_decode (const char *raw, char *out, size_t size)
{
    size_t n = 0;
    if (size == 0)
        return -1;
    for (const char *p = raw; *p; p++) {
        char c = *p;
        if (c == '%') {
            int hi = s_hex (p [1]), lo = hi >= 0 ? s_hex (p [2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return -1;
            c = (char) (hi * 16 + lo);
            p += 2;
        }
        else
        if (c == '+')
            c = ' ';
        if (n + 1 >= size)
            return -1;
        out [n++] = c;
    }
    out [n] = 0;
    return 0;
}

//  Parse a time argument: Unix ms (digits) or a local date YYYY-MM-DD,
//  meaning that day's local midnight. Returns 0 or -1.
static int
s_time_arg (const char *text, int utc_offset_min, long long *ms)
{
    size_t len = strlen (text);
    int y, m, d;
    char tail;
    if (len == 10 && text [4] == '-' && text [7] == '-' && strspn (text, "0123456789") == 4
    &&  strspn (text + 5, "0123456789") == 2 && strspn (text + 8, "0123456789") == 2
    &&  sscanf (text, "%4d-%2d-%2d%c", &y, &m, &d, &tail) == 3
    &&  y >= 1970 && y <= 9999 && d >= 1 && d <= street_month_days (y, m)) {
        struct tm tm = { .tm_year = y - 1900, .tm_mon = m - 1, .tm_mday = d };
        time_t t = timegm (&tm);
        *ms = (long long) t * 1000 - (long long) utc_offset_min * 60000;
        return 0;
    }
    if (len == 0 || len > 15 || strspn (text, "0123456789") != len)
        return -1;
    *ms = strtoll (text, NULL, 10);
    return 0;
}

//  Copy an id argument into out (REPORT_ID_MAX + 1 bytes). Returns 0 or -1.
static int
s_id_arg (const char *text, char *out)
{
    size_t len = strlen (text);
    if (len == 0 || len > REPORT_ID_MAX || !report_api_case_id_valid (text, len))
        return -1;
    memcpy (out, text, len + 1);
    return 0;
}

//  Check a state list "A,B" against the lifecycle; "open" sets *open.
static int
s_states_arg (const char *text, char *out, size_t size, bool *open)
{
    if (strcmp (text, "open") == 0) {
        *open = true;
        out [0] = 0;
        return 0;
    }
    size_t len = strlen (text);
    //  no empty state: "", ",", "A,", "A,,B" are mistakes, not "any"
    if (len == 0 || len >= size || text [0] == ',' || text [len - 1] == ','
    ||  strstr (text, ",,"))
        return -1;
    char copy [160];
    snprintf (copy, sizeof copy, "%s", text);
    char *save = NULL;
    for (char *s = strtok_r (copy, ",", &save); s; s = strtok_r (NULL, ",", &save)) {
        if (!report_api_state_known (s))
            return -1;
    }
    snprintf (out, size, "%s", text);
    return 0;
}

int
report_api_filter_parse (report_filter_t *f, const char *(*get) (void *ctx, const char *name),
                         void *ctx, int utc_offset_min, char *err, size_t errlen)
{
    memset (f, 0, sizeof *f);
    f->limit = 50;
    const char *v;
    if ((v = get (ctx, "from")) && s_time_arg (v, utc_offset_min, &f->from_ms)) {
        snprintf (err, errlen, "from: Unix milliseconds or a date YYYY-MM-DD");
        return -1;
    }
    f->has_from = v != NULL;
    if ((v = get (ctx, "to")) && s_time_arg (v, utc_offset_min, &f->to_ms)) {
        snprintf (err, errlen, "to: Unix milliseconds or a date YYYY-MM-DD");
        return -1;
    }
    f->has_to = v != NULL;
    if (f->has_from && f->has_to && f->to_ms <= f->from_ms) {
        snprintf (err, errlen, "to must be after from");
        return -1;
    }
    static const char *names [] = { "grid", "community", "category", "unit" };
    char *outs [] = { f->grid, f->community, f->category, f->unit };
    for (int i = 0; i < 4; i++)
        if ((v = get (ctx, names [i])) && s_id_arg (v, outs [i])) {
            snprintf (err, errlen, "%s: 1 to %d characters of A-Z a-z 0-9 . _ -", names [i],
                      REPORT_ID_MAX);
            return -1;
        }
    if ((v = get (ctx, "state")) && s_states_arg (v, f->states, sizeof f->states, &f->open)) {
        snprintf (err, errlen, "state: \"open\" or states of the lifecycle, comma-separated");
        return -1;
    }
    if ((v = get (ctx, "cursor"))) {
        //  "<created ms>:<case id>", as next_cursor gave it
        size_t len = strlen (v), ms = strspn (v, "0123456789");
        if (len > REPORT_CURSOR_MAX || ms == 0 || ms > 16 || v [ms] != ':'
        ||  !report_api_case_id_valid (v + ms + 1, len - ms - 1)) {
            snprintf (err, errlen, "cursor: the next_cursor of the previous page");
            return -1;
        }
        memcpy (f->cursor, v, len + 1);
        long long at = strtoll (v, NULL, 10);
        if ((f->has_from && at < f->from_ms) || (f->has_to && at >= f->to_ms)) {
            snprintf (err, errlen, "cursor: outside the range from..to (a cursor of another "
                      "query)");
            return -1;
        }
    }
    if ((v = get (ctx, "limit"))) {
        size_t len = strlen (v);
        long n = len > 0 && len <= 5 && strspn (v, "0123456789") == len ? strtol (v, NULL, 10) : 0;
        if (n < 1 || n > REPORT_LIMIT_MAX) {
            snprintf (err, errlen, "limit: 1 to %d", REPORT_LIMIT_MAX);
            return -1;
        }
        f->limit = (int) n;
    }
    return 0;
}

char *
report_api_filter_json (const report_filter_t *f, const char *cursor, int limit)
{
    json_t *doc = json_pack ("{s:s, s:i, s:b}", "cursor", cursor ? cursor : "", "limit", limit,
                             "open", f->open);
    if (!doc)
        return NULL;
    if (f->has_from)
        json_object_set_new (doc, "from", json_integer (f->from_ms));
    if (f->has_to)
        json_object_set_new (doc, "to", json_integer (f->to_ms));
    static const char *names [] = { "grid", "community", "category", "unit" };
    const char *values [] = { f->grid, f->community, f->category, f->unit };
    for (int i = 0; i < 4; i++)
        if (*values [i])
            json_object_set_new (doc, names [i], json_string (values [i]));
    if (*f->states) {
        json_t *states = json_array ();
        char copy [160];
        snprintf (copy, sizeof copy, "%s", f->states);
        char *save = NULL;
        for (char *s = strtok_r (copy, ",", &save); s; s = strtok_r (NULL, ",", &save))
            json_array_append_new (states, json_string (s));
        json_object_set_new (doc, "states", states);
    }
    char *text = json_dumps (doc, JSON_COMPACT);
    json_decref (doc);
    return text;
}
