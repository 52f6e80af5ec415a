/*  test_unitkit.c — the unit kit against a fake dispatch: a ROUTER over
    inproc:// in the test itself, driven one message at a time. Waits poll
    the kit and the ROUTER until a condition holds or a deadline passes. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <czmq.h>
#include <string.h>

#include "codec.h"
#include "unitkit.h"
#include "unitkit_wire.h"

#define WAIT_MS 3000            //  deadline of one expectation

typedef enum { ANSWER_NONE, ANSWER_ACCEPT, ANSWER_DECLINE } answer_t;

//  The fake dispatch, the kit under test and what its callbacks saw.
typedef struct {
    zsock_t *router;            //  fake dispatch
    unitkit_t *unit;            //  kit under test
    zframe_t *peer;             //  routing id of the unit's current connection
    answer_t answer;            //  what the offer handler does
    int offers;                 //  offers seen by the handler
    char offer_id [64];         //  last offer's id
    char offer_text [256];      //  last offer's text
    char offer_role [16];       //  last offer's role
    int offer_tier;             //  last offer's tier
    bool offer_resent;          //  last offer's resent flag
    long long offer_answer_by;  //  last offer's answer_by_ms
    int events [UNITKIT_WITHDRAWN + 1]; //  events seen, by type
    int64_t event_at [UNITKIT_WITHDRAWN + 1];  //  when the last of each came (mono ms)
    bool tick_on_ack;           //  the ACKED handler turns the kit (as an application may)
    char kind [16];             //  last ACKED/REFUSED kind
    char event_offer [64];      //  last ACKED/REFUSED offer id
    int code;                   //  last REJECTED/REFUSED code
    int state;                  //  last ACKED state
    bool duplicate;             //  last ACKED duplicate flag
    char role [16];             //  last ACKED role
    unsigned waiting_for;       //  last ACKED waiting_for
    int reason;                 //  last WITHDRAWN reason
    int tier;                   //  last WITHDRAWN tier
    char note [128];            //  last WITHDRAWN note
    size_t held_count;          //  last WELCOME held cases
    char held_first [64];       //  first of them
    int warnings;               //  kit log lines at WARNING or above
    char last_log [256];        //  the last of them
} fixture_t;

//  The kit's log hook: count what the kit warns about.
static void
s_on_log (const unitkit_t *unit, unitkit_log_level_t level, const char *line, void *arg)
{
    (void) unit;
    fixture_t *fx = (fixture_t *) arg;
    assert_true (level >= UNITKIT_LOG_WARNING);
    fx->warnings++;
    snprintf (fx->last_log, sizeof fx->last_log, "%s", line);
}

static void
s_on_offer (unitkit_t *unit, const Gridcall__V1__Offer *offer, void *arg)
{
    fixture_t *fx = (fixture_t *) arg;
    fx->offers++;
    snprintf (fx->offer_id, sizeof fx->offer_id, "%s", offer->offer_id);
    snprintf (fx->offer_text, sizeof fx->offer_text, "%s", offer->text);
    snprintf (fx->offer_role, sizeof fx->offer_role, "%s", offer->role);
    fx->offer_tier = offer->tier;
    fx->offer_resent = offer->resent;
    fx->offer_answer_by = offer->answer_by_ms;
    if (fx->answer == ANSWER_ACCEPT)
        assert_int_equal (unitkit_accept (unit, offer->offer_id, offer->case_id), 0);
    else
    if (fx->answer == ANSWER_DECLINE)
        assert_int_equal (unitkit_decline (unit, offer->offer_id, offer->case_id,
                          GRIDCALL__V1__DECLINE_REASON__DECLINE_NO_CAPACITY, "full"), 0);
}

static void
s_on_event (unitkit_t *unit, const unitkit_event_t *event, void *arg)
{
    (void) unit;
    fixture_t *fx = (fixture_t *) arg;
    fx->events [event->type]++;
    fx->event_at [event->type] = zclock_mono ();
    if (fx->tick_on_ack && event->type == UNITKIT_ACKED)
        unitkit_tick (unit);
    if (event->kind)
        snprintf (fx->kind, sizeof fx->kind, "%s", event->kind);
    if (event->offer_id)
        snprintf (fx->event_offer, sizeof fx->event_offer, "%s", event->offer_id);
    if (event->type == UNITKIT_REJECTED || event->type == UNITKIT_REFUSED)
        fx->code = event->code;
    if (event->type == UNITKIT_ACKED) {
        fx->state = event->state;
        fx->duplicate = event->duplicate;
        snprintf (fx->role, sizeof fx->role, "%s", event->role);
        fx->waiting_for = event->waiting_for;
    }
    if (event->type == UNITKIT_WITHDRAWN) {
        fx->state = event->state;
        fx->reason = event->reason;
        fx->tier = event->tier;
        snprintf (fx->note, sizeof fx->note, "%s", event->message);
    }
    if (event->type == UNITKIT_WELCOME) {
        fx->held_count = event->held_count;
        snprintf (fx->held_first, sizeof fx->held_first, "%s",
                  event->held_count ? event->held_cases [0] : "");
    }
}

static int
s_setup (void **state)
{
    static int instance;
    char endpoint [64];
    snprintf (endpoint, sizeof endpoint, "inproc://test-unitkit-%d", ++instance);
    fixture_t *fx = calloc (1, sizeof *fx);
    assert_non_null (fx);
    fx->router = zsock_new_router (endpoint);
    assert_non_null (fx->router);
    fx->unit = unitkit_new (endpoint, "U01");
    assert_non_null (fx->unit);
    fx->answer = ANSWER_ACCEPT;
    unitkit_set_offer_handler (fx->unit, s_on_offer, fx);
    unitkit_set_event_handler (fx->unit, s_on_event, fx);
    unitkit_set_log_handler (fx->unit, UNITKIT_LOG_WARNING, s_on_log, fx);
    unitkit_set_heartbeat (fx->unit, 50);
    *state = fx;
    return 0;
}

static int
s_teardown (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    unitkit_destroy (&fx->unit);
    zsock_destroy (&fx->router);
    zframe_destroy (&fx->peer);
    free (fx);
    return 0;
}

//  Turn the kit until the fake dispatch receives a message of this type
//  (heartbeats are skipped unless asked for). Returns 0 with msg filled, or
//  -1 at the deadline. The peer's routing id is kept in fx->peer.
static int
s_expect (fixture_t *fx, const char *type, codec_msg_t *msg)
{
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (zclock_mono () < deadline) {
        if (fx->unit)
            unitkit_poll (fx->unit, 5);
        else
            zclock_sleep (5);
        while (zsock_events (fx->router) & ZMQ_POLLIN) {
            assert_int_equal (codec_recv (fx->router, true, codec_unit, 65536, msg), 0);
            zframe_destroy (&fx->peer);
            fx->peer = zframe_dup (msg->identity);
            if (streq (msg->type, type))
                return 0;
            codec_msg_reset (msg);
        }
    }
    return -1;
}

//  Turn the kit until cond (fx) holds; fails the test at the deadline.
#define UNTIL(cond) \
    do { \
        int64_t deadline_ = zclock_mono () + WAIT_MS; \
        while (!(cond) && zclock_mono () < deadline_) { \
            unitkit_poll (fx->unit, 5); \
            while (zsock_events (fx->router) & ZMQ_POLLIN) \
                zmsg_destroy (&(zmsg_t *) { zmsg_recv (fx->router) }); \
        } \
        assert_true (cond); \
    } while (0)

static void
s_send (fixture_t *fx, const char *type, const ProtobufCMessage *body)
{
    assert_non_null (fx->peer);
    assert_int_equal (codec_send (fx->router, fx->peer, type, body), 0);
}

static void
s_send_welcome (fixture_t *fx, int heartbeat_ms)
{
    Gridcall__V1__Welcome welcome = GRIDCALL__V1__WELCOME__INIT;
    char *held [] = { "C1", "C2" };
    welcome.unit_id = "U01";
    welcome.heartbeat_ms = heartbeat_ms;
    welcome.held_cases = held;
    welcome.n_held_cases = 2;
    s_send (fx, "welcome", &welcome.base);
}

static void
s_send_offer (fixture_t *fx, const char *offer_id, const char *case_id)
{
    Gridcall__V1__Offer offer = GRIDCALL__V1__OFFER__INIT;
    offer.offer_id = (char *) offer_id;
    offer.case_id = (char *) case_id;
    offer.ledger_no = "TJ-20240501-0007";
    offer.grid = "G01";
    offer.category = "env.garbage";
    offer.tier = GRIDCALL__V1__TIER__TIER_GRID;
    offer.text = "垃圾桶满了";
    offer.role = "lead";
    s_send (fx, "offer", &offer.base);
}

static void
s_send_ack (fixture_t *fx, const char *offer_id, const char *case_id, int state)
{
    Gridcall__V1__UnitAck ack = GRIDCALL__V1__UNIT_ACK__INIT;
    ack.offer_id = (char *) offer_id;
    ack.case_id = (char *) case_id;
    ack.state = state;
    s_send (fx, "ok", &ack.base);
}

static void
s_send_error (fixture_t *fx, int code, const char *ref)
{
    assert_int_equal (codec_send_error (fx->router, fx->peer, code, ref, "test says %s",
                                        codec_error_name (code)), 0);
}

//  Hello in, welcome out, kit connected.
static void
s_handshake (fixture_t *fx, int heartbeat_ms)
{
    codec_msg_t msg;
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    s_send_welcome (fx, heartbeat_ms);
    UNTIL (unitkit_connected (fx->unit));
}

static void
test_hello_welcome (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    assert_false (unitkit_connected (fx->unit));
    assert_string_equal (unitkit_id (fx->unit), "U01");
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    Gridcall__V1__Hello *hello = (Gridcall__V1__Hello *) msg.body;
    assert_string_equal (hello->unit_id, "U01");
    assert_int_equal (hello->protocol, UNITKIT_PROTOCOL);
    codec_msg_reset (&msg);

    s_send_offer (fx, "O0", "C0");          //  out of turn: not welcomed yet
    s_send_welcome (fx, 100);
    UNTIL (unitkit_connected (fx->unit));
    assert_int_equal (fx->offers, 0);
    assert_int_equal (fx->events [UNITKIT_WELCOME], 1);
    assert_int_equal (fx->held_count, 2);
    assert_string_equal (fx->held_first, "C1");
}

static void
test_heartbeats_flow (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    s_handshake (fx, 100);
    //  dispatch heartbeats every 50 ms for 800 ms, 8 intervals of the unit
    int heartbeats = 0;
    int64_t start = zclock_mono ();
    int64_t next_beat = start;
    while (zclock_mono () < start + 800) {
        unitkit_poll (fx->unit, 5);
        if (zclock_mono () >= next_beat) {
            Gridcall__V1__Heartbeat beat = GRIDCALL__V1__HEARTBEAT__INIT;
            s_send (fx, "heartbeat", &beat.base);
            next_beat += 50;
        }
        codec_msg_t msg;
        while (zsock_events (fx->router) & ZMQ_POLLIN) {
            assert_int_equal (codec_recv (fx->router, true, codec_unit, 65536, &msg), 0);
            assert_string_equal (msg.type, "heartbeat");
            heartbeats++;
            codec_msg_reset (&msg);
        }
    }
    //  one every 100 ms when idle; the kit never gave up on a live dispatch
    assert_in_range (heartbeats, 4, 10);
    assert_true (unitkit_connected (fx->unit));
    assert_int_equal (fx->events [UNITKIT_LOST], 0);
}

static void
test_offer_accept_progress_resolve (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    s_send_offer (fx, "O7", "C7");
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    assert_int_equal (fx->offers, 1);
    assert_string_equal (fx->offer_id, "O7");
    assert_string_equal (fx->offer_text, "垃圾桶满了");
    assert_string_equal (fx->offer_role, "lead");
    assert_int_equal (fx->offer_tier, GRIDCALL__V1__TIER__TIER_GRID);
    Gridcall__V1__Accept *accept = (Gridcall__V1__Accept *) msg.body;
    assert_string_equal (accept->offer_id, "O7");
    assert_string_equal (accept->case_id, "C7");
    codec_msg_reset (&msg);
    assert_int_equal (unitkit_outbox_size (fx->unit), 1);

    s_send_ack (fx, "O7", "C7", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_ACKED], 1);
    assert_string_equal (fx->kind, "accept");
    assert_string_equal (fx->event_offer, "O7");
    assert_int_equal (fx->state, GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);

    assert_int_equal (unitkit_progress (fx->unit, "O7", "C7", "crew on site"), 0);
    assert_int_equal (unitkit_resolve (fx->unit, "O7", "C7", "bins emptied"), 0);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    Gridcall__V1__Progress *progress = (Gridcall__V1__Progress *) msg.body;
    assert_string_equal (progress->offer_id, "O7");
    assert_string_equal (progress->case_id, "C7");
    assert_string_equal (progress->note, "crew on site");
    codec_msg_reset (&msg);
    assert_int_equal (s_expect (fx, "resolve", &msg), 0);
    Gridcall__V1__Resolve *resolve = (Gridcall__V1__Resolve *) msg.body;
    assert_string_equal (resolve->offer_id, "O7");
    assert_string_equal (resolve->summary, "bins emptied");
    codec_msg_reset (&msg);

    s_send_ack (fx, "O7", "C7", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    s_send_ack (fx, "O7", "C7", GRIDCALL__V1__CASE_STATE__STATE_RESOLVED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_ACKED], 3);
    assert_string_equal (fx->kind, "resolve");
    assert_int_equal (fx->state, GRIDCALL__V1__CASE_STATE__STATE_RESOLVED);
}

static void
test_decline_refused_as_stale (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    fx->answer = ANSWER_DECLINE;
    s_handshake (fx, 1000);
    s_send_offer (fx, "O8", "C8");
    assert_int_equal (s_expect (fx, "decline", &msg), 0);
    Gridcall__V1__Decline *decline = (Gridcall__V1__Decline *) msg.body;
    assert_string_equal (decline->offer_id, "O8");
    assert_string_equal (decline->case_id, "C8");
    assert_int_equal (decline->reason, GRIDCALL__V1__DECLINE_REASON__DECLINE_NO_CAPACITY);
    assert_string_equal (decline->note, "full");
    codec_msg_reset (&msg);

    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_STALE, "O8");
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_REFUSED], 1);
    assert_int_equal (fx->code, GRIDCALL__V1__ERROR_CODE__ERROR_STALE);
    assert_string_equal (fx->kind, "decline");
    assert_true (unitkit_connected (fx->unit));
}

static void
test_error_without_ref_refuses_oldest_reply (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    assert_int_equal (unitkit_progress (fx->unit, "O13", "C13", "first"), 0);
    assert_int_equal (unitkit_progress (fx->unit, "O14", "C14", "second"), 0);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    //  dispatch answers in order: an error naming no offer is the first one's
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_TEXT_TOO_LONG, "");
    UNTIL (fx->events [UNITKIT_REFUSED] == 1);
    assert_string_equal (fx->event_offer, "O13");
    assert_int_equal (fx->code, GRIDCALL__V1__ERROR_CODE__ERROR_TEXT_TOO_LONG);
    assert_int_equal (unitkit_outbox_size (fx->unit), 1);
    assert_true (unitkit_connected (fx->unit));
}

static void
test_unavailable_is_retried_in_order (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 100);
    assert_int_equal (unitkit_accept (fx->unit, "O9", "C9"), 0);
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    codec_msg_reset (&msg);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "O9");
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (!(zsock_events (unitkit_socket (fx->unit)) & ZMQ_POLLIN) && zclock_mono () < deadline)
        zclock_sleep (1);
    unitkit_handle (fx->unit);
    //  the accept waits for a retry; a later reply to the same offer waits
    //  behind it, and the kit sleeps rather than spins meanwhile
    assert_int_equal (unitkit_progress (fx->unit, "O9", "C9", "after the accept"), 0);
    assert_true (unitkit_tick (fx->unit) > 0);
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    assert_string_equal (((Gridcall__V1__Accept *) msg.body)->offer_id, "O9");
    codec_msg_reset (&msg);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    assert_int_equal (fx->events [UNITKIT_REFUSED], 0);
    s_send_ack (fx, "O9", "C9", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    s_send_ack (fx, "O9", "C9", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_ACKED], 2);
}

//  An application busy for longer than three heartbeat intervals: the
//  answers that came meanwhile wait in the socket, and are read before
//  silence is declared, not thrown away with it (each reply resent would
//  be applied again).
static void
test_a_busy_application_keeps_the_answers_that_came (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 50);
    s_send_offer (fx, "O12", "C12");
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    codec_msg_reset (&msg);
    s_send_ack (fx, "O12", "C12", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    zclock_sleep (300);                 //  the kit not turned: 6 intervals
    unitkit_tick (fx->unit);
    assert_int_equal (fx->events [UNITKIT_LOST], 0);
    assert_true (unitkit_connected (fx->unit));
    assert_int_equal (unitkit_outbox_size (fx->unit), 0);
    assert_int_equal (fx->events [UNITKIT_ACKED], 1);
}

//  An ACKED handler that turns the kit while the next answer waits in the
//  socket: the answer is taken once, by the outer call (a nested read
//  deleted the same outbox entry twice).
static void
test_a_handler_may_tick_the_kit (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    s_send_offer (fx, "O13", "C13");
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    codec_msg_reset (&msg);
    assert_int_equal (unitkit_progress (fx->unit, "O13", "C13", "crew on site"), 0);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    fx->tick_on_ack = true;
    s_send_ack (fx, "O13", "C13", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    s_send_ack (fx, "O13", "C13", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_ACKED], 2);
}

//  A unit id dispatch would refuse is refused at once; every call on no
//  kit (a constructor that failed) answers an error, never a crash.
static void
test_bad_ids_and_no_kit (void **state)
{
    (void) state;
    char id [1100];
    memset (id, 'U', sizeof id - 1);
    id [sizeof id - 1] = 0;
    assert_null (unitkit_new ("inproc://test-unitkit-none", id));
    id [UNITKIT_ID_MAX + 1] = 0;
    assert_null (unitkit_new ("inproc://test-unitkit-none", id));
    assert_int_equal (unitkit_accept (NULL, "O1", "C1"), -1);
    assert_int_equal (unitkit_progress (NULL, "O1", "C1", "note"), -1);
    assert_int_equal (unitkit_set_claims (NULL, NULL, NULL, 1), -1);
    assert_int_equal (unitkit_poll (NULL, 0), -1);
    assert_int_equal (unitkit_tick (NULL), -1);
    assert_int_equal (unitkit_handle (NULL), -1);
    assert_int_equal (unitkit_outbox_size (NULL), 0);
    assert_false (unitkit_connected (NULL));
    assert_false (unitkit_socket_changed (NULL));
    assert_null (unitkit_socket (NULL));
    assert_null (unitkit_id (NULL));
    unitkit_set_heartbeat (NULL, 100);
    unitkit_set_offer_handler (NULL, NULL, NULL);
    unitkit_set_event_handler (NULL, NULL, NULL);
    unitkit_set_log_handler (NULL, UNITKIT_LOG_DEBUG, NULL, NULL);
    unitkit_destroy (NULL);
}

static void
test_reconnect_when_dispatch_goes_silent (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 50);
    assert_true (unitkit_socket_changed (fx->unit));
    assert_false (unitkit_socket_changed (fx->unit));
    s_send_offer (fx, "O10", "C10");
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    codec_msg_reset (&msg);
    zframe_t *first = zframe_dup (fx->peer);

    //  dispatch says nothing more: 3 silent intervals and the kit lets go
    UNTIL (fx->events [UNITKIT_LOST] == 1);
    assert_false (unitkit_connected (fx->unit));
    assert_null (unitkit_socket (fx->unit));
    assert_true (unitkit_socket_changed (fx->unit));
    assert_int_equal (unitkit_outbox_size (fx->unit), 1);

    //  a fresh connection says hello again, and resends the unacked accept
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    assert_false (zframe_eq (first, fx->peer));
    zframe_destroy (&first);
    assert_non_null (unitkit_socket (fx->unit));
    s_send_welcome (fx, 1000);
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    assert_string_equal (((Gridcall__V1__Accept *) msg.body)->offer_id, "O10");
    codec_msg_reset (&msg);
    assert_true (unitkit_connected (fx->unit));
    s_send_ack (fx, "O10", "C10", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_WELCOME], 2);
}

//  Several dispatches: a standby's UNAVAILABLE sends the kit to the next
//  endpoint of its list, and so does a leader that stops leading.
static void
test_standby_moves_the_kit_along_its_list (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    zsock_t *a = fx->router;
    zsock_t *b = zsock_new_router ("inproc://test-unitkit-standby");
    assert_non_null (b);
    char list [160];
    snprintf (list, sizeof list, "%s,inproc://test-unitkit-standby", zsock_endpoint (a));
    unitkit_destroy (&fx->unit);
    while (zsock_events (a) & ZMQ_POLLIN)       //  the first kit's hello
        zmsg_destroy (&(zmsg_t *) { zmsg_recv (a) });
    fx->unit = unitkit_new (list, "U01");
    assert_non_null (fx->unit);
    unitkit_set_event_handler (fx->unit, s_on_event, fx);
    unitkit_set_log_handler (fx->unit, UNITKIT_LOG_WARNING, s_on_log, fx);
    codec_msg_t msg;
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "");
    fx->router = b;
    s_handshake (fx, 1000);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "");
    UNTIL (!unitkit_connected (fx->unit));
    fx->router = a;
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    zsock_destroy (&b);
}

static void
test_no_answer_to_hello (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    UNTIL (fx->events [UNITKIT_LOST] == 1);
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    assert_false (unitkit_connected (fx->unit));
}

static void
test_refused_hello_backs_off (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_UNIT, "");
    UNTIL (fx->events [UNITKIT_REJECTED] == 1);
    //  timed from the refusal itself, not from when the loop looked
    int64_t refused = fx->event_at [UNITKIT_REJECTED];
    assert_int_equal (fx->code, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_UNIT);
    assert_false (unitkit_connected (fx->unit));

    //  the next hello waits the back-off, and the one after waits twice as long
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    assert_true (zclock_mono () - refused >= UNITKIT_BACKOFF_MIN_MS);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_UNIT, "");
    UNTIL (fx->events [UNITKIT_REJECTED] == 2);
    refused = fx->event_at [UNITKIT_REJECTED];
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    assert_true (zclock_mono () - refused >= 2 * UNITKIT_BACKOFF_MIN_MS);
    assert_int_equal (fx->events [UNITKIT_LOST], 0);
}

static void
test_dispatch_forgot_us (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    //  a restarted dispatch does not know this connection and says so
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL, "");
    UNTIL (fx->events [UNITKIT_LOST] == 1);
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
}

static void
test_claims_go_with_the_next_hello (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    const char *categories [] = { "env.garbage", NULL };
    const char *grids [] = { "G01", "G02", NULL };
    assert_int_equal (unitkit_set_claims (fx->unit, categories, grids, 3), 0);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL, "");
    UNTIL (fx->events [UNITKIT_LOST] == 1);
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    Gridcall__V1__Hello *hello = (Gridcall__V1__Hello *) msg.body;
    assert_int_equal (hello->n_categories, 1);
    assert_string_equal (hello->categories [0], "env.garbage");
    assert_int_equal (hello->n_grids, 2);
    assert_string_equal (hello->grids [1], "G02");
    assert_int_equal (hello->capacity, 3);
    codec_msg_reset (&msg);
}

static void
test_bad_input_is_ignored (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    zmsg_t *zmsg = zmsg_new ();
    zmsg_append (zmsg, &(zframe_t *) { zframe_dup (fx->peer) });
    zmsg_addstr (zmsg, "offer");
    zmsg_addmem (zmsg, "\xff\xff\xff\xff", 4);
    zmsg_addstr (zmsg, "third frame");
    zmsg_send (&zmsg, fx->router);
    zsock_send (fx->router, "fss", fx->peer, "nonsense", "body");
    zsock_send (fx->router, "fsb", fx->peer, "offer", "\x0a\xff\x01", (size_t) 3);
    s_send_offer (fx, "", "C11");           //  no offer id
    s_send_welcome (fx, 1000);              //  out of turn
    Gridcall__V1__Accept echo = GRIDCALL__V1__ACCEPT__INIT;
    s_send (fx, "accept", &echo.base);      //  a unit's message, out of place
    s_send_ack (fx, "O404", "C404", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    s_send_offer (fx, "O11", "C11");
    assert_int_equal (s_expect (fx, "accept", &msg), 0);
    assert_string_equal (((Gridcall__V1__Accept *) msg.body)->offer_id, "O11");
    codec_msg_reset (&msg);
    assert_int_equal (fx->offers, 1);
    assert_true (unitkit_connected (fx->unit));
    assert_int_equal (fx->events [UNITKIT_ACKED], 0);
    assert_int_equal (fx->events [UNITKIT_WELCOME], 1);
    //  each piece of bad input is one warning through the log hook
    assert_int_equal (fx->warnings, 6);
    assert_non_null (strstr (fx->last_log, "unitkit U01: "));
}

static void
test_replies_wait_for_welcome (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    assert_int_equal (unitkit_accept (fx->unit, "", "C1"), -1);
    assert_int_equal (unitkit_accept (fx->unit, "O1", NULL), -1);
    assert_int_equal (fx->warnings, 2);
    assert_string_equal (fx->last_log, "unitkit U01: accept() refused: empty offer or case id");
    char *long_note = calloc (1, UNITKIT_NOTE_MAX + 2);
    memset (long_note, 'x', UNITKIT_NOTE_MAX + 1);
    assert_int_equal (unitkit_resolve (fx->unit, "O1", "C1", long_note), -1);
    long_note [UNITKIT_NOTE_MAX] = 0;
    assert_int_equal (unitkit_resolve (fx->unit, "O1", "C1", long_note), 0);
    free (long_note);
    assert_int_equal (unitkit_outbox_size (fx->unit), 1);
    assert_int_equal (unitkit_progress (fx->unit, "O12", "C12", "queued before welcome"), 0);
    assert_int_equal (s_expect (fx, "hello", &msg), 0);
    codec_msg_reset (&msg);
    s_send_welcome (fx, 1000);
    assert_int_equal (s_expect (fx, "resolve", &msg), 0);
    codec_msg_reset (&msg);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    assert_string_equal (((Gridcall__V1__Progress *) msg.body)->note, "queued before welcome");
    codec_msg_reset (&msg);
}

//  Text that is not UTF-8 is dispatch's to judge: queued, sent, refused.
static void
test_bad_text_refused_by_dispatch (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    assert_int_equal (unitkit_progress (fx->unit, "O9", "C9", "\xc3\x28"), 0);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_INVALID_UTF8, "O9");
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_REFUSED], 1);
    assert_int_equal (fx->code, GRIDCALL__V1__ERROR_CODE__ERROR_INVALID_UTF8);
    assert_string_equal (fx->kind, "progress");
    assert_non_null (strstr (fx->last_log, "ERROR_INVALID_UTF8"));
}

//  Silence is a choice: without a log hook the kit writes nothing.
static void
test_log_hook_off (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    unitkit_set_log_handler (fx->unit, UNITKIT_LOG_DEBUG, NULL, NULL);
    assert_int_equal (unitkit_accept (fx->unit, "", "C1"), -1);
    assert_int_equal (fx->warnings, 0);
}

//  The kit's own wire table and the cluster's codec_unit name the same
//  message for every type: one conversation, two readers of proto/.
static void
test_wire_matches_the_cluster_codec (void **state)
{
    (void) state;
    const unitkit_wire_type_t *tables [] = { unitkit_wire_from_dispatch, unitkit_wire_to_dispatch };
    size_t kit_types = 0;
    for (size_t t = 0; t < 2; t++)
        for (const unitkit_wire_type_t *k = tables [t]; k->type; k++) {
            const codec_entry_t *c = codec_unit;
            while (c->type && !streq (c->type, k->type))
                c++;
            assert_non_null (c->type);
            assert_ptr_equal (c->desc, k->desc);
            kit_types += t == 0 || !streq (k->type, "heartbeat");     //  both ways: once
        }
    size_t codec_types = 0;
    for (const codec_entry_t *c = codec_unit; c->type; c++)
        codec_types++;
    assert_int_equal (kit_types, codec_types);
    assert_string_equal (unitkit_wire_error_name (GRIDCALL__V1__ERROR_CODE__ERROR_STALE),
                         "ERROR_STALE");
}

//  A body holding a field number 0 (80 00, which protobuf-c would read
//  as an unknown field) is refused by the kit as by the cluster's codec.
static void
test_wire_refuses_field_number_zero (void **state)
{
    (void) state;
    zsock_t *dispatch = zsock_new_pair ("@inproc://kit-field-zero");
    zsock_t *kit = zsock_new_pair (">inproc://kit-field-zero");
    assert_non_null (dispatch);
    assert_non_null (kit);
    static const uint8_t bodies [][3] = { { 0x80, 0x00, 0x04 }, { 0x0a, 0x01, 0x41 } };
    for (size_t i = 0; i < 2; i++) {
        zmsg_t *zmsg = zmsg_new ();
        zmsg_addstr (zmsg, "offer");
        zmsg_addmem (zmsg, bodies [i], sizeof bodies [i]);
        assert_int_equal (zmsg_send (&zmsg, dispatch), 0);
        zpoller_t *poller = zpoller_new (kit, NULL);
        assert_ptr_equal (zpoller_wait (poller, 1000), kit);
        zpoller_destroy (&poller);
        unitkit_wire_msg_t msg;
        assert_int_equal (unitkit_wire_recv (kit, 65536, &msg), 0);
        if (i == 0) {
            assert_null (msg.body);
            assert_non_null (strstr (msg.reason, "not a valid Offer"));
        }
        else
            assert_string_equal (((Gridcall__V1__Offer *) msg.body)->offer_id, "A");
        unitkit_wire_msg_reset (&msg);
    }
    zsock_destroy (&kit);
    zsock_destroy (&dispatch);
}

//  A climb takes the case back: the event says why and where it went; a
//  reply waiting to be retried for that offer is dropped, not sent again.
static void
test_withdrawn_case (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    assert_int_equal (unitkit_progress (fx->unit, "O5", "C5", "crew on site"), 0);
    assert_int_equal (s_expect (fx, "progress", &msg), 0);
    codec_msg_reset (&msg);
    s_send_error (fx, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, "O5");
    assert_int_equal (unitkit_resolve (fx->unit, "O6", "C6", "another case"), 0);
    assert_int_equal (s_expect (fx, "resolve", &msg), 0);       //  the retry waits a second
    codec_msg_reset (&msg);
    assert_int_equal (unitkit_outbox_size (fx->unit), 2);
    Gridcall__V1__Withdrawn w = GRIDCALL__V1__WITHDRAWN__INIT;
    w.case_id = "C5";
    w.offer_id = "O5";
    w.reason = GRIDCALL__V1__WITHDRAW_REASON__WITHDRAW_ESCALATED;
    w.state = GRIDCALL__V1__CASE_STATE__STATE_ESCALATED;
    w.tier = GRIDCALL__V1__TIER__TIER_COMMUNITY;
    w.note = "deadline passed at GRID";
    s_send (fx, "withdrawn", &w.base);
    UNTIL (fx->events [UNITKIT_WITHDRAWN] == 1);
    assert_string_equal (fx->event_offer, "O5");
    assert_int_equal (fx->reason, GRIDCALL__V1__WITHDRAW_REASON__WITHDRAW_ESCALATED);
    assert_int_equal (fx->state, GRIDCALL__V1__CASE_STATE__STATE_ESCALATED);
    assert_int_equal (fx->tier, GRIDCALL__V1__TIER__TIER_COMMUNITY);
    assert_string_equal (fx->note, "deadline passed at GRID");
    //  the progress is gone; the other case's resolve still waits for its ok
    assert_int_equal (unitkit_outbox_size (fx->unit), 1);
    s_send_ack (fx, "O6", "C6", GRIDCALL__V1__CASE_STATE__STATE_RESOLVED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_int_equal (fx->events [UNITKIT_REFUSED], 0);
}

//  A lead's resolve on a joint case: recorded, waiting for the assisting units.
static void
test_joint_ack_says_who_we_wait_for (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    assert_int_equal (unitkit_resolve (fx->unit, "O6", "C6", "our part done"), 0);
    assert_int_equal (s_expect (fx, "resolve", &msg), 0);
    codec_msg_reset (&msg);
    Gridcall__V1__UnitAck ack = GRIDCALL__V1__UNIT_ACK__INIT;
    ack.offer_id = "O6";
    ack.case_id = "C6";
    ack.state = GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED;
    ack.role = "lead";
    ack.waiting_for = 2;
    s_send (fx, "ok", &ack.base);
    UNTIL (fx->events [UNITKIT_ACKED] == 1);
    assert_string_equal (fx->kind, "resolve");
    assert_string_equal (fx->role, "lead");
    assert_int_equal (fx->waiting_for, 2);
    assert_int_equal (fx->state, GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
}

//  Offers re-sent after welcome carry the flag and their real deadline.
static void
test_resent_offers (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    fx->answer = ANSWER_NONE;
    s_handshake (fx, 1000);
    Gridcall__V1__Offer offer = GRIDCALL__V1__OFFER__INIT;
    offer.offer_id = "O3";
    offer.case_id = "C3";
    offer.role = "lead";
    offer.resent = true;
    offer.answer_by_ms = 0;             //  a held case: already ours
    s_send (fx, "offer", &offer.base);
    UNTIL (fx->offers == 1);
    assert_true (fx->offer_resent);
    assert_int_equal (fx->offer_answer_by, 0);
    offer.offer_id = "O4";
    offer.answer_by_ms = 1764000000000;
    s_send (fx, "offer", &offer.base);
    UNTIL (fx->offers == 2);
    assert_true (fx->offer_resent);
    assert_true (fx->offer_answer_by == 1764000000000);
}

//  extend: queued like any reply, on the wire as ExtendRequest, acknowledged.
static void
test_extend (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    assert_int_equal (unitkit_extend (fx->unit, "O2", "C2", 0, "no deadline"), -1);
    assert_int_equal (unitkit_extend (fx->unit, "O2", "C2", 1764000000000, ""), -1);
    assert_int_equal (unitkit_outbox_size (fx->unit), 0);
    s_handshake (fx, 1000);
    assert_int_equal (unitkit_extend (fx->unit, "O2", "C2", 1764000000000, "crane needed"), 0);
    assert_int_equal (s_expect (fx, "extend", &msg), 0);
    Gridcall__V1__ExtendRequest *request = (Gridcall__V1__ExtendRequest *) msg.body;
    assert_string_equal (request->offer_id, "O2");
    assert_string_equal (request->case_id, "C2");
    assert_true (request->until_ms == 1764000000000);
    assert_string_equal (request->reason, "crane needed");
    codec_msg_reset (&msg);
    s_send_ack (fx, "O2", "C2", GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED);
    UNTIL (unitkit_outbox_size (fx->unit) == 0);
    assert_string_equal (fx->kind, "extend");
    assert_int_equal (fx->events [UNITKIT_ACKED], 1);
}

static void
test_bye_on_destroy (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    codec_msg_t msg;
    s_handshake (fx, 1000);
    unitkit_destroy (&fx->unit);
    assert_null (fx->unit);
    assert_int_equal (s_expect (fx, "bye", &msg), 0);
    codec_msg_reset (&msg);
}

//  Two kits in one zpoller, the way unit_sim runs a hundred.
static void
test_two_units_one_poller (void **state)
{
    fixture_t *fx = (fixture_t *) *state;
    unitkit_t *other = unitkit_new (zsock_endpoint (fx->router), "U02");
    assert_non_null (other);
    unitkit_t *units [] = { fx->unit, other };
    zpoller_t *poller = NULL;
    int welcomed = 0;
    int64_t deadline = zclock_mono () + WAIT_MS;
    while (welcomed < 2 && zclock_mono () < deadline) {
        bool changed = !poller;
        for (int i = 0; i < 2; i++)
            changed |= unitkit_socket_changed (units [i]);
        if (changed) {
            zpoller_destroy (&poller);
            poller = zpoller_new (fx->router, NULL);
            for (int i = 0; i < 2; i++)
                if (unitkit_socket (units [i]))
                    zpoller_add (poller, unitkit_socket (units [i]));
        }
        void *which = zpoller_wait (poller, 10);
        if (which == fx->router) {
            codec_msg_t msg;
            assert_int_equal (codec_recv (fx->router, true, codec_unit, 65536, &msg), 0);
            if (streq (msg.type, "hello")) {
                zframe_destroy (&fx->peer);
                fx->peer = zframe_dup (msg.identity);
                s_send_welcome (fx, 1000);
            }
            codec_msg_reset (&msg);
        }
        welcomed = 0;
        for (int i = 0; i < 2; i++) {
            unitkit_handle (units [i]);
            unitkit_tick (units [i]);
            welcomed += unitkit_connected (units [i]);
        }
    }
    assert_int_equal (welcomed, 2);
    zpoller_destroy (&poller);
    unitkit_destroy (&other);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_hello_welcome, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_claims_go_with_the_next_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_heartbeats_flow, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_offer_accept_progress_resolve, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_decline_refused_as_stale, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_error_without_ref_refuses_oldest_reply, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_unavailable_is_retried_in_order, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_reconnect_when_dispatch_goes_silent, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_a_busy_application_keeps_the_answers_that_came, s_setup, s_teardown),
        cmocka_unit_test (test_bad_ids_and_no_kit),
        cmocka_unit_test_setup_teardown (test_a_handler_may_tick_the_kit, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_no_answer_to_hello, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_refused_hello_backs_off, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_dispatch_forgot_us, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_input_is_ignored, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_replies_wait_for_welcome, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bad_text_refused_by_dispatch, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_log_hook_off, s_setup, s_teardown),
        cmocka_unit_test (test_wire_matches_the_cluster_codec),
        cmocka_unit_test (test_wire_refuses_field_number_zero),
        cmocka_unit_test_setup_teardown (test_withdrawn_case, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_joint_ack_says_who_we_wait_for, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_resent_offers, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_extend, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_bye_on_destroy, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_two_units_one_poller, s_setup, s_teardown),
        cmocka_unit_test_setup_teardown (test_standby_moves_the_kit_along_its_list, s_setup,
                                         s_teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
