/*  intake_server.c — takes reports, verifications and evaluations from a
    ROUTER, checks them and who sent them (the principal of the CURVE key,
    auth.h), registers them in one Redis function call each (pipelined per
    loop turn), answers, then wakes the next stages. */
#include "intake_server.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "auth.h"
#include "codec.h"
#include "curve.h"
#include "daemon.h"
#include "intake_check.h"
#include "intake_community.h"
#include "intake_http.h"
#include "intake_matters.h"
#include "intake_media.h"
#include "instance.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

typedef enum { REQ_REPORT, REQ_VERIFY, REQ_EVALUATE, REQ_CLOCK, REQ_COMMUNITY, REQ_MATTER }
    request_kind_t;

#define INTAKE_DUPLICATES_MAX 10    //  possible duplicates in a reply (gc_register's bound)
#define SCOPE_IDS_MAX 200       //  case ids per gc_case_scope call (store argument limit)
#define HTTP_ENDPOINT "inproc://intake-http"

//  One request's transition (intake_matters.h).
typedef intake_call_t s_call_t;

//  A request of this turn, from its arrival to its answer.
typedef struct {
    codec_msg_t msg;            //  as decoded; its body holds the call's strings
    int kind_index;             //  entry of s_kinds
    request_kind_t kind;
    s_call_t call;              //  its transition, built and checked
    intake_community_call_t community;  //  a community request's gc_community call
    char who [AUTH_LABEL_MAX];  //  the principal's label: the timeline's who
    bool pending;               //  admitted so far; waits for its case's scope
    zframe_t *identity;         //  reporter's routing id (owned) once appended
    zsock_t *from;              //  the socket it came on, which answers it
    char ref [INTAKE_KEY_MAX + 1];  //  idempotency key or case id, echoed in errors
} request_t;

struct _intake_server_t {
    const config_t *config;     //  borrowed
    store_t *store;
    curve_t *curve;             //  CurveZMQ: keys, zauth, principals
    zsock_t *router;            //  reporters
    zsock_t *http;              //  the HTTP doors' requests (inproc ROUTER), or NULL
    intake_http_t *doors;       //  the HTTP doors, when http_bind is set
    zsock_t *dispatch;          //  PUSH: case.dispatch wake-ups
    zsock_t *notify;            //  PUSH: notify.job wake-ups
    zpoller_t *poller;
    request_t *batch;           //  requests appended to the pipeline this turn
    json_t **replies;           //  their transitions' replies, read before any answer
    int wait_replicas;          //  replicas a report must reach before its answer (WAIT)
    int wait_timeout_ms;
    uint64_t unconfirmed;       //  reports registered but answered "retry": WAIT fell short
    unsigned principal_reloads; //  principals reloads written to the audit chain
    size_t batch_max;
    size_t text_max;
    size_t message_max;
    char scale [32];            //  time_scale as text for the transitions
    char idem_ttl [32];
    intake_env_t env;           //  what matter requests need besides their body
    uint64_t served;            //  requests answered with success
    uint64_t refused;           //  requests answered with an error
    uint64_t wakes_dropped;     //  wake-ups left to the next stage's sweep
    metrics_t *metrics;         //  counters for GET /metrics
    metrics_http_t *metrics_http;   //  the endpoint, when metrics_port is set
    metric_t *m [5];            //  see s_metrics_update
    instance_t *beat;           //  our record for gridcall status
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
    self->env = (intake_env_t) { self->text_max, self->scale, self->idem_ttl };
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
    self->beat = instance_new (config, "intake", "gc_instance_beat");
    self->metrics = metrics_new ("gridcall_intake_");
    self->m [0] = metrics_counter (self->metrics, "requests_total", "requests answered with success");
    self->m [1] = metrics_counter (self->metrics, "refused_total", "requests answered with an error");
    self->m [2] = metrics_counter (self->metrics, "wakeups_dropped_total", "wake-ups left to the next stage sweep");
    self->m [3] = metrics_counter (self->metrics, "redis_failures_total", "Redis connection or call failures");
    self->m [4] = metrics_counter (self->metrics, "unconfirmed_total",
                                   "reports registered but answered retry: fewer than wait_replicas had them");
    self->metrics_http = gc_metrics_serve (config, self->metrics);
    self->curve = curve_new (config, "intake");
    if (self->curve) {
        self->router = curve_bind (self->curve, ZMQ_ROUTER, config_str (config, "bind"),
                                   CURVE_PARTY, self->message_max);
        self->dispatch = curve_connect (self->curve, ZMQ_PUSH, config_str (config, "dispatch_endpoint"),
                                        config_str (config, "dispatch_key"));
        self->notify = curve_connect (self->curve, ZMQ_PUSH, config_str (config, "notify_endpoint"),
                                      config_str (config, "notify_key"));
    }
    if (!self->batch || !self->replies || !self->store || !self->router || !self->dispatch
    ||  !self->notify) {
        intake_server_destroy (&self);
        return NULL;
    }
    //  a reply to a reporter that left is dropped, never queued forever
    zsock_set_router_mandatory (self->router, 0);
    zsock_set_sndhwm (self->router, 10000);
    self->poller = zpoller_new (self->router, NULL);
    //  the HTTP doors: their requests come in beside the ROUTER's
    if (*config_str (config, "http_bind")) {
        self->http = zsock_new_router (HTTP_ENDPOINT);
        if (self->http) {
            zsock_set_router_mandatory (self->http, 0);
            zsock_set_sndhwm (self->http, 10000);
            self->doors = intake_http_new (config, HTTP_ENDPOINT, self->metrics);
        }
        if (!self->doors) {
            intake_server_destroy (&self);
            return NULL;
        }
        zpoller_add (self->poller, self->http);
    }
    log_notice ("intake: serving reporters on %s", config_str (config, "bind"));
    return self;
}

void
intake_server_destroy (intake_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_server_t *self = *self_p;
    intake_http_destroy (&self->doors);
    zsock_destroy (&self->http);
    metrics_http_stop (&self->metrics_http);
    metrics_destroy (&self->metrics);
    instance_destroy (&self->beat);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->notify);
    zsock_destroy (&self->dispatch);
    curve_close (self->curve, &self->router);
    curve_destroy (&self->curve);
    store_destroy (&self->store);
    for (size_t i = 0; self->batch && i < self->batch_max; i++) {
        codec_msg_reset (&self->batch [i].msg);
        intake_community_reset (&self->batch [i].community);
        intake_call_free (&self->batch [i].call);
    }
    free (self->replies);
    free (self->batch);
    free (self);
    *self_p = NULL;
}

static void
s_refuse (intake_server_t *self, zsock_t *sock, zframe_t *identity, int code, const char *ref,
          const char *reason)
{
    self->refused++;
    log_info ("intake: refused request \"%s\": %s: %s", ref, codec_error_name (code), reason);
    codec_send_error (sock, identity, code, ref, "%s", reason);
}

//  Check a decoded body and fill its call; who is the sender's principal
//  (the timeline's who), and the name the client gave goes beside it.
//  Returns 0, or an error code with reason filled.
typedef int (s_build_fn) (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                          s_call_t *call, char *reason, size_t reasonlen);

static int
s_build_report (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Report *r = (const Gridcall__V1__Report *) body;
    call->ref = r->idempotency_key;
    int code = intake_check_report (r, self->text_max, reason, reasonlen);
    if (!code)
        code = intake_media_check_urls (r, reason, reasonlen);
    //  the key remembers what it was used for: the report without its key
    Gridcall__V1__Report content = *r;
    content.idempotency_key = "";
    if (!code && codec_digest (&content.base, call->hash, sizeof call->hash)) {
        snprintf (reason, reasonlen, "out of memory");
        return GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    //  the place, when given: the transition resolves it to a grid
    if (r->point) {
        snprintf (call->num [0], sizeof call->num [0], "%.17g", r->point->lat);
        snprintf (call->num [1], sizeof call->num [1], "%.17g", r->point->lon);
    }
    //  who: the timeline's who, the case's via and the idempotency key's scope
    const char *args [] = { r->idempotency_key, r->grid, r->category, r->text,
        codec_channel_name (r->channel), r->reporter, r->building, r->location,
        self->scale, self->idem_ttl, who, call->hash, call->num [0], call->num [1],
        r->address_id, r->address_string };
    memcpy (call->argv, args, sizeof args);
    call->argc = 16;
    return code;
}

static int
s_build_verify (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Verify *v = (const Gridcall__V1__Verify *) body;
    call->ref = v->case_id;
    const char *args [] = { v->case_id, v->pass ? "1" : "0", v->note, who, self->scale,
                            v->verifier };
    memcpy (call->argv, args, sizeof args);
    call->argc = 6;
    return intake_check_verify (v, self->text_max, reason, reasonlen);
}

static int
s_build_evaluate (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                  s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Evaluate *e = (const Gridcall__V1__Evaluate *) body;
    call->ref = e->case_id;
    snprintf (call->num [0], sizeof call->num [0], "%u", e->score);
    const char *args [] = { e->case_id, call->num [0], e->comment, who, e->resident };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return intake_check_evaluate (e, self->text_max, reason, reasonlen);
}

static int
s_build_decision (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                  s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__ExtendDecision *d = (const Gridcall__V1__ExtendDecision *) body;
    static const char *verbs [] = { "", "approve", "refuse", "extend" };
    call->ref = d->case_id;
    int code = intake_check_decision (d, self->text_max, reason, reasonlen);
    if (code)
        return code;            //  verb is checked before it indexes verbs
    snprintf (call->num [0], sizeof call->num [0], "%lld", (long long) d->until_ms);
    const char *args [] = { d->case_id, who, verbs [d->verb], call->num [0], d->reason,
                            self->scale, d->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 7;
    return 0;
}

static int
s_build_park (intake_server_t *self, const ProtobufCMessage *body, const char *who,
              s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Park *k = (const Gridcall__V1__Park *) body;
    call->ref = k->case_id;
    snprintf (call->num [0], sizeof call->num [0], "%lld", (long long) k->review_ms);
    const char *args [] = { k->case_id, who, call->num [0], k->reason, self->scale,
                            k->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 6;
    return intake_check_park (k, self->text_max, reason, reasonlen);
}

static int
s_build_unpark (intake_server_t *self, const ProtobufCMessage *body, const char *who,
                s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Unpark *u = (const Gridcall__V1__Unpark *) body;
    call->ref = u->case_id;
    const char *args [] = { u->case_id, who, u->reason, self->scale, u->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return intake_check_unpark (u, self->text_max, reason, reasonlen);
}

static int
s_build_order (intake_server_t *self, const ProtobufCMessage *body, const char *who,
               s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__OrderDecision *o = (const Gridcall__V1__OrderDecision *) body;
    call->ref = o->case_id;
    //  gc_order_place (case, who, by) or gc_order_decline (case, who, reason, by)
    const char *place [] = { o->case_id, who, o->operator_ };
    const char *decline [] = { o->case_id, who, o->reason, o->operator_ };
    if (o->place)
        memcpy (call->argv, place, sizeof place);
    else
        memcpy (call->argv, decline, sizeof decline);
    call->argc = o->place ? 3 : 4;
    call->fn = o->place ? "gc_order_place" : "gc_order_decline";
    return intake_check_order (o, self->text_max, reason, reasonlen);
}

static int
s_build_merge (intake_server_t *self, const ProtobufCMessage *body, const char *who,
               s_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__Merge *m = (const Gridcall__V1__Merge *) body;
    call->ref = m->keep_case_id;
    call->ref2 = m->duplicate_case_id;
    const char *args [] = { m->keep_case_id, m->duplicate_case_id, who, m->note, m->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return intake_check_merge (m, self->text_max, reason, reasonlen);
}

//  The requests intake takes: message type, kind of answer, the store
//  function, how its call is checked and built (build, or matter for the
//  matter requests of intake_matters.c), and what its sender must be
//  allowed to do (auth.h); on_case: the rule needs the case's scope. A
//  matter's community is checked by its store function (the sender's
//  area goes with the call). The community's requests are
//  intake_community.c's.
static const struct {
    const char *type;
    request_kind_t kind;
    const char *fn;
    s_build_fn *build;
    auth_action_t action;
    bool on_case;
    intake_matter_fn *matter;
} s_kinds [] = {
    { "report",        REQ_REPORT,   "gc_register",      s_build_report,   AUTH_REPORT,   false, NULL },
    { "verify",        REQ_VERIFY,   "gc_verify",        s_build_verify,   AUTH_VERIFY,   true, NULL },
    { "evaluate",      REQ_EVALUATE, "gc_evaluate",      s_build_evaluate, AUTH_EVALUATE, true, NULL },
    { "extend.decide", REQ_CLOCK,    "gc_extend_decide", s_build_decision, AUTH_DECIDE,   true, NULL },
    { "park",          REQ_CLOCK,    "gc_park",          s_build_park,     AUTH_DECIDE,   true, NULL },
    { "unpark",        REQ_CLOCK,    "gc_unpark",        s_build_unpark,   AUTH_DECIDE,   true, NULL },
    { "order.decide",  REQ_CLOCK,    NULL,               s_build_order,    AUTH_DECIDE,   true, NULL },
    { "merge",         REQ_CLOCK,    "gc_merge",         s_build_merge,    AUTH_DECIDE,   true, NULL },
    { "matter.propose", REQ_MATTER, "gc_matter_propose", NULL, AUTH_PROPOSE, false,
      intake_matter_propose },
    { "matter.promote", REQ_MATTER, "gc_matter_promote", NULL, AUTH_MATTER, false,
      intake_matter_promote },
    { "meeting.schedule", REQ_MATTER, "gc_meeting_schedule", NULL, AUTH_MATTER, false,
      intake_meeting_schedule },
    { "meeting.agenda", REQ_MATTER, "gc_meeting_agenda", NULL, AUTH_MATTER, false,
      intake_meeting_agenda },
    { "matter.deliberate", REQ_MATTER, "gc_matter_deliberate", NULL, AUTH_MATTER, false,
      intake_matter_deliberate },
    { "matter.notice", REQ_MATTER, "gc_matter_notice", NULL, AUTH_MATTER, false,
      intake_matter_notice },
    { "matter.vote", REQ_MATTER, "gc_matter_vote", NULL, AUTH_MATTER, false, intake_matter_vote },
    { "matter.tasks", REQ_MATTER, "gc_matter_tasks", NULL, AUTH_MATTER, false,
      intake_matter_tasks },
    { "matter.evaluate", REQ_MATTER, "gc_matter_evaluate", NULL, AUTH_MATTER_EVALUATE, false,
      intake_matter_evaluate },
    { "matter.close", REQ_MATTER, "gc_matter_close", NULL, AUTH_MATTER, false,
      intake_matter_close },
};

//  Refuse a request its sender may not make: NOT_PERMITTED with the reason
//  to the sender, a warning naming the principal here.
static void
s_forbid (intake_server_t *self, request_t *req, const char *reason)
{
    self->refused++;
    req->pending = false;
    log_warning ("intake: %s \"%s\" from %s refused: NOT_PERMITTED: %s", req->msg.type, req->ref,
                 *req->who ? req->who : "a peer without a principal", reason);
    codec_send_error (req->from, req->msg.identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                      req->ref, "%s", reason);
}

//  A community request (community.proto): its fields checked and its call
//  built, its sender's role allowed the action (auth_may; the area, which
//  needs the directory, is the store's to check). 0 when it goes on, -1
//  when it was answered.
static int
s_check_community (intake_server_t *self, request_t *req, const auth_principal_t *p,
                   auth_action_t action)
{
    char reason [256];
    req->kind = REQ_COMMUNITY;
    req->pending = false;
    int code = intake_community_build (req->msg.type, req->msg.body, req->who, p, self->text_max,
                                       &req->community, reason, sizeof reason);
    const char *ref = req->community.ref ? req->community.ref : "";
    snprintf (req->ref, sizeof req->ref, "%s", codec_id_valid (ref, INTAKE_KEY_MAX) ? ref : "");
    if (code) {
        s_refuse (self, req->from, req->msg.identity, code, req->ref, reason);
        return -1;
    }
    auth_scope_t scope = { *req->community.grid ? req->community.grid : NULL, NULL, NULL, NULL, NULL };
    if (!auth_may (p, action, &scope, reason, sizeof reason)) {
        s_forbid (self, req, reason);
        return -1;
    }
    return 0;
}

//  What one decoded request may go on to: its body checked and its call
//  built, its sender a principal, a report within its sender's grids and
//  channels. Returns 0 when it goes on (a rule on its case may still refuse
//  it), -1 when it was answered.
static int
s_check (intake_server_t *self, request_t *req)
{
    codec_msg_t *msg = &req->msg;
    char reason [256];
    int code = GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_TYPE;
    snprintf (reason, sizeof reason, "intake does not take \"%s\" messages", msg->type);
    const auth_principal_t *p = curve_principal (self->curve, msg->user_id);
    snprintf (req->who, sizeof req->who, "%s", p ? p->label : "");
    intake_call_free (&req->call);
    memset (&req->call, 0, sizeof req->call);
    req->call.ref = "";
    req->call.area = auth_community_area (p);
    auth_channels (p, req->call.channels, sizeof req->call.channels);
    req->kind_index = -1;
    auth_action_t action;
    if (intake_community_kind (msg->type, &action))
        return s_check_community (self, req, p, action);
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++)
        if (strcmp (msg->type, s_kinds [i].type) == 0) {
            req->kind_index = (int) i;
            req->kind = s_kinds [i].kind;
            code = s_kinds [i].matter
                 ? s_kinds [i].matter (&self->env, msg->body, req->who, &req->call, reason,
                                       sizeof reason)
                 : s_kinds [i].build (self, msg->body, req->who, &req->call, reason, sizeof reason);
            break;
        }
    const char *ref = req->call.ref ? req->call.ref : "";
    //  ref is only echoed when it is a valid id: a bad key is part of the error
    snprintf (req->ref, sizeof req->ref, "%s", codec_id_valid (ref, INTAKE_KEY_MAX) ? ref : "");
    if (code) {
        s_refuse (self, req->from, msg->identity, code, req->ref, reason);
        return -1;
    }
    auth_scope_t scope = { NULL, NULL, NULL, NULL, NULL };
    if (req->kind == REQ_REPORT) {
        const Gridcall__V1__Report *r = (const Gridcall__V1__Report *) msg->body;
        scope.grid = r->grid;
        scope.channel = codec_channel_name (r->channel);
    }
    else
    if (req->kind == REQ_MATTER) {
        scope.grid = req->call.grid;
        scope.channel = req->call.channel;
    }
    //  a case's rule waits for its scope; who has no principal waits for nothing
    if ((!s_kinds [req->kind_index].on_case || !p)
    &&  !auth_may (p, s_kinds [req->kind_index].action, &scope, reason, sizeof reason)) {
        s_forbid (self, req, reason);
        return -1;
    }
    req->pending = s_kinds [req->kind_index].on_case && p->role != AUTH_ROLE_LOCAL;
    return 0;
}

//  Admit or refuse the requests that wait for their case's scope: one
//  gc_case_scope call per SCOPE_IDS_MAX of them. A refused request is
//  answered and leaves the turn (live [i] false).
static void
s_scope (intake_server_t *self, request_t *batch, size_t count, bool *live)
{
    size_t first = 0;
    while (first < count) {
        const char *ids [SCOPE_IDS_MAX];
        size_t n = 0, last = first;
        for (; last < count && n + 2 <= SCOPE_IDS_MAX; last++)
            if (live [last] && batch [last].pending) {
                ids [n++] = batch [last].call.ref;
                if (batch [last].call.ref2)
                    ids [n++] = batch [last].call.ref2;
            }
        json_t *reply = n ? store_call (self->store, "gc_case_scope", (int) n, ids, NULL) : NULL;
        json_t *cases = json_is_true (json_object_get (reply, "ok"))
                      ? json_object_get (reply, "cases") : NULL;
        for (size_t i = first; i < last; i++) {
            request_t *req = &batch [i];
            if (!live [i] || !req->pending)
                continue;
            json_t *c = json_object_get (cases, req->call.ref);
            //  a merge: the operator's area must hold both cases
            const char *ref2 = req->call.ref2;
            json_t *c2 = ref2 ? json_object_get (cases, ref2) : c;
            char reason [256];
            auth_scope_t scope = {
                json_string_value (json_object_get (c, "grid")),
                json_string_value (json_object_get (c, "community")),
                json_string_value (json_object_get (c, "channel")),
                json_string_value (json_object_get (c, "via")), NULL
            };
            auth_scope_t scope2 = {
                json_string_value (json_object_get (c2, "grid")),
                json_string_value (json_object_get (c2, "community")),
                json_string_value (json_object_get (c2, "channel")),
                json_string_value (json_object_get (c2, "via")), NULL
            };
            const auth_principal_t *p = curve_principal (self->curve, req->msg.user_id);
            live [i] = false;
            //  Redis refused the read (the store's code: INTERNAL, with the
            //  detail in the log), or could not be reached
            const char *code = json_string_value (json_object_get (reply, "code"));
            if (!cases && reply && code && codec_error_parse (code) > 0)
                s_refuse (self, req->from, req->msg.identity, codec_error_parse (code), req->ref,
                          json_string_value (json_object_get (reply, "message"))
                          ? json_string_value (json_object_get (reply, "message")) : code);
            else
            if (!cases)
                s_refuse (self, req->from, req->msg.identity,
                          GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, req->ref,
                          "the case store is unavailable; retry");
            else
            if (!c)
                s_refuse (self, req->from, req->msg.identity,
                          GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_CASE, req->ref,
                          "no case with this id");
            else
            if (!c2) {
                snprintf (reason, sizeof reason, "no case %s", ref2);
                s_refuse (self, req->from, req->msg.identity,
                          GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_CASE, req->ref, reason);
            }
            else
            if (!auth_may (p, s_kinds [req->kind_index].action, &scope, reason, sizeof reason)
            ||  !auth_may (p, s_kinds [req->kind_index].action, &scope2, reason, sizeof reason))
                s_forbid (self, req, reason);
            else
                live [i] = true;
        }
        json_decref (reply);
        first = last;
    }
}

//  Answer a committed matter request (matter.ok), then wake dispatch for
//  the task cases it registered and notify for its jobs.
static void
s_answer_matter (intake_server_t *self, request_t *req, json_t *reply)
{
    Gridcall__V1__MatterAck out = GRIDCALL__V1__MATTER_ACK__INIT;
    json_t *ids = json_object_get (reply, "case_ids");
    size_t n = json_array_size (ids);
    char *case_ids [n ? n : 1];
    for (size_t i = 0; i < n; i++)
        case_ids [i] = (char *) json_string_value (json_array_get (ids, i));
    out.matter_id = (char *) json_string_value (json_object_get (reply, "matter_id"));
    out.stage = (char *) json_string_value (json_object_get (reply, "stage"));
    out.step = (char *) json_string_value (json_object_get (reply, "step"));
    out.result = (char *) json_string_value (json_object_get (reply, "result"));
    out.duplicate = json_is_true (json_object_get (reply, "duplicate"));
    out.n_case_ids = n;
    out.case_ids = n ? case_ids : NULL;
    if (!out.matter_id)
        out.matter_id = "";
    if (!out.stage)
        out.stage = "";
    if (!out.step)
        out.step = "";
    if (!out.result)
        out.result = "";
    for (size_t i = 0; i < n; i++)
        if (!case_ids [i])
            case_ids [i] = "";
    codec_send (req->from, req->identity, "matter.ok", &out.base);
    self->served++;
    size_t i;
    json_t *task;
    //  a task registration recorded waiting needs no dispatch round now
    json_array_foreach (json_object_get (reply, "tasks"), i, task)
        if (!json_is_string (json_object_get (task, "waiting")))
            self->wakes_dropped += gc_wake_dispatch (self->dispatch,
                                                     json_string_value (json_object_get (task, "case_id")),
                                                     task);
    self->wakes_dropped += gc_wake_notify (self->notify, reply);
}

//  How many photos (media_urls) a request carries: a report's.
static size_t
s_media_count (const request_t *req)
{
    const Gridcall__V1__Report *r = req->kind == REQ_REPORT
                                  ? (const Gridcall__V1__Report *) req->msg.body : NULL;
    return r ? r->n_media_urls : 0;
}

//  A new report's photos recorded on its case before it is answered.
//  Returns 0, or -1 when Redis did not take them.
static int
s_media (intake_server_t *self, request_t *req, const char *case_id)
{
    const Gridcall__V1__Report *r = (const Gridcall__V1__Report *) req->msg.body;
    if (s_media_count (req) == 0 || !case_id)
        return 0;
    const char *argv [2 + INTAKE_MEDIA_URLS_MAX];
    int argc = 0;
    argv [argc++] = case_id;
    argv [argc++] = req->who;
    for (size_t i = 0; i < r->n_media_urls && i < INTAKE_MEDIA_URLS_MAX; i++)
        argv [argc++] = r->media_urls [i];
    json_t *reply = store_call (self->store, "gc_case_media", argc, argv, NULL);
    int rc = json_is_true (json_object_get (reply, "ok")) ? 0 : -1;
    if (rc)
        log_warning ("intake: case %s: photos not recorded: %s", case_id,
                     reply ? json_string_value (json_object_get (reply, "message"))
                           : "Redis unreachable");
    json_decref (reply);
    return rc;
}

//  A string member of a transition's reply, "" when absent.
static const char *
s_str (json_t *reply, const char *key)
{
    const char *value = json_string_value (json_object_get (reply, key));
    return value ? value : "";
}

//  Answer one committed request from its transition's reply, then wake the
//  next stages (commit, then send).
static void
s_answer (intake_server_t *self, request_t *req, json_t *reply)
{
    if (!reply) {
        s_refuse (self, req->from, req->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                  req->ref, "the case store failed during the request; retry with the same key");
        return;
    }
    if (!json_is_true (json_object_get (reply, "ok"))) {
        const char *code = json_string_value (json_object_get (reply, "code"));
        const char *message = json_string_value (json_object_get (reply, "message"));
        int error = codec_error_parse (code);
        s_refuse (self, req->from, req->identity,
                  error ? error : GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, req->ref,
                  message ? message : "store error");
        return;
    }
    if (req->kind == REQ_MATTER) {
        s_answer_matter (self, req, reply);
        return;
    }
    if (req->kind == REQ_COMMUNITY) {
        Gridcall__V1__CommunityAck out = GRIDCALL__V1__COMMUNITY_ACK__INIT;
        const char *id = json_string_value (json_object_get (reply, "id"));
        const char *status = json_string_value (json_object_get (reply, "status"));
        const char *note = json_string_value (json_object_get (reply, "note"));
        out.ref = req->ref;
        out.id = (char *) (id ? id : "");
        out.status = (char *) (status ? status : "");
        out.note = (char *) (note ? note : "");
        out.duplicate = json_is_true (json_object_get (reply, "duplicate"));
        codec_send (req->from, req->identity, "community.ok", &out.base);
        self->served++;
        return;
    }
    const char *case_id = json_string_value (json_object_get (reply, "case_id"));
    int state = codec_state_parse (json_string_value (json_object_get (reply, "state")));
    bool duplicate = json_is_true (json_object_get (reply, "duplicate"));
    if (req->kind == REQ_REPORT && s_media (self, req, case_id)) {
        s_refuse (self, req->from, req->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                  req->ref, "registered, but its photos were not recorded; retry with the same "
                  "idempotency key");
        return;
    }
    if (req->kind == REQ_REPORT) {
        Gridcall__V1__ReportReply out = GRIDCALL__V1__REPORT_REPLY__INIT;
        out.idempotency_key = req->ref;
        out.case_id = (char *) case_id;
        out.ledger_no = (char *) json_string_value (json_object_get (reply, "ledger"));
        out.duplicate = duplicate;
        out.tier = (int) json_integer_value (json_object_get (reply, "tier"));
        out.state = state;
        out.resolve_by_ms = json_integer_value (json_object_get (reply, "resolve_by"));
        out.grid = (char *) s_str (reply, "grid");
        out.building = (char *) s_str (reply, "building");
        json_t *near = json_object_get (reply, "possible_duplicates");
        char *ids [INTAKE_DUPLICATES_MAX];
        size_t index;
        json_t *id;
        json_array_foreach (near, index, id)
            if (json_is_string (id) && out.n_possible_duplicates < INTAKE_DUPLICATES_MAX)
                ids [out.n_possible_duplicates++] = (char *) json_string_value (id);
        out.possible_duplicates = ids;
        codec_send (req->from, req->identity, "report.ok", &out.base);
    }
    else {
        Gridcall__V1__Ack out = GRIDCALL__V1__ACK__INIT;
        out.case_id = (char *) case_id;
        out.state = state;
        out.duplicate = duplicate;
        codec_send (req->from, req->identity, "ack", &out.base);
    }
    self->served++;
    //  a report no ready unit could take was recorded as waiting by
    //  gc_register: dispatch's sweep and the next unit's hello find it
    if (!duplicate && ((req->kind == REQ_REPORT && !json_is_string (json_object_get (reply, "waiting")))
                       || json_is_true (json_object_get (reply, "redispatch"))))
        self->wakes_dropped += gc_wake_dispatch (self->dispatch, case_id, reply);
    self->wakes_dropped += gc_wake_notify (self->notify, reply);
}

//  wait_replicas: before this turn's reports are acknowledged, WAIT until
//  that many replicas have them, so a failover cannot lose an acknowledged
//  report. When they do not in time, each report stays registered but its
//  reply becomes an error: the reporter gets UNAVAILABLE and retries with
//  the same key, which finds the case and is confirmed by a later WAIT.
static void
s_confirm (intake_server_t *self, size_t count, const bool *live)
{
    size_t reports = 0;
    bool wrote_nothing = true;
    for (size_t i = 0; i < count; i++)
        if (live [i] && self->batch [i].kind == REQ_REPORT
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
    for (size_t i = 0; i < count; i++)
        if (live [i] && self->batch [i].kind == REQ_REPORT
        &&  json_is_true (json_object_get (self->replies [i], "ok"))) {
            json_decref (self->replies [i]);
            self->replies [i] = json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "UNAVAILABLE",
                "message", "registered, but not yet on enough Redis replicas; "
                           "retry with the same idempotency key");
            self->unconfirmed++;
        }
}

//  Receive one request from sock. The HTTP doors' requests end in a frame
//  of their own: the "sha256:<hex>" id of the API key they came with,
//  which names their principal as a CURVE key names a ZeroMQ reporter's.
static int
s_recv (intake_server_t *self, zsock_t *sock, codec_msg_t *msg)
{
    if (sock != self->http)
        return codec_recv (sock, true, codec_reporter, self->message_max, msg);
    zmsg_t *zmsg = zmsg_recv (sock);
    if (!zmsg)
        return -1;
    zframe_t *who = zmsg_size (zmsg) == 4 ? zmsg_last (zmsg) : NULL;
    char id [CODEC_USER_ID_MAX] = "";
    if (who && zframe_size (who) < sizeof id)
        memcpy (id, zframe_data (who), zframe_size (who));
    if (who) {
        zmsg_remove (zmsg, who);
        zframe_destroy (&who);
    }
    int rc = codec_decode (&zmsg, true, codec_reporter, self->message_max, msg);
    //  only an API key's id: an empty one would be the anonymous principal
    if (strncmp (id, AUTH_API_PREFIX, strlen (AUTH_API_PREFIX)) == 0)
        snprintf (msg->user_id, sizeof msg->user_id, "%s", id);
    else
        snprintf (msg->user_id, sizeof msg->user_id, "%s", "sha256:none");
    return rc;
}

//  Answer request i of the turn from its reply, and let it go.
static void
s_finish (intake_server_t *self, size_t i, bool live)
{
    request_t *req = &self->batch [i];
    if (live) {
        s_answer (self, req, self->replies [i]);
        json_decref (self->replies [i]);
        self->replies [i] = NULL;
        zframe_destroy (&req->identity);
    }
    codec_msg_reset (&req->msg);
    intake_community_reset (&req->community);
}

//  One loop turn: read what the ROUTER holds (up to batch_max), check
//  each request and its sender, read the scope of the cases the rules
//  need, pipeline the admitted transitions, then read the replies and
//  answer in order.
static void
s_turn (intake_server_t *self)
{
    size_t count = 0;
    bool live [self->batch_max];
    bool scoped = false;
    //  the ROUTER's reporters, then the HTTP doors' requests, in one batch
    zsock_t *socks [2] = { self->router, self->http };
    for (int k = 0; k < 2 && socks [k]; k++)
    while (count < self->batch_max && (zsock_events (socks [k]) & ZMQ_POLLIN)) {
        request_t *req = &self->batch [count];
        if (s_recv (self, socks [k], &req->msg))
            break;
        req->from = socks [k];
        if (!req->msg.body) {
            log_warning ("intake: message \"%s\" refused: %s", req->msg.type, req->msg.reason);
            self->refused++;
            codec_send_error (req->from, req->msg.identity, req->msg.error, "", "%s",
                              req->msg.reason);
        }
        else
        if (s_check (self, req) == 0) {
            scoped |= req->pending;
            live [count++] = true;
            continue;
        }
        codec_msg_reset (&req->msg);
    }
    //  before the pipeline: its replies are read in order
    if (scoped)
        s_scope (self, self->batch, count, live);
    for (size_t i = 0; i < count; i++) {
        request_t *req = &self->batch [i];
        if (!live [i])
            continue;
        int rc;
        if (req->kind == REQ_COMMUNITY)
            rc = store_append (self->store, "gc_community", req->community.argc,
                               req->community.argv, NULL);
        else
            rc = store_append (self->store, req->call.fn ? req->call.fn : s_kinds [req->kind_index].fn,
                               req->call.argc, req->call.argv, NULL);
        if (rc) {
            s_refuse (self, req->from, req->msg.identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                      req->ref, "the case store is unavailable; retry with the same idempotency key");
            live [i] = false;
            continue;
        }
        req->identity = req->msg.identity;
        req->msg.identity = NULL;
    }
    //  each request is answered as soon as its reply is read (committed,
    //  then sent), in order, until one needs a call of its own to answer (a
    //  report's photos): it and the rest wait until every reply is read.
    //  With wait_replicas, every answer waits for the turn's WAIT.
    size_t answered = 0;
    bool stream = self->wait_replicas == 0;
    for (size_t i = 0; i < count; i++) {
        self->replies [i] = live [i] ? store_reply (self->store) : NULL;
        if (stream && live [i] && s_media_count (&self->batch [i]) > 0)
            stream = false;
        if (stream)
            s_finish (self, i, live [i]);
        answered += stream;
    }
    if (self->wait_replicas)
        s_confirm (self, count, live);
    for (size_t i = answered; i < count; i++)
        s_finish (self, i, live [i]);
}

//  A principals file taken: one entry in the audit chain (intake writes it
//  for every daemon, which all read the same file).
static void
s_audit_principals (intake_server_t *self)
{
    const char *path, *note;
    unsigned reloads = curve_reloads (self->curve, &path, &note);
    if (reloads == self->principal_reloads)
        return;
    json_t *reply = store_callv (self->store, "gc_audit_add", "daemon:intake",
                                 "principals.reload", path, note, NULL);
    if (json_is_true (json_object_get (reply, "ok")))
        self->principal_reloads = reloads;     //  else tried again next turn
    json_decref (reply);
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
        void *which = zpoller_wait (self->poller, 500);
        if (which == self->router || (which && which == self->http)) {
            s_turn (self);
            s_metrics_update (self);
        }
        else
        if (zpoller_terminated (self->poller))
            break;
        //  a revoked key: its next request finds no principal
        curve_tick (self->curve);
        if (self->beat && instance_due (self->beat, gc_mono_ms ()))
            instance_beat (self->beat, self->store, json_pack ("{s:s, s:I, s:I}",
                "role", "active", "served", (json_int_t) self->served,
                "refused", (json_int_t) self->refused));
        s_audit_principals (self);
    }
    log_notice ("intake: stopping; %llu requests served, %llu refused, %llu wake-ups left to sweeps",
                (unsigned long long) self->served, (unsigned long long) self->refused,
                (unsigned long long) self->wakes_dropped);
    return 0;
}
