/*  test_sentinel.c — the Sentinel list an operator writes: what is taken,
    what is refused with the entry named, and a Sentinel nobody runs. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "sentinel.h"

static void
test_lists_taken (void **state)
{
    (void) state;
    char err [256];
    assert_int_equal (sentinel_list_check ("", err, sizeof err), 0);
    assert_int_equal (sentinel_list_check ("10.0.0.1:26379", err, sizeof err), 1);
    assert_int_equal (sentinel_list_check ("a:1, b:2,c:3", err, sizeof err), 3);
    assert_int_equal (sentinel_list_check ("[::1]:26379 /run/sentinel.sock", err, sizeof err), 2);
}

static void
test_lists_refused (void **state)
{
    (void) state;
    const char *bad [] = { "sentinel", "host:", ":26379", "host:0", "host:65536", "host:26x",
                           "[::1]26379", "[::1]:" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        char err [256] = "";
        assert_int_equal (sentinel_list_check (bad [i], err, sizeof err), -1);
        assert_non_null (strstr (err, "is not host:port"));
    }
    char err [256];
    assert_int_equal (sentinel_list_check ("a:1,b:2,nope", err, sizeof err), -1);
    assert_non_null (strstr (err, "\"nope\""));
}

static void
test_no_sentinel_answers (void **state)
{
    (void) state;
    //  port 1 on loopback: nothing listens, the connect is refused at once
    sentinel_t *s = sentinel_new ("127.0.0.1:1,/nonexistent/sentinel.sock", "gridcall", "test", 200);
    assert_non_null (s);
    char *host = NULL;
    int port = 0;
    char reason [512];
    assert_int_equal (sentinel_master (s, &host, &port, reason, sizeof reason), -1);
    assert_null (host);
    assert_non_null (strstr (reason, "sentinel 127.0.0.1:1:"));
    assert_non_null (strstr (reason, "/nonexistent/sentinel.sock"));
    sentinel_destroy (&s);
    assert_null (s);
    assert_null (sentinel_new ("not a list", "gridcall", "test", 200));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_lists_taken),
        cmocka_unit_test (test_lists_refused),
        cmocka_unit_test (test_no_sentinel_answers),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
