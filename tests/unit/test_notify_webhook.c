/*  test_notify_webhook.c — notify's webhook client: URL lists, done-mask
    tokens, HMAC signatures, and real POSTs through the curl multi handle to
    a tiny HTTP responder the test runs on 127.0.0.1 (a free port, the same
    thread, polled next to curl's sockets). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <czmq.h>
#include <netinet/in.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "notify_job.h"
#include "notify_webhook.h"

#define WAIT_MS 5000            //  deadline of one exchange

// ---------------------------------------------------------------------------
// URL lists, tokens, signatures

static void
test_url_list_parses_and_trims (void **state)
{
    (void) state;
    char *urls [NOTIFY_TARGETS_MAX];
    char err [256];
    assert_int_equal (notify_webhook_parse_list ("", urls, NOTIFY_TARGETS_MAX, err, sizeof err), 0);
    assert_int_equal (notify_webhook_parse_list (" , ,", urls, NOTIFY_TARGETS_MAX, err, sizeof err), 0);
    int n = notify_webhook_parse_list (" http://127.0.0.1:8080/hook ,https://example.org/a?b=c,",
                                       urls, NOTIFY_TARGETS_MAX, err, sizeof err);
    assert_int_equal (n, 2);
    assert_string_equal (urls [0], "http://127.0.0.1:8080/hook");
    assert_string_equal (urls [1], "https://example.org/a?b=c");
    free (urls [0]);
    free (urls [1]);
}

static void
test_url_list_rejects_bad_entries (void **state)
{
    (void) state;
    char *urls [NOTIFY_TARGETS_MAX];
    char err [256];
    const char *bad [] = { "ftp://example.org/x", "example.org/hook", "http://",
                           "http://a b/c", "http://ok/,file:///etc/passwd",
                           "http://dup/x,http://dup/x" };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        err [0] = 0;
        assert_int_equal (notify_webhook_parse_list (bad [i], urls, NOTIFY_TARGETS_MAX,
                                                     err, sizeof err), -1);
        assert_non_null (strstr (err, "webhooks:"));
    }
    char list [4096] = "";
    for (int i = 0; i < 3; i++)
        snprintf (list + strlen (list), sizeof list - strlen (list), "http://h%d/,", i);
    assert_int_equal (notify_webhook_parse_list (list, urls, 2, err, sizeof err), -1);
    assert_non_null (strstr (err, "more than 2"));
}

static void
test_token_is_stable_fnv1a (void **state)
{
    (void) state;
    char token [NOTIFY_TOKEN_LEN + 1];
    notify_webhook_token ("", token, sizeof token);
    assert_string_equal (token, "811c9dc5");
    notify_webhook_token ("a", token, sizeof token);
    assert_string_equal (token, "e40c292c");
    char other [NOTIFY_TOKEN_LEN + 1];
    notify_webhook_token ("http://h1/hook", token, sizeof token);
    notify_webhook_token ("http://h2/hook", other, sizeof other);
    assert_string_not_equal (token, other);
    assert_int_equal (strlen (token), NOTIFY_TOKEN_LEN);
}

static void
test_hmac_matches_rfc4231 (void **state)
{
    (void) state;
    char hex [NOTIFY_HMAC_HEX];
    //  RFC 4231 test case 2
    const char *data = "what do ya want for nothing?";
    assert_int_equal (notify_webhook_hmac_hex ("Jefe", data, strlen (data), hex, sizeof hex), 0);
    assert_string_equal (hex, "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843");
    //  RFC 4231 test case 1: twenty 0x0b bytes as key
    char key [21];
    memset (key, 0x0b, 20);
    key [20] = 0;
    assert_int_equal (notify_webhook_hmac_hex (key, "Hi There", 8, hex, sizeof hex), 0);
    assert_string_equal (hex, "b0344c61d8db38535ca8afceaf0bf12b881dc200c9833da726e9376c2e32cff7");
    assert_int_equal (notify_webhook_hmac_hex ("k", "x", 1, hex, 10), -1);
}

static void
test_signature_covers_time_and_body (void **state)
{
    (void) state;
    char sig [NOTIFY_SIGNATURE_MAX];
    const char *body = "{\"job_id\":\"42\"}";
    //  Python: hmac.new(b"s3cret", b"1767225600." + body, "sha256").hexdigest()
    assert_int_equal (notify_webhook_sign ("s3cret", 1767225600LL, body, strlen (body), sig,
                                           sizeof sig), 0);
    assert_string_equal (sig, "t=1767225600,v1="
                         "e1532a9c879c7e3a2b120c55762aa740351999a901a80333db91a36f141cc962");
    //  another time, another signature: a replay cannot move its timestamp
    char later [NOTIFY_SIGNATURE_MAX];
    assert_int_equal (notify_webhook_sign ("s3cret", 1767225601LL, body, strlen (body), later,
                                           sizeof later), 0);
    assert_string_not_equal (strchr (sig, 'v'), strchr (later, 'v'));
    assert_int_equal (notify_webhook_sign ("s3cret", 1, body, strlen (body), sig, 20), -1);
}

static void
test_delivery_ids_are_random (void **state)
{
    (void) state;
    char a [NOTIFY_DELIVERY_LEN + 1], b [NOTIFY_DELIVERY_LEN + 1];
    assert_int_equal (notify_webhook_delivery_id (a, sizeof a), 0);
    assert_int_equal (notify_webhook_delivery_id (b, sizeof b), 0);
    assert_int_equal (strlen (a), NOTIFY_DELIVERY_LEN);
    assert_int_equal (strspn (a, "0123456789abcdef"), NOTIFY_DELIVERY_LEN);
    assert_string_not_equal (a, b);
    assert_int_equal (notify_webhook_delivery_id (a, NOTIFY_DELIVERY_LEN), -1);
}

static void
test_local_targets (void **state)
{
    (void) state;
    assert_true (notify_webhook_local ("http://127.0.0.1:8080/hook"));
    assert_true (notify_webhook_local ("http://127.1.2.3/"));
    assert_true (notify_webhook_local ("http://localhost/x"));
    assert_true (notify_webhook_local ("http://[::1]:9000/x"));
    assert_false (notify_webhook_local ("https://hooks.example.org/x"));
    assert_false (notify_webhook_local ("http://10.0.0.5/x"));
    assert_false (notify_webhook_local ("http://127.0.0.1.example.org/x"));
    assert_false (notify_webhook_local ("not a url"));
}

// ---------------------------------------------------------------------------
// POSTs through the multi client

typedef enum { ANSWER_200, ANSWER_500, ANSWER_NEVER } answer_t;

//  A one-connection HTTP responder and what the client reported.
typedef struct {
    int listener;               //  listening socket on 127.0.0.1
    int port;                   //  its port
    int conn;                   //  accepted connection, or -1
    answer_t answer;            //  how to answer the request
    char request [16384];       //  the request as received
    size_t request_len;
    bool answered;              //  response written
    int done_calls;             //  client callbacks
    bool ok;                    //  last callback's verdict
    long status;                //  last callback's status
    char reason [256];          //  last callback's reason
    void *tag;                  //  last callback's tag
    int target;                 //  last callback's target
} fake_t;

static void
s_fake_start (fake_t *fake, answer_t answer)
{
    memset (fake, 0, sizeof *fake);
    fake->conn = -1;
    fake->answer = answer;
    fake->listener = socket (AF_INET, SOCK_STREAM, 0);
    assert_true (fake->listener >= 0);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = 0 };
    addr.sin_addr.s_addr = htonl (INADDR_LOOPBACK);
    assert_int_equal (bind (fake->listener, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (fake->listener, 4), 0);
    socklen_t len = sizeof addr;
    assert_int_equal (getsockname (fake->listener, (struct sockaddr *) &addr, &len), 0);
    fake->port = ntohs (addr.sin_port);
}

static void
s_fake_stop (fake_t *fake)
{
    if (fake->conn >= 0)
        close (fake->conn);
    close (fake->listener);
}

static void
s_done (void *arg, void *tag, int target, bool ok, long status, const char *reason)
{
    fake_t *fake = arg;
    fake->done_calls++;
    fake->ok = ok;
    fake->status = status;
    fake->tag = tag;
    fake->target = target;
    snprintf (fake->reason, sizeof fake->reason, "%s", reason);
}

//  True once the request's headers and Content-Length bytes of body are in.
static bool
s_request_complete (const fake_t *fake)
{
    const char *end = strstr (fake->request, "\r\n\r\n");
    if (!end)
        return false;
    const char *cl = strcasestr (fake->request, "\r\nContent-Length:");
    size_t body = cl && cl < end ? (size_t) atol (cl + 17) : 0;
    return fake->request_len >= (size_t) (end + 4 - fake->request) + body;
}

//  Serve the fake and drive the client until one callback or the deadline.
static void
s_exchange (fake_t *fake, notify_webhook_t *webhook)
{
    long long deadline = gc_mono_ms () + WAIT_MS;
    while (fake->done_calls == 0 && gc_mono_ms () < deadline) {
        zmq_pollitem_t items [64];
        size_t n = 0;
        items [n++] = (zmq_pollitem_t) { NULL, fake->listener, ZMQ_POLLIN, 0 };
        if (fake->conn >= 0)
            items [n++] = (zmq_pollitem_t) { NULL, fake->conn, ZMQ_POLLIN, 0 };
        size_t m = notify_webhook_pollitems (webhook, items + n, 64 - n);
        long wait = notify_webhook_timeout (webhook);
        if (wait < 0 || wait > 50)
            wait = 50;
        assert_true (zmq_poll (items, (int) (n + m), wait) >= 0);
        if (items [0].revents & ZMQ_POLLIN)
            fake->conn = accept (fake->listener, NULL, NULL);
        if (n > 1 && (items [1].revents & ZMQ_POLLIN)) {
            ssize_t got = read (fake->conn, fake->request + fake->request_len,
                                sizeof fake->request - 1 - fake->request_len);
            if (got > 0) {
                fake->request_len += (size_t) got;
                fake->request [fake->request_len] = 0;
            }
            if (s_request_complete (fake) && !fake->answered && fake->answer != ANSWER_NEVER) {
                const char *reply = fake->answer == ANSWER_200
                    ? "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok"
                    : "HTTP/1.1 500 Internal Server Error\r\nContent-Length: 9\r\n"
                      "Connection: close\r\n\r\nbad\x01thing";
                assert_true (write (fake->conn, reply, strlen (reply)) == (ssize_t) strlen (reply));
                fake->answered = true;
            }
        }
        notify_webhook_dispatch (webhook, items + n, m);
    }
}

//  The value of header name in the fake's request, copied to out.
static bool
s_header_value (const fake_t *fake, const char *name, char *out, size_t outlen)
{
    char pattern [128];
    snprintf (pattern, sizeof pattern, "\r\n%s: ", name);
    const char *at = strcasestr (fake->request, pattern);
    if (!at)
        return false;
    at += strlen (pattern);
    const char *eol = strstr (at, "\r\n");
    snprintf (out, outlen, "%.*s", (int) (eol - at), at);
    return true;
}

static void
test_post_delivers_signed_body (void **state)
{
    (void) state;
    fake_t fake;
    s_fake_start (&fake, ANSWER_200);
    notify_webhook_t *webhook = notify_webhook_new ("s3cret", 3000, s_done, &fake);
    assert_non_null (webhook);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/hook", fake.port);
    const char *body = "{\"job_id\":\"42\",\"note\":\"清理完毕\"}";
    int tag;
    assert_int_equal (notify_webhook_post (webhook, url, "case.resolved", "42", 2, body,
                                           strlen (body), &tag, 3), 0);
    assert_int_equal (notify_webhook_running (webhook), 1);
    s_exchange (&fake, webhook);
    assert_int_equal (fake.done_calls, 1);
    assert_true (fake.ok);
    assert_int_equal (fake.status, 200);
    assert_ptr_equal (fake.tag, &tag);
    assert_int_equal (fake.target, 3);
    assert_int_equal (notify_webhook_running (webhook), 0);

    assert_true (strncmp (fake.request, "POST /hook HTTP/1.1\r\n", 21) == 0);
    char value [256];
    assert_true (s_header_value (&fake, "Content-Type", value, sizeof value));
    assert_string_equal (value, "application/json");
    assert_true (s_header_value (&fake, "X-Gridcall-Event", value, sizeof value));
    assert_string_equal (value, "case.resolved");
    assert_true (s_header_value (&fake, "X-Gridcall-Job", value, sizeof value));
    assert_string_equal (value, "42");
    assert_true (s_header_value (&fake, "X-Gridcall-Delivery", value, sizeof value));
    assert_int_equal (strlen (value), NOTIFY_DELIVERY_LEN);
    assert_true (s_header_value (&fake, "X-Gridcall-Attempt", value, sizeof value));
    assert_string_equal (value, "2");
    assert_false (s_header_value (&fake, "Expect", value, sizeof value));
    //  signed over the time it was sent and the body
    assert_true (s_header_value (&fake, "X-Gridcall-Signature", value, sizeof value));
    long long at = 0;
    assert_int_equal (sscanf (value, "t=%lld,", &at), 1);
    assert_true (llabs (at - (long long) time (NULL)) <= 5);
    char expected [NOTIFY_SIGNATURE_MAX];
    assert_int_equal (notify_webhook_sign ("s3cret", at, body, strlen (body), expected,
                                           sizeof expected), 0);
    assert_string_equal (value, expected);
    const char *got = strstr (fake.request, "\r\n\r\n") + 4;
    assert_string_equal (got, body);
    notify_webhook_destroy (&webhook);
    assert_null (webhook);
    s_fake_stop (&fake);
}

static void
test_post_unsigned_without_secret (void **state)
{
    (void) state;
    fake_t fake;
    s_fake_start (&fake, ANSWER_200);
    notify_webhook_t *webhook = notify_webhook_new ("", 3000, s_done, &fake);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/", fake.port);
    assert_int_equal (notify_webhook_post (webhook, url, "case.closed", "7", 1, "{}", 2,
                                           NULL, 0), 0);
    s_exchange (&fake, webhook);
    assert_true (fake.ok);
    char value [256];
    assert_false (s_header_value (&fake, "X-Gridcall-Signature", value, sizeof value));
    notify_webhook_destroy (&webhook);
    s_fake_stop (&fake);
}

static void
test_post_reports_http_error (void **state)
{
    (void) state;
    fake_t fake;
    s_fake_start (&fake, ANSWER_500);
    notify_webhook_t *webhook = notify_webhook_new ("", 3000, s_done, &fake);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/hook", fake.port);
    assert_int_equal (notify_webhook_post (webhook, url, "case.closed", "7", 1, "{}", 2,
                                           NULL, 1), 0);
    s_exchange (&fake, webhook);
    assert_int_equal (fake.done_calls, 1);
    assert_false (fake.ok);
    assert_int_equal (fake.status, 500);
    //  the answer's start is kept for the log, control bytes blanked
    assert_string_equal (fake.reason, "HTTP 500: bad thing");
    notify_webhook_destroy (&webhook);
    s_fake_stop (&fake);
}

static void
test_post_times_out (void **state)
{
    (void) state;
    fake_t fake;
    s_fake_start (&fake, ANSWER_NEVER);
    notify_webhook_t *webhook = notify_webhook_new ("", 200, s_done, &fake);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/hook", fake.port);
    long long start = gc_mono_ms ();
    assert_int_equal (notify_webhook_post (webhook, url, "case.closed", "7", 1, "{}", 2,
                                           NULL, 0), 0);
    s_exchange (&fake, webhook);
    assert_int_equal (fake.done_calls, 1);
    assert_false (fake.ok);
    assert_int_equal (fake.status, 0);
    assert_non_null (strcasestr (fake.reason, "timed out"));
    assert_true (gc_mono_ms () - start < WAIT_MS);
    notify_webhook_destroy (&webhook);
    s_fake_stop (&fake);
}

static void
test_destroy_abandons_running_transfers (void **state)
{
    (void) state;
    fake_t fake;
    s_fake_start (&fake, ANSWER_NEVER);
    notify_webhook_t *webhook = notify_webhook_new ("", 5000, s_done, &fake);
    char url [64];
    snprintf (url, sizeof url, "http://127.0.0.1:%d/hook", fake.port);
    for (int i = 0; i < 3; i++)
        assert_int_equal (notify_webhook_post (webhook, url, "case.closed", "7", 1, "{}", 2,
                                               NULL, i), 0);
    assert_int_equal (notify_webhook_running (webhook), 3);
    notify_webhook_destroy (&webhook);
    assert_int_equal (fake.done_calls, 0);
    s_fake_stop (&fake);
}

int
main (void)
{
    gc_log_init ("test_notify_webhook", GC_LOG_ERROR);
    curl_global_init (CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_url_list_parses_and_trims),
        cmocka_unit_test (test_url_list_rejects_bad_entries),
        cmocka_unit_test (test_token_is_stable_fnv1a),
        cmocka_unit_test (test_hmac_matches_rfc4231),
        cmocka_unit_test (test_signature_covers_time_and_body),
        cmocka_unit_test (test_delivery_ids_are_random),
        cmocka_unit_test (test_local_targets),
        cmocka_unit_test (test_post_delivers_signed_body),
        cmocka_unit_test (test_post_unsigned_without_secret),
        cmocka_unit_test (test_post_reports_http_error),
        cmocka_unit_test (test_post_times_out),
        cmocka_unit_test (test_destroy_abandons_running_transfers),
    };
    int failed = cmocka_run_group_tests (tests, NULL, NULL);
    curl_global_cleanup ();
    return failed;
}
