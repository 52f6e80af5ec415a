/*  intake_server.c — takes reports, verifications and evaluations from a
    ROUTER, checks them, registers them in one Redis function call each
    (pipelined per loop turn), answers, then wakes the next stages. */
#include "intake_server.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "daemon.h"
#include "intake_check.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

typedef enum { REQ_REPORT, REQ_VERIFY, REQ_EVALUATE, REQ_CLOCK } request_kind_t;

typedef struct {
    zframe_t *identity;         //  reporter's routing id (owned)
    request_kind_t kind;
    char ref [INTAKE_KEY_MAX + 1];  //  idempotency key or case id, echoed in errors
} request_t;

struct _intake_server_t {
    const config_t *config;     //  borrowed
    store_t *store;
    zsock_t *router;            //  reporters
    zsock_t *dispatch;          //  PUSH: case.dispatch wake-ups
    zsock_t *notify;            //  PUSH: notify.job wake-ups
    zpoller_t *poller;
    request_t *batch;           //  requests appended to the pipeline this turn
    json_t **replies;           //  their transitions' replies, read before any answer
    int wait_replicas;          //  replicas a report must reach before its answer (WAIT)
    int wait_timeout_ms;
    uint64_t unconfirmed;       //  reports registered but answered "retry": WAIT fell short
    size_t batch_max;
    size_t text_max;
    size_t message_max;
    char scale [32];            //  time_scale as text for the transitions
    char idem_ttl [32];
    uint64_t served;            //  requests answered with success
    uint64_t refused;           //  requests answered with an error
    uint64_t wakes_dropped;     //  wake-ups left to the next stage's sweep
    metrics_t *metrics;         //  counters for GET /metrics
    metrics_http_t *metrics_http;   //  the endpoint, when metrics_port is set
    metric_t *m [5];            //  see s_metrics_update
};

intake_server_t *
intake_server_new (const config_t *config)
{
    intake_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->batch_max = (size_t) config_int (config, "batch_max");
    self->text_max = (size_t) config_int (config, "text_max");
    self->message_max = (size_t) config_int (config, "message_max");
    snprintf (self->scale, sizeof self->scale, "%.17g", config_double (config, "time_scale"));
    snprintf (self->idem_ttl, sizeof self->idem_ttl, "%lld", config_int (config, "idempotency_ttl_s"));
    self->batch = calloc (self->batch_max, sizeof (request_t));
    self->replies = calloc (self->batch_max, sizeof (json_t *));
    self->wait_replicas = (int) config_int (config, "wait_replicas");
    self->wait_timeout_ms = (int) config_int (config, "wait_timeout_ms");
    if (self->wait_replicas && self->wait_timeout_ms >= config_int (config, "redis_timeout_ms")) {
        log_error ("intake: wait_timeout_ms %d must be below redis_timeout_ms %lld",
                   self->wait_timeout_ms, config_int (config, "redis_timeout_ms"));
        intake_server_destroy (&self);
        return NULL;
    }
    self->store = store_new (config, "intake");
    //  a Redis that refuses us is a start-up error; one not up yet is waited for
    if (self->store && store_start (self->store)) {
        intake_server_destroy (&self);
        return NULL;
    }
    self->metrics = metrics_new ("gridcall_intake_");
    self->m [0] = metrics_counter (self->metrics, "requests_total", "requests answered with success");
    self->m [1] = metrics_counter (self->metrics, "refused_total", "requests answered with an error");
    self->m [2] = metrics_counter (self->metrics, "wakeups_dropped_total", "wake-ups left to the next stage sweep");
    self->m [3] = metrics_counter (self->metrics, "redis_failures_total", "Redis connection or call failures");
    self->m [4] = metrics_counter (self->metrics, "unconfirmed_total",
                                   "reports registered but answered retry: fewer than wait_replicas had them");
    self->metrics_http = gc_metrics_serve (config, self->metrics);
    self->router = gc_socket_bind (ZMQ_ROUTER, config_str (config, "bind"), "intake");
    self->dispatch = gc_socket_connect (ZMQ_PUSH, config_str (config, "dispatch_endpoint"), "intake");
    self->notify = gc_socket_connect (ZMQ_PUSH, config_str (config, "notify_endpoint"), "intake");
    if (!self->batch || !self->replies || !self->store || !self->router || !self->dispatch || !self->notify) {
        intake_server_destroy (&self);
        return NULL;
    }
    //  a reply to a reporter that left is dropped, never queued forever
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 10000);
    self->poller = zpoller_new (self->router, NULL);
    log_notice ("intake: serving reporters on %s", config_str (config, "bind"));
    return self;
}

void
intake_server_destroy (intake_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_server_t *self = *self_p;
    metrics_http_stop (&self->metrics_http);
    metrics_destroy (&self->metrics);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->notify);
    zsock_destroy (&self->dispatch);
    zsock_destroy (&self->router);
    store_destroy (&self->store);
    free (self->replies);
    free (self->batch);
    free (self);
    *self_p = NULL;
}

static void
s_refuse (intake_server_t *self, zframe_t *identity, int code, const char *ref, const char *reason)
{
    self->refused++;
    log_info ("intake: refused request \"%s\": %s: %s", ref, codec_error_name (code), reason);
    codec_send_error (self->router, identity, code, ref, "%s", reason);
}

//  One request's transition: the store function's arguments, and the text
//  of the numbers among them.
typedef struct {
    const char *argv [12];
    int argc;
    const char *ref;            //  what the request names: key or case id
    const char *fn;             //  the store function, when the kind has two
    const char *principal;      //  who sent it: the idempotency scope, the audit's "by"
    char num [2][24];
    char hash [48];             //  a report's content, as its key remembers it
} s_call_t;

//  Check a decoded body and fill its call. Returns 0, or an error code
//  with reason filled.
typedef int (s_build_fn) (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                          char *reason, size_t reasonlen);

static int
s_build_report (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                char *reason, size_t reasonlen)
{
    const Gridcall__V1__Report *r = (const Gridcall__V1__Report *) body;
    call->ref = r->idempotency_key;
    int code = intake_check_report (r, self->text_max, reason, reasonlen);
    //  the key remembers what it was used for: the report without its key
    Gridcall__V1__Report content = *r;
    content.idempotency_key = "";
    if (!code && codec_digest (&content.base, call->hash, sizeof call->hash)) {
        snprintf (reason, reasonlen, "out of memory");
        return GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    const char *args [] = { r->idempotency_key, r->grid, r->category, r->text,
        codec_channel_name (r->channel), r->reporter, r->building, r->location,
        self->scale, self->idem_ttl, call->principal, call->hash };
    memcpy (call->argv, args, sizeof args);
    call->argc = 12;
    return code;
}

static int
s_build_verify (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                char *reason, size_t reasonlen)
{
    const Gridcall__V1__Verify *v = (const Gridcall__V1__Verify *) body;
    call->ref = v->case_id;
    const char *args [] = { v->case_id, v->pass ? "1" : "0", v->note, v->verifier, self->scale,
                            call->principal };
    memcpy (call->argv, args, sizeof args);
    call->argc = 6;
    return intake_check_verify (v, self->text_max, reason, reasonlen);
}

static int
s_build_evaluate (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                  char *reason, size_t reasonlen)
{
    const Gridcall__V1__Evaluate *e = (const Gridcall__V1__Evaluate *) body;
    call->ref = e->case_id;
    snprintf (call->num [0], sizeof call->num [0], "%u", e->score);
    const char *args [] = { e->case_id, call->num [0], e->comment, e->resident };
    memcpy (call->argv, args, sizeof args);
    call->argc = 4;
    return intake_check_evaluate (e, self->text_max, reason, reasonlen);
}

static int
s_build_decision (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                  char *reason, size_t reasonlen)
{
    const Gridcall__V1__ExtendDecision *d = (const Gridcall__V1__ExtendDecision *) body;
    static const char *verbs [] = { "", "approve", "refuse", "extend" };
    call->ref = d->case_id;
    int code = intake_check_decision (d, self->text_max, reason, reasonlen);
    if (code)
        return code;            //  verb is checked before it indexes verbs
    snprintf (call->num [0], sizeof call->num [0], "%lld", (long long) d->until_ms);
    const char *args [] = { d->case_id, d->operator_, verbs [d->verb], call->num [0], d->reason,
                            self->scale, call->principal };
    memcpy (call->argv, args, sizeof args);
    call->argc = 7;
    return 0;
}

static int
s_build_park (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
              char *reason, size_t reasonlen)
{
    const Gridcall__V1__Park *k = (const Gridcall__V1__Park *) body;
    call->ref = k->case_id;
    snprintf (call->num [0], sizeof call->num [0], "%lld", (long long) k->review_ms);
    const char *args [] = { k->case_id, k->operator_, call->num [0], k->reason, self->scale,
                            call->principal };
    memcpy (call->argv, args, sizeof args);
    call->argc = 6;
    return intake_check_park (k, self->text_max, reason, reasonlen);
}

static int
s_build_unpark (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
                char *reason, size_t reasonlen)
{
    const Gridcall__V1__Unpark *u = (const Gridcall__V1__Unpark *) body;
    call->ref = u->case_id;
    const char *args [] = { u->case_id, u->operator_, u->reason, self->scale, call->principal };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return intake_check_unpark (u, self->text_max, reason, reasonlen);
}

static int
s_build_order (intake_server_t *self, const ProtobufCMessage *body, s_call_t *call,
               char *reason, size_t reasonlen)
{
    const Gridcall__V1__OrderDecision *o = (const Gridcall__V1__OrderDecision *) body;
    call->ref = o->case_id;
    //  gc_order_place (case, who, by) or gc_order_decline (case, who, reason, by)
    const char *place [] = { o->case_id, o->operator_, call->principal };
    const char *decline [] = { o->case_id, o->operator_, o->reason, call->principal };
    if (o->place)
        memcpy (call->argv, place, sizeof place);
    else
        memcpy (call->argv, decline, sizeof decline);
    call->argc = o->place ? 3 : 4;
    call->fn = o->place ? "gc_order_place" : "gc_order_decline";
    return intake_check_order (o, self->text_max, reason, reasonlen);
}

//  The requests intake takes: message type, kind of answer, the store
//  function, and how its call is checked and built.
static const struct {
    const char *type;
    request_kind_t kind;
    const char *fn;
    s_build_fn *build;
} s_kinds [] = {
    { "report",        REQ_REPORT,   "gc_register",      s_build_report },
    { "verify",        REQ_VERIFY,   "gc_verify",        s_build_verify },
    { "evaluate",      REQ_EVALUATE, "gc_evaluate",      s_build_evaluate },
    { "extend.decide", REQ_CLOCK,    "gc_extend_decide", s_build_decision },
    { "park",          REQ_CLOCK,    "gc_park",          s_build_park },
    { "unpark",        REQ_CLOCK,    "gc_unpark",        s_build_unpark },
    { "order.decide",  REQ_CLOCK,    NULL,               s_build_order },
};

//  Check one decoded request and append its transition to the pipeline.
//  Returns 0 when appended (the batch slot is filled), -1 when answered.
static int
s_queue (intake_server_t *self, codec_msg_t *msg, request_t *req)
{
    char reason [256];
    //  the peer's authenticated identity when the socket has security
    s_call_t call = { .ref = "", .principal = *msg->user_id ? msg->user_id : "anonymous" };
    int code = GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_TYPE;
    int rc = -1;
    snprintf (reason, sizeof reason, "intake does not take \"%s\" messages", msg->type);
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++)
        if (strcmp (msg->type, s_kinds [i].type) == 0) {
            req->kind = s_kinds [i].kind;
            code = s_kinds [i].build (self, msg->body, &call, reason, sizeof reason);
            if (!code)
                rc = store_append (self->store, call.fn ? call.fn : s_kinds [i].fn, call.argc,
                                   call.argv, NULL);
            break;
        }
    const char *ref = call.ref ? call.ref : "";
    //  ref is only echoed when it is a valid id: a bad key is part of the error
    snprintf (req->ref, sizeof req->ref, "%s", codec_id_valid (ref, INTAKE_KEY_MAX) ? ref : "");
    if (code) {
        s_refuse (self, msg->identity, code, req->ref, reason);
        return -1;
    }
    if (rc) {
        s_refuse (self, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, req->ref,
                  "the case store is unavailable; retry with the same idempotency key");
        return -1;
    }
    req->identity = msg->identity;
    msg->identity = NULL;
    return 0;
}

//  Answer one committed request from its transition's reply, then wake the
//  next stages (commit, then send).
static void
s_answer (intake_server_t *self, request_t *req, json_t *reply)
{
    if (!reply) {
        s_refuse (self, req->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, req->ref,
                  "the case store failed during the request; retry with the same key");
        return;
    }
    if (!json_is_true (json_object_get (reply, "ok"))) {
        const char *code = json_string_value (json_object_get (reply, "code"));
        const char *message = json_string_value (json_object_get (reply, "message"));
        int error = codec_error_parse (code);
        s_refuse (self, req->identity, error ? error : GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                  req->ref, message ? message : "store error");
        return;
    }
    const char *case_id = json_string_value (json_object_get (reply, "case_id"));
    int state = codec_state_parse (json_string_value (json_object_get (reply, "state")));
    bool duplicate = json_is_true (json_object_get (reply, "duplicate"));
    if (req->kind == REQ_REPORT) {
        Gridcall__V1__ReportReply out = GRIDCALL__V1__REPORT_REPLY__INIT;
        out.idempotency_key = req->ref;
        out.case_id = (char *) case_id;
        out.ledger_no = (char *) json_string_value (json_object_get (reply, "ledger"));
        out.duplicate = duplicate;
        out.tier = (int) json_integer_value (json_object_get (reply, "tier"));
        out.state = state;
        out.resolve_by_ms = json_integer_value (json_object_get (reply, "resolve_by"));
        codec_send (self->router, req->identity, "report.ok", &out.base);
    }
    else {
        Gridcall__V1__Ack out = GRIDCALL__V1__ACK__INIT;
        out.case_id = (char *) case_id;
        out.state = state;
        out.duplicate = duplicate;
        codec_send (self->router, req->identity, "ack", &out.base);
    }
    self->served++;
    if (!duplicate && (req->kind == REQ_REPORT || json_is_true (json_object_get (reply, "redispatch"))))
        self->wakes_dropped += gc_wake_dispatch (self->dispatch, case_id, reply);
    self->wakes_dropped += gc_wake_notify (self->notify, reply);
}

//  wait_replicas: before this turn's reports are acknowledged, WAIT until
//  that many replicas have them, so a failover cannot lose an acknowledged
//  report. When they do not in time, each report stays registered but its
//  reply becomes an error: the reporter gets UNAVAILABLE and retries with
//  the same key, which finds the case and is confirmed by a later WAIT.
static void
s_confirm (intake_server_t *self, size_t queued)
{
    size_t reports = 0;
    bool wrote_nothing = true;
    for (size_t i = 0; i < queued; i++)
        if (self->batch [i].kind == REQ_REPORT
        &&  json_is_true (json_object_get (self->replies [i], "ok"))) {
            reports++;
            if (!json_is_true (json_object_get (self->replies [i], "duplicate")))
                wrote_nothing = false;
        }
    if (reports == 0)
        return;
    int acked = store_wait (self->store, self->wait_replicas, self->wait_timeout_ms,
                            wrote_nothing);
    if (acked >= self->wait_replicas)
        return;
    log_warning ("intake: %zu report%s registered but reached %d of %d replicas in %d ms; "
                 "answered UNAVAILABLE, the reporters retry", reports, reports == 1 ? "" : "s",
                 acked < 0 ? 0 : acked, self->wait_replicas, self->wait_timeout_ms);
    for (size_t i = 0; i < queued; i++)
        if (self->batch [i].kind == REQ_REPORT
        &&  json_is_true (json_object_get (self->replies [i], "ok"))) {
            json_decref (self->replies [i]);
            self->replies [i] = json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "UNAVAILABLE",
                "message", "registered, but not yet on enough Redis replicas; "
                           "retry with the same idempotency key");
            self->unconfirmed++;
        }
}

//  One loop turn: read what the ROUTER holds (up to batch_max), pipeline
//  the transitions, then read the replies and answer in order.
static void
s_turn (intake_server_t *self)
{
    size_t queued = 0;
    while (queued < self->batch_max && (zsock_events (self->router) & ZMQ_POLLIN)) {
        codec_msg_t msg;
        if (codec_recv (self->router, true, codec_reporter, self->message_max, &msg))
            break;
        if (!msg.body) {
            log_warning ("intake: message \"%s\" refused: %s", msg.type, msg.reason);
            self->refused++;
            codec_send_error (self->router, msg.identity, msg.error, "", "%s", msg.reason);
        }
        else
        if (s_queue (self, &msg, &self->batch [queued]) == 0)
            queued++;
        codec_msg_reset (&msg);
    }
    for (size_t i = 0; i < queued; i++)
        self->replies [i] = store_reply (self->store);
    if (self->wait_replicas)
        s_confirm (self, queued);
    for (size_t i = 0; i < queued; i++) {
        s_answer (self, &self->batch [i], self->replies [i]);
        json_decref (self->replies [i]);
        self->replies [i] = NULL;
        zframe_destroy (&self->batch [i].identity);
    }
}

//  Copy the loop's counters into the metrics registry (cheap atomics).
static void
s_metrics_update (intake_server_t *self)
{
    metric_set (self->m [0], (int64_t) self->served);
    metric_set (self->m [1], (int64_t) self->refused);
    metric_set (self->m [2], (int64_t) self->wakes_dropped);
    metric_set (self->m [3], (int64_t) store_failures (self->store));
    metric_set (self->m [4], (int64_t) self->unconfirmed);
}

int
intake_server_run (intake_server_t *self)
{
    while (!zsys_interrupted) {
        void *which = zpoller_wait (self->poller, 1000);
        if (which == self->router) {
            s_turn (self);
            s_metrics_update (self);
        }
        else
        if (zpoller_terminated (self->poller))
            break;
    }
    log_notice ("intake: stopping; %llu requests served, %llu refused, %llu wake-ups left to sweeps",
                (unsigned long long) self->served, (unsigned long long) self->refused,
                (unsigned long long) self->wakes_dropped);
    return 0;
}
