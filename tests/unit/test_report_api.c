/*  test_report_api.c — the report's pure API logic: URL routing and case id
    checks, and the JSON built from gc_case_get and gc_stats replies as the
    function library sends them (counters as strings, empty tables as {}). */
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "gridcall.pb-c.h"
#include "report_api.h"

//  Parse JSON text the way the store hands replies over.
static json_t *
s_json (const char *text)
{
    json_error_t error;
    json_t *json = json_loads (text, 0, &error);
    if (!json)
        fail_msg ("bad test JSON at line %d: %s", error.line, error.text);
    return json;
}

//  Integer at key, failing the test when it is missing or not an integer.
static long long
s_int_at (const json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    if (!json_is_integer (v))
        fail_msg ("\"%s\" is not a JSON integer", key);
    return json_integer_value (v);
}

static const char *
s_str_at (const json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    if (!s)
        fail_msg ("\"%s\" is not a JSON string", key);
    return s;
}

static void
test_route_known_paths (void **state)
{
    (void) state;
    char id [REPORT_CASE_ID_MAX + 1];
    assert_int_equal (report_api_route ("/", id), REPORT_ROUTE_PAGE);
    assert_int_equal (report_api_route ("/api/stats", id), REPORT_ROUTE_STATS);
    assert_int_equal (report_api_route ("/healthz", id), REPORT_ROUTE_HEALTH);
    assert_int_equal (report_api_route ("/api/cases/TJ-20240517-000042", id), REPORT_ROUTE_CASE);
    assert_string_equal (id, "TJ-20240517-000042");
}

static void
test_route_unknown_paths (void **state)
{
    (void) state;
    char id [REPORT_CASE_ID_MAX + 1];
    assert_int_equal (report_api_route ("", id), REPORT_ROUTE_NOT_FOUND);
    //  the community's views and ledgers: lower-case names only
    assert_int_equal (report_api_route ("/api/community/lists", id), REPORT_ROUTE_COMMUNITY);
    assert_string_equal (id, "lists");
    assert_int_equal (report_api_route ("/api/community/needs.csv", id), REPORT_ROUTE_COMMUNITY_CSV);
    assert_string_equal (id, "needs");
    assert_int_equal (report_api_route ("/api/community/", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/community/.csv", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/community/../x", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/community/Lists", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/stats/", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/cases", id), REPORT_ROUTE_CASES);
    assert_int_equal (report_api_route ("/static/.hidden", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/static/a/b.js", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/api/cases/", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/index.html", id), REPORT_ROUTE_NOT_FOUND);
    assert_int_equal (report_api_route ("/API/STATS", id), REPORT_ROUTE_NOT_FOUND);
}

static void
test_route_rejects_bad_case_ids (void **state)
{
    (void) state;
    char id [REPORT_CASE_ID_MAX + 1];
    char url [128];
    assert_int_equal (report_api_route ("/api/cases/a/b", id), REPORT_ROUTE_BAD_ID);
    assert_int_equal (report_api_route ("/api/cases/a%00b", id), REPORT_ROUTE_BAD_ID);
    assert_int_equal (report_api_route ("/api/cases/a b", id), REPORT_ROUTE_BAD_ID);
    assert_int_equal (report_api_route ("/api/cases/x*", id), REPORT_ROUTE_BAD_ID);
    assert_int_equal (report_api_route ("/api/cases/\xe5\x9f\x8e", id), REPORT_ROUTE_BAD_ID);
    //  64 bytes is the longest id; 65 is refused
    snprintf (url, sizeof url, "/api/cases/%s", "0123456789012345678901234567890123456789"
                                                "012345678901234567890123");
    assert_int_equal (report_api_route (url, id), REPORT_ROUTE_CASE);
    assert_int_equal (strlen (id), 64);
    strcat (url, "4");
    assert_int_equal (report_api_route (url, id), REPORT_ROUTE_BAD_ID);
}

static void
test_route_refuses_long_urls (void **state)
{
    (void) state;
    char id [REPORT_CASE_ID_MAX + 1];
    char url [REPORT_URL_MAX + 2];
    memset (url, 'a', sizeof url - 1);
    url [0] = '/';
    url [sizeof url - 1] = 0;
    assert_int_equal (report_api_route (url, id), REPORT_ROUTE_TOO_LONG);
    url [REPORT_URL_MAX] = 0;
    assert_int_equal (report_api_route (url, id), REPORT_ROUTE_NOT_FOUND);
}

static void
test_case_id_valid (void **state)
{
    (void) state;
    assert_true (report_api_case_id_valid ("TJ-20240517-000042", 18));
    assert_true (report_api_case_id_valid ("a.b_c-D9", 8));
    assert_false (report_api_case_id_valid ("", 0));
    //  the length given is what counts, not a NUL inside
    assert_false (report_api_case_id_valid ("ab\0cd", 5));
    assert_true (report_api_case_id_valid ("ab\0cd", 2));
}

static void
test_methods (void **state)
{
    (void) state;
    assert_true (report_api_method_ok ("GET"));
    assert_true (report_api_method_ok ("HEAD"));
    assert_false (report_api_method_ok ("POST"));
    assert_false (report_api_method_ok ("DELETE"));
    assert_false (report_api_method_ok ("get"));
}

static void
test_tier_names (void **state)
{
    (void) state;
    assert_string_equal (report_api_tier_name (1), "GRID");
    assert_string_equal (report_api_tier_name (2), "COMMUNITY");
    assert_string_equal (report_api_tier_name (3), "STREET");
    assert_string_equal (report_api_tier_name (4), "DISTRICT");
    assert_null (report_api_tier_name (0));
    assert_null (report_api_tier_name (5));
}

static void
test_states_are_the_wire_contracts (void **state)
{
    (void) state;
    //  every CaseState but UNSPECIFIED, in enum order, without its prefix
    const ProtobufCEnumDescriptor *e = &gridcall__v1__case_state__descriptor;
    size_t n = 0;
    for (unsigned i = 0; i < e->n_values; i++) {
        if (e->values [i].value == 0)
            continue;
        assert_non_null (report_api_state_name (n));
        assert_string_equal (report_api_state_name (n), e->values [i].name + strlen ("STATE_"));
        n++;
    }
    assert_int_equal (n, e->n_values - 1);
    assert_null (report_api_state_name (n));
    assert_string_equal (report_api_state_name (0), "REPORTED");
    assert_true (report_api_state_known ("ORDERED"));
    assert_true (report_api_state_known ("PARKED"));
    assert_true (report_api_state_known ("CLOSED"));
    assert_false (report_api_state_known ("UNSPECIFIED"));
    assert_false (report_api_state_known ("STATE_CLOSED"));
    assert_false (report_api_state_known ("closed"));
    assert_false (report_api_state_known (NULL));
}

//  Query values arrive as sent; the API decodes %XX and '+', refuses a
//  bad escape, %00 (it would cut the value short) and what does not fit.
static void
test_arg_decode (void **state)
{
    (void) state;
    char out [8];
    assert_int_equal (report_api_arg_decode ("G%30%31", out, sizeof out), 0);
    assert_string_equal (out, "G01");
    assert_int_equal (report_api_arg_decode ("a+b%2Cc", out, sizeof out), 0);
    assert_string_equal (out, "a b,c");
    assert_int_equal (report_api_arg_decode ("", out, sizeof out), 0);
    assert_string_equal (out, "");
    assert_int_equal (report_api_arg_decode ("a%00b", out, sizeof out), -1);
    assert_int_equal (report_api_arg_decode ("a%4", out, sizeof out), -1);
    assert_int_equal (report_api_arg_decode ("a%", out, sizeof out), -1);
    assert_int_equal (report_api_arg_decode ("%zz", out, sizeof out), -1);
    assert_int_equal (report_api_arg_decode ("1234567", out, sizeof out), 0);
    assert_int_equal (report_api_arg_decode ("12345678", out, sizeof out), -1);
    assert_int_equal (report_api_arg_decode ("x", out, 0), -1);
}

//  Query arguments for report_api_filter_parse, from a NULL-ended list
//  of name, value pairs.
static const char *
s_query (void *ctx, const char *name)
{
    const char **pairs = (const char **) ctx;
    for (int i = 0; pairs [i]; i += 2)
        if (strcmp (pairs [i], name) == 0)
            return pairs [i + 1];
    return NULL;
}

//  0 is a time like any other; impossible dates, empty state lists and
//  cursors not made by a page are refused, each with its argument named.
static void
test_filter_bounds_dates_states_and_cursors (void **state)
{
    (void) state;
    report_filter_t f;
    char err [160];
    const char *zero [] = { "to", "0", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, zero, 480, err, sizeof err), 0);
    assert_true (f.has_to);
    assert_false (f.has_from);
    char *text = report_api_filter_json (&f, f.cursor, 50);
    assert_non_null (strstr (text, "\"to\":0"));
    free (text);
    const char *after [] = { "from", "5", "to", "0", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, after, 480, err, sizeof err), -1);
    assert_non_null (strstr (err, "after from"));
    const char *good [] = { "from", "2024-02-29", "to", "2026-12-31", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, good, 0, err, sizeof err), 0);
    assert_int_equal (f.from_ms, 1709164800000LL);
    static const char *dates [] = { "2026-02-31", "2026-02-29", "2026-11-31", "2026-01-+1",
                                    " 2026-1-01", "2026-1-001", "2026-13-01" };
    for (size_t i = 0; i < sizeof dates / sizeof dates [0]; i++) {
        const char *q [] = { "from", dates [i], NULL };
        assert_int_equal (report_api_filter_parse (&f, s_query, q, 0, err, sizeof err), -1);
        assert_non_null (strstr (err, "from"));
    }
    static const char *lists [] = { "", ",", "ACCEPTED,", ",ACCEPTED", "CLOSED,,ACCEPTED" };
    for (size_t i = 0; i < sizeof lists / sizeof lists [0]; i++) {
        const char *q [] = { "state", lists [i], NULL };
        assert_int_equal (report_api_filter_parse (&f, s_query, q, 0, err, sizeof err), -1);
        assert_non_null (strstr (err, "state"));
    }
    const char *cursor [] = { "cursor", "1795714398420:TJ-20261127-000012", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, cursor, 0, err, sizeof err), 0);
    assert_string_equal (f.cursor, "1795714398420:TJ-20261127-000012");
    static const char *cursors [] = { "5", ":TJ-1", "12:", "12:TJ 1", "x:TJ-1",
                                      "12345678901234567:TJ-1" };
    for (size_t i = 0; i < sizeof cursors / sizeof cursors [0]; i++) {
        const char *q [] = { "cursor", cursors [i], NULL };
        assert_int_equal (report_api_filter_parse (&f, s_query, q, 0, err, sizeof err), -1);
        assert_non_null (strstr (err, "cursor"));
    }
}

static void
test_filter_lists_orders_and_parked_cases (void **state)
{
    (void) state;
    report_filter_t f;
    char err [160] = "";
    const char *parked [] = { "state", "PARKED", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, parked, 480, err, sizeof err), 0);
    assert_string_equal (f.states, "PARKED");
    assert_false (f.open);
    const char *both [] = { "state", "ORDERED,PARKED,CLOSED", "grid", "G01", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, both, 480, err, sizeof err), 0);
    char *text = report_api_filter_json (&f, "", 50);
    json_t *doc = s_json (text);
    json_t *states = json_object_get (doc, "states");
    assert_int_equal (json_array_size (states), 3);
    assert_string_equal (json_string_value (json_array_get (states, 0)), "ORDERED");
    assert_string_equal (json_string_value (json_array_get (states, 1)), "PARKED");
    assert_string_equal (s_str_at (doc, "grid"), "G01");
    json_decref (doc);
    free (text);
    //  a state the wire contract does not name is refused, with the reason
    const char *bad [] = { "state", "ORDERED,WAITING", NULL };
    assert_int_equal (report_api_filter_parse (&f, s_query, bad, 480, err, sizeof err), -1);
    assert_non_null (strstr (err, "state"));
}

//  A gc_case_get reply as the function library sends it: hash fields are
//  strings, the timeline is a list of JSON texts.
static const char *s_case_reply =
    "{\"ok\":true,\"case\":{"
    "\"id\":\"TJ-20240517-000042\",\"ledger\":\"TJ-20240517-000042\",\"grid\":\"G07\","
    "\"community\":\"C02\",\"category\":\"env.garbage\",\"text\":\"垃圾桶满了\","
    "\"channel\":\"GRID_WORKER\",\"reporter\":\"alice\",\"building\":\"B3\",\"location\":\"\","
    "\"tier\":\"2\",\"unit\":\"U1\",\"created\":\"1715900000000\",\"version\":\"4\","
    "\"state\":\"ACCEPTED\",\"resolve_by\":\"1715907200000\",\"idem\":\"k1\","
    "\"responsible\":\"王师傅\",\"offer_id\":\"7\",\"offer_unit\":\"U1\",\"offer_by\":\"0\","
    "\"waiting\":\"\",\"joint\":\"2\",\"prev_unit\":\"U9\",\"climbs\":\"1\","
    "\"due0\":\"1715903600000\","
    "\"timeline\":["
    "\"{\\\"at\\\":1715900000000,\\\"what\\\":\\\"registered\\\",\\\"who\\\":\\\"alice\\\","
    "\\\"state\\\":\\\"REGISTERED\\\",\\\"tier\\\":1,\\\"unit\\\":\\\"\\\","
    "\\\"deadline\\\":1715903600000,\\\"note\\\":\\\"tier GRID, channel GRID_WORKER\\\","
    "\\\"version\\\":1}\","
    "\"{\\\"at\\\":1715903600000,\\\"what\\\":\\\"escalated\\\",\\\"who\\\":\\\"escalate\\\","
    "\\\"state\\\":\\\"ESCALATED\\\",\\\"tier\\\":2,\\\"unit\\\":\\\"\\\","
    "\\\"deadline\\\":1715907200000,\\\"note\\\":\\\"deadline passed\\\",\\\"version\\\":2,"
    "\\\"late_ms\\\":12,\\\"due\\\":1715903600000,\\\"from_tier\\\":1,\\\"joint\\\":2,"
    "\\\"prev_unit\\\":\\\"U9\\\"}\","
    "\"{\\\"at\\\":1715903601000,\\\"what\\\":\\\"offered\\\",\\\"who\\\":\\\"dispatch\\\","
    "\\\"state\\\":\\\"DISPATCHED\\\",\\\"tier\\\":2,\\\"unit\\\":\\\"\\\","
    "\\\"deadline\\\":1715907200000,\\\"note\\\":\\\"\\\",\\\"version\\\":3,"
    "\\\"offer\\\":\\\"7\\\",\\\"offer_unit\\\":\\\"U1\\\",\\\"answer_by\\\":1715903661000}\","
    "\"{\\\"at\\\":1715903602000,\\\"what\\\":\\\"accepted\\\",\\\"who\\\":\\\"U1\\\","
    "\\\"state\\\":\\\"ACCEPTED\\\",\\\"tier\\\":2,\\\"unit\\\":\\\"U1\\\","
    "\\\"deadline\\\":1715907200000,\\\"note\\\":\\\"responsible: 王师傅\\\",\\\"version\\\":4,"
    "\\\"offer\\\":\\\"7\\\"}\""
    "]}}";

static void
test_case_answer_converts_fields (void **state)
{
    (void) state;
    json_t *reply = s_json (s_case_reply);
    int status = 0;
    json_t *c = report_api_case_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_non_null (c);
    assert_string_equal (s_str_at (c, "case_id"), "TJ-20240517-000042");
    assert_string_equal (s_str_at (c, "ledger_no"), "TJ-20240517-000042");
    assert_string_equal (s_str_at (c, "grid"), "G07");
    assert_string_equal (s_str_at (c, "community"), "C02");
    assert_string_equal (s_str_at (c, "category"), "env.garbage");
    assert_string_equal (s_str_at (c, "text"), "垃圾桶满了");
    assert_string_equal (s_str_at (c, "channel"), "GRID_WORKER");
    assert_string_equal (s_str_at (c, "reporter"), "alice");
    assert_string_equal (s_str_at (c, "state"), "ACCEPTED");
    assert_string_equal (s_str_at (c, "tier"), "COMMUNITY");
    assert_string_equal (s_str_at (c, "unit"), "U1");
    assert_string_equal (s_str_at (c, "responsible"), "王师傅");
    assert_int_equal (s_int_at (c, "created_ms"), 1715900000000LL);
    assert_int_equal (s_int_at (c, "resolve_by_ms"), 1715907200000LL);
    assert_int_equal (s_int_at (c, "version"), 4);
    //  the deadline it started with, and what its climb left behind
    //  (docs/escalation.md): two units summoned, U9 gave the case back
    assert_int_equal (s_int_at (c, "due0_ms"), 1715903600000LL);
    assert_int_equal (s_int_at (c, "joint"), 2);
    assert_string_equal (s_str_at (c, "prev_unit"), "U9");
    assert_int_equal (s_int_at (c, "climbs"), 1);
    //  not yet evaluated, resolved or closed: null, not 0
    assert_true (json_is_null (json_object_get (c, "satisfaction")));
    assert_true (json_is_null (json_object_get (c, "resolved_ms")));
    assert_true (json_is_null (json_object_get (c, "closed_ms")));
    //  internal fields stay inside
    assert_null (json_object_get (c, "idem"));
    assert_null (json_object_get (c, "offer_by"));
    json_decref (c);
    json_decref (reply);
}

static void
test_case_answer_converts_timeline (void **state)
{
    (void) state;
    json_t *reply = s_json (s_case_reply);
    int status = 0;
    json_t *c = report_api_case_answer (reply, &status);
    json_t *timeline = json_object_get (c, "timeline");
    assert_true (json_is_array (timeline));
    assert_int_equal (json_array_size (timeline), 4);

    json_t *ev = json_array_get (timeline, 0);
    assert_int_equal (s_int_at (ev, "at_ms"), 1715900000000LL);
    assert_string_equal (s_str_at (ev, "what"), "registered");
    assert_string_equal (s_str_at (ev, "who"), "alice");
    assert_string_equal (s_str_at (ev, "state"), "REGISTERED");
    assert_string_equal (s_str_at (ev, "tier"), "GRID");
    assert_string_equal (s_str_at (ev, "unit"), "");
    assert_int_equal (s_int_at (ev, "deadline_ms"), 1715903600000LL);
    assert_string_equal (s_str_at (ev, "note"), "tier GRID, channel GRID_WORKER");
    assert_int_equal (s_int_at (ev, "version"), 1);
    assert_null (json_object_get (ev, "offer_id"));

    ev = json_array_get (timeline, 1);
    assert_string_equal (s_str_at (ev, "tier"), "COMMUNITY");
    assert_int_equal (s_int_at (ev, "late_ms"), 12);
    assert_int_equal (s_int_at (ev, "due_ms"), 1715903600000LL);
    assert_string_equal (s_str_at (ev, "from_tier"), "GRID");
    assert_int_equal (s_int_at (ev, "joint"), 2);
    assert_string_equal (s_str_at (ev, "prev_unit"), "U9");
    //  entries without a climb carry none of it
    assert_null (json_object_get (json_array_get (timeline, 0), "from_tier"));
    assert_null (json_object_get (json_array_get (timeline, 0), "prev_unit"));

    ev = json_array_get (timeline, 2);
    assert_string_equal (s_str_at (ev, "offer_id"), "7");
    assert_string_equal (s_str_at (ev, "offer_unit"), "U1");
    assert_int_equal (s_int_at (ev, "answer_by_ms"), 1715903661000LL);

    ev = json_array_get (timeline, 3);
    assert_string_equal (s_str_at (ev, "what"), "accepted");
    assert_string_equal (s_str_at (ev, "note"), "responsible: 王师傅");
    json_decref (c);
    json_decref (reply);
}

static void
test_case_evaluated_has_satisfaction (void **state)
{
    (void) state;
    json_t *reply = s_json ("{\"ok\":true,\"case\":{\"id\":\"X1\",\"state\":\"CLOSED\","
                            "\"tier\":\"1\",\"satisfaction\":\"5\",\"closed\":\"1715909999000\","
                            "\"resolved\":\"1715909000000\",\"timeline\":[]}}");
    int status = 0;
    json_t *c = report_api_case_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_int_equal (s_int_at (c, "satisfaction"), 5);
    assert_int_equal (s_int_at (c, "resolved_ms"), 1715909000000LL);
    assert_int_equal (s_int_at (c, "closed_ms"), 1715909999000LL);
    //  fields the hash lacks come out as "" (strings) or null (numbers)
    assert_string_equal (s_str_at (c, "responsible"), "");
    assert_true (json_is_null (json_object_get (c, "version")));
    json_decref (c);
    json_decref (reply);
}

//  The map point a report was filed with: numbers when both are kept,
//  null otherwise (none given, or one unreadable); photos as links.
static void
test_case_point_and_media (void **state)
{
    (void) state;
    json_t *reply = s_json ("{\"ok\":true,\"case\":{\"id\":\"X2\",\"state\":\"ACCEPTED\","
                            "\"lat\":\"39.805358\",\"lon\":\"109.985634\",\"timeline\":[],"
                            "\"media\":\"[\\\"media:ab.jpg\\\",\\\"https://x.org/p.png\\\","
                            "\\\"ftp://x\\\"]\"}}");
    int status = 0;
    json_t *c = report_api_case_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_true (json_real_value (json_object_get (c, "lat")) == 39.805358);
    assert_true (json_real_value (json_object_get (c, "lon")) == 109.985634);
    char *media = json_dumps (json_object_get (c, "media"), JSON_COMPACT);
    assert_string_equal (media, "[\"/media/ab.jpg\",\"https://x.org/p.png\"]");
    free (media);
    json_decref (c);
    json_decref (reply);
    reply = s_json ("{\"ok\":true,\"case\":{\"id\":\"X3\",\"lat\":\"north\",\"lon\":\"1\"}}");
    c = report_api_case_answer (reply, &status);
    assert_true (json_is_null (json_object_get (c, "lat")));
    assert_true (json_is_null (json_object_get (c, "lon")));
    json_decref (c);
    json_decref (reply);
    json_t *link = report_api_media_link ("media:cd.png");
    assert_string_equal (json_string_value (link), "/media/cd.png");
    json_decref (link);
    assert_null (report_api_media_link ("javascript:alert(1)"));
}

static void
test_case_timeline_edge_cases (void **state)
{
    (void) state;
    //  cjson encodes an empty Lua table as {}: still an empty list for us
    json_t *reply = s_json ("{\"ok\":true,\"case\":{\"id\":\"X1\",\"tier\":\"9\",\"timeline\":{}}}");
    int status = 0;
    json_t *c = report_api_case_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_true (json_is_array (json_object_get (c, "timeline")));
    assert_int_equal (json_array_size (json_object_get (c, "timeline")), 0);
    //  a tier outside 1..4 has no name
    assert_true (json_is_null (json_object_get (c, "tier")));
    json_decref (c);
    json_decref (reply);

    //  an unreadable entry is skipped, the rest survive
    reply = s_json ("{\"ok\":true,\"case\":{\"id\":\"X1\",\"timeline\":["
                    "\"not json\", 42, \"[1,2]\","
                    "\"{\\\"at\\\":\\\"soon\\\",\\\"what\\\":\\\"progress\\\",\\\"tier\\\":3}\"]}}");
    c = report_api_case_answer (reply, &status);
    assert_int_equal (status, 200);
    json_t *timeline = json_object_get (c, "timeline");
    assert_int_equal (json_array_size (timeline), 1);
    json_t *ev = json_array_get (timeline, 0);
    assert_string_equal (s_str_at (ev, "what"), "progress");
    assert_string_equal (s_str_at (ev, "tier"), "STREET");
    assert_true (json_is_null (json_object_get (ev, "at_ms")));
    assert_string_equal (s_str_at (ev, "who"), "");
    json_decref (c);
    json_decref (reply);
}

static void
test_matter_routes_and_answers (void **state)
{
    (void) state;
    char id [REPORT_CASE_ID_MAX + 1];
    assert_int_equal (report_api_route ("/api/matters", id), REPORT_ROUTE_MATTERS);
    assert_int_equal (report_api_route ("/api/matters/TJ-M20261130-0001", id), REPORT_ROUTE_MATTER);
    assert_string_equal (id, "TJ-M20261130-0001");
    assert_int_equal (report_api_route ("/api/matters/a b", id), REPORT_ROUTE_BAD_ID);
    int status = 0;
    json_t *reply = s_json ("{\"ok\":false,\"code\":\"UNKNOWN_MATTER\",\"message\":\"no matter X\"}");
    json_t *body = report_api_matter_answer (reply, &status);
    assert_int_equal (status, 404);
    assert_string_equal (s_str_at (body, "code"), "UNKNOWN_MATTER");
    json_decref (body);
    json_decref (reply);
    reply = s_json ("{\"ok\":true,\"matter\":{\"id\":\"M1\",\"stage\":\"DECIDE\"}}");
    body = report_api_matter_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_string_equal (s_str_at (body, "stage"), "DECIDE");
    json_decref (body);
    json_decref (reply);
    reply = s_json ("{\"ok\":true,\"stages\":[\"PROPOSE\"],\"board\":{\"PROPOSE\":[]},"
                    "\"meetings\":[],\"levels\":[\"GRID\"],\"templates\":[],\"count\":0}");
    body = report_api_matters_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_true (json_is_array (json_object_get (body, "meetings")));
    assert_null (json_object_get (body, "ok"));
    json_decref (body);
    json_decref (reply);
    body = report_api_matters_answer (NULL, &status);
    assert_int_equal (status, 503);
    json_decref (body);
}

static void
test_case_answer_errors (void **state)
{
    (void) state;
    int status = 0;
    //  Redis unreachable
    json_t *body = report_api_case_answer (NULL, &status);
    assert_int_equal (status, 503);
    assert_true (json_is_false (json_object_get (body, "ok")));
    assert_string_equal (s_str_at (body, "code"), "UNAVAILABLE");
    json_decref (body);

    json_t *reply = s_json ("{\"ok\":false,\"code\":\"UNKNOWN_CASE\",\"message\":\"no case X\"}");
    body = report_api_case_answer (reply, &status);
    assert_int_equal (status, 404);
    assert_string_equal (s_str_at (body, "code"), "UNKNOWN_CASE");
    json_decref (body);
    json_decref (reply);

    //  a Redis error reply as the store wraps it
    reply = s_json ("{\"ok\":false,\"code\":\"STORE\",\"message\":\"ERR Function not found\"}");
    body = report_api_case_answer (reply, &status);
    assert_int_equal (status, 502);
    assert_string_equal (s_str_at (body, "code"), "STORE_ERROR");
    //  Redis's own text is not shown to HTTP clients
    assert_null (strstr (s_str_at (body, "message"), "ERR"));
    json_decref (body);
    json_decref (reply);

    //  ok but no case object
    reply = s_json ("{\"ok\":true,\"case\":\"oops\"}");
    body = report_api_case_answer (reply, &status);
    assert_int_equal (status, 502);
    json_decref (body);
    json_decref (reply);
}

//  A gc_stats reply as the function library sends it.
static const char *s_stats_reply =
    "{\"now\":1715903700000,"
    "\"state\":{\"REGISTERED\":\"3\",\"ACCEPTED\":\"2\",\"CLOSED\":\"7\",\"VERIFIED\":\"0\"},"
    "\"open_tier\":{\"GRID\":\"4\",\"STREET\":\"1\"},"
    "\"open_grid\":{\"G01\":\"2\",\"G07\":\"3\",\"G09\":\"0\"},"
    "\"open_category\":{\"env.garbage\":\"5\"},"
    "\"total\":{\"reported\":\"12\",\"closed\":\"7\",\"satisfaction_sum\":\"31\",\"future\":\"2\"},"
    "\"reported_category\":{\"env.garbage\":\"10\",\"svc.legal\":\"2\"},"
    "\"pending\":{\"dispatch\":3,\"notify\":0},"
    "\"timers\":5,"
    "\"dead\":{\"notify\":1}}";

static void
test_stats_answer_converts_counts (void **state)
{
    (void) state;
    json_t *reply = s_json (s_stats_reply);
    int status = 0;
    json_t *s = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_int_equal (s_int_at (s, "at_ms"), 1715903700000LL);

    json_t *by_state = json_object_get (s, "by_state");
    assert_int_equal (s_int_at (by_state, "REGISTERED"), 3);
    assert_int_equal (s_int_at (by_state, "ACCEPTED"), 2);
    assert_int_equal (s_int_at (by_state, "CLOSED"), 7);
    //  states nobody has reached yet are there, at zero
    assert_int_equal (s_int_at (by_state, "ESCALATED"), 0);
    assert_int_equal (s_int_at (by_state, "REPORTED"), 0);
    //  every state of the wire contract, orders and parked cases too
    assert_int_equal (s_int_at (by_state, "ORDERED"), 0);
    assert_int_equal (s_int_at (by_state, "PARKED"), 0);
    assert_int_equal (json_object_size (by_state),
                      gridcall__v1__case_state__descriptor.n_values - 1);

    json_t *tiers = json_object_get (s, "open_by_tier");
    assert_int_equal (json_object_size (tiers), 4);
    assert_int_equal (s_int_at (tiers, "GRID"), 4);
    assert_int_equal (s_int_at (tiers, "COMMUNITY"), 0);
    assert_int_equal (s_int_at (tiers, "STREET"), 1);
    assert_int_equal (s_int_at (tiers, "DISTRICT"), 0);
    assert_int_equal (s_int_at (s, "open"), 5);

    json_t *grids = json_object_get (s, "open_by_grid");
    assert_int_equal (json_object_size (grids), 3);
    assert_int_equal (s_int_at (grids, "G07"), 3);
    assert_int_equal (s_int_at (grids, "G09"), 0);
    assert_int_equal (s_int_at (json_object_get (s, "open_by_category"), "env.garbage"), 5);
    assert_int_equal (s_int_at (json_object_get (s, "reported_by_category"), "svc.legal"), 2);

    json_t *totals = json_object_get (s, "totals");
    assert_int_equal (s_int_at (totals, "reported"), 12);
    assert_int_equal (s_int_at (totals, "satisfaction_sum"), 31);
    assert_int_equal (s_int_at (totals, "escalations"), 0);
    //  a counter a newer function library adds passes through
    assert_int_equal (s_int_at (totals, "future"), 2);

    assert_int_equal (s_int_at (json_object_get (s, "pending"), "dispatch"), 3);
    assert_int_equal (s_int_at (json_object_get (s, "pending"), "notify"), 0);
    assert_int_equal (s_int_at (s, "timers"), 5);
    assert_int_equal (s_int_at (json_object_get (s, "dead"), "notify"), 1);
    json_decref (s);
    json_decref (reply);
}

static void
test_stats_empty_store (void **state)
{
    (void) state;
    //  a fresh Redis: every hash is missing, so cjson sends {}
    json_t *reply = s_json ("{\"now\":1,\"state\":{},\"open_tier\":{},\"open_grid\":{},"
                            "\"open_category\":{},\"total\":{},\"reported_category\":{},"
                            "\"pending\":{\"dispatch\":0,\"notify\":0},\"timers\":0,"
                            "\"dead\":{\"notify\":0}}");
    int status = 0;
    json_t *s = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_int_equal (s_int_at (s, "open"), 0);
    assert_int_equal (json_object_size (json_object_get (s, "open_by_tier")), 4);
    assert_int_equal (s_int_at (json_object_get (s, "open_by_tier"), "DISTRICT"), 0);
    assert_int_equal (json_object_size (json_object_get (s, "open_by_grid")), 0);
    assert_true (json_is_object (json_object_get (s, "open_by_grid")));
    assert_int_equal (s_int_at (json_object_get (s, "totals"), "reported"), 0);
    json_decref (s);
    json_decref (reply);
}

static void
test_stats_skips_garbage (void **state)
{
    (void) state;
    json_t *reply = s_json ("{\"now\":\"1715903700000\",\"state\":{\"CLOSED\":\"7x\","
                            "\"ACCEPTED\":\" 2\",\"DISPATCHED\":\"\",\"RESOLVED\":2.0,"
                            "\"NEW\":\"-1\",\"ODD\":[1]},\"open_tier\":[],\"timers\":\"x\"}");
    int status = 0;
    json_t *s = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_int_equal (s_int_at (s, "at_ms"), 1715903700000LL);
    json_t *by_state = json_object_get (s, "by_state");
    //  not integers: left at their zero fill or left out
    assert_int_equal (s_int_at (by_state, "CLOSED"), 0);
    assert_int_equal (s_int_at (by_state, "ACCEPTED"), 0);
    assert_int_equal (s_int_at (by_state, "DISPATCHED"), 0);
    assert_null (json_object_get (by_state, "ODD"));
    //  integral reals and negative counts are integers
    assert_int_equal (s_int_at (by_state, "RESOLVED"), 2);
    assert_int_equal (s_int_at (by_state, "NEW"), -1);
    assert_int_equal (s_int_at (s, "timers"), 0);
    assert_int_equal (json_object_size (json_object_get (s, "open_by_tier")), 4);
    json_decref (s);
    json_decref (reply);
    //  counters near the limit: the open total saturates, it does not wrap
    reply = s_json ("{\"open_tier\":{\"GRID\":\"9223372036854775807\",\"STREET\":\"1\"}}");
    s = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_true (s_int_at (s, "open") == LLONG_MAX);
    json_decref (s);
    json_decref (reply);
}

static void
test_stats_answer_errors (void **state)
{
    (void) state;
    int status = 0;
    json_t *body = report_api_stats_answer (NULL, &status);
    assert_int_equal (status, 503);
    assert_string_equal (s_str_at (body, "code"), "UNAVAILABLE");
    json_decref (body);

    json_t *reply = s_json ("{\"ok\":false,\"code\":\"STORE\",\"message\":\"reply is not JSON\"}");
    body = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 502);
    assert_string_equal (s_str_at (body, "code"), "STORE_ERROR");
    json_decref (body);
    json_decref (reply);

    reply = s_json ("[1,2,3]");
    body = report_api_stats_answer (reply, &status);
    assert_int_equal (status, 502);
    json_decref (body);
    json_decref (reply);
}

static void
test_health_answer (void **state)
{
    (void) state;
    int status = 0;
    json_t *reply = s_json (s_stats_reply);
    json_t *body = report_api_health_answer (reply, &status);
    assert_int_equal (status, 200);
    assert_true (json_is_true (json_object_get (body, "ok")));
    assert_string_equal (s_str_at (body, "redis"), "up");
    json_decref (body);
    json_decref (reply);

    body = report_api_health_answer (NULL, &status);
    assert_int_equal (status, 503);
    assert_true (json_is_false (json_object_get (body, "ok")));
    assert_string_equal (s_str_at (body, "redis"), "down");
    json_decref (body);

    reply = s_json ("{\"ok\":false,\"code\":\"STORE\",\"message\":\"LOADING\"}");
    body = report_api_health_answer (reply, &status);
    assert_int_equal (status, 503);
    assert_string_equal (s_str_at (body, "redis"), "error");
    json_decref (body);
    json_decref (reply);
}

static void
test_error_body (void **state)
{
    (void) state;
    json_t *body = report_api_error ("NOT_FOUND", "no such path");
    char *text = json_dumps (body, JSON_COMPACT);
    assert_string_equal (text, "{\"ok\":false,\"code\":\"NOT_FOUND\",\"message\":\"no such path\"}");
    free (text);
    json_decref (body);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_route_known_paths),
        cmocka_unit_test (test_route_unknown_paths),
        cmocka_unit_test (test_route_rejects_bad_case_ids),
        cmocka_unit_test (test_route_refuses_long_urls),
        cmocka_unit_test (test_case_id_valid),
        cmocka_unit_test (test_methods),
        cmocka_unit_test (test_tier_names),
        cmocka_unit_test (test_states_are_the_wire_contracts),
        cmocka_unit_test (test_arg_decode),
        cmocka_unit_test (test_filter_lists_orders_and_parked_cases),
        cmocka_unit_test (test_filter_bounds_dates_states_and_cursors),
        cmocka_unit_test (test_case_answer_converts_fields),
        cmocka_unit_test (test_case_answer_converts_timeline),
        cmocka_unit_test (test_case_evaluated_has_satisfaction),
        cmocka_unit_test (test_case_point_and_media),
        cmocka_unit_test (test_case_timeline_edge_cases),
        cmocka_unit_test (test_case_answer_errors),
        cmocka_unit_test (test_matter_routes_and_answers),
        cmocka_unit_test (test_stats_answer_converts_counts),
        cmocka_unit_test (test_stats_empty_store),
        cmocka_unit_test (test_stats_skips_garbage),
        cmocka_unit_test (test_stats_answer_errors),
        cmocka_unit_test (test_health_answer),
        cmocka_unit_test (test_error_body),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
