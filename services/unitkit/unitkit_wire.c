/*  unitkit_wire.c — encode and decode the unit conversation for the kit. */
#include "unitkit_wire.h"

#include <string.h>

const unitkit_wire_type_t unitkit_wire_from_dispatch [] = {
    { "welcome", &gridcall__v1__welcome__descriptor },
    { "heartbeat", &gridcall__v1__heartbeat__descriptor },
    { "offer", &gridcall__v1__offer__descriptor },
    { "withdrawn", &gridcall__v1__withdrawn__descriptor },
    { "ok", &gridcall__v1__unit_ack__descriptor },
    { "error", &gridcall__v1__error__descriptor },
    { NULL, NULL }
};

const unitkit_wire_type_t unitkit_wire_to_dispatch [] = {
    { "hello", &gridcall__v1__hello__descriptor },
    { "heartbeat", &gridcall__v1__heartbeat__descriptor },
    { "bye", &gridcall__v1__heartbeat__descriptor },
    { "accept", &gridcall__v1__accept__descriptor },
    { "decline", &gridcall__v1__decline__descriptor },
    { "progress", &gridcall__v1__progress__descriptor },
    { "resolve", &gridcall__v1__resolve__descriptor },
    { "extend", &gridcall__v1__extend_request__descriptor },
    { NULL, NULL }
};

//  False when msg or a message inside it holds a field number 0: protobuf-c
//  1.4 reads one written in two bytes (80 00) as an unknown field. Such a
//  body is not protobuf; codec.c refuses it too.
static bool
s_field_numbers_valid (const ProtobufCMessage *msg)
{
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields [i].tag == 0)
            return false;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields [i];
        const char *at = (const char *) msg + f->offset;
        const char *quantifier = (const char *) msg + f->quantifier_offset;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE
        || ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *) quantifier != f->id))
            continue;
        size_t count = f->label == PROTOBUF_C_LABEL_REPEATED ? *(const size_t *) quantifier : 1;
        ProtobufCMessage *const *items = f->label == PROTOBUF_C_LABEL_REPEATED
            ? *(ProtobufCMessage *const *const *) at : (ProtobufCMessage *const *) at;
        for (size_t k = 0; k < count; k++)
            if (items [k] && !s_field_numbers_valid (items [k]))
                return false;
    }
    return true;
}

void
unitkit_wire_msg_reset (unitkit_wire_msg_t *msg)
{
    if (msg->body)
        protobuf_c_message_free_unpacked (msg->body, NULL);
    memset (msg, 0, sizeof *msg);
}

int
unitkit_wire_recv (zsock_t *sock, size_t max_bytes, unitkit_wire_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    if (!(zsock_events (sock) & ZMQ_POLLIN))
        return -1;
    zmsg_t *zmsg = zmsg_recv (sock);
    if (!zmsg)
        return -1;
    zframe_t *type = zmsg_first (zmsg);
    zframe_t *body = zmsg_next (zmsg);
    size_t type_size = type ? zframe_size (type) : 0;
    if (type_size > 0 && type_size < UNITKIT_WIRE_TYPE_MAX
    &&  !memchr (zframe_data (type), 0, type_size))
        memcpy (msg->type, zframe_data (type), type_size);
    else
        snprintf (msg->type, sizeof msg->type, "?");
    const unitkit_wire_type_t *entry = NULL;
    for (const unitkit_wire_type_t *e = unitkit_wire_from_dispatch; e->type && !entry; e++)
        if (strcmp (e->type, msg->type) == 0)
            entry = e;
    size_t size = body ? zframe_size (body) : 0;
    if (zmsg_size (zmsg) != 2)
        snprintf (msg->reason, sizeof msg->reason, "expected 2 frames [type][body], got %zu",
                  zmsg_size (zmsg));
    else
    if (!entry)
        snprintf (msg->reason, sizeof msg->reason, "unknown message type");
    else
    if (size > max_bytes)
        snprintf (msg->reason, sizeof msg->reason, "body of %zu bytes exceeds %zu", size, max_bytes);
    else {
        msg->body = protobuf_c_message_unpack (entry->desc, NULL, size, zframe_data (body));
        if (msg->body && !s_field_numbers_valid (msg->body)) {
            protobuf_c_message_free_unpacked (msg->body, NULL);
            msg->body = NULL;
        }
        if (!msg->body)
            snprintf (msg->reason, sizeof msg->reason, "body is not a valid %s",
                      entry->desc->short_name);
    }
    zmsg_destroy (&zmsg);
    return 0;
}

int
unitkit_wire_send (zsock_t *sock, const char *type, const ProtobufCMessage *body)
{
    zmsg_t *zmsg = zmsg_new ();
    zframe_t *frame = zframe_new (NULL, protobuf_c_message_get_packed_size (body));
    if (!zmsg || !frame) {
        zframe_destroy (&frame);
        zmsg_destroy (&zmsg);
        return -1;
    }
    protobuf_c_message_pack (body, zframe_data (frame));
    zmsg_addstr (zmsg, type);
    zmsg_append (zmsg, &frame);
    int rc = zmsg_send (&zmsg, sock);
    zmsg_destroy (&zmsg);       //  still ours when the socket refused it
    return rc;
}

const char *
unitkit_wire_error_name (int code)
{
    const ProtobufCEnumValue *value =
        protobuf_c_enum_descriptor_get_value (&gridcall__v1__error_code__descriptor, code);
    return value ? value->name : "ERROR_UNSPECIFIED";
}
