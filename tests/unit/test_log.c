/*  test_log.c — a log line is one line: control characters a peer sent
    (a "\n" in an id) are escaped, so no peer can forge a line. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "log.h"

static void
test_escape (void **state)
{
    (void) state;
    char out [64];
    gc_log_escape ("G01\nINFO intake: forged\r\t\x01\x7f 天", out, sizeof out);
    assert_string_equal (out, "G01\\nINFO intake: forged\\r\\t\\x01\\x7f 天");
    //  cut short, never cut inside an escape, always terminated
    gc_log_escape ("\n\n\n\n\n\n", out, 9);
    assert_string_equal (out, "\\n\\n\\n");
    gc_log_escape ("plain", out, sizeof out);
    assert_string_equal (out, "plain");
}

static void
test_written_line_is_one_line (void **state)
{
    (void) state;
    char path [] = "/tmp/gc-test-log-XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    fflush (stderr);
    int saved = dup (2);
    dup2 (fd, 2);
    gc_log_init ("gridcall-test", GC_LOG_INFO);
    log_info ("intake: refused request \"%s\"", "k1\n2026-11-29T00:00:00.000Z gridcall-intake ERROR forged");
    fflush (stderr);
    dup2 (saved, 2);
    close (saved);
    char text [512] = "";
    lseek (fd, 0, SEEK_SET);
    ssize_t n = read (fd, text, sizeof text - 1);
    close (fd);
    unlink (path);
    assert_true (n > 0);
    text [n] = 0;
    //  exactly one newline: the line's own end
    assert_non_null (strchr (text, '\n'));
    assert_ptr_equal (strchr (text, '\n'), text + n - 1);
    assert_non_null (strstr (text, "k1\\n2026-11-29T00:00:00.000Z gridcall-intake ERROR forged"));
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_escape),
        cmocka_unit_test (test_written_line_is_one_line),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
