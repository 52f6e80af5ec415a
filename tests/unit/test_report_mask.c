/*  test_report_mask.c — phone numbers masked for screens: mobiles and
    landlines in free text, every long digit run in a person field, and
    nothing else touched (ledger numbers, times, counts). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "report_mask.h"

static void
s_expect (const char *in, bool person, const char *want)
{
    char *out = report_mask_text (in, person);
    assert_non_null (out);
    assert_string_equal (out, want);
    free (out);
}

static void
test_mobiles_and_landlines_in_text (void **state)
{
    (void) state;
    s_expect ("13800000000", false, "138****0000");
    s_expect ("请联系13912345678，谢谢", false, "请联系139****5678，谢谢");
    s_expect ("tel:15012345678", false, "tel:150****5678");
    s_expect ("+86 138 1234 5678", false, "+86 138 **** 5678");
    s_expect ("008613812345678", false, "0086138****5678");
    s_expect ("138-1234-5678", false, "138-****-5678");
    s_expect ("电话0477-8123456", false, "电话047*-***3456");
    s_expect ("010-12345678 或 010 12345678", false, "010-****5678 或 010 12345678");
    s_expect ("a 13800000000 b 13900000000", false, "a 138****0000 b 139****0000");
}

static void
test_ids_times_and_counts_stay (void **state)
{
    (void) state;
    //  ledger numbers, stream ids, Unix ms, a 12-digit number, a 7-digit number
    const char *keep [] = {
        "TJ-20261127-000042", "1795714398420-0", "at 1795714398420", "共3户", "138000000001",
        "8123456", "U001", "v1.13800000000", "case_13800000000", "12800000000", ""
    };
    for (size_t i = 0; i < sizeof keep / sizeof keep [0]; i++)
        s_expect (keep [i], false, keep [i]);
}

static void
test_person_fields_lose_every_long_run (void **state)
{
    (void) state;
    s_expect ("13800000000", true, "138****0000");
    s_expect ("wx-13800000000", true, "wx-138****0000");
    s_expect ("user1234567", true, "user***4567");
    s_expect ("hotline-88881234", true, "hotline-****1234");
    s_expect ("grid-worker-li", true, "grid-worker-li");
    s_expect ("U001", true, "U001");
}

static void
test_json_documents (void **state)
{
    (void) state;
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:I, s:[{s:s, s:s}], s:{s:s}}",
                             "case_id", "TJ-20261127-000042", "reporter", "wx-13800000000",
                             "text", "井盖破损 联系13912345678", "created_ms", (json_int_t) 13800000000LL,
                             "timeline", "who", "13700001111", "note", "已电话 15000001111",
                             "13800000000", "key", "value");
    assert_int_equal (report_mask_json (doc), 0);
    char *text = json_dumps (doc, JSON_COMPACT | JSON_SORT_KEYS);
    assert_string_equal (text,
        "{\"13800000000\":{\"key\":\"value\"},\"case_id\":\"TJ-20261127-000042\","
        "\"created_ms\":13800000000,\"reporter\":\"wx-138****0000\","
        "\"text\":\"井盖破损 联系139****5678\","
        "\"timeline\":[{\"note\":\"已电话 150****1111\",\"who\":\"137****1111\"}]}");
    free (text);
    json_decref (doc);
}

static void
test_long_digit_strings_stay_linear (void **state)
{
    (void) state;
    //  a hostile text of digits must not cost quadratic time (and keeps its digits)
    size_t n = 200000;
    char *digits = malloc (n + 1);
    for (size_t i = 0; i < n; i++)
        digits [i] = "13800000000" [i % 11];     //  a candidate at every 11th digit
    digits [n] = 0;
    char *out = report_mask_text (digits, false);
    assert_string_equal (out, digits);
    free (out);
    free (digits);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_mobiles_and_landlines_in_text),
        cmocka_unit_test (test_ids_times_and_counts_stay),
        cmocka_unit_test (test_person_fields_lose_every_long_run),
        cmocka_unit_test (test_json_documents),
        cmocka_unit_test (test_long_digit_strings_stay_linear),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
