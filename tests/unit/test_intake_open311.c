/*  test_intake_open311.c — the pure parts of the Open311 door: paths and
    formats, times with the street's offset both ways, our states as the
    spec's, and the XML the spec's documents are written as. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "intake_open311.h"

static void
test_split (void **state)
{
    (void) state;
    char resource [64];
    open311_format_t format;
    assert_int_equal (intake_open311_split ("services.json", resource, sizeof resource, &format), 0);
    assert_string_equal (resource, "services");
    assert_int_equal (format, OPEN311_JSON);
    //  a service code holds dots: only the last one is the format's
    assert_int_equal (intake_open311_split ("services/infra.water_leak.xml", resource,
                                            sizeof resource, &format), 0);
    assert_string_equal (resource, "services/infra.water_leak");
    assert_int_equal (format, OPEN311_XML);
    assert_int_equal (intake_open311_split ("services", resource, sizeof resource, &format), -1);
    assert_int_equal (intake_open311_split ("services.html", resource, sizeof resource, &format), -1);
    assert_int_equal (intake_open311_split (".json", resource, sizeof resource, &format), -1);
    assert_int_equal (intake_open311_split ("a.b/c", resource, sizeof resource, &format), -1);
}

static void
test_times (void **state)
{
    (void) state;
    char text [40];
    //  2026-11-29T23:55:58Z at +08:00 is the next morning
    intake_open311_time (1796010958000LL - 14400000LL, 480, text, sizeof text);
    assert_string_equal (text, "2026-11-30T07:55:58+08:00");
    intake_open311_time (0, -330, text, sizeof text);
    assert_string_equal (text, "1969-12-31T18:30:00-05:30");
    int64_t ms;
    assert_int_equal (intake_open311_parse_time ("2026-11-30T07:55:58+08:00", 0, &ms), 0);
    assert_int_equal (ms, 1796010958000LL - 14400000LL);
    assert_int_equal (intake_open311_parse_time ("2026-11-29T23:55:58Z", 480, &ms), 0);
    assert_int_equal (ms, 1796010958000LL - 14400000LL);
    assert_int_equal (intake_open311_parse_time ("2026-11-29T23:55:58.250Z", 480, &ms), 0);
    assert_int_equal (ms, 1796010958000LL - 14400000LL);
    //  a date alone: midnight at the street
    assert_int_equal (intake_open311_parse_time ("2026-11-30", 480, &ms), 0);
    assert_int_equal (ms, 1795968000000LL);          //  2026-11-29T16:00:00Z
    assert_int_equal (intake_open311_parse_time ("yesterday", 480, &ms), -1);
    assert_int_equal (intake_open311_parse_time ("2026-13-01", 480, &ms), -1);
    assert_int_equal (intake_open311_parse_time ("2026-11-30T25:00:00Z", 480, &ms), -1);
    assert_int_equal (intake_open311_parse_time ("2026-11-30T07:55:58+8", 480, &ms), -1);
    assert_int_equal (intake_open311_parse_time ("2026-11-30T07:55:58Zjunk", 480, &ms), -1);
}

static void
test_status (void **state)
{
    (void) state;
    const char *closed [] = { "VERIFIED", "CLOSED", "REJECTED", "DUPLICATE", "MERGED" };
    const char *open [] = { "REGISTERED", "DISPATCHED", "ACCEPTED", "RESOLVED", "REOPENED",
                            "ESCALATED", "ORDERED", "PARKED" };
    for (size_t i = 0; i < sizeof closed / sizeof closed [0]; i++)
        assert_string_equal (intake_open311_status (closed [i]), "closed");
    for (size_t i = 0; i < sizeof open / sizeof open [0]; i++)
        assert_string_equal (intake_open311_status (open [i]), "open");
}

static void
test_xml (void **state)
{
    (void) state;
    json_t *doc = json_pack ("[{s:s, s:b, s:n, s:i, s:[{s:s, s:s}]}]", "service_code", "a&b",
                             "metadata", 1, "account_id", "order", 3, "values", "key", "G01",
                             "name", "第一网格");
    size_t len;
    char *xml = intake_open311_xml (doc, "services", "service", &len);
    assert_non_null (xml);
    assert_int_equal (len, strlen (xml));
    assert_non_null (strstr (xml, "<services><service><service_code>a&amp;b</service_code>"
                                  "<metadata>true</metadata><account_id/>"
                                  "<order>3</order><values><value><key>G01</key>"
                                  "<name>第一网格</name></value></values></service></services>"));
    free (xml);
    json_decref (doc);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_split),
        cmocka_unit_test (test_times),
        cmocka_unit_test (test_status),
        cmocka_unit_test (test_xml),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
