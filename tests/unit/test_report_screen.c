/*  test_report_screen.c — the screen snapshot by example: a gc_report_screen
    reply as the function library sends it (counters as strings, empty
    lists as {}) and a small street directory go in; the JSON the command
    center draws comes out, with names beside ids and figures derived. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gridcall_lua.h"
#include "report_api.h"
#include "report_screen.h"

//  A small street, in single quotes (s_json turns them into double quotes).
//  U1 works Monday mornings, U3 Tuesdays; U2 and U4 have no rota.
static const char *s_street =
    "{'version': 1,"
    " 'street': {'id': 'tianjiao', 'code': 'TJ', 'name': '天骄街道', 'utc_offset_minutes': 480},"
    " 'communities': [{'id': 'C01', 'name': '安达社区'}, {'id': 'C02', 'name': '天骄社区'}],"
    " 'grids': [{'id': 'G01', 'name': '安达社区第1网格', 'community': 'C01', 'worker': '白国晨'},"
    "           {'id': 'G02', 'name': '安达社区第2网格', 'community': 'C01', 'worker': '卢芳'},"
    "           {'id': 'G03', 'name': '天骄社区第1网格', 'community': 'C02', 'worker': '万俊'}],"
    " 'categories': ["
    "   {'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident', 'start_tier': 'GRID',"
    "    'limits_minutes': {'GRID': 240, 'COMMUNITY': 480, 'STREET': 1440, 'DISTRICT': 2880}},"
    "   {'code': 'svc.legal', 'name': '法律援助', 'kind': 'service', 'start_tier': 'COMMUNITY',"
    "    'limits_minutes': {'COMMUNITY': 10080, 'STREET': 14400, 'DISTRICT': 20160}},"
    "   {'code': 'svc.meal', 'name': '助餐服务', 'kind': 'service', 'start_tier': 'COMMUNITY',"
    "    'limits_minutes': {'COMMUNITY': 1440, 'STREET': 2880, 'DISTRICT': 4320}}],"
    " 'units': ["
    "   {'id': 'U1', 'name': '环卫所', 'kind': 'sanitation', 'responsible': '王师傅',"
    "    'contact': '0477-1', 'tiers': ['GRID', 'COMMUNITY'], 'categories': ['env.garbage'],"
    "    'coverage': 'street', 'capacity': 5,"
    "    'rota': [{'weekday': 1, 'from': '09:00', 'to': '12:00'}]},"
    "   {'id': 'U2', 'name': '律师协会', 'kind': 'lawyers', 'responsible': '邹磊',"
    "    'contact': '0477-2', 'tiers': ['COMMUNITY'], 'categories': ['svc.legal'],"
    "    'coverage': 'street', 'capacity': 10},"
    "   {'id': 'U3', 'name': '长者食堂', 'kind': 'canteen', 'responsible': '胡东',"
    "    'contact': '0477-3', 'tiers': ['COMMUNITY'], 'categories': ['svc.meal'],"
    "    'coverage': 'street', 'capacity': 4,"
    "    'rota': [{'weekday': 2, 'from': '09:00', 'to': '17:00'}]},"
    "   {'id': 'U4', 'name': '物业公司', 'kind': 'property', 'responsible': '田刚',"
    "    'contact': '0477-4', 'tiers': ['GRID'], 'categories': ['env.garbage'],"
    "    'coverage': 'street', 'capacity': 10}]}";

//  Monday 2024-05-20 10:30 in the street (UTC+8), and that week's start.
#define NOW_MS 1716172200000LL
#define WEEK_START_MS 1716134400000LL

//  A gc_report_screen reply at NOW_MS, as cjson encodes the Lua table:
//  hashes of counters hold strings, an empty list comes as {}.
static const char *s_screen_reply =
    "{'ok': true, 'now': 1716172200000, 'week_start': 1716134400000, 'utc_offset_ms': 28800000,"
    " 'state': {'REGISTERED': '2', 'DISPATCHED': '1', 'ACCEPTED': '3', 'RESOLVED': '1',"
    "           'CLOSED': '5', 'REJECTED': '1', 'ESCALATED': '1'},"
    " 'open_tier': {'GRID': '5', 'COMMUNITY': '2', 'STREET': '1'},"
    " 'open_grid': {'G01': '4', 'G02': '0', 'G03': '4'},"
    " 'open_category': {'env.garbage': '6', 'svc.legal': '2'},"
    " 'total': {'reported': '15', 'resolved': '6', 'resolved_on_time': '4', 'closed': '5',"
    "           'evaluated': '4', 'satisfaction_sum': '18', 'escalations': '3'},"
    " 'reported_category': {'env.garbage': '10', 'svc.legal': '3', 'svc.meal': '2'},"
    " 'pending': {'dispatch': 0, 'notify': 1}, 'timers': 7, 'dead': {'notify': 0},"
    " 'timer_lag_ms': 120,"
    " 'demand': {'category': {'env.garbage': [4, 6], 'svc.legal': [2, 1], 'svc.meal': [0, 2]},"
    "            'grid': {'G01': [3, 2], 'G02': [0, 1], 'G03': [3, 6]}},"
    " 'red': [{'id': 'TJ-20240519-000003', 'ledger': 'TJ-20240519-000003', 'grid': 'G03',"
    "          'community': 'C02', 'category': 'env.garbage', 'tier': 2, 'unit': 'U1',"
    "          'state': 'ESCALATED', 'created': 1716085800000, 'due': 1716100200000,"
    "          'left_ms': -72000000}],"
    " 'late_grids': {'G03': 1},"
    " 'yellow': {},"
    " 'units': {'U1': [5, 4], 'U2': [10, 1], 'U3': [4, 4], 'U4': [10, 8]},"
    " 'perf': {'sample': {'n': 5, 'on_time': 3, 'on_time_now': 4, 'handling_ms': 36000000,"
    "                     'sat_sum': 18, 'sat_n': 4, 'escalations': 3},"
    "          'by_tier': {'GRID': {'n': 3, 'on_time': 3, 'on_time_now': 3,"
    "                               'handling_ms': 10800000, 'sat_sum': 12, 'sat_n': 3,"
    "                               'escalations': 0},"
    "                      'COMMUNITY': {'n': 2, 'on_time': 0, 'on_time_now': 1,"
    "                                    'handling_ms': 25200000, 'sat_sum': 6, 'sat_n': 1,"
    "                                    'escalations': 3}},"
    "          'by_unit': {'U2': {'n': 2, 'on_time': 1, 'handling_ms': 25200000, 'sat_sum': 6,"
    "                             'sat_n': 1, 'escalations': 3},"
    "                      'U1': {'n': 3, 'on_time': 3, 'handling_ms': 10800000, 'sat_sum': 12,"
    "                             'sat_n': 3, 'escalations': 0}}},"
    " 'ticker': [{'sid': '1716172100000-0', 'case': 'TJ-20240520-000009', 'grid': 'G01',"
    "             'category': 'env.garbage', 'at': 1716172100000, 'what': 'accepted',"
    "             'who': 'U1', 'state': 'ACCEPTED', 'tier': 1, 'unit': 'U1',"
    "             'note': 'responsible: 王师傅'}],"
    " 'services': {'svc.legal': {'waiting': 1, 'delivered': 0},"
    "              'svc.meal': {'waiting': 0, 'delivered': 2}},"
    " 'stream_last': '1716172100000-0', 'dir_version': 3}";

//  A fresh store: every hash missing, every list empty ({} from cjson).
static const char *s_empty_reply =
    "{'ok': true, 'now': 1716172200000, 'week_start': 1716134400000, 'utc_offset_ms': 28800000,"
    " 'state': {}, 'open_tier': {}, 'open_grid': {}, 'open_category': {}, 'total': {},"
    " 'reported_category': {}, 'pending': {'dispatch': 0, 'notify': 0}, 'timers': 0,"
    " 'dead': {'notify': 0}, 'timer_lag_ms': 0, 'demand': {'category': {}, 'grid': {}},"
    " 'red': {}, 'late_grids': {}, 'yellow': {}, 'units': {},"
    " 'perf': {'sample': {'n': 0, 'on_time': 0, 'handling_ms': 0, 'sat_sum': 0, 'sat_n': 0,"
    "                     'escalations': 0}, 'by_tier': {}, 'by_unit': {}},"
    " 'ticker': {}, 'stream_last': '0-0', 'dir_version': 0}";

//  Parse single-quoted JSON (every ' becomes "); the caller decrefs.
static json_t *
s_json (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    for (char *c = copy; *c; c++)
        if (*c == '\'')
            *c = '"';
    json_error_t error;
    json_t *json = json_loads (copy, 0, &error);
    free (copy);
    if (!json)
        fail_msg ("bad test JSON at column %d: %s", error.column, error.text);
    return json;
}

//  Member key of obj, failing the test when it is not an integer.
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

//  Check that the rate at key is a JSON real close to want.
static void
s_assert_rate (const json_t *obj, const char *key, double want)
{
    json_t *v = json_object_get (obj, key);
    if (!json_is_real (v))
        fail_msg ("\"%s\" is not a JSON real", key);
    double got = json_real_value (v);
    if (got < want - 1e-9 || got > want + 1e-9)
        fail_msg ("\"%s\" is %g, not %g", key, got, want);
}

static bool
s_null_at (const json_t *obj, const char *key)
{
    return json_is_null (json_object_get (obj, key));
}

//  The array at key, failing the test when it is not one of size n.
static json_t *
s_array_at (const json_t *obj, const char *key, size_t n)
{
    json_t *a = json_object_get (obj, key);
    if (!json_is_array (a))
        fail_msg ("\"%s\" is not a JSON array", key);
    if (json_array_size (a) != n)
        fail_msg ("\"%s\" has %zu entries, not %zu", key, json_array_size (a), n);
    return a;
}

//  Parse a street in single quotes into *state (a directory_t *); takes
//  the text, which it frees.
static int
s_setup_directory (char *text, void **state)
{
    for (char *c = text; *c; c++)
        if (*c == '\'')
            *c = '"';
    char err [256] = "";
    directory_t *dir = directory_parse (text, "street.json", err, sizeof err);
    free (text);
    if (!dir)
        print_error ("directory refused: %s\n", err);
    *state = dir;
    return dir ? 0 : -1;
}

static int
setup_street (void **state)
{
    return s_setup_directory (strdup (s_street), state);
}

static int
teardown_street (void **state)
{
    directory_t *dir = *state;
    directory_destroy (&dir);
    return 0;
}


//  ---------------------------------------------------------------------
//  The snapshot

static void
test_snapshot_header_and_stats (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    assert_non_null (snap);
    assert_int_equal (s_int_at (snap, "at_ms"), NOW_MS);
    assert_int_equal (s_int_at (snap, "week_start_ms"), WEEK_START_MS);
    assert_int_equal (s_int_at (snap, "dir_version"), 3);
    assert_int_equal (s_int_at (snap, "timer_lag_ms"), 120);
    assert_string_equal (s_str_at (snap, "stream_last"), "1716172100000-0");
    json_t *street = json_object_get (snap, "street");
    assert_string_equal (s_str_at (street, "code"), "TJ");
    assert_string_equal (s_str_at (street, "name"), "天骄街道");

    //  stats as GET /api/stats shows them: counters turned into integers
    json_t *stats = json_object_get (snap, "stats");
    assert_int_equal (s_int_at (stats, "open"), 8);
    assert_int_equal (s_int_at (json_object_get (stats, "by_state"), "ACCEPTED"), 3);
    assert_int_equal (s_int_at (json_object_get (stats, "by_state"), "VERIFIED"), 0);
    assert_int_equal (s_int_at (json_object_get (stats, "totals"), "reported"), 15);
    assert_int_equal (s_int_at (json_object_get (stats, "pending"), "notify"), 1);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_funnel (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *funnel = s_array_at (snap, "funnel", 7);
    //  a case counts at every stage up to where it stands; the reported
    //  total wins at the top when it is larger (cases no longer counted)
    static const struct { const char *stage, *label; long long count; } want [] = {
        { "REPORTED", "上报", 15 }, { "REGISTERED", "立案", 13 }, { "DISPATCHED", "派遣", 10 },
        { "ACCEPTED", "处置", 9 }, { "RESOLVED", "反馈", 6 }, { "VERIFIED", "核查", 5 },
        { "CLOSED", "结案", 5 }
    };
    for (size_t k = 0; k < 7; k++) {
        json_t *stage = json_array_get (funnel, k);
        assert_string_equal (s_str_at (stage, "stage"), want [k].stage);
        assert_string_equal (s_str_at (stage, "label"), want [k].label);
        assert_int_equal (s_int_at (stage, "count"), want [k].count);
    }
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_map_of_communities (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    //  every community of the directory, in its order, with its grids
    json_t *communities = s_array_at (snap, "communities", 2);
    json_t *c01 = json_array_get (communities, 0);
    assert_string_equal (s_str_at (c01, "id"), "C01");
    assert_string_equal (s_str_at (c01, "name"), "安达社区");
    assert_int_equal (s_int_at (c01, "open"), 4);
    assert_int_equal (s_int_at (c01, "late"), 0);
    json_t *grids = s_array_at (c01, "grids", 2);
    json_t *g01 = json_array_get (grids, 0);
    assert_string_equal (s_str_at (g01, "id"), "G01");
    assert_string_equal (s_str_at (g01, "name"), "安达社区第1网格");
    assert_int_equal (s_int_at (g01, "open"), 4);
    assert_int_equal (s_int_at (g01, "week"), 3);
    assert_int_equal (s_int_at (g01, "last_week"), 2);
    assert_string_equal (s_str_at (json_array_get (grids, 1), "id"), "G02");

    json_t *c02 = json_array_get (communities, 1);
    assert_int_equal (s_int_at (c02, "open"), 4);
    assert_int_equal (s_int_at (c02, "late"), 1);
    json_t *g03 = json_array_get (s_array_at (c02, "grids", 1), 0);
    assert_string_equal (s_str_at (g03, "id"), "G03");
    assert_int_equal (s_int_at (g03, "late"), 1);
    assert_int_equal (s_int_at (g03, "last_week"), 6);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_red_and_yellow_lists (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *red = json_array_get (s_array_at (snap, "red", 1), 0);
    assert_string_equal (s_str_at (red, "case_id"), "TJ-20240519-000003");
    assert_string_equal (s_str_at (red, "ledger_no"), "TJ-20240519-000003");
    assert_string_equal (s_str_at (red, "grid"), "G03");
    assert_string_equal (s_str_at (red, "grid_name"), "天骄社区第1网格");
    assert_string_equal (s_str_at (red, "community"), "C02");
    assert_string_equal (s_str_at (red, "category_name"), "垃圾清运");
    assert_string_equal (s_str_at (red, "tier"), "COMMUNITY");
    assert_string_equal (s_str_at (red, "unit"), "U1");
    assert_string_equal (s_str_at (red, "unit_name"), "环卫所");
    assert_string_equal (s_str_at (red, "state"), "ESCALATED");
    assert_int_equal (s_int_at (red, "created_ms"), 1716085800000LL);
    assert_int_equal (s_int_at (red, "due_ms"), 1716100200000LL);
    assert_int_equal (s_int_at (red, "left_ms"), -72000000);
    //  the Lua's empty {} is still a list for the screen
    s_array_at (snap, "yellow", 0);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_demand_busiest_first (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *demand = json_object_get (snap, "demand");
    json_t *cats = s_array_at (demand, "categories", 3);
    json_t *first = json_array_get (cats, 0);
    assert_string_equal (s_str_at (first, "code"), "env.garbage");
    assert_string_equal (s_str_at (first, "name"), "垃圾清运");
    assert_string_equal (s_str_at (first, "kind"), "incident");
    assert_int_equal (s_int_at (first, "week"), 4);
    assert_int_equal (s_int_at (first, "last_week"), 6);
    assert_string_equal (s_str_at (json_array_get (cats, 1), "code"), "svc.legal");
    assert_string_equal (s_str_at (json_array_get (cats, 1), "kind"), "service");
    assert_string_equal (s_str_at (json_array_get (cats, 2), "code"), "svc.meal");

    json_t *grids = s_array_at (demand, "grids", 3);
    assert_int_equal (s_int_at (json_array_get (grids, 0), "week"), 3);
    assert_int_equal (s_int_at (json_array_get (grids, 1), "week"), 3);
    json_t *quiet = json_array_get (grids, 2);
    assert_string_equal (s_str_at (quiet, "id"), "G02");
    assert_string_equal (s_str_at (quiet, "name"), "安达社区第2网格");
    assert_int_equal (s_int_at (quiet, "last_week"), 1);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_units_on_duty_by_rota (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    //  Monday 10:30 local: U1 (Monday mornings), U2 and U4 (no rota) are
    //  on duty; U3 (Tuesdays) is not
    json_t *res = json_object_get (snap, "resources");
    assert_int_equal (s_int_at (res, "units"), 4);
    assert_int_equal (s_int_at (res, "on_duty"), 3);
    assert_int_equal (s_int_at (res, "open"), 17);
    assert_int_equal (s_int_at (res, "capacity"), 29);

    //  busiest first by load; at equal load, more open cases first
    json_t *units = s_array_at (snap, "units", 4);
    static const struct { const char *id, *name; bool on_duty; long long load; } want [] = {
        { "U3", "长者食堂", false, 100 }, { "U4", "物业公司", true, 80 },
        { "U1", "环卫所", true, 80 }, { "U2", "律师协会", true, 10 }
    };
    for (size_t i = 0; i < 4; i++) {
        json_t *u = json_array_get (units, i);
        assert_string_equal (s_str_at (u, "id"), want [i].id);
        assert_string_equal (s_str_at (u, "name"), want [i].name);
        assert_true (json_is_boolean (json_object_get (u, "on_duty")));
        assert_int_equal (json_is_true (json_object_get (u, "on_duty")), want [i].on_duty);
        assert_int_equal (s_int_at (u, "load_pct"), want [i].load);
    }
    json_t *u1 = json_array_get (units, 2);
    assert_string_equal (s_str_at (u1, "kind"), "sanitation");
    assert_int_equal (s_int_at (u1, "open"), 4);
    assert_int_equal (s_int_at (u1, "capacity"), 5);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_duty_follows_local_time (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    //  12:00 local is past U1's 09:00-12:00 slot; 08:59 is before it.
    //  (At 12:00 UTC+8 it is 04:00 UTC: the rota is read in street time.)
    json_object_set_new (reply, "now", json_integer (NOW_MS + 90 * 60000));
    json_t *snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 2);
    json_decref (snap);
    json_object_set_new (reply, "now", json_integer (NOW_MS - 91 * 60000));
    snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 2);
    json_decref (snap);
    json_object_set_new (reply, "now", json_integer (NOW_MS - 90 * 60000));
    snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 3);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_services_delivered (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    //  the directory's service categories only, most delivered first
    json_t *services = s_array_at (snap, "services", 2);
    json_t *meal = json_array_get (services, 0);
    assert_string_equal (s_str_at (meal, "code"), "svc.meal");
    assert_string_equal (s_str_at (meal, "name"), "助餐服务");
    assert_int_equal (s_int_at (meal, "ordered"), 2);
    assert_int_equal (s_int_at (meal, "open"), 0);
    assert_int_equal (s_int_at (meal, "delivered"), 2);
    //  3 legal orders: one waits for the community to place it, two are in
    //  hand: none delivered (ordered - open would say 1)
    json_t *legal = json_array_get (services, 1);
    assert_string_equal (s_str_at (legal, "code"), "svc.legal");
    assert_int_equal (s_int_at (legal, "ordered"), 3);
    assert_int_equal (s_int_at (legal, "waiting"), 1);
    assert_int_equal (s_int_at (legal, "open"), 2);
    assert_int_equal (s_int_at (legal, "delivered"), 0);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_performance (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *perf = json_object_get (snap, "perf");
    //  on time: against the deadline each case started with (the two
    //  COMMUNITY cases climbed: they missed it), and against the deadline
    //  they ended with, both from the latest closed cases
    s_assert_rate (perf, "on_time_rate", 3.0 / 5.0);
    s_assert_rate (perf, "on_time_rate_now", 4.0 / 5.0);
    //  from the running totals
    assert_int_equal (s_int_at (perf, "resolved"), 6);
    assert_int_equal (s_int_at (perf, "resolved_on_time"), 4);
    assert_int_equal (s_int_at (perf, "evaluated"), 4);
    s_assert_rate (perf, "satisfaction", 4.5);
    assert_int_equal (s_int_at (perf, "escalations"), 3);

    //  from the latest closed cases
    json_t *sample = json_object_get (perf, "sample");
    assert_int_equal (s_int_at (sample, "closed"), 5);
    s_assert_rate (sample, "on_time_rate", 0.6);
    s_assert_rate (sample, "on_time_rate_now", 0.8);
    assert_int_equal (s_int_at (sample, "avg_handling_ms"), 7200000);
    s_assert_rate (sample, "satisfaction", 4.5);

    //  all four tiers in order, those without closed cases at null rates
    json_t *by_tier = s_array_at (perf, "by_tier", 4);
    json_t *grid = json_array_get (by_tier, 0);
    assert_string_equal (s_str_at (grid, "tier"), "GRID");
    assert_int_equal (s_int_at (grid, "closed"), 3);
    s_assert_rate (grid, "on_time_rate", 1.0);
    assert_int_equal (s_int_at (grid, "avg_handling_ms"), 3600000);
    json_t *community = json_array_get (by_tier, 1);
    assert_string_equal (s_str_at (community, "tier"), "COMMUNITY");
    s_assert_rate (community, "on_time_rate", 0.0);
    s_assert_rate (community, "on_time_rate_now", 0.5);
    assert_int_equal (s_int_at (community, "escalations"), 3);
    json_t *district = json_array_get (by_tier, 3);
    assert_string_equal (s_str_at (district, "tier"), "DISTRICT");
    assert_int_equal (s_int_at (district, "closed"), 0);
    assert_true (s_null_at (district, "on_time_rate"));
    assert_true (s_null_at (district, "avg_handling_ms"));
    assert_true (s_null_at (district, "satisfaction"));

    //  units by cases closed, with names
    json_t *by_unit = s_array_at (perf, "by_unit", 2);
    json_t *top = json_array_get (by_unit, 0);
    assert_string_equal (s_str_at (top, "unit"), "U1");
    assert_string_equal (s_str_at (top, "name"), "环卫所");
    assert_int_equal (s_int_at (top, "closed"), 3);
    assert_string_equal (s_str_at (json_array_get (by_unit, 1), "name"), "律师协会");
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_ticker (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *ev = json_array_get (s_array_at (snap, "ticker", 1), 0);
    assert_string_equal (s_str_at (ev, "sid"), "1716172100000-0");
    assert_string_equal (s_str_at (ev, "case_id"), "TJ-20240520-000009");
    assert_string_equal (s_str_at (ev, "grid_name"), "安达社区第1网格");
    assert_string_equal (s_str_at (ev, "category_name"), "垃圾清运");
    assert_int_equal (s_int_at (ev, "at_ms"), 1716172100000LL);
    assert_string_equal (s_str_at (ev, "what"), "accepted");
    assert_string_equal (s_str_at (ev, "what_label"), "接单");
    assert_string_equal (s_str_at (ev, "tier"), "GRID");
    assert_string_equal (s_str_at (ev, "unit_name"), "环卫所");
    assert_string_equal (s_str_at (ev, "note"), "responsible: 王师傅");
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_of_a_fresh_store (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_empty_reply);
    json_t *snap = report_screen_compose (reply, dir);
    assert_non_null (snap);
    //  every list is a list, every count a zero, every rate null
    json_t *funnel = s_array_at (snap, "funnel", 7);
    for (size_t k = 0; k < 7; k++)
        assert_int_equal (s_int_at (json_array_get (funnel, k), "count"), 0);
    s_array_at (snap, "red", 0);
    s_array_at (snap, "yellow", 0);
    s_array_at (snap, "units", 0);
    s_array_at (snap, "ticker", 0);
    s_array_at (json_object_get (snap, "demand"), "categories", 0);
    json_t *communities = s_array_at (snap, "communities", 2);
    assert_int_equal (s_int_at (json_array_get (communities, 0), "open"), 0);
    //  the directory's services, none ordered yet
    json_t *services = s_array_at (snap, "services", 2);
    assert_int_equal (s_int_at (json_array_get (services, 0), "delivered"), 0);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "units"), 0);
    json_t *perf = json_object_get (snap, "perf");
    assert_true (s_null_at (perf, "on_time_rate"));
    assert_true (s_null_at (perf, "satisfaction"));
    assert_true (s_null_at (json_object_get (perf, "sample"), "avg_handling_ms"));
    s_array_at (perf, "by_tier", 4);
    s_array_at (perf, "by_unit", 0);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_without_directory (void **state)
{
    (void) state;
    //  before the directory is read, ids stand for names and the
    //  directory's own lists (map, services) are empty
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, NULL);
    assert_non_null (snap);
    assert_string_equal (s_str_at (json_object_get (snap, "street"), "code"), "");
    s_array_at (snap, "communities", 0);
    s_array_at (snap, "services", 0);
    json_t *red = json_array_get (s_array_at (snap, "red", 1), 0);
    assert_string_equal (s_str_at (red, "grid_name"), "G03");
    assert_string_equal (s_str_at (red, "unit_name"), "U1");
    //  without rotas every unit counts as on duty
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 4);
    json_t *u = json_array_get (s_array_at (snap, "units", 4), 0);
    assert_string_equal (s_str_at (u, "name"), s_str_at (u, "id"));
    json_t *cats = s_array_at (json_object_get (snap, "demand"), "categories", 3);
    assert_string_equal (s_str_at (json_array_get (cats, 0), "name"), "env.garbage");
    //  and without knowing the category, it is not called a service
    assert_string_equal (s_str_at (json_array_get (cats, 1), "kind"), "incident");
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_caps_long_lists (void **state)
{
    const directory_t *dir = *state;
    //  40 grids of demand and 20 units that closed cases: the screen shows
    //  the 15 busiest grids and the 12 units that closed most
    json_t *reply = s_json (s_empty_reply);
    json_t *grid = json_object_get (json_object_get (reply, "demand"), "grid");
    json_t *by_unit = json_object_get (json_object_get (reply, "perf"), "by_unit");
    char id [16];
    for (int i = 1; i <= 40; i++) {
        snprintf (id, sizeof id, "G%02d", i);
        json_object_set_new (grid, id, json_pack ("[i, i]", i, 0));
    }
    for (int i = 1; i <= 20; i++) {
        snprintf (id, sizeof id, "U%02d", i);
        json_object_set_new (by_unit, id, json_pack ("{s:i}", "n", i));
    }
    json_t *snap = report_screen_compose (reply, dir);
    json_t *grids = s_array_at (json_object_get (snap, "demand"), "grids", 15);
    assert_string_equal (s_str_at (json_array_get (grids, 0), "id"), "G40");
    assert_int_equal (s_int_at (json_array_get (grids, 14), "week"), 26);
    json_t *units = s_array_at (json_object_get (snap, "perf"), "by_unit", 12);
    assert_string_equal (s_str_at (json_array_get (units, 0), "unit"), "U20");
    assert_int_equal (s_int_at (json_array_get (units, 11), "closed"), 9);
    json_decref (snap);
    json_decref (reply);
}

static void
test_snapshot_refuses_failed_replies (void **state)
{
    const directory_t *dir = *state;
    assert_null (report_screen_compose (NULL, dir));
    json_t *reply = s_json ("{'ok': false, 'code': 'STORE', 'message': 'ERR Function not found'}");
    assert_null (report_screen_compose (reply, dir));
    json_decref (reply);
    reply = s_json ("[1, 2]");
    assert_null (report_screen_compose (reply, dir));
    json_decref (reply);
}

static void
test_snapshot_survives_odd_values (void **state)
{
    const directory_t *dir = *state;
    //  wrong types where numbers and lists belong: zeros and empty lists,
    //  never a crash
    json_t *reply = s_json ("{'ok': true, 'now': 'soon', 'state': [], 'units': {'U1': 'x'},"
                            " 'red': [{'id': 'A', 'tier': 'high', 'created': 'yesterday'}],"
                            " 'ticker': [42, 'x'], 'demand': {'grid': {'G01': {}}},"
                            " 'perf': {'by_tier': []}, 'late_grids': {'G01': 'many'}}");
    json_t *snap = report_screen_compose (reply, dir);
    assert_non_null (snap);
    assert_int_equal (s_int_at (snap, "at_ms"), 0);
    s_array_at (snap, "ticker", 0);
    json_t *red = json_array_get (s_array_at (snap, "red", 1), 0);
    assert_string_equal (s_str_at (red, "case_id"), "A");
    assert_string_equal (s_str_at (red, "tier"), "");
    assert_int_equal (s_int_at (red, "created_ms"), 0);
    json_t *g01 = json_array_get (json_object_get (json_array_get (json_object_get (snap,
                                  "communities"), 0), "grids"), 0);
    assert_int_equal (s_int_at (g01, "late"), 0);
    assert_int_equal (s_int_at (g01, "week"), 0);
    json_t *u1 = json_array_get (s_array_at (snap, "units", 1), 0);
    assert_int_equal (s_int_at (u1, "capacity"), 0);
    assert_int_equal (s_int_at (u1, "load_pct"), 0);
    json_decref (snap);
    json_decref (reply);
}


//  ---------------------------------------------------------------------
//  Case rows, events and labels

static void
test_case_row_for_the_api (void **state)
{
    const directory_t *dir = *state;
    //  a gc_report_cases row: numbers already numbers, absent ones 0
    json_t *row = s_json (
        "{'id': 'TJ-20240520-000009', 'ledger': 'TJ-20240520-000009', 'grid': 'G01',"
        " 'community': 'C01', 'category': 'env.garbage', 'channel': 'HOTLINE',"
        " 'reporter': '13800000000', 'tier': 1, 'unit': 'U1', 'responsible': '王师傅',"
        " 'resolve_by': 1716186600000, 'state': 'ACCEPTED', 'created': 1716172200000,"
        " 'resolved': 0, 'closed': 0, 'satisfaction': 0, 'text': '楼道垃圾没人清',"
        " 'waiting': ''}");
    json_t *r = report_screen_row (row, dir);
    assert_non_null (r);
    assert_string_equal (s_str_at (r, "case_id"), "TJ-20240520-000009");
    assert_string_equal (s_str_at (r, "ledger_no"), "TJ-20240520-000009");
    assert_string_equal (s_str_at (r, "grid_name"), "安达社区第1网格");
    assert_string_equal (s_str_at (r, "community_name"), "安达社区");
    assert_string_equal (s_str_at (r, "category_name"), "垃圾清运");
    assert_string_equal (s_str_at (r, "channel"), "HOTLINE");
    assert_string_equal (s_str_at (r, "tier"), "GRID");
    assert_string_equal (s_str_at (r, "unit_name"), "环卫所");
    assert_string_equal (s_str_at (r, "responsible"), "王师傅");
    assert_string_equal (s_str_at (r, "state"), "ACCEPTED");
    assert_string_equal (s_str_at (r, "state_label"), "处置中");
    assert_string_equal (s_str_at (r, "text"), "楼道垃圾没人清");
    assert_int_equal (s_int_at (r, "created_ms"), 1716172200000LL);
    assert_int_equal (s_int_at (r, "resolve_by_ms"), 1716186600000LL);
    //  what has not happened yet is null, not 0
    assert_true (s_null_at (r, "resolved_ms"));
    assert_true (s_null_at (r, "closed_ms"));
    assert_true (s_null_at (r, "satisfaction"));
    json_decref (r);

    //  closed and evaluated
    json_object_set_new (row, "state", json_string ("CLOSED"));
    json_object_set_new (row, "resolved", json_integer (1716180000000LL));
    json_object_set_new (row, "closed", json_integer (1716190000000LL));
    json_object_set_new (row, "satisfaction", json_integer (4));
    r = report_screen_row (row, dir);
    assert_int_equal (s_int_at (r, "resolved_ms"), 1716180000000LL);
    assert_int_equal (s_int_at (r, "closed_ms"), 1716190000000LL);
    assert_int_equal (s_int_at (r, "satisfaction"), 4);
    json_decref (r);

    //  not yet dispatched: no unit, no unit name
    json_object_set_new (row, "unit", json_string (""));
    r = report_screen_row (row, dir);
    assert_string_equal (s_str_at (r, "unit_name"), "");
    json_decref (r);
    json_decref (row);

    assert_null (report_screen_row (NULL, dir));
    row = json_string ("TJ-1");
    assert_null (report_screen_row (row, dir));
    json_decref (row);
}

static void
test_case_row_with_unknown_ids (void **state)
{
    const directory_t *dir = *state;
    //  a grid or unit the directory no longer has: the id stands in
    json_t *row = s_json ("{'id': 'X1', 'grid': 'G99', 'community': 'C99',"
                          " 'category': 'old.code', 'unit': 'U99', 'tier': 7}");
    json_t *r = report_screen_row (row, dir);
    assert_string_equal (s_str_at (r, "grid_name"), "G99");
    assert_string_equal (s_str_at (r, "community_name"), "C99");
    assert_string_equal (s_str_at (r, "category_name"), "old.code");
    assert_string_equal (s_str_at (r, "unit_name"), "U99");
    assert_string_equal (s_str_at (r, "tier"), "");
    assert_string_equal (s_str_at (r, "text"), "");
    assert_int_equal (s_int_at (r, "created_ms"), 0);
    json_decref (r);
    json_decref (row);
}

static void
test_event_for_the_stream (void **state)
{
    const directory_t *dir = *state;
    json_t *e = s_json ("{'sid': '1716172100000-3', 'case': 'TJ-20240519-000003', 'grid': 'G03',"
                        " 'category': 'env.garbage', 'at': 1716172100000, 'what': 'escalated',"
                        " 'who': 'escalate', 'state': 'ESCALATED', 'tier': 2, 'unit': '',"
                        " 'note': 'deadline passed'}");
    json_t *ev = report_screen_event (e, dir);
    assert_string_equal (s_str_at (ev, "case_id"), "TJ-20240519-000003");
    assert_string_equal (s_str_at (ev, "grid"), "G03");
    assert_string_equal (s_str_at (ev, "grid_name"), "天骄社区第1网格");
    assert_string_equal (s_str_at (ev, "category"), "env.garbage");
    assert_string_equal (s_str_at (ev, "who"), "escalate");
    assert_string_equal (s_str_at (ev, "state"), "ESCALATED");
    assert_string_equal (s_str_at (ev, "tier"), "COMMUNITY");
    assert_string_equal (s_str_at (ev, "unit"), "");
    assert_string_equal (s_str_at (ev, "unit_name"), "");
    assert_int_equal (s_int_at (ev, "at_ms"), 1716172100000LL);
    json_decref (ev);
    json_decref (e);
    assert_null (report_screen_event (NULL, dir));
}

static void
test_labels (void **state)
{
    (void) state;
    assert_string_equal (report_screen_state_label ("REGISTERED"), "立案");
    assert_string_equal (report_screen_state_label ("ACCEPTED"), "处置中");
    assert_string_equal (report_screen_state_label ("CLOSED"), "结案");
    assert_string_equal (report_screen_state_label ("DUPLICATE"), "重复");
    assert_string_equal (report_screen_tier_label ("GRID"), "网格");
    assert_string_equal (report_screen_tier_label ("DISTRICT"), "区");
    assert_string_equal (report_screen_channel_label ("HOTLINE"), "热线");
    assert_string_equal (report_screen_channel_label ("OPERATOR"), "坐席");
    //  unknown: the input itself; none: empty
    assert_string_equal (report_screen_state_label ("LIMBO"), "LIMBO");
    assert_string_equal (report_screen_tier_label ("CITY"), "CITY");
    assert_string_equal (report_screen_channel_label ("FAX"), "FAX");
    assert_string_equal (report_screen_state_label (NULL), "");
    assert_string_equal (report_screen_tier_label (NULL), "");
    assert_string_equal (report_screen_channel_label (NULL), "");
}

//  ---------------------------------------------------------------------
//  The calendar, states and events the screen must know

//  The street with a working calendar: Monday 2024-05-20 (NOW_MS) is a
//  holiday, Saturday 2024-05-25 a make-up day that works Monday's hours.
static int
setup_holiday_street (void **state)
{
    const char *calendar =
        " 'calendar': {'working_hours': [{'weekday': 1, 'from': '08:30', 'to': '18:00'}],"
        "              'holidays': ['2024-05-20'], 'makeup_days': ['2024-05-25'],"
        "              'makeup_weekday': 1},";
    const char *at = strstr (s_street, " 'units': [");
    assert_non_null (at);
    size_t head = (size_t) (at - s_street);
    char *copy = malloc (strlen (s_street) + strlen (calendar) + 1);
    assert_non_null (copy);
    memcpy (copy, s_street, head);
    strcpy (copy + head, calendar);
    strcat (copy, at);
    return s_setup_directory (copy, state);
}

static void
test_duty_follows_the_calendar_dispatch_uses (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    //  Monday 10:30 is a holiday: U1's Monday rota does not hold; U2 and
    //  U4 (no rota) stay on duty, as dispatch would offer them cases
    json_t *snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 2);
    json_t *units = json_object_get (snap, "units");
    for (size_t i = 0; i < json_array_size (units); i++) {
        json_t *u = json_array_get (units, i);
        if (strcmp (s_str_at (u, "id"), "U1") == 0)
            assert_false (json_is_true (json_object_get (u, "on_duty")));
    }
    json_decref (snap);
    //  Saturday 10:30, a make-up day: U1 works its Monday rota
    json_object_set_new (reply, "now", json_integer (NOW_MS + 5 * 86400000LL));
    snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 3);
    json_decref (snap);
    //  Sunday 10:30, an ordinary weekend day: U1 off again
    json_object_set_new (reply, "now", json_integer (NOW_MS + 6 * 86400000LL));
    snap = report_screen_compose (reply, dir);
    assert_int_equal (s_int_at (json_object_get (snap, "resources"), "on_duty"), 2);
    json_decref (snap);
    json_decref (reply);
}

//  True when text holds a byte outside ASCII (a Chinese word does).
static bool
s_not_ascii (const char *text)
{
    for (const unsigned char *c = (const unsigned char *) text; *c; c++)
        if (*c >= 0x80)
            return true;
    return false;
}

static void
test_every_state_has_a_label_and_a_funnel_stage (void **state)
{
    const directory_t *dir = *state;
    json_t *labels = NULL;
    for (size_t i = 0; report_api_state_name (i); i++) {
        const char *name = report_api_state_name (i);
        //  one case in this state alone: it counts at the funnel's top
        json_t *reply = s_json (s_empty_reply);
        json_object_set_new (json_object_get (reply, "state"), name, json_string ("1"));
        json_t *snap = report_screen_compose (reply, dir);
        json_t *funnel = s_array_at (snap, "funnel", 7);
        if (s_int_at (json_array_get (funnel, 0), "count") != 1)
            fail_msg ("state %s is missing from the funnel", name);
        if (!s_not_ascii (report_screen_state_label (name)))
            fail_msg ("state %s has no Chinese label", name);
        labels = json_object_get (json_object_get (snap, "labels"), "state");
        assert_string_equal (s_str_at (labels, name), report_screen_state_label (name));
        //  orders waiting to be placed and parked cases hold a ledger
        //  number (立案) and went no further
        if (strcmp (name, "ORDERED") == 0 || strcmp (name, "PARKED") == 0) {
            assert_int_equal (s_int_at (json_array_get (funnel, 1), "count"), 1);
            assert_int_equal (s_int_at (json_array_get (funnel, 2), "count"), 0);
        }
        json_decref (snap);
        json_decref (reply);
    }
    assert_string_equal (report_screen_state_label ("ORDERED"), "待下单");
    assert_string_equal (report_screen_state_label ("PARKED"), "挂账");
}

//  Every what the function library writes with a literal after call
//  ("log_event(" ... 'what', "matter_log(P, m, " 'what') has its own
//  Chinese word from label. Returns how many it saw.
static size_t
s_whats_in_chinese (const char *call, const char *(*label) (const char *))
{
    size_t found = 0;
    for (const char *at = strstr (gridcall_lua, call); at; at = strstr (at + 1, call)) {
        const char *eol = strchr (at, '\n');
        const char *quote = strchr (at, '\'');
        if (!quote || (eol && quote > eol))
            continue;           //  the definition, or a what from a variable
        char what [64];
        size_t n = strspn (quote + 1, "abcdefghijklmnopqrstuvwxyz_");
        if (n == 0 || n >= sizeof what || quote [1 + n] != '\'')
            continue;
        memcpy (what, quote + 1, n);
        what [n] = 0;
        const char *word = label (what);
        if (!s_not_ascii (word) || strcmp (word, label ("no_such_what")) == 0)
            fail_msg ("timeline entry \"%s\" (%s) has no Chinese word for the ticker", what, call);
        found++;
    }
    return found;
}

static void
test_every_event_of_the_library_reads_in_chinese (void **state)
{
    (void) state;
    //  the scan must see the library's entries, not pass on none
    assert_true (s_whats_in_chinese ("log_event(", report_screen_what_label) >= 25);
    //  a matter's entries, in the loop's own words
    assert_true (s_whats_in_chinese ("matter_log(P, m, ", report_screen_matter_label) >= 10);
    //  the whats passed through a variable (matter_new, matter_task_event)
    assert_string_equal (report_screen_matter_label ("proposed"), "议题·提出");
    assert_string_equal (report_screen_matter_label ("task_escalated"), "议题·任务升级");
    assert_string_equal (report_screen_what_label ("reminder"), "黄灯提醒");
    assert_string_equal (report_screen_what_label ("parked"), "挂账");
    //  an entry newer than the table still reads in Chinese
    assert_true (s_not_ascii (report_screen_what_label ("teleported")));
    assert_true (s_not_ascii (report_screen_what_label (NULL)));
}

static void
test_snapshot_labels_for_the_page (void **state)
{
    const directory_t *dir = *state;
    json_t *reply = s_json (s_screen_reply);
    json_t *snap = report_screen_compose (reply, dir);
    json_t *labels = json_object_get (snap, "labels");
    json_t *tiers = json_object_get (labels, "tier");
    assert_int_equal (json_object_size (tiers), 4);
    assert_string_equal (s_str_at (tiers, "GRID"), "网格");
    assert_string_equal (s_str_at (tiers, "DISTRICT"), "区");
    json_t *states = json_object_get (labels, "state");
    size_t n = 0;
    while (report_api_state_name (n))
        n++;
    assert_int_equal (json_object_size (states), n);
    assert_string_equal (s_str_at (states, "PARKED"), "挂账");
    json_decref (snap);
    json_decref (reply);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_snapshot_header_and_stats, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_funnel, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_map_of_communities, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_red_and_yellow_lists, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_demand_busiest_first, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_units_on_duty_by_rota, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_duty_follows_local_time, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_services_delivered, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_performance, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_ticker, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_of_a_fresh_store, setup_street, teardown_street),
        cmocka_unit_test (test_snapshot_without_directory),
        cmocka_unit_test_setup_teardown (test_snapshot_caps_long_lists, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_refuses_failed_replies, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_snapshot_survives_odd_values, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_case_row_for_the_api, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_case_row_with_unknown_ids, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_event_for_the_stream, setup_street, teardown_street),
        cmocka_unit_test (test_labels),
        cmocka_unit_test_setup_teardown (test_duty_follows_the_calendar_dispatch_uses,
                                         setup_holiday_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_every_state_has_a_label_and_a_funnel_stage,
                                         setup_street, teardown_street),
        cmocka_unit_test (test_every_event_of_the_library_reads_in_chinese),
        cmocka_unit_test_setup_teardown (test_snapshot_labels_for_the_page, setup_street,
                                         teardown_street),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
