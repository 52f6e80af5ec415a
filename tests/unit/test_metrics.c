/*  test_metrics.c — the Prometheus registry: names, counters and gauges,
    labelled series grouped under one HELP and TYPE, concurrent increments,
    and the /metrics HTTP helper answering over loopback. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <cmocka.h>

#include "metrics.h"

static void
test_counter_and_gauge_render (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("gc_test_");
    metric_t *requests = metrics_counter (m, "requests_total", "requests answered");
    metric_t *depth = metrics_gauge (m, "queue_depth", "items\nwaiting");
    assert_non_null (requests);
    assert_non_null (depth);
    metric_inc (requests);
    metric_add (requests, 41);
    metric_set (depth, -3);
    assert_int_equal (metric_value (requests), 42);
    char *text = metrics_render (m);
    assert_non_null (strstr (text, "# HELP gc_test_requests_total requests answered\n"
                                   "# TYPE gc_test_requests_total counter\n"
                                   "gc_test_requests_total 42\n"));
    //  a newline in help would break the format: it becomes a space
    assert_non_null (strstr (text, "# HELP gc_test_queue_depth items waiting\n"
                                   "# TYPE gc_test_queue_depth gauge\ngc_test_queue_depth -3\n"));
    free (text);
    metrics_destroy (&m);
    assert_null (m);
}

//  Several instances scraped under one job: every series names its own.
static void
test_instance_label_on_every_series (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("gc_");
    metric_set (metrics_gauge (m, "pending{stage=\"notify\"}", "pending work"), 2);
    metric_set (metrics_counter (m, "sent_total", "sent"), 5);
    assert_int_equal (metrics_set_instance (m, "disp-a"), 0);
    assert_int_equal (metrics_set_instance (m, "bad\"name"), -1);
    char *text = metrics_render (m);
    assert_non_null (strstr (text, "gc_pending{instance=\"disp-a\",stage=\"notify\"} 2\n"));
    assert_non_null (strstr (text, "gc_sent_total{instance=\"disp-a\"} 5\n"));
    free (text);
    metrics_destroy (&m);
}

static void
test_labels_share_help (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("");
    metric_t *a = metrics_gauge (m, "pending{stage=\"dispatch\"}", "pending work");
    metrics_counter (m, "other_total", "x");
    metric_t *b = metrics_gauge (m, "pending{stage=\"notify\"}", "pending work");
    metric_set (a, 1);
    metric_set (b, 2);
    assert_ptr_equal (metrics_gauge (m, "pending{stage=\"notify\"}", "again"), b);
    char *text = metrics_render (m);
    assert_non_null (strstr (text, "# TYPE pending gauge\npending{stage=\"dispatch\"} 1\n"
                                   "pending{stage=\"notify\"} 2\n"));
    const char *first = strstr (text, "# HELP pending");
    assert_null (strstr (first + 1, "# HELP pending"));
    free (text);
    metrics_destroy (&m);
}

static void
test_bad_names_are_refused (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("p_");
    assert_null (metrics_counter (m, "", "x"));
    assert_null (metrics_counter (m, "9lives", "x"));
    assert_null (metrics_counter (m, "a-b", "x"));
    assert_null (metrics_counter (m, "a{", "x"));
    assert_null (metrics_counter (NULL, "a", "x"));
    metric_inc (NULL);                  //  ignored
    assert_int_equal (metric_value (NULL), 0);
    metrics_destroy (&m);
    metrics_destroy (&m);               //  NULL is fine
}

static void *
s_bump (void *arg)
{
    for (int i = 0; i < 100000; i++)
        metric_inc ((metric_t *) arg);
    return NULL;
}

static void
test_concurrent_increments (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("");
    metric_t *c = metrics_counter (m, "hits_total", "hits");
    pthread_t threads [4];
    for (int i = 0; i < 4; i++)
        pthread_create (&threads [i], NULL, s_bump, c);
    for (int i = 0; i < 4; i++)
        pthread_join (threads [i], NULL);
    assert_int_equal (metric_value (c), 400000);
    metrics_destroy (&m);
}

//  GET path from 127.0.0.1:port; returns the whole answer (caller frees).
static char *
s_get (int port, const char *path)
{
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) port) };
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    assert_int_equal (connect (fd, (struct sockaddr *) &addr, sizeof addr), 0);
    char req [256];
    snprintf (req, sizeof req, "GET %s HTTP/1.0\r\n\r\n", path);
    assert_true (write (fd, req, strlen (req)) > 0);
    char *out = calloc (1, 65536);
    size_t at = 0;
    ssize_t n;
    while ((n = read (fd, out + at, 65535 - at)) > 0)
        at += (size_t) n;
    close (fd);
    return out;
}

static void
test_http_serves_metrics (void **state)
{
    (void) state;
    metrics_t *m = metrics_new ("gc_");
    metric_set (metrics_gauge (m, "units_connected", "units with a session"), 7);
    metrics_http_t *http = metrics_http_start (m, "127.0.0.1", 0);
    assert_non_null (http);
    int port = metrics_http_port (http);
    assert_true (port > 0);
    char *answer = s_get (port, "/metrics");
    assert_non_null (strstr (answer, "200 OK"));
    assert_non_null (strstr (answer, "text/plain; version=0.0.4"));
    assert_non_null (strstr (answer, "gc_units_connected 7\n"));
    free (answer);
    answer = s_get (port, "/other");
    assert_non_null (strstr (answer, "404"));
    free (answer);
    metrics_http_stop (&http);
    assert_null (http);
    assert_null (metrics_http_start (m, "not-an-address", 0));
    metrics_destroy (&m);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_counter_and_gauge_render),
        cmocka_unit_test (test_labels_share_help),
        cmocka_unit_test (test_instance_label_on_every_series),
        cmocka_unit_test (test_bad_names_are_refused),
        cmocka_unit_test (test_concurrent_increments),
        cmocka_unit_test (test_http_serves_metrics),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
