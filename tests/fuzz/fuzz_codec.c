/*  fuzz_codec.c — libFuzzer harness for the wire codec (codec.c), the
    unit kit's decoder (unitkit_wire.c) and intake's request checks.
    Each input becomes one ZeroMQ message sent over inproc and read back
    with codec_recv, as a daemon reads it; whatever decodes is re-encoded
    and must decode to the same bytes. See docs/fuzzing.md.

    Input: [flags][type][type bytes...][body...]
      flags bits 0-1: conversation (reporter, unit, work, events)
            bit 2:    ROUTER side (the first frame is the peer identity)
            bit 3:    no body frame
            bit 4:    an extra frame after the body
            bit 5:    a small size limit (TOO_LARGE)
      type  bit 7 set: the conversation's type at index (type & 0x7f);
            else the next (type & 0x3f) bytes are the type frame. */
#include <assert.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#include "codec.h"
#include "intake_check.h"
#include "intake_community.h"
#include "unitkit_wire.h"

#define BODY_MAX (64 * 1024)    //  a daemon's message_max, about
#define TEXT_MAX 2000           //  intake's text_max, about

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

static zsock_t *s_a;            //  the peer
static zsock_t *s_b;            //  the daemon side
static zsock_t *s_kit_peer;     //  dispatch, as the unit kit sees it
static zsock_t *s_kit;          //  the unit kit's socket

static const codec_entry_t *const s_conversations [] = {
    codec_reporter, codec_unit, codec_work, codec_events
};

static void
s_fini (void)
{
    zsock_destroy (&s_kit);
    zsock_destroy (&s_kit_peer);
    zsock_destroy (&s_a);
    zsock_destroy (&s_b);
}

static void
s_init (void)
{
    //  czmq's own SIGINT handler would swallow libFuzzer's stop
    zsys_handler_set (NULL);
    zsys_set_sndhwm (0);
    zsys_set_rcvhwm (0);
    s_b = zsock_new_pair ("@inproc://fuzz-codec");
    s_a = zsock_new_pair (">inproc://fuzz-codec");
    s_kit_peer = zsock_new_pair ("@inproc://fuzz-kit");
    s_kit = zsock_new_pair (">inproc://fuzz-kit");
    assert (s_a && s_b && s_kit_peer && s_kit);
    atexit (s_fini);            //  before czmq's own, which counts leftovers
}

//  Every string of a decoded message (nested and repeated ones too) goes
//  through the text check intake applies, and every enum through its name.
static void
s_walk (const ProtobufCMessage *msg, int depth)
{
    assert (depth < 8);
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    char reason [160];
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields [i];
        const char *at = (const char *) msg + f->offset;
        size_t count = 1;
        const void *const *items = (const void *const *) at;
        if (f->label == PROTOBUF_C_LABEL_REPEATED) {
            count = *(const size_t *) ((const char *) msg + f->quantifier_offset);
            items = *(const void *const *const *) at;
        }
        if (f->type == PROTOBUF_C_TYPE_STRING) {
            for (size_t k = 0; k < count; k++) {
                const char *text = (const char *) items [k];
                int rc = codec_check_text (f->name, text, TEXT_MAX, reason, sizeof reason);
                assert (rc == 0 || *reason);
            }
        }
        else
        if (f->type == PROTOBUF_C_TYPE_MESSAGE) {
            for (size_t k = 0; k < count; k++)
                if (items [k])
                    s_walk ((const ProtobufCMessage *) items [k], depth + 1);
        }
        else
        if (f->type == PROTOBUF_C_TYPE_ENUM && f->label != PROTOBUF_C_LABEL_REPEATED) {
            int value = *(const int *) at;
            assert (codec_tier_name (value) && codec_state_name (value));
            assert (codec_channel_name (value) && codec_error_name (value));
        }
    }
}

//  What intake does with a decoded request before it reaches Redis.
static void
s_intake_check (const char *type, const ProtobufCMessage *body)
{
    char reason [160] = "";
    int rc = 0;
    if (strcmp (type, "report") == 0)
        rc = intake_check_report ((const Gridcall__V1__Report *) body, TEXT_MAX, reason, sizeof reason);
    else
    if (strcmp (type, "verify") == 0)
        rc = intake_check_verify ((const Gridcall__V1__Verify *) body, TEXT_MAX, reason, sizeof reason);
    else
    if (strcmp (type, "evaluate") == 0)
        rc = intake_check_evaluate ((const Gridcall__V1__Evaluate *) body, TEXT_MAX, reason,
                                    sizeof reason);
    else
    if (strcmp (type, "extend.decide") == 0)
        rc = intake_check_decision ((const Gridcall__V1__ExtendDecision *) body, TEXT_MAX, reason,
                                    sizeof reason);
    else
    if (strcmp (type, "park") == 0)
        rc = intake_check_park ((const Gridcall__V1__Park *) body, TEXT_MAX, reason, sizeof reason);
    else
    if (strcmp (type, "unpark") == 0)
        rc = intake_check_unpark ((const Gridcall__V1__Unpark *) body, TEXT_MAX, reason,
                                  sizeof reason);
    else
    if (strcmp (type, "order.decide") == 0)
        rc = intake_check_order ((const Gridcall__V1__OrderDecision *) body, TEXT_MAX, reason,
                                 sizeof reason);
    else
    if (intake_community_kind (type, NULL)) {
        //  the community's requests: checked and built from their field table
        static intake_community_call_t call;
        rc = intake_community_build (type, body, "fuzz", NULL, TEXT_MAX, &call, reason,
                                     sizeof reason);
        intake_community_reset (&call);
    }
    //  a refusal always names a known code and says why
    assert (rc == 0 || (*reason && strcmp (codec_error_name (rc), "UNSPECIFIED") != 0));
}

//  Pack a message into a fresh buffer; the caller frees it.
static uint8_t *
s_pack (const ProtobufCMessage *body, size_t *size)
{
    *size = protobuf_c_message_get_packed_size (body);
    uint8_t *buf = malloc (*size ? *size : 1);
    assert (buf);
    assert (protobuf_c_message_pack (body, buf) == *size);
    return buf;
}

//  Send the frames built from the input to sock.
static void
s_send_frames (zsock_t *sock, bool router, uint8_t flags, const uint8_t *type, size_t type_size,
               const uint8_t *body, size_t body_size)
{
    zmsg_t *zmsg = zmsg_new ();
    if (router)
        zmsg_addmem (zmsg, "peer", 4);
    zmsg_addmem (zmsg, type, type_size);
    if (!(flags & 0x08))
        zmsg_addmem (zmsg, body, body_size);
    if (flags & 0x10)
        zmsg_addmem (zmsg, "x", 1);
    int rc = zmsg_send (&zmsg, sock);
    assert (rc == 0);
}

//  The unit kit reads the same frames as dispatch would send them: it
//  must never crash, and must agree with the codec on what decodes.
static void
s_kit_read (uint8_t flags, const uint8_t *type, size_t type_size,
            const uint8_t *body, size_t body_size, size_t max_bytes, const codec_msg_t *msg)
{
    s_send_frames (s_kit_peer, false, flags, type, type_size, body, body_size);
    unitkit_wire_msg_t kit;
    int rc = unitkit_wire_recv (s_kit, max_bytes, &kit);
    assert (rc == 0);
    assert (kit.body || *kit.reason);
    bool from_dispatch = false;
    for (const unitkit_wire_type_t *e = unitkit_wire_from_dispatch; e->type; e++)
        from_dispatch |= strcmp (e->type, msg->type) == 0;
    //  the kit wants exactly [type][body]; the codec reads a missing body
    //  as an empty one
    bool two_frames = (flags & 0x18) == 0;
    if (from_dispatch && msg->body && two_frames)
        assert (kit.body && strcmp (kit.type, msg->type) == 0);
    //  the cluster refuses a NUL inside a string (BAD_VALUE); the kit,
    //  reading only what dispatch sends, takes the string as it comes
    bool nul_refused = !msg->body && msg->error == GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE
                       && strstr (msg->reason, "NUL");
    if (kit.body && !nul_refused) {
        assert (msg->body);
        size_t a_size, b_size;
        uint8_t *a = s_pack (kit.body, &a_size);
        uint8_t *b = s_pack (msg->body, &b_size);
        assert (a_size == b_size && memcmp (a, b, a_size) == 0);
        free (a);
        free (b);
    }
    unitkit_wire_msg_reset (&kit);
}

static int s_one_input (const uint8_t *data, size_t size);

//  libFuzzer's SIGALRM (its -timeout watch) would interrupt a ZeroMQ call
//  now and then (EINTR, which a daemon's loop retries): hold it back for
//  the input, and let it in after.
int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (!s_a)
        s_init ();
    sigset_t alarm, before;
    sigemptyset (&alarm);
    sigaddset (&alarm, SIGALRM);
    pthread_sigmask (SIG_BLOCK, &alarm, &before);
    int rc = s_one_input (data, size);
    pthread_sigmask (SIG_SETMASK, &before, NULL);
    return rc;
}

static int
s_one_input (const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    uint8_t flags = data [0];
    const codec_entry_t *conversation = s_conversations [flags & 0x03];
    bool router = (flags & 0x04) != 0;
    size_t max_bytes = flags & 0x20 ? 16 : BODY_MAX;
    const uint8_t *type;
    size_t type_size;
    const uint8_t *rest = data + 2;
    size_t rest_size = size - 2;
    if (data [1] & 0x80) {
        size_t entries = 0;
        while (conversation [entries].type)
            entries++;
        type = (const uint8_t *) conversation [(data [1] & 0x7f) % entries].type;
        type_size = strlen ((const char *) type);
    }
    else {
        type_size = data [1] & 0x3f;
        if (type_size > rest_size)
            type_size = rest_size;
        type = rest;
        rest += type_size;
        rest_size -= type_size;
    }
    s_send_frames (s_a, router, flags, type, type_size, rest, rest_size);

    codec_msg_t msg;
    int rc = codec_recv (zsock_resolve (s_b), router, conversation, max_bytes, &msg);
    assert (rc == 0);
    assert (!router || msg.identity);
    if (!msg.body) {
        //  refused: a known code and a reason, answered to the sender
        assert (msg.error && *msg.reason);
        assert (strcmp (codec_error_name (msg.error), "UNSPECIFIED") != 0);
        assert (codec_send_error (zsock_resolve (s_b), msg.identity, msg.error, "ref",
                                  "%s", msg.reason) == 0);
        codec_msg_t answer;
        rc = codec_recv (zsock_resolve (s_a), router, codec_reporter, BODY_MAX, &answer);
        assert (rc == 0 && answer.body && strcmp (answer.type, "error") == 0);
        assert (((Gridcall__V1__Error *) answer.body)->code == (Gridcall__V1__ErrorCode) msg.error);
        codec_msg_reset (&answer);
    }
    else {
        assert (msg.error == 0 && *msg.type);
        s_walk (msg.body, 0);
        if (conversation == codec_reporter)
            s_intake_check (msg.type, msg.body);
        //  what decodes encodes again, and decodes to the same bytes
        size_t first_size;
        uint8_t *first = s_pack (msg.body, &first_size);
        assert (codec_send (zsock_resolve (s_b), NULL, msg.type, msg.body) == 0);
        codec_msg_t again;
        rc = codec_recv (zsock_resolve (s_a), false, conversation, SIZE_MAX, &again);
        assert (rc == 0 && again.body && strcmp (again.type, msg.type) == 0);
        size_t second_size;
        uint8_t *second = s_pack (again.body, &second_size);
        assert (first_size == second_size && memcmp (first, second, first_size) == 0);
        free (first);
        free (second);
        codec_msg_reset (&again);
    }
    if (conversation == codec_unit && !router)
        s_kit_read (flags, type, type_size, rest, rest_size, max_bytes, &msg);
    codec_msg_reset (&msg);
    return 0;
}
