/*  test_street.c — the street's local time and who may take a case when:
    the rules dispatch, `gridcall route` and the screen all read from
    street.h. Times are those a person on the street would say. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "street.h"

//  UTC+8; a property company on G01, lawyers on Wednesday afternoons;
//  2026-12-02 (a Wednesday) is a holiday, Saturday 2026-12-05 a make-up
//  day that works Wednesday's hours.
static const char *s_directory =
    "{\"version\":1,\"street\":{\"id\":\"t\",\"code\":\"TJ\",\"name\":\"天骄街道\",\"utc_offset_minutes\":480},"
    "\"communities\":[{\"id\":\"C01\",\"name\":\"一\"}],"
    "\"grids\":[{\"id\":\"G01\",\"name\":\"g1\",\"community\":\"C01\",\"worker\":\"w\",\"buildings\":[]},"
    "{\"id\":\"G02\",\"name\":\"g2\",\"community\":\"C01\",\"worker\":\"w\",\"buildings\":[]}],"
    "\"calendar\":{\"working_hours\":[{\"weekday\":3,\"from\":\"08:30\",\"to\":\"17:30\"}],"
    "\"holidays\":[\"2026-12-02\"],\"makeup_days\":[\"2026-12-05\"],\"makeup_weekday\":3},"
    "\"categories\":[{\"code\":\"env.garbage\",\"name\":\"垃圾\",\"kind\":\"incident\",\"start_tier\":\"GRID\","
    "\"limits_minutes\":{\"GRID\":240,\"COMMUNITY\":480,\"STREET\":1440,\"DISTRICT\":2880}},"
    "{\"code\":\"svc.legal\",\"name\":\"法律\",\"kind\":\"service\",\"start_tier\":\"COMMUNITY\","
    "\"limits_minutes\":{\"COMMUNITY\":480,\"STREET\":1440,\"DISTRICT\":2880}}],"
    "\"units\":[{\"id\":\"PROP1\",\"name\":\"物业\",\"kind\":\"property\",\"responsible\":\"王\",\"contact\":\"1\","
    "\"tiers\":[\"GRID\"],\"categories\":[\"env.garbage\"],\"coverage\":{\"grids\":[\"G01\"]},\"capacity\":5},"
    "{\"id\":\"LAW\",\"name\":\"律师协会\",\"kind\":\"lawyers\",\"responsible\":\"赵\",\"contact\":\"3\","
    "\"tiers\":[\"COMMUNITY\",\"STREET\"],\"categories\":[\"svc.legal\"],\"coverage\":\"street\",\"capacity\":3,"
    "\"rota\":[{\"weekday\":3,\"from\":\"14:00\",\"to\":\"18:00\"}]}]}";

static int
s_setup (void **state)
{
    char err [256];
    *state = directory_parse (s_directory, "test", err, sizeof err);
    if (!*state)
        fail_msg ("directory: %s", err);
    return 0;
}

static int
s_teardown (void **state)
{
    directory_destroy ((directory_t **) state);
    return 0;
}

//  The street's local time at a local "YYYY-MM-DD HH:MM".
static street_time_t
s_at (const directory_t *directory, const char *local)
{
    long long ms;
    assert_int_equal (street_parse (directory_utc_offset_minutes (directory), local, &ms), 0);
    street_time_t at;
    street_local (directory, ms, &at);
    return at;
}

static void
test_local_time (void **state)
{
    const directory_t *directory = *state;
    //  16:00 UTC on Wednesday is midnight starting Thursday in Ordos
    long long utc;
    assert_int_equal (street_parse (0, "2026-11-25 16:00", &utc), 0);
    street_time_t at;
    street_local (directory, utc, &at);
    assert_int_equal (at.year, 2026);
    assert_int_equal (at.month, 11);
    assert_int_equal (at.day, 26);
    assert_int_equal (at.weekday, 4);
    assert_int_equal (at.minute, 0);
    assert_true (at.unix_ms == utc);
    char text [32];
    street_format (&at, text, sizeof text);
    assert_string_equal (text, "2026-11-26 00:00");
    //  the same moment by the offset alone, and without a directory (UTC)
    street_time_t same;
    street_time (480, utc, &same);
    assert_true (same.unix_ms == at.unix_ms);
    assert_int_equal (same.year, at.year);
    assert_int_equal (same.month, at.month);
    assert_int_equal (same.day, at.day);
    assert_int_equal (same.weekday, at.weekday);
    assert_int_equal (same.minute, at.minute);
    street_local (NULL, utc, &at);
    street_format (&at, text, sizeof text);
    assert_string_equal (text, "2026-11-25 16:00");
    //  local midnight of a local afternoon
    at = s_at (directory, "2026-11-26 15:47");
    long long midnight;
    assert_int_equal (street_parse (480, "2026-11-26", &midnight), 0);
    assert_true (street_day_start (&at) == midnight);
    assert_true (midnight == utc);
}

static void
test_parse_forms (void **state)
{
    (void) state;
    long long a, b, c;
    assert_int_equal (street_parse (480, "2026-11-26", &a), 0);
    assert_int_equal (street_parse (480, "2026-11-26 00:00", &b), 0);
    assert_int_equal (street_parse (480, "2026-11-26T00:00", &c), 0);
    assert_true (a == b && b == c);
    assert_int_equal (street_parse (480, "2026-11-26T08:30", &b), 0);
    assert_true (b - a == (8 * 60 + 30) * 60000LL);
    const char *bad [] = { "yesterday", "2026-13-01", "2026-11-26 24:00", "2026-11-26 9:30",
                           "2026-11-26x", "2026-11-26 08:30:00", "1969-12-31", "", NULL };
    for (int i = 0; bad [i]; i++)
        assert_int_equal (street_parse (480, bad [i], &a), -1);
    assert_int_equal (street_parse (480, NULL, &a), -1);
}

static void
test_check_says_why (void **state)
{
    const directory_t *directory = *state;
    const dir_unit_t *prop = directory_unit_find (directory, "PROP1");
    const dir_unit_t *law = directory_unit_find (directory, "LAW");
    street_time_t wednesday = s_at (directory, "2026-11-25 15:00");
    assert_int_equal (street_check (directory, prop, DIR_TIER_GRID, "G01", "env.garbage", &wednesday),
                      STREET_IN);
    assert_int_equal (street_check (directory, prop, DIR_TIER_GRID, "G02", "env.garbage", &wednesday),
                      STREET_GRID);
    assert_int_equal (street_check (directory, prop, DIR_TIER_STREET, "G01", "env.garbage", &wednesday),
                      STREET_TIER);
    assert_int_equal (street_check (directory, prop, DIR_TIER_GRID, "G01", "svc.legal", &wednesday),
                      STREET_CATEGORY);
    assert_int_equal (street_check (directory, prop, 9, "G01", "env.garbage", &wednesday),
                      STREET_TIER);
    //  the lawyers: on duty Wednesday afternoon, not in the evening, not on
    //  the holiday, but on the make-up Saturday; not on an ordinary Saturday
    struct { const char *when; street_why_t why; } rota [] = {
        { "2026-11-25 15:00", STREET_IN }, { "2026-11-25 19:00", STREET_OFF_DUTY },
        { "2026-12-02 15:00", STREET_HOLIDAY }, { "2026-12-05 15:00", STREET_IN },
        { "2026-12-12 15:00", STREET_OFF_DUTY },
    };
    for (size_t i = 0; i < sizeof rota / sizeof rota [0]; i++) {
        street_time_t at = s_at (directory, rota [i].when);
        assert_int_equal (street_check (directory, law, DIR_TIER_COMMUNITY, "G02", "svc.legal", &at),
                          rota [i].why);
        assert_int_equal (street_on_duty (directory, law, &at), rota [i].why == STREET_IN);
    }
    //  a record misfit comes before duty
    street_time_t holiday = s_at (directory, "2026-12-02 15:00");
    assert_int_equal (street_check (directory, law, DIR_TIER_GRID, "G02", "svc.legal", &holiday),
                      STREET_TIER);
    //  a unit without a rota is on duty on holidays too
    assert_true (street_on_duty (directory, prop, &holiday));
    assert_string_equal (street_why_text (STREET_HOLIDAY), "off duty (holiday)");
    assert_string_equal (street_why_text (STREET_GRID), "does not cover this grid");
}

static void
test_next_duty_skips_the_holiday (void **state)
{
    const directory_t *directory = *state;
    const dir_unit_t *law = directory_unit_find (directory, "LAW");
    //  Thursday: Wednesday 12-02 is a holiday, so the make-up Saturday comes first
    street_time_t thursday = s_at (directory, "2026-11-26 10:00");
    street_time_t next;
    street_local (directory, street_next_duty (directory, law, &thursday), &next);
    char text [32];
    street_format (&next, text, sizeof text);
    assert_string_equal (text, "2026-12-05 14:00");
    //  on duty now: now
    street_time_t now = s_at (directory, "2026-11-25 15:00");
    assert_true (street_next_duty (directory, law, &now) == now.unix_ms);
    //  the same morning: this afternoon
    street_time_t morning = s_at (directory, "2026-11-25 09:15");
    assert_true (street_next_duty (directory, law, &morning) - morning.unix_ms
                 == (4 * 60 + 45) * 60000LL);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_local_time, s_setup, s_teardown),
        cmocka_unit_test (test_parse_forms),
        cmocka_unit_test_setup_teardown (test_check_says_why, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_next_duty_skips_the_holiday, s_setup, s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
