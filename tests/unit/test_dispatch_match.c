/*  test_dispatch_match.c — which units dispatch may offer a case to, and
    when a unit off duty is next on duty (street.h). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "dispatch_match.h"

//  Two communities, three grids; a property company on C01's grids, a
//  street-wide cleaning team, lawyers on a Wednesday-afternoon rota.
static const char *s_directory =
    "{\"version\":1,\"street\":{\"id\":\"t\",\"code\":\"TJ\",\"name\":\"天骄街道\",\"utc_offset_minutes\":480},"
    "\"communities\":[{\"id\":\"C01\",\"name\":\"一\"},{\"id\":\"C02\",\"name\":\"二\"}],"
    "\"grids\":[{\"id\":\"G01\",\"name\":\"g1\",\"community\":\"C01\",\"worker\":\"w\",\"buildings\":[]},"
    "{\"id\":\"G02\",\"name\":\"g2\",\"community\":\"C01\",\"worker\":\"w\",\"buildings\":[]},"
    "{\"id\":\"G03\",\"name\":\"g3\",\"community\":\"C02\",\"worker\":\"w\",\"buildings\":[]}],"
    "\"categories\":[{\"code\":\"env.garbage\",\"name\":\"垃圾\",\"kind\":\"incident\",\"start_tier\":\"GRID\","
    "\"limits_minutes\":{\"GRID\":240,\"COMMUNITY\":480,\"STREET\":1440,\"DISTRICT\":2880}},"
    "{\"code\":\"svc.legal\",\"name\":\"法律\",\"kind\":\"service\",\"start_tier\":\"COMMUNITY\","
    "\"limits_minutes\":{\"COMMUNITY\":480,\"STREET\":1440,\"DISTRICT\":2880}}],"
    "\"units\":[{\"id\":\"PROP1\",\"name\":\"物业\",\"kind\":\"property\",\"responsible\":\"王\",\"contact\":\"1\",\"tiers\":[\"GRID\"],"
    "\"categories\":[\"env.garbage\"],\"coverage\":{\"communities\":[\"C01\"]},\"capacity\":5},"
    "{\"id\":\"CLEAN\",\"name\":\"环卫\",\"kind\":\"city\",\"responsible\":\"李\",\"contact\":\"2\",\"tiers\":[\"GRID\",\"COMMUNITY\",\"STREET\",\"DISTRICT\"],"
    "\"categories\":[\"env.garbage\"],\"coverage\":\"street\",\"capacity\":20},"
    "{\"id\":\"LAW\",\"name\":\"律师协会\",\"kind\":\"lawyers\",\"responsible\":\"赵\",\"contact\":\"3\",\"tiers\":[\"COMMUNITY\",\"STREET\",\"DISTRICT\"],"
    "\"categories\":[\"svc.legal\"],\"coverage\":\"street\",\"capacity\":3,"
    "\"rota\":[{\"weekday\":3,\"from\":\"14:00\",\"to\":\"18:00\"}]}]}";

static bool
s_all_connected (void *arg, const char *unit_id, const char *grid, const char *category)
{
    (void) arg;
    (void) unit_id;
    (void) grid;
    (void) category;
    return true;
}

static bool
s_not_clean (void *arg, const char *unit_id, const char *grid, const char *category)
{
    (void) arg;
    (void) grid;
    (void) category;
    return strcmp (unit_id, "CLEAN") != 0;
}

static directory_t *
s_load (void)
{
    char err [512];
    directory_t *directory = directory_parse (s_directory, "test", err, sizeof err);
    if (!directory)
        fail_msg ("directory: %s", err);
    return directory;
}

//  Local time on a given weekday of the week of 2026-11-23 (a Monday).
static street_time_t
s_at (const directory_t *directory, int weekday, int hour, int minute)
{
    char text [32];
    snprintf (text, sizeof text, "2026-11-%02dT%02d:%02d", 22 + weekday, hour, minute);
    long long ms;
    assert_int_equal (street_parse (directory_utc_offset_minutes (directory), text, &ms), 0);
    street_time_t at;
    street_local (directory, ms, &at);
    assert_int_equal (at.weekday, weekday);
    return at;
}

static void
test_fit_by_grid_and_tier (void **state)
{
    (void) state;
    directory_t *directory = s_load ();
    street_time_t at = s_at (directory, 1, 10, 0);
    const char *out [8];
    size_t n = dispatch_match (directory, DIR_TIER_GRID, "G01", "env.garbage", &at,
                               s_all_connected, NULL, 0, out, 8);
    assert_int_equal (n, 2);
    assert_string_equal (out [0], "PROP1");
    assert_string_equal (out [1], "CLEAN");
    //  G03 is outside the property company's community
    n = dispatch_match (directory, DIR_TIER_GRID, "G03", "env.garbage", &at,
                        s_all_connected, NULL, 0, out, 8);
    assert_int_equal (n, 1);
    assert_string_equal (out [0], "CLEAN");
    //  at COMMUNITY tier only the street-wide team serves
    n = dispatch_match (directory, DIR_TIER_COMMUNITY, "G01", "env.garbage", &at,
                        s_all_connected, NULL, 0, out, 8);
    assert_int_equal (n, 1);
    assert_int_equal (street_check (directory, directory_unit_find (directory, "PROP1"),
                                    DIR_TIER_GRID, "G03", "env.garbage", &at), STREET_GRID);
    assert_int_equal (street_check (directory, directory_unit_find (directory, "PROP1"),
                                    DIR_TIER_STREET, "G01", "env.garbage", &at), STREET_TIER);
    directory_destroy (&directory);
}

static void
test_connected_and_round_robin (void **state)
{
    (void) state;
    directory_t *directory = s_load ();
    street_time_t at = s_at (directory, 1, 10, 0);
    const char *out [8];
    size_t n = dispatch_match (directory, DIR_TIER_GRID, "G01", "env.garbage", &at,
                               s_not_clean, NULL, 0, out, 8);
    assert_int_equal (n, 1);
    assert_string_equal (out [0], "PROP1");
    //  the next turn starts further down the list
    n = dispatch_match (directory, DIR_TIER_GRID, "G01", "env.garbage", &at,
                        s_all_connected, NULL, 1, out, 8);
    assert_int_equal (n, 2);
    assert_string_equal (out [0], "CLEAN");
    assert_string_equal (out [1], "PROP1");
    directory_destroy (&directory);
}

static void
test_rota (void **state)
{
    (void) state;
    directory_t *directory = s_load ();
    const char *out [8];
    //  Wednesday 15:00 the lawyers are on duty; Wednesday 19:00 and Thursday they are not
    street_time_t at = s_at (directory, 3, 15, 0);
    assert_int_equal (dispatch_match (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at,
                                      s_all_connected, NULL, 0, out, 8), 1);
    at = s_at (directory, 3, 19, 0);
    assert_int_equal (dispatch_match (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at,
                                      s_all_connected, NULL, 0, out, 8), 0);
    at = s_at (directory, 4, 15, 0);
    assert_int_equal (dispatch_match (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at,
                                      s_all_connected, NULL, 0, out, 8), 0);
    directory_destroy (&directory);
}

static void
test_next_duty_is_the_next_wednesday_afternoon (void **state)
{
    (void) state;
    directory_t *directory = s_load ();
    const char *unit_id;
    //  Thursday 10:00: the lawyers are next on duty Wednesday 2026-12-02 14:00
    street_time_t at = s_at (directory, 4, 10, 0);
    long long next = dispatch_match_next_duty (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal",
                                               &at, &unit_id);
    assert_string_equal (unit_id, "LAW");
    street_time_t slot;
    street_local (directory, next, &slot);
    assert_int_equal (slot.weekday, 3);
    assert_int_equal (slot.day, 2);
    assert_int_equal (slot.month, 12);
    assert_int_equal (slot.minute, 14 * 60);
    //  Wednesday 11:00: the same afternoon
    at = s_at (directory, 3, 11, 0);
    next = dispatch_match_next_duty (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at, &unit_id);
    assert_int_equal (next - at.unix_ms, 3 * 3600000LL);
    //  on duty now: now
    at = s_at (directory, 3, 15, 0);
    next = dispatch_match_next_duty (directory, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at, &unit_id);
    assert_int_equal (next, at.unix_ms);
    directory_destroy (&directory);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_fit_by_grid_and_tier),
        cmocka_unit_test (test_connected_and_round_robin),
        cmocka_unit_test (test_rota),
        cmocka_unit_test (test_next_duty_is_the_next_wednesday_afternoon),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
