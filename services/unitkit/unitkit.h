/*  unitkit.h — the responder-unit side of the unit protocol, for a unit
    written in C. The kit connects a DEALER to dispatch, says hello,
    heartbeats, reconnects with back-off, hands offers to a callback and
    keeps every reply until dispatch has acknowledged it (docs/unit-protocol.md).

    One unit, one loop:
        unitkit_t *unit = unitkit_new ("tcp://127.0.0.1:5561", "U01");
        unitkit_set_offer_handler (unit, on_offer, NULL);
        while (unitkit_poll (unit, 1000) == 0)
            ;                   //  on_offer calls unitkit_accept (...)
        unitkit_destroy (&unit);

    Offers carry role "lead" or "assist" (joint handling: an assisting
    unit's unitkit_resolve reports its part; the lead's resolve is
    acknowledged with waiting_for > 0 until every assisting unit has).
    After a reconnect the UNITKIT_WELCOME event lists the cases still held,
    and dispatch sends their offers and every offer still waiting again,
    each with offer->resent set (answer_by_ms 0: a held case, already
    yours). A case taken back from the unit (it climbed a tier, was parked
    or reopened) comes as UNITKIT_WITHDRAWN. unitkit_extend asks for more
    time on a held case.

    Many units in one poller: add each unitkit_socket () to a zpoller, call
    unitkit_handle () on input and unitkit_tick () every turn; rebuild the
    poller when unitkit_socket_changed () says so (see services/unitsim/).
    A kit is not thread-safe; callbacks must not destroy the kit.

    The kit is a client library: it needs the generated code of proto/,
    libczmq, libzmq and libprotobuf-c, nothing of the cluster. Link
    build/libgridcall-unitkit.a -lczmq -lzmq -lprotobuf-c. Every function
    taking the kit returns -1, NULL, 0 or false (or does nothing) when it
    is NULL. It logs through a hook the application
    sets (unitkit_set_log_handler); until then warnings and errors go to
    stderr, one line each, "unitkit U01: ...". */
#ifndef GC_UNITKIT_H
#define GC_UNITKIT_H

#include <czmq.h>
#include <stdbool.h>

#include "gridcall.pb-c.h"
#include "timers.pb-c.h"

#define UNITKIT_PROTOCOL 1          //  Hello.protocol this kit speaks
#define UNITKIT_HEARTBEAT_MS 1000   //  until Welcome says otherwise
#define UNITKIT_LIVENESS 3          //  silent intervals before the peer is gone
#define UNITKIT_BACKOFF_MIN_MS 250  //  first reconnect delay; reset on welcome
#define UNITKIT_BACKOFF_MAX_MS 8000 //  reconnect delay doubles up to this
#define UNITKIT_ID_MAX 64           //  longest offer or case id, bytes (as dispatch)
#define UNITKIT_NOTE_MAX 2000       //  longest note or summary, bytes (dispatch's text_max)
#define UNITKIT_OUTBOX_MAX 4096     //  unacknowledged replies kept at most

typedef struct _unitkit_t unitkit_t;

typedef enum {
    UNITKIT_WELCOME = 1,        //  dispatch took our hello; held_cases set
    UNITKIT_REJECTED,           //  dispatch refused our hello: code, message
    UNITKIT_LOST,               //  dispatch went silent or forgot us; reconnecting
    UNITKIT_ACKED,              //  dispatch committed a reply: kind, ids, state, duplicate
    UNITKIT_REFUSED,            //  dispatch refused a reply for good: kind, ids, code, message
    UNITKIT_WITHDRAWN           //  dispatch took a case back: ids, reason, state, tier, message
} unitkit_event_type_t;

typedef struct {
    unitkit_event_type_t type;  //  what happened
    const char *kind;           //  "accept", "decline", "progress", "resolve", "extend" or NULL
    const char *offer_id;       //  the reply's (WITHDRAWN: the void offer's) id, or NULL
    const char *case_id;        //  the reply's or withdrawn case id, or NULL
    int state;                  //  ACKED, WITHDRAWN: case state after it (GRIDCALL__V1__CASE_STATE__*)
    bool duplicate;             //  ACKED: dispatch had already applied this reply
    const char *role;           //  ACKED: our part, "lead" or "assist" ("" from an older dispatch)
    unsigned waiting_for;       //  ACKED: joint case, assisting units yet to report (0: none)
    int reason;                 //  WITHDRAWN: GRIDCALL__V1__WITHDRAW_REASON__*
    int tier;                   //  WITHDRAWN: the case's tier now (GRIDCALL__V1__TIER__*)
    int code;                   //  REJECTED, REFUSED: GRIDCALL__V1__ERROR_CODE__*
    const char *message;        //  REJECTED, REFUSED, LOST: why; WITHDRAWN: dispatch's note
    char **held_cases;          //  WELCOME: cases we hold (accepted, not resolved)
    size_t held_count;          //  WELCOME: entries in held_cases
} unitkit_event_t;

//  How much a log line matters; a handler gets lines at or above its level.
typedef enum {
    UNITKIT_LOG_DEBUG = 0,      //  every reply sent and message received (not heartbeats)
    UNITKIT_LOG_INFO,           //  sessions starting
    UNITKIT_LOG_NOTICE,         //  sessions lost and retried
    UNITKIT_LOG_WARNING,        //  refusals, bad input from dispatch
    UNITKIT_LOG_ERROR           //  the kit cannot go on as asked (no socket)
} unitkit_log_level_t;

//  Called for each offer; everything in offer is borrowed for the call.
//  Answer now or later with unitkit_accept or unitkit_decline.
typedef void (unitkit_offer_fn) (unitkit_t *unit, const Gridcall__V1__Offer *offer, void *arg);
//  Called for each event above; everything in event is borrowed for the call.
typedef void (unitkit_event_fn) (unitkit_t *unit, const unitkit_event_t *event, void *arg);
//  Called for each log line at or above the handler's level; line is
//  borrowed for the call and has no newline.
typedef void (unitkit_log_fn) (const unitkit_t *unit, unitkit_log_level_t level,
                               const char *line, void *arg);

//  Create a unit that connects to dispatch at endpoint as unit_id and says
//  hello. endpoint may list several dispatches, comma-separated: the kit
//  holds one session at a time and moves to the next when a session ends
//  (one leads; the others answer hello UNAVAILABLE, docs/cluster.md); they
//  share one server key. Returns the kit or NULL (bad arguments, no socket). Without
//  CURVE: only for a dispatch that runs with curve off, on loopback.
unitkit_t *unitkit_new (const char *endpoint, const char *unit_id);
//  The same as a CurveZMQ client: server_key is dispatch's public key, as
//  40 characters of Z85 or a zcert public certificate file (dispatch.key);
//  cert_file is the unit's own secret certificate (U009.key_secret, made
//  by `gridcall keys new U009`; its public key must be bound to "unit
//  U009" in dispatch's principals file). Returns NULL (logged to stderr)
//  when a key cannot be read. docs/unit-protocol.md, "Keys".
unitkit_t *unitkit_new_curve (const char *endpoint, const char *unit_id,
                              const char *server_key, const char *cert_file);
//  Say bye when connected and free the kit. Replies not yet acknowledged
//  are lost: poll until unitkit_outbox_size () is 0 first to be sure.
void unitkit_destroy (unitkit_t **self_p);

//  Install the callbacks. Without an offer handler, offers are declined.
void unitkit_set_offer_handler (unitkit_t *self, unitkit_offer_fn *fn, void *arg);
void unitkit_set_event_handler (unitkit_t *self, unitkit_event_fn *fn, void *arg);
//  Send log lines at level and above to fn (NULL: drop every line). The
//  kit formats a line only when it passes the level.
void unitkit_set_log_handler (unitkit_t *self, unitkit_log_level_t level,
                              unitkit_log_fn *fn, void *arg);
//  Claims for the next hello: categories and grids (NULL-terminated lists,
//  NULL for the whole directory record) and capacity (0 for the
//  directory's). Dispatch refuses a claim beyond the directory with
//  UNITKIT_REJECTED, code NOT_PERMITTED. Returns 0, or -1 out of memory.
int unitkit_set_claims (unitkit_t *self, const char **categories, const char **grids,
                        unsigned capacity);
//  Heartbeat interval until dispatch's Welcome sets it (default 1000 ms).
void unitkit_set_heartbeat (unitkit_t *self, int heartbeat_ms);

//  Replies to an offer. Each is queued, sent when connected, and sent again
//  after a reconnect until dispatch acknowledges it. Returns 0, or -1 when
//  an argument is empty or too long, or the outbox is full. Text that is
//  not UTF-8 is refused by dispatch (UNITKIT_REFUSED, INVALID_UTF8).
int unitkit_accept (unitkit_t *self, const char *offer_id, const char *case_id);
int unitkit_decline (unitkit_t *self, const char *offer_id, const char *case_id,
                     int reason, const char *note);
int unitkit_progress (unitkit_t *self, const char *offer_id, const char *case_id,
                      const char *note);
int unitkit_resolve (unitkit_t *self, const char *offer_id, const char *case_id,
                     const char *summary);
//  Ask for more time on a case we hold (lead): a deadline until_ms (case
//  time, Unix ms) and a reason (required). An operator decides later; the
//  ok says only that the request is recorded. Returns 0 or -1 as above
//  (also for until_ms <= 0 or an empty reason).
int unitkit_extend (unitkit_t *self, const char *offer_id, const char *case_id,
                    int64_t until_ms, const char *reason);

//  One turn for a unit with its own loop: wait up to timeout_ms for input,
//  handle it, then do timers. Returns 0, or -1 when interrupted.
int unitkit_poll (unitkit_t *self, int timeout_ms);

//  For a caller's poller. The current socket, or NULL while waiting to
//  reconnect; borrowed, and replaced on reconnect.
zsock_t *unitkit_socket (unitkit_t *self);
//  True once after each time the socket was replaced or dropped: the caller
//  must rebuild its poller before it waits again.
bool unitkit_socket_changed (unitkit_t *self);
//  Read and handle what the socket holds, without blocking. Returns 0.
int unitkit_handle (unitkit_t *self);
//  Send heartbeats, expire a silent dispatch, reconnect when due, resend
//  replies when due. Returns the milliseconds until it needs to run again.
int unitkit_tick (unitkit_t *self);

//  True between dispatch's welcome and the loss of the connection.
bool unitkit_connected (const unitkit_t *self);
const char *unitkit_id (const unitkit_t *self);
//  Replies not yet acknowledged by dispatch.
size_t unitkit_outbox_size (const unitkit_t *self);

#endif
