/*  test_config.c — the option table: defaults, files, overrides, bounds. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include "config.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "bind", CFG_STRING, "tcp://127.0.0.1:5560", 0, 0, "endpoint" },
    { "batch_max", CFG_INT, "256", 1, 4096, "batch" },
    { "log_channel", CFG_BOOL, "yes", 0, 0, "log" },
    { NULL, 0, NULL, 0, 0, NULL }
};

static char *
s_write (const char *text)
{
    char *path = strdup ("/tmp/gc-config-XXXXXX");
    int fd = mkstemp (path);
    FILE *file = fdopen (fd, "w");
    fputs (text, file);
    fclose (file);
    return path;
}

static void
test_defaults (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    assert_string_equal (config_str (config, "key_prefix"), "gc:");
    assert_int_equal (config_int (config, "batch_max"), 256);
    assert_true (config_bool (config, "log_channel"));
    assert_true (config_double (config, "time_scale") == 1.0);
    config_destroy (&config);
    assert_null (config);
}

static void
test_file_and_override (void **state)
{
    (void) state;
    char *path = s_write ("# intake\nbind \"ipc:///tmp/x\"   # trailing comment\n\n  batch_max 16\n"
                          "log_channel no\ntime_scale 3600\n");
    config_t *config = config_new (s_options);
    char err [256];
    assert_int_equal (config_load_file (config, path, err, sizeof err), 0);
    assert_string_equal (config_str (config, "bind"), "ipc:///tmp/x");
    assert_int_equal (config_int (config, "batch_max"), 16);
    assert_false (config_bool (config, "log_channel"));
    assert_true (config_double (config, "time_scale") == 3600.0);
    assert_int_equal (config_set_pair (config, "batch_max=32", err, sizeof err), 0);
    assert_int_equal (config_int (config, "batch_max"), 32);
    config_destroy (&config);
    unlink (path);
    free (path);
}

static void
test_bad_values (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    char err [256];
    assert_int_equal (config_set (config, "batch_max", "0", err, sizeof err), -1);
    assert_non_null (strstr (err, "outside 1..4096"));
    assert_int_equal (config_set (config, "batch_max", "12x", err, sizeof err), -1);
    assert_non_null (strstr (err, "not an integer"));
    assert_int_equal (config_set (config, "log_channel", "maybe", err, sizeof err), -1);
    assert_non_null (strstr (err, "not yes or no"));
    assert_int_equal (config_set (config, "time_scale", "nan", err, sizeof err), -1);
    assert_int_equal (config_set (config, "no_such", "1", err, sizeof err), -1);
    assert_non_null (strstr (err, "unknown option \"no_such\""));
    assert_int_equal (config_set_pair (config, "=3", err, sizeof err), -1);
    //  a refused value leaves the old one
    assert_int_equal (config_int (config, "batch_max"), 256);
    config_destroy (&config);
}

static void
test_file_errors_name_the_line (void **state)
{
    (void) state;
    char *path = s_write ("bind ipc:///tmp/x\nbatch_max 99999\n");
    config_t *config = config_new (s_options);
    char err [512];
    assert_int_equal (config_load_file (config, path, err, sizeof err), -1);
    char expect [300];
    snprintf (expect, sizeof expect, "%s:2: batch_max", path);
    assert_non_null (strstr (err, expect));
    assert_int_equal (config_load_file (config, "/nonexistent/gc.conf", err, sizeof err), -1);
    assert_non_null (strstr (err, "cannot open"));
    config_destroy (&config);
    unlink (path);
    free (path);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_defaults),
        cmocka_unit_test (test_file_and_override),
        cmocka_unit_test (test_bad_values),
        cmocka_unit_test (test_file_errors_name_the_line),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
