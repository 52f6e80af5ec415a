/*  dispatch_reply.c — a loop turn's unit replies, pipelined: check and
    append as they are read, then one flush answers them all in order. */
#include "dispatch_reply.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define ID_MAX CODEC_ID_MAX

typedef struct {
    zframe_t *identity;         //  the unit's peer (owned)
    char unit_id [ID_MAX + 1];
    char type [CODEC_TYPE_MAX];
    char offer_id [ID_MAX + 1];
    char case_id [ID_MAX + 1];
    int code;                   //  refused before Redis: the error, answered in its turn
    char problem [256];
} s_pending_t;

struct _dispatch_reply_t {
    s_pending_t *pending;       //  appended this turn, in order
    size_t count;
    size_t max;
    size_t text_max;
    char scale [32];            //  time_scale as text, for extension requests
    uint64_t committed;
    uint64_t refused;
};

dispatch_reply_t *
dispatch_reply_new (size_t max, size_t text_max, const char *scale)
{
    dispatch_reply_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->pending = calloc (max, sizeof *self->pending);
    if (!self->pending) {
        free (self);
        return NULL;
    }
    self->max = max;
    self->text_max = text_max;
    snprintf (self->scale, sizeof self->scale, "%s", scale);
    return self;
}

void
dispatch_reply_destroy (dispatch_reply_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_reply_t *self = *self_p;
    for (size_t i = 0; i < self->count; i++)
        zframe_destroy (&self->pending [i].identity);
    free (self->pending);
    free (self);
    *self_p = NULL;
}

static const char *
s_decline_reason (int reason)
{
    switch (reason) {
        case GRIDCALL__V1__DECLINE_REASON__DECLINE_NOT_OURS: return "not our responsibility";
        case GRIDCALL__V1__DECLINE_REASON__DECLINE_NO_CAPACITY: return "no capacity";
        case GRIDCALL__V1__DECLINE_REASON__DECLINE_OFF_DUTY: return "off duty";
        default: return "other";
    }
}

int
dispatch_reply_append (dispatch_reply_t *self, store_t *store, void *router,
                       const char *unit_id, codec_msg_t *msg)
{
    const char *offer_id = "", *case_id = "", *note = "", *reason = "";
    char until [24] = "";        //  an extension's requested deadline
    if (strcmp (msg->type, "accept") == 0) {
        Gridcall__V1__Accept *m = (Gridcall__V1__Accept *) msg->body;
        offer_id = m->offer_id; case_id = m->case_id;
    }
    else
    if (strcmp (msg->type, "decline") == 0) {
        Gridcall__V1__Decline *m = (Gridcall__V1__Decline *) msg->body;
        offer_id = m->offer_id; case_id = m->case_id; note = m->note;
        reason = s_decline_reason (m->reason);
        if (!protobuf_c_enum_descriptor_get_value (&gridcall__v1__decline_reason__descriptor,
                                                   (int) m->reason))
            reason = NULL;
    }
    else
    if (strcmp (msg->type, "progress") == 0) {
        Gridcall__V1__Progress *m = (Gridcall__V1__Progress *) msg->body;
        offer_id = m->offer_id; case_id = m->case_id; note = m->note;
    }
    else
    if (strcmp (msg->type, "extend") == 0) {
        Gridcall__V1__ExtendRequest *m = (Gridcall__V1__ExtendRequest *) msg->body;
        offer_id = m->offer_id; case_id = m->case_id; note = m->reason;
        snprintf (until, sizeof until, "%lld", (long long) m->until_ms);
    }
    else {
        Gridcall__V1__Resolve *m = (Gridcall__V1__Resolve *) msg->body;
        offer_id = m->offer_id; case_id = m->case_id; note = m->summary;
    }
    char problem [256];
    int code = 0;
    if (!*offer_id || !*case_id) {
        code = GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
        snprintf (problem, sizeof problem, "offer_id and case_id are required");
    }
    else
    if (!reason) {
        code = GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        snprintf (problem, sizeof problem, "reason %d is not a DeclineReason",
                  (int) ((Gridcall__V1__Decline *) msg->body)->reason);
    }
    else
    if (strcmp (msg->type, "extend") == 0 && !*note) {
        code = GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
        snprintf (problem, sizeof problem, "an extension needs a reason");
    }
    else
    if ((code = codec_check_id ("offer_id", offer_id, ID_MAX, problem, sizeof problem)) == 0
    &&  (code = codec_check_id ("case_id", case_id, ID_MAX, problem, sizeof problem)) == 0
    &&  (code = codec_check_text ("note", note, self->text_max, problem, sizeof problem)) == 0
    &&  strcmp (msg->type, "extend") == 0) {
        //  the transition bounds it by the case clock (at most a year ahead)
        Gridcall__V1__ExtendRequest *m = (Gridcall__V1__ExtendRequest *) msg->body;
        code = codec_check_time ("until_ms", m->until_ms, false, problem, sizeof problem);
    }
    if (code) {
        self->refused++;
        log_warning ("dispatch: %s from unit \"%s\" refused: %s", msg->type, unit_id, problem);
    }
    if (self->count >= self->max) {
        //  the turn is full (the loop reads at most max): answered now
        codec_send_error (router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                          offer_id, "the case store is unavailable; send the same reply again");
        return -1;
    }
    if (!code) {
        //  an extension request is the unit asking the tier for more time
        const char *argv [6] = { case_id, unit_id, offer_id, until, note, self->scale };
        const char *args [6] = { msg->type, unit_id, offer_id, case_id, note, reason };
        if (*until ? store_append (store, "gc_extend_request", 6, argv, NULL)
                   : store_append (store, "gc_unit_reply", 6, args, NULL)) {
            code = GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE;
            snprintf (problem, sizeof problem, "the case store is unavailable; send the same "
                      "reply again");
        }
    }
    //  a refusal waits for the answers before it: a unit pairs each answer
    //  with its replies in the order it sent them (docs/unit-protocol.md)
    s_pending_t *p = &self->pending [self->count++];
    p->identity = zframe_dup (msg->identity);
    snprintf (p->unit_id, sizeof p->unit_id, "%s", unit_id);
    snprintf (p->type, sizeof p->type, "%s", msg->type);
    snprintf (p->offer_id, sizeof p->offer_id, "%s",
              codec_id_valid (offer_id, ID_MAX) ? offer_id : "");
    snprintf (p->case_id, sizeof p->case_id, "%s", codec_id_valid (case_id, ID_MAX) ? case_id : "");
    p->code = code;
    snprintf (p->problem, sizeof p->problem, "%s", code ? problem : "");
    return code ? -1 : 0;
}

size_t
dispatch_reply_pending (const dispatch_reply_t *self)
{
    return self->count;
}

//  Answer one reply; returns false when the unit could not be reached.
static bool
s_answer (dispatch_reply_t *self, void *router, s_pending_t *p, json_t *reply)
{
    if (!reply) {
        codec_send_error (router, p->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                          p->offer_id, "the case store is unavailable; send the same reply again");
        return true;
    }
    if (!json_is_true (json_object_get (reply, "ok"))) {
        const char *code_name = json_string_value (json_object_get (reply, "code"));
        const char *message = json_string_value (json_object_get (reply, "message"));
        int error = codec_error_parse (code_name);
        self->refused++;
        log_info ("dispatch: %s from unit \"%s\" refused: %s", p->type, p->unit_id,
                  message ? message : "?");
        codec_send_error (router, p->identity,
                          error ? error : GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE, p->offer_id,
                          "%s", message ? message : "store error");
        return true;
    }
    Gridcall__V1__UnitAck ack = GRIDCALL__V1__UNIT_ACK__INIT;
    ack.offer_id = p->offer_id;
    ack.case_id = p->case_id;
    ack.state = codec_state_parse (json_string_value (json_object_get (reply, "state")));
    ack.duplicate = json_is_true (json_object_get (reply, "duplicate"));
    //  a joint case: which part this unit plays, and how many assisting
    //  units the case still waits for after a lead's resolve
    const char *role = json_string_value (json_object_get (reply, "role"));
    ack.role = (char *) (role ? role : "lead");
    json_int_t waiting = json_integer_value (json_object_get (reply, "waiting_for"));
    ack.waiting_for = waiting > 0 ? (uint32_t) waiting : 0;
    log_info ("dispatch: unit \"%s\" %s \"%s\"%s", p->unit_id, p->type, p->case_id,
              ack.duplicate ? " (repeat)" : "");
    if (codec_send (router, p->identity, "ok", &ack.base)) {
        log_warning ("dispatch: send \"ok\" to unit \"%s\" failed: %s; unit is gone", p->unit_id,
                     zmq_strerror (zmq_errno ()));
        return false;
    }
    return true;
}

void
dispatch_reply_flush (dispatch_reply_t *self, store_t *store, void *router,
                      dispatch_reply_done_fn *done, void *arg)
{
    for (size_t i = 0; i < self->count; i++) {
        s_pending_t *p = &self->pending [i];
        if (p->code) {
            codec_send_error (router, p->identity, p->code, p->offer_id, "%s", p->problem);
            zframe_destroy (&p->identity);
            continue;
        }
        json_t *reply = store_reply (store);
        bool answered = s_answer (self, router, p, reply);
        if (json_is_true (json_object_get (reply, "ok"))) {
            self->committed++;
            done (arg, p->unit_id, p->case_id, reply, answered);
        }
        json_decref (reply);
        zframe_destroy (&p->identity);
    }
    self->count = 0;
}

uint64_t
dispatch_reply_committed (const dispatch_reply_t *self)
{
    return self->committed;
}

uint64_t
dispatch_reply_refused (const dispatch_reply_t *self)
{
    return self->refused;
}
