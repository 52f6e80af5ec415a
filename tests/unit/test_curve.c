/*  test_curve.c — binding and closing a socket through the daemon's
    CurveZMQ side, as the daemons do at start and on a revocation, leaves
    nothing behind (the unit tests run under LeakSanitizer). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "curve.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    CURVE_SERVER_OPTIONS,
    { NULL, 0, NULL, 0, 0, NULL }
};

static void
test_bind_rebind_and_close (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    char err [256];
    assert_int_equal (config_set (config, "curve", "no", err, sizeof err), 0);
    curve_t *curve = curve_new (config, "test");
    assert_non_null (curve);
    assert_false (curve_on (curve));

    //  an ipc endpoint in a folder of our own, as report's pub_bind
    char folder [] = "/tmp/gc-curve-XXXXXX";
    assert_non_null (mkdtemp (folder));
    char endpoint [128];
    snprintf (endpoint, sizeof endpoint, "ipc://%s/pub.sock", folder);
    zsock_t *pub = curve_bind (curve, ZMQ_PUB, endpoint, CURVE_PARTY, 256);
    assert_non_null (pub);
    //  a subscriber gets what is sent, before and after a rebind
    zsock_t *sub = zsock_new_sub (endpoint, "");
    assert_non_null (sub);
    zpoller_t *poller = zpoller_new (sub, NULL);
    for (int round = 0; round < 2; round++) {
        //  PUB drops what it sends before the subscription arrives: send
        //  until one comes through (5 s at most)
        char *got = NULL;
        for (int i = 0; i < 500 && !got; i++) {
            zstr_send (pub, "hello");
            if (zpoller_wait (poller, 10))
                got = zstr_recv (sub);
        }
        assert_non_null (got);
        assert_string_equal (got, "hello");
        zstr_free (&got);
        assert_int_equal (curve_rebind (curve, pub), 0);
    }
    //  a second bind on another endpoint, closed at once
    snprintf (endpoint, sizeof endpoint, "ipc://%s/other.sock", folder);
    zsock_t *other = curve_bind (curve, ZMQ_ROUTER, endpoint, CURVE_DAEMON, 0);
    assert_non_null (other);
    curve_close (curve, &other);
    assert_null (other);

    zpoller_destroy (&poller);
    zsock_destroy (&sub);
    curve_close (curve, &pub);
    curve_destroy (&curve);
    assert_null (curve);
    config_destroy (&config);
    char path [160];
    snprintf (path, sizeof path, "%s/pub.sock", folder);
    unlink (path);
    snprintf (path, sizeof path, "%s/other.sock", folder);
    unlink (path);
    rmdir (folder);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_bind_rebind_and_close),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
