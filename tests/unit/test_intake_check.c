/*  test_intake_check.c — what intake refuses before it touches Redis. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include <math.h>

#include "intake_check.h"

static Gridcall__V1__Report
s_report (void)
{
    Gridcall__V1__Report report = GRIDCALL__V1__REPORT__INIT;
    report.idempotency_key = "app-1-42";
    report.grid = "G01";
    report.category = "env.garbage";
    report.text = "3号楼楼下垃圾两天没人清运";
    report.channel = GRIDCALL__V1__CHANNEL__CHANNEL_RESIDENT_APP;
    return report;
}

static void
test_good_report_passes (void **state)
{
    (void) state;
    Gridcall__V1__Report report = s_report ();
    char reason [256] = "";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason), 0);
}

static void
test_missing_fields (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__Report report = s_report ();
    report.idempotency_key = "";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "idempotency_key is required");
    report = s_report ();
    report.text = "";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "text is required");
}

static void
test_sizes_and_encoding (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__Report report = s_report ();
    assert_int_equal (intake_check_report (&report, 10, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_TEXT_TOO_LONG);
    report.text = "bad \xff byte";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_INVALID_UTF8);
    assert_string_equal (reason, "text is not valid UTF-8");
    report = s_report ();
    char long_grid [100];
    memset (long_grid, 'G', sizeof long_grid - 1);
    long_grid [sizeof long_grid - 1] = 0;
    report.grid = long_grid;
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "grid is 99 bytes, more than 64");
    report = s_report ();
    report.channel = (Gridcall__V1__Channel) 77;
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
}

static void
test_verify_and_evaluate (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__Verify verify = GRIDCALL__V1__VERIFY__INIT;
    assert_int_equal (intake_check_verify (&verify, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    verify.case_id = "TJ-20261126-000001";
    assert_int_equal (intake_check_verify (&verify, 2000, reason, sizeof reason), 0);
    Gridcall__V1__Evaluate evaluate = GRIDCALL__V1__EVALUATE__INIT;
    evaluate.case_id = "TJ-20261126-000001";
    evaluate.score = 6;
    assert_int_equal (intake_check_evaluate (&evaluate, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "score 6 is outside 1..5");
    evaluate.score = 0;
    assert_int_equal (intake_check_evaluate (&evaluate, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    evaluate.score = 5;
    assert_int_equal (intake_check_evaluate (&evaluate, 2000, reason, sizeof reason), 0);
}

static void
test_clock_requests (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__ExtendDecision decision = GRIDCALL__V1__EXTEND_DECISION__INIT;
    decision.case_id = "TJ-20261126-000001";
    decision.operator_ = "community operator";
    decision.verb = GRIDCALL__V1__EXTEND_VERB__EXTEND_DIRECT;
    decision.until_ms = 1795800000000;
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "reason is required");
    decision.reason = "材料待补";
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason), 0);
    decision.until_ms = 0;
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    decision.verb = (Gridcall__V1__ExtendVerb) 9;
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    Gridcall__V1__Park park = GRIDCALL__V1__PARK__INIT;
    park.case_id = "TJ-20261126-000001";
    park.operator_ = "street leader";
    park.reason = "等待区级立项";
    assert_int_equal (intake_check_park (&park, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    park.review_ms = 1795800000000;
    assert_int_equal (intake_check_park (&park, 2000, reason, sizeof reason), 0);
    //  times beyond any calendar (a deadline that never fires) or before 1970
    park.review_ms = INT64_MAX;
    assert_int_equal (intake_check_park (&park, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_non_null (strstr (reason, "review_ms"));
    park.review_ms = -1;
    assert_int_equal (intake_check_park (&park, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    decision.verb = GRIDCALL__V1__EXTEND_VERB__EXTEND_APPROVE;
    decision.until_ms = (int64_t) 1 << 62;
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_non_null (strstr (reason, "until_ms"));
    decision.until_ms = 0;          //  approve as the unit asked
    assert_int_equal (intake_check_decision (&decision, 2000, reason, sizeof reason), 0);
    Gridcall__V1__Unpark unpark = GRIDCALL__V1__UNPARK__INIT;
    unpark.case_id = "TJ-20261126-000001";
    assert_int_equal (intake_check_unpark (&unpark, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
}

static void
test_ids_and_names (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__Report report = s_report ();
    report.idempotency_key = "app-1\nINFO forged line";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "idempotency_key may hold only A-Z a-z 0-9 . _ -");
    report = s_report ();
    report.building = "B0101 OR 1";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "building may hold only A-Z a-z 0-9 . _ -");
    report = s_report ();
    report.reporter = "13800000000\r\n";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "reporter holds a control character");
    report.reporter = "居民 李四";          //  a name may hold spaces and any script
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason), 0);
    Gridcall__V1__Verify verify = GRIDCALL__V1__VERIFY__INIT;
    verify.case_id = "TJ-20261127-000042:log";
    assert_int_equal (intake_check_verify (&verify, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "case_id may hold only A-Z a-z 0-9 . _ -");
    //  a note is free text: lines are fine there
    verify.case_id = "TJ-20261127-000042";
    verify.note = "第一行\n第二行";
    assert_int_equal (intake_check_verify (&verify, 2000, reason, sizeof reason), 0);
}

//  A place instead of a grid: bounded coordinates, ids and text; a merge.
static void
test_place_and_merge (void **state)
{
    (void) state;
    char reason [256];
    Gridcall__V1__Report report = s_report ();
    Gridcall__V1__GeoPoint point = GRIDCALL__V1__GEO_POINT__INIT;
    report.grid = "";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_non_null (strstr (reason, "grid is required, or a place"));
    point.lat = 39.8;
    point.lon = 110.0;
    report.point = &point;
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason), 0);
    const double bad [][2] = { { 90.01, 110 }, { -91, 110 }, { 39.8, 180.5 }, { 39.8, -181 },
                               { NAN, 110 }, { 39.8, INFINITY } };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        point.lat = bad [i][0];
        point.lon = bad [i][1];
        assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                          GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
        assert_non_null (strstr (reason, i < 2 || i == 4 ? "point.lat" : "point.lon"));
    }
    report.point = NULL;
    report.address_id = "B 0101";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    report.address_id = "B0101";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason), 0);
    report.address_id = "";
    char long_address [300];
    memset (long_address, 'x', sizeof long_address - 1);
    long_address [sizeof long_address - 1] = 0;
    report.address_string = long_address;
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_TEXT_TOO_LONG);
    report.address_string = "安达小区1号楼";
    assert_int_equal (intake_check_report (&report, 2000, reason, sizeof reason), 0);

    Gridcall__V1__Merge merge = GRIDCALL__V1__MERGE__INIT;
    merge.keep_case_id = "TJ-20261127-000001";
    merge.duplicate_case_id = "TJ-20261127-000002";
    merge.operator_ = "王主任";
    assert_int_equal (intake_check_merge (&merge, 2000, reason, sizeof reason), 0);
    merge.duplicate_case_id = merge.keep_case_id;
    assert_int_equal (intake_check_merge (&merge, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    merge.duplicate_case_id = "";
    assert_int_equal (intake_check_merge (&merge, 2000, reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_good_report_passes),
        cmocka_unit_test (test_missing_fields),
        cmocka_unit_test (test_sizes_and_encoding),
        cmocka_unit_test (test_verify_and_evaluate),
        cmocka_unit_test (test_clock_requests),
        cmocka_unit_test (test_ids_and_names),
        cmocka_unit_test (test_place_and_merge),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
