/*  test_config.c — the option table: defaults, files, overrides, bounds,
    and secrets (from a file or the environment, never --set, never shown). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>
#include <fcntl.h>

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
    //  a directory given for the file is refused, not read as empty
    assert_int_equal (config_load_file (config, "/tmp", err, sizeof err), -1);
    assert_non_null (strstr (err, "cannot read"));
    config_destroy (&config);
    unlink (path);
    free (path);
}

//  Run fn (config) with stdout going to a file; return what it printed.
static char *
s_capture (void (*fn) (const config_t *), const config_t *config)
{
    char path [] = "/tmp/gc-config-out-XXXXXX";
    int fd = mkstemp (path);
    fflush (stdout);
    int saved = dup (1);
    dup2 (fd, 1);
    fn (config);
    fflush (stdout);
    dup2 (saved, 1);
    close (saved);
    lseek (fd, 0, SEEK_SET);
    static char text [65536];
    ssize_t n = read (fd, text, sizeof text - 1);
    text [n > 0 ? n : 0] = 0;
    close (fd);
    unlink (path);
    return text;
}

static void
s_print_sample (const config_t *config)
{
    config_print_sample (config, "test");
}

static void
test_secret_from_a_file (void **state)
{
    (void) state;
    char *path = s_write ("hunter2-secret\n");
    config_t *config = config_new (s_options);
    char err [512];
    assert_true (config_is_secret (config, "redis_password"));
    assert_false (config_is_secret (config, "redis_user"));
    //  --set NAME_file=PATH, the form a command line may carry
    char pair [300];
    snprintf (pair, sizeof pair, "redis_password_file=%s", path);
    assert_int_equal (config_set_pair (config, pair, err, sizeof err), 0);
    assert_string_equal (config_str (config, "redis_password"), "hunter2-secret");
    //  NAME_file "" unsets it
    assert_int_equal (config_set (config, "redis_password_file", "", err, sizeof err), 0);
    assert_string_equal (config_str (config, "redis_password"), "");
    //  and in a -c file
    char line [400];
    snprintf (line, sizeof line, "redis_password_file %s\n", path);
    char *conf = s_write (line);
    assert_int_equal (config_load_file (config, conf, err, sizeof err), 0);
    assert_string_equal (config_str (config, "redis_password"), "hunter2-secret");
    //  only secrets have a _file form
    assert_int_equal (config_set (config, "batch_max_file", path, err, sizeof err), -1);
    assert_non_null (strstr (err, "unknown option"));
    config_destroy (&config);
    unlink (conf);
    unlink (path);
    free (conf);
    free (path);
}

static void
test_secret_refused_on_the_command_line (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    char err [512];
    assert_int_equal (config_set_pair (config, "redis_password=hunter2", err, sizeof err), -1);
    assert_non_null (strstr (err, "redis_password_file"));
    assert_non_null (strstr (err, "GRIDCALL_REDIS_PASSWORD"));
    assert_null (strstr (err, "hunter2"));
    assert_string_equal (config_str (config, "redis_password"), "");
    //  a file line may still hold one (the file is as private as a secret file)
    char *conf = s_write ("redis_password inline-one\n");
    assert_int_equal (config_load_file (config, conf, err, sizeof err), 0);
    assert_string_equal (config_str (config, "redis_password"), "inline-one");
    config_destroy (&config);
    unlink (conf);
    free (conf);
}

static void
test_secret_file_errors_never_show_the_content (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    char err [512];
    assert_int_equal (config_set (config, "redis_password_file", "/nonexistent/pw", err,
                                  sizeof err), -1);
    assert_non_null (strstr (err, "cannot open \"/nonexistent/pw\""));
    char *empty = s_write ("\n");
    assert_int_equal (config_set (config, "redis_password_file", empty, err, sizeof err), -1);
    assert_non_null (strstr (err, "is empty"));
    char *two = s_write ("first-line-secret\nsecond\n");
    assert_int_equal (config_set (config, "redis_password_file", two, err, sizeof err), -1);
    assert_non_null (strstr (err, "control character"));
    assert_null (strstr (err, "first-line-secret"));
    char big [CONFIG_SECRET_MAX + 10];
    memset (big, 'a', sizeof big - 1);
    big [sizeof big - 1] = 0;
    char *large = s_write (big);
    assert_int_equal (config_set (config, "redis_password_file", large, err, sizeof err), -1);
    assert_non_null (strstr (err, "longer than"));
    //  a refused file leaves the old value
    assert_string_equal (config_str (config, "redis_password"), "");
    config_destroy (&config);
    for (char **p = (char *[]) { empty, two, large, NULL }; *p; p++) {
        unlink (*p);
        free (*p);
    }
}

static void
test_secret_from_the_environment (void **state)
{
    (void) state;
    setenv ("GRIDCALL_REDIS_PASSWORD", "from-env", 1);
    setenv ("GRIDCALL_REDIS_USER", "not-a-secret", 1);
    config_t *config = config_new (s_options);
    unsetenv ("GRIDCALL_REDIS_PASSWORD");
    unsetenv ("GRIDCALL_REDIS_USER");
    assert_string_equal (config_str (config, "redis_password"), "from-env");
    //  only secrets are read from the environment
    assert_string_equal (config_str (config, "redis_user"), "");
    config_destroy (&config);
}

static void
test_secret_is_never_printed (void **state)
{
    (void) state;
    char *path = s_write ("hunter2-secret\n");
    config_t *config = config_new (s_options);
    char err [512];
    assert_int_equal (config_set (config, "redis_password_file", path, err, sizeof err), 0);
    const char *help = s_capture (config_print, config);
    assert_null (strstr (help, "hunter2"));
    assert_non_null (strstr (help, "(set)"));
    const char *sample = s_capture (s_print_sample, config);
    assert_null (strstr (sample, "hunter2"));
    assert_non_null (strstr (sample, "\nredis_password_file \"\"\n"));
    //  the sample is a valid file: its secret lines leave secrets unset
    char *conf = s_write (sample);
    config_t *fresh = config_new (s_options);
    assert_int_equal (config_load_file (fresh, conf, err, sizeof err), 0);
    assert_string_equal (config_str (fresh, "redis_password"), "");
    config_destroy (&fresh);
    config_destroy (&config);
    unlink (conf);
    unlink (path);
    free (conf);
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
        cmocka_unit_test (test_secret_from_a_file),
        cmocka_unit_test (test_secret_refused_on_the_command_line),
        cmocka_unit_test (test_secret_file_errors_never_show_the_content),
        cmocka_unit_test (test_secret_from_the_environment),
        cmocka_unit_test (test_secret_is_never_printed),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
