/*  test_store_fn.c — the table of store functions: known names with their
    argument counts pass, anything else is refused with a reason. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <string.h>

#include "store_fn.h"

static void
test_known_calls_pass (void **state)
{
    (void) state;
    char reason [128] = "";
    assert_non_null (store_fn_check ("gc_register", 12, reason, sizeof reason));
    assert_non_null (store_fn_check ("gc_stats", 0, reason, sizeof reason));
    //  a list of ids: one or more
    assert_non_null (store_fn_check ("gc_jobs_done", 1, reason, sizeof reason));
    assert_non_null (store_fn_check ("gc_jobs_done", 200, reason, sizeof reason));
    assert_non_null (store_fn_check ("gc_offer", 6 + 200, reason, sizeof reason));
}

static void
test_wrong_arity_is_refused (void **state)
{
    (void) state;
    char reason [128] = "";
    assert_null (store_fn_check ("gc_register", 11, reason, sizeof reason));
    assert_non_null (strstr (reason, "gc_register takes 12 arguments, not 11"));
    assert_null (store_fn_check ("gc_jobs_done", 0, reason, sizeof reason));
    assert_non_null (strstr (reason, "or more"));
    assert_null (store_fn_check ("gc_offer", 5, reason, sizeof reason));
}

static void
test_reads_go_by_fcall_ro (void **state)
{
    (void) state;
    char reason [128] = "";
    //  what report calls must be flagged, or its read-only user is refused
    const char *reads [] = { "gc_stats", "gc_case_get", "gc_report_screen", "gc_dir_get",
                             "gc_version", "gc_audit_range" };
    for (size_t i = 0; i < sizeof reads / sizeof reads [0]; i++) {
        const store_fn_t *f = store_fn_check (reads [i], 0, reason, sizeof reason);
        if (!f)     //  the argument count is not what this test is about
            for (const store_fn_t *g = store_fns; g->name; g++)
                if (strcmp (g->name, reads [i]) == 0)
                    f = g;
        assert_non_null (f);
        assert_true (f->readonly);
    }
    assert_false (store_fn_check ("gc_register", 12, reason, sizeof reason)->readonly);
}

static void
test_unknown_function_is_refused (void **state)
{
    (void) state;
    char reason [128] = "";
    assert_null (store_fn_check ("gc_no_such_thing", 0, reason, sizeof reason));
    assert_non_null (strstr (reason, "gc_no_such_thing is not a gridcall function"));
    assert_null (store_fn_check ("FLUSHALL", 0, reason, sizeof reason));
}

static void
test_table_has_no_duplicates (void **state)
{
    (void) state;
    size_t n = 0;
    for (const store_fn_t *f = store_fns; f->name; f++, n++)
        for (const store_fn_t *g = f + 1; g->name; g++)
            assert_string_not_equal (f->name, g->name);
    assert_true (n > 30);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_known_calls_pass),
        cmocka_unit_test (test_wrong_arity_is_refused),
        cmocka_unit_test (test_reads_go_by_fcall_ro),
        cmocka_unit_test (test_unknown_function_is_refused),
        cmocka_unit_test (test_table_has_no_duplicates),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
