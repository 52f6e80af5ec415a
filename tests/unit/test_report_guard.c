/*  test_report_guard.c — the report's guard: secure-by-default option
    checks, roles from tokens, the Host check and the header deadline
    (a real socket pair cut by the watchdog). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>
#include <cmocka.h>

#include "report_guard.h"

#define SCREEN "screen-token-0123456789"
#define EXPORT "export-token-0123456789"
#define METRICS "metrics-token-012345678"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "http_bind", CFG_STRING, "127.0.0.1", 0, 0, "" },
    { "http_hosts", CFG_STRING, "", 0, 0, "" },
    { "connection_limit", CFG_INT, "1024", 40, 10000, "" },
    { "stream_max", CFG_INT, "256", 1, 10000, "" },
    { "header_timeout_s", CFG_INT, "5", 1, 300, "" },
    { "screen_token", CFG_SECRET, "", 0, 0, "" },
    { "export_token", CFG_SECRET, "", 0, 0, "" },
    { "metrics_token", CFG_SECRET, "", 0, 0, "" },
    { NULL, 0, NULL, 0, 0, NULL }
};

//  A config from "name=value" pairs, NULL-terminated.
static config_t *
s_config (const char *first, ...)
{
    config_t *config = config_new (s_options);
    char err [256];
    va_list ap;
    va_start (ap, first);
    for (const char *pair = first; pair; pair = va_arg (ap, const char *)) {
        char name [64];
        const char *eq = strchr (pair, '=');
        snprintf (name, sizeof name, "%.*s", (int) (eq - pair), pair);
        assert_int_equal (config_set (config, name, eq + 1, err, sizeof err), 0);
    }
    va_end (ap);
    return config;
}

static int
s_check (config_t *config, char *err, size_t len)
{
    int rc = report_guard_check_config (config, err, len);
    config_destroy (&config);
    return rc;
}

static void
test_secure_by_default (void **state)
{
    (void) state;
    char err [512];
    assert_int_equal (s_check (s_config (NULL), err, sizeof err), 0);
    assert_int_equal (s_check (s_config ("http_bind=::1", NULL), err, sizeof err), 0);
    assert_int_equal (s_check (s_config ("http_bind=127.0.0.2", NULL), err, sizeof err), 0);
    //  not loopback without a screen token: refused, saying what to set
    assert_int_equal (s_check (s_config ("http_bind=0.0.0.0", NULL), err, sizeof err), -1);
    assert_non_null (strstr (err, "screen_token_file"));
    assert_int_equal (s_check (s_config ("http_bind=192.168.1.5", NULL), err, sizeof err), -1);
    assert_int_equal (s_check (s_config ("http_bind=::", NULL), err, sizeof err), -1);
    assert_int_equal (s_check (s_config ("http_bind=0.0.0.0", "screen_token=" SCREEN, NULL),
                               err, sizeof err), 0);
    assert_int_equal (s_check (s_config ("http_bind=localhost", NULL), err, sizeof err), -1);
    assert_non_null (strstr (err, "numeric"));
    //  weak or shared tokens
    assert_int_equal (s_check (s_config ("screen_token=short", NULL), err, sizeof err), -1);
    assert_non_null (strstr (err, "shorter than 16"));
    assert_int_equal (s_check (s_config ("screen_token=" SCREEN, "export_token=" SCREEN, NULL),
                               err, sizeof err), -1);
    assert_non_null (strstr (err, "screen_token and export_token are the same"));
    //  streams must leave slots for the page and the API
    assert_int_equal (s_check (s_config ("connection_limit=100", "stream_max=80", NULL),
                               err, sizeof err), -1);
    assert_non_null (strstr (err, "stream_max 80"));
    assert_int_equal (s_check (s_config ("http_hosts=bad host", NULL), err, sizeof err), -1);
    assert_int_equal (s_check (s_config ("http_hosts=screen.example.org, [::1], *", NULL),
                               err, sizeof err), 0);
}

static void
test_roles_from_tokens (void **state)
{
    (void) state;
    config_t *config = s_config ("screen_token=" SCREEN, "export_token=" EXPORT,
                                 "metrics_token=" METRICS, NULL);
    report_guard_t *guard = report_guard_new (config, NULL);
    assert_non_null (guard);
    assert_int_equal (report_guard_roles (guard, NULL, NULL), 0);
    assert_int_equal (report_guard_roles (guard, "Bearer " SCREEN, NULL), REPORT_ROLE_SCREEN);
    assert_int_equal (report_guard_roles (guard, NULL, SCREEN), REPORT_ROLE_SCREEN);
    assert_int_equal (report_guard_roles (guard, "Bearer " EXPORT, NULL),
                      REPORT_ROLE_SCREEN | REPORT_ROLE_EXPORT);
    assert_int_equal (report_guard_roles (guard, "bearer " METRICS, NULL), REPORT_ROLE_METRICS);
    //  the export and metrics tokens never travel in a URL
    assert_int_equal (report_guard_roles (guard, NULL, EXPORT), -1);
    assert_int_equal (report_guard_roles (guard, NULL, METRICS), -1);
    assert_int_equal (report_guard_roles (guard, "Bearer wrong", NULL), -1);
    assert_int_equal (report_guard_roles (guard, "Basic " SCREEN, NULL), -1);
    assert_int_equal (report_guard_roles (guard, "Bearer " SCREEN "x", NULL), -1);
    report_guard_destroy (&guard);
    config_destroy (&config);

    //  the demo: loopback without tokens leaves screen and metrics open,
    //  never the export
    config = s_config (NULL);
    guard = report_guard_new (config, NULL);
    assert_int_equal (report_guard_roles (guard, NULL, NULL),
                      REPORT_ROLE_SCREEN | REPORT_ROLE_METRICS);
    assert_int_equal (report_guard_roles (guard, "Bearer anything-at-all-1234", NULL), -1);
    report_guard_destroy (&guard);
    config_destroy (&config);

    //  not loopback: nothing is open
    config = s_config ("http_bind=0.0.0.0", "screen_token=" SCREEN, NULL);
    guard = report_guard_new (config, NULL);
    assert_int_equal (report_guard_roles (guard, NULL, NULL), 0);
    report_guard_destroy (&guard);
    config_destroy (&config);
}

static void
test_host_check (void **state)
{
    (void) state;
    config_t *config = s_config (NULL);
    report_guard_t *guard = report_guard_new (config, NULL);
    assert_true (report_guard_host_ok (guard, NULL));
    assert_true (report_guard_host_ok (guard, "localhost:8080"));
    assert_true (report_guard_host_ok (guard, "LOCALHOST"));
    assert_true (report_guard_host_ok (guard, "127.0.0.1:8080"));
    assert_true (report_guard_host_ok (guard, "[::1]:8080"));
    assert_false (report_guard_host_ok (guard, "evil.example.com"));
    assert_false (report_guard_host_ok (guard, "evil.example.com:8080"));
    assert_false (report_guard_host_ok (guard, "127.0.0.1.evil.example.com"));
    assert_false (report_guard_host_ok (guard, "localhost:80:80"));
    assert_false (report_guard_host_ok (guard, ""));
    report_guard_destroy (&guard);
    config_destroy (&config);

    config = s_config ("http_hosts=screen.example.org, 10.0.0.5", NULL);
    guard = report_guard_new (config, NULL);
    assert_true (report_guard_host_ok (guard, "screen.example.org"));
    assert_true (report_guard_host_ok (guard, "screen.example.org.:443"));
    assert_true (report_guard_host_ok (guard, "10.0.0.5:8080"));
    assert_false (report_guard_host_ok (guard, "localhost"));
    report_guard_destroy (&guard);
    config_destroy (&config);

    config = s_config ("http_hosts=*", NULL);
    guard = report_guard_new (config, NULL);
    assert_true (report_guard_host_ok (guard, "anything.example"));
    report_guard_destroy (&guard);
    config_destroy (&config);
}

static long long
s_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Milliseconds until peer reads end-of-file, or -1 after limit_ms.
static long long
s_until_eof (int peer, long long limit_ms)
{
    long long start = s_ms ();
    struct pollfd p = { peer, POLLIN, 0 };
    while (s_ms () - start < limit_ms) {
        if (poll (&p, 1, 50) == 1) {
            char byte;
            if (recv (peer, &byte, 1, MSG_DONTWAIT) == 0)
                return s_ms () - start;
        }
    }
    return -1;
}

static void
test_header_deadline_cuts_slow_clients (void **state)
{
    (void) state;
    config_t *config = s_config ("header_timeout_s=1", NULL);
    metrics_t *metrics = metrics_new ("t_");
    report_guard_t *guard = report_guard_new (config, metrics);
    int slow [2], fast [2];
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, slow), 0);
    assert_int_equal (socketpair (AF_UNIX, SOCK_STREAM, 0, fast), 0);
    void *w_slow = report_guard_watch (guard, slow [0]);
    void *w_fast = report_guard_watch (guard, fast [0]);
    //  the fast one completes its headers at once
    report_guard_disarm (guard, w_fast);
    long long took = s_until_eof (slow [1], 3000);
    assert_true (took >= 900 && took <= 1600);
    assert_int_equal (report_guard_cut (guard), 1);
    assert_int_equal (s_until_eof (fast [1], 300), -1);
    //  after a request the next one's headers are due again
    report_guard_arm (guard, w_fast);
    took = s_until_eof (fast [1], 3000);
    assert_true (took >= 900 && took <= 1600);
    assert_int_equal (report_guard_cut (guard), 2);
    char *text = metrics_render (metrics);
    assert_non_null (strstr (text, "t_header_timeouts_total 2"));
    free (text);
    report_guard_unwatch (guard, w_slow);
    report_guard_unwatch (guard, w_fast);
    for (int i = 0; i < 2; i++) {
        close (slow [i]);
        close (fast [i]);
    }
    report_guard_destroy (&guard);
    metrics_destroy (&metrics);
    config_destroy (&config);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_secure_by_default),
        cmocka_unit_test (test_roles_from_tokens),
        cmocka_unit_test (test_host_check),
        cmocka_unit_test (test_header_deadline_cuts_slow_clients),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
