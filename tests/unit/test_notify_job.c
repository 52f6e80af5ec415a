/*  test_notify_job.c — a notification job as notify sees it: built from a
    gc_job_get reply, turned into the webhook body and the Notification,
    its done mask across rounds, and the retry back-off. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "notify_job.h"

// ---------------------------------------------------------------------------
// back-off

static void
test_backoff_doubles_from_base (void **state)
{
    (void) state;
    uint32_t mid = UINT32_MAX / 2;      //  jitter factor 1.0
    assert_int_equal (notify_backoff_ms (1000, 60000, 0, mid), 1000);
    assert_int_equal (notify_backoff_ms (1000, 60000, 1, mid), 2000);
    assert_int_equal (notify_backoff_ms (1000, 60000, 3, mid), 8000);
    assert_int_equal (notify_backoff_ms (1000, 60000, 5, mid), 32000);
}

static void
test_backoff_caps_at_max (void **state)
{
    (void) state;
    assert_int_equal (notify_backoff_ms (1000, 60000, 6, UINT32_MAX / 2), 60000);
    assert_int_equal (notify_backoff_ms (1000, 60000, 7, UINT32_MAX), 60000);
    //  huge attempt counts neither overflow nor exceed the cap
    assert_int_equal (notify_backoff_ms (1000, 60000, 1000000, UINT32_MAX), 60000);
    assert_int_equal (notify_backoff_ms (5000, 100, 0, UINT32_MAX), 100);
}

static void
test_backoff_jitter_stays_within_20_percent (void **state)
{
    (void) state;
    assert_int_equal (notify_backoff_ms (1000, 60000, 2, 0), 3200);
    assert_int_equal (notify_backoff_ms (1000, 60000, 2, UINT32_MAX), 4800);
    uint32_t x = 12345;
    for (int i = 0; i < 1000; i++) {
        x = x * 1664525u + 1013904223u;
        assert_in_range (notify_backoff_ms (1000, 60000, 2, x), 3200, 4800);
    }
    //  never 0: 0 means "delivered" to gc_job_done
    assert_int_equal (notify_backoff_ms (1, 1, 0, 0), 1);
    assert_int_equal (notify_backoff_ms (0, 0, 0, 0), 1);
}

// ---------------------------------------------------------------------------
// jobs

//  A gc_job_get reply as the Lua library returns it: every field a string.
static json_t *
s_job_reply (void)
{
    return json_pack ("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s}",
        "ok", 1, "id", "42", "event", "case.resolved", "case", "TJ-20260101-000007",
        "grid", "G01", "category", "env.garbage", "tier", "2", "state", "RESOLVED",
        "unit", "U07", "at", "1767225600123", "audience", "grid:G01",
        "note", "清理完毕", "attempts", "3", "done", "");
}

static void
test_job_body_has_every_field (void **state)
{
    (void) state;
    json_t *reply = s_job_reply ();
    char reason [160] = "";
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    assert_string_equal (notify_job_id (job), "42");
    assert_string_equal (notify_job_event (job), "case.resolved");
    assert_int_equal (notify_job_attempts (job), 3);
    json_error_t error;
    json_t *body = json_loadb (notify_job_body (job), notify_job_body_len (job), 0, &error);
    assert_non_null (body);
    assert_int_equal (json_object_size (body), 12);
    assert_string_equal (json_string_value (json_object_get (body, "job_id")), "42");
    assert_string_equal (json_string_value (json_object_get (body, "event")), "case.resolved");
    assert_string_equal (json_string_value (json_object_get (body, "case_id")), "TJ-20260101-000007");
    //  no ledger field stored: the case id is the ledger number
    assert_string_equal (json_string_value (json_object_get (body, "ledger_no")), "TJ-20260101-000007");
    assert_string_equal (json_string_value (json_object_get (body, "grid")), "G01");
    assert_string_equal (json_string_value (json_object_get (body, "category")), "env.garbage");
    assert_string_equal (json_string_value (json_object_get (body, "tier")), "COMMUNITY");
    assert_string_equal (json_string_value (json_object_get (body, "state")), "RESOLVED");
    assert_string_equal (json_string_value (json_object_get (body, "unit")), "U07");
    assert_true (json_integer_value (json_object_get (body, "at_ms")) == 1767225600123LL);
    assert_string_equal (json_string_value (json_object_get (body, "audience")), "grid:G01");
    assert_string_equal (json_string_value (json_object_get (body, "note")), "清理完毕");
    json_decref (body);
    notify_job_destroy (&job);
    assert_null (job);
    json_decref (reply);
}

static void
test_job_fills_notification (void **state)
{
    (void) state;
    json_t *reply = s_job_reply ();
    json_object_set_new (reply, "ledger", json_string ("TJ-LEDGER-7"));
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    Gridcall__V1__Notification msg = GRIDCALL__V1__NOTIFICATION__INIT;
    notify_job_notification (job, &msg);
    assert_string_equal (msg.job_id, "42");
    assert_string_equal (msg.ledger_no, "TJ-LEDGER-7");
    assert_int_equal (msg.tier, GRIDCALL__V1__TIER__TIER_COMMUNITY);
    assert_int_equal (msg.state, GRIDCALL__V1__CASE_STATE__STATE_RESOLVED);
    assert_true (msg.at_ms == 1767225600123LL);
    //  round trip through the wire format
    size_t size = protobuf_c_message_get_packed_size (&msg.base);
    uint8_t *buf = malloc (size);
    assert_non_null (buf);
    protobuf_c_message_pack (&msg.base, buf);
    Gridcall__V1__Notification *back = gridcall__v1__notification__unpack (NULL, size, buf);
    assert_non_null (back);
    assert_string_equal (back->audience, "grid:G01");
    assert_string_equal (back->note, "清理完毕");
    gridcall__v1__notification__free_unpacked (back, NULL);
    free (buf);
    notify_job_destroy (&job);
    json_decref (reply);
}

static void
test_reporter_audience_never_carries_a_phone_number (void **state)
{
    (void) state;
    //  a job queued as the library once did: reporter:<phone>
    json_t *reply = s_job_reply ();
    json_object_set_new (reply, "event", json_string ("case.closed"));
    json_object_set_new (reply, "audience", json_string ("reporter:13800000000"));
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    Gridcall__V1__Notification msg = GRIDCALL__V1__NOTIFICATION__INIT;
    notify_job_notification (job, &msg);
    assert_string_equal (msg.audience, "reporter:TJ-20260101-000007");
    assert_null (strstr (notify_job_body (job), "13800000000"));
    notify_job_destroy (&job);
    //  as the library queues it now: unchanged
    json_object_set_new (reply, "audience", json_string ("reporter:TJ-20260101-000007"));
    job = notify_job_new (reply, reason, sizeof reason);
    notify_job_notification (job, &msg);
    assert_string_equal (msg.audience, "reporter:TJ-20260101-000007");
    notify_job_destroy (&job);
    json_decref (reply);
}

static void
test_job_rejects_undeliverable (void **state)
{
    (void) state;
    char reason [160];
    const char *bad_events [] = { "", "case.", "resolved", "unit.hello",
                                  "case.this-name-is-far-too-long-for-a-topic",
                                  "case.x\r\nX-Evil: 1", "case.a b" };
    for (size_t i = 0; i < sizeof bad_events / sizeof bad_events [0]; i++) {
        json_t *reply = s_job_reply ();
        json_object_set_new (reply, "event", json_string (bad_events [i]));
        reason [0] = 0;
        assert_null (notify_job_new (reply, reason, sizeof reason));
        assert_non_null (strstr (reason, "event"));
        json_decref (reply);
    }
    json_t *reply = s_job_reply ();
    json_object_set_new (reply, "note", json_pack ("{s:i}", "x", 1));
    assert_null (notify_job_new (reply, reason, sizeof reason));
    assert_non_null (strstr (reason, "note"));
    json_object_set_new (reply, "note", json_stringn_nocheck ("\xff\xfe", 2));
    assert_null (notify_job_new (reply, reason, sizeof reason));
    assert_non_null (strstr (reason, "UTF-8"));
    json_object_set_new (reply, "note", json_string (""));
    json_object_set_new (reply, "attempts", json_string ("three"));
    assert_null (notify_job_new (reply, reason, sizeof reason));
    json_decref (reply);
    json_object_set_new (reply, "attempts", json_string ("0"));
    json_object_set_new (reply, "id", json_string ("4\n2"));
    assert_null (notify_job_new (reply, reason, sizeof reason));
    assert_non_null (strstr (reason, "job id"));
    //  an empty object has no id
    reply = json_object ();
    assert_null (notify_job_new (reply, reason, sizeof reason));
    json_decref (reply);
}

static void
test_job_tolerates_odd_but_harmless_fields (void **state)
{
    (void) state;
    json_t *reply = s_job_reply ();
    json_object_set_new (reply, "tier", json_string ("9"));
    json_object_set_new (reply, "state", json_string ("NO_SUCH_STATE"));
    json_object_del (reply, "unit");
    json_object_set_new (reply, "at", json_integer (5));
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    assert_non_null (strstr (notify_job_body (job), "\"tier\":\"\""));
    assert_non_null (strstr (notify_job_body (job), "\"unit\":\"\""));
    assert_non_null (strstr (notify_job_body (job), "\"at_ms\":5"));
    notify_job_destroy (&job);
    json_decref (reply);
}

// ---------------------------------------------------------------------------
// done masks

static void
test_mask_matches_whole_tokens (void **state)
{
    (void) state;
    assert_true (notify_mask_has ("p,0badcafe", "p"));
    assert_true (notify_mask_has ("p,0badcafe", "0badcafe"));
    assert_false (notify_mask_has ("p,0badcafe", "0bad"));
    assert_false (notify_mask_has ("p,0badcafe", ""));
    assert_false (notify_mask_has ("", "p"));
    assert_false (notify_mask_has ("pp", "p"));
}

static void
test_mask_round_trip_skips_done_targets (void **state)
{
    (void) state;
    const char *tokens [3] = { "aaaaaaaa", "bbbbbbbb", "cccccccc" };
    json_t *reply = s_job_reply ();
    //  an earlier round published and reached b; "dddddddd" is no longer configured
    json_object_set_new (reply, "done", json_string ("dddddddd,bbbbbbbb,p"));
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    notify_job_load_mask (job, tokens, 3);
    assert_true (notify_job_published (job));
    assert_false (notify_job_target_done (job, 0));
    assert_true (notify_job_target_done (job, 1));
    assert_false (notify_job_target_done (job, 2));
    assert_false (notify_job_complete (job, 3));

    assert_int_equal (notify_job_begin (job), 1);
    assert_int_equal (notify_job_begin (job), 2);
    assert_int_equal (notify_job_end (job, 0, true), 1);
    assert_int_equal (notify_job_end (job, 2, false), 0);
    assert_false (notify_job_complete (job, 3));
    char mask [NOTIFY_MASK_MAX];
    assert_int_equal (notify_job_mask (job, tokens, 3, mask, sizeof mask), 0);
    assert_string_equal (mask, "p,aaaaaaaa,bbbbbbbb");
    assert_int_equal (notify_job_mask (job, tokens, 3, mask, 5), -1);

    notify_job_begin (job);
    notify_job_end (job, 2, true);
    assert_true (notify_job_complete (job, 3));
    notify_job_destroy (&job);
    json_decref (reply);
}

static void
test_mask_new_job_publishes_first (void **state)
{
    (void) state;
    json_t *reply = s_job_reply ();
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    notify_job_load_mask (job, NULL, 0);
    assert_false (notify_job_published (job));
    assert_false (notify_job_complete (job, 0));
    notify_job_set_published (job);
    assert_true (notify_job_complete (job, 0));
    char mask [NOTIFY_MASK_MAX];
    assert_int_equal (notify_job_mask (job, NULL, 0, mask, sizeof mask), 0);
    assert_string_equal (mask, "p");
    notify_job_destroy (&job);
    json_decref (reply);
}

//  A gateway's webhook hears of the cases its principal reported, and of
//  the cases merged ones follow; whole principals only, never a prefix.
static void
test_gateway_hears_its_own_and_followed_cases (void **state)
{
    (void) state;
    json_t *reply = s_job_reply ();
    json_object_set_new (reply, "via", json_string ("gateway:hotline"));
    json_object_set_new (reply, "followers", json_string ("gateway:app gateway:wechat"));
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    assert_non_null (job);
    assert_true (notify_job_heard_by (job, "gateway:hotline"));
    assert_true (notify_job_heard_by (job, "gateway:app"));
    assert_true (notify_job_heard_by (job, "gateway:wechat"));
    assert_false (notify_job_heard_by (job, "gateway:ap"));
    assert_false (notify_job_heard_by (job, "gateway:hot"));
    assert_false (notify_job_heard_by (job, "app"));
    assert_false (notify_job_target_done (job, 3));
    notify_job_skip (job, 3);
    assert_true (notify_job_target_done (job, 3));
    notify_job_destroy (&job);
    json_decref (reply);
    //  a job of a library before via: no gateway hears it
    reply = s_job_reply ();
    job = notify_job_new (reply, reason, sizeof reason);
    assert_false (notify_job_heard_by (job, "gateway:hotline"));
    notify_job_destroy (&job);
    json_decref (reply);
}

int
main (void)
{
    gc_log_init ("test_notify_job", GC_LOG_ERROR);
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_backoff_doubles_from_base),
        cmocka_unit_test (test_backoff_caps_at_max),
        cmocka_unit_test (test_backoff_jitter_stays_within_20_percent),
        cmocka_unit_test (test_job_body_has_every_field),
        cmocka_unit_test (test_gateway_hears_its_own_and_followed_cases),
        cmocka_unit_test (test_job_fills_notification),
        cmocka_unit_test (test_reporter_audience_never_carries_a_phone_number),
        cmocka_unit_test (test_job_rejects_undeliverable),
        cmocka_unit_test (test_job_tolerates_odd_but_harmless_fields),
        cmocka_unit_test (test_mask_matches_whole_tokens),
        cmocka_unit_test (test_mask_round_trip_skips_done_targets),
        cmocka_unit_test (test_mask_new_job_publishes_first),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
