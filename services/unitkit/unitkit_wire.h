/*  unitkit_wire.h — the unit conversation on the wire, as the kit speaks
    it: [type][protobuf body] over a DEALER, with the types the kit takes
    from dispatch in one table. Depends on the generated protobuf-c code
    of proto/ and on czmq only, so the kit links without the cluster. */
#ifndef GC_UNITKIT_WIRE_H
#define GC_UNITKIT_WIRE_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>

#include "gridcall.pb-c.h"
#include "timers.pb-c.h"

#define UNITKIT_WIRE_TYPE_MAX 32    //  longest type frame, with its NUL

//  One message type: its type frame and the protobuf it carries.
typedef struct {
    const char *type;                           //  type frame text
    const ProtobufCMessageDescriptor *desc;     //  body's descriptor
} unitkit_wire_type_t;

//  What dispatch sends a unit ("welcome", "offer", "ok", ...); NULL-ended.
extern const unitkit_wire_type_t unitkit_wire_from_dispatch [];
//  What a unit sends dispatch ("hello", "accept", "extend", ...); NULL-ended.
extern const unitkit_wire_type_t unitkit_wire_to_dispatch [];

//  One message read from dispatch.
typedef struct {
    char type [UNITKIT_WIRE_TYPE_MAX];  //  type frame, NUL-terminated ("?" if unreadable)
    ProtobufCMessage *body;             //  decoded body, or NULL when reason says why
    char reason [128];                  //  what was wrong, for a log line
} unitkit_wire_msg_t;

//  Read one message without blocking and decode it by
//  unitkit_wire_from_dispatch. Returns 0 when a message was read (body
//  set, or reason set), -1 when there was none. Free with
//  unitkit_wire_msg_reset.
int unitkit_wire_recv (zsock_t *sock, size_t max_bytes, unitkit_wire_msg_t *msg);
void unitkit_wire_msg_reset (unitkit_wire_msg_t *msg);
//  Send [type][body]; the kit's sockets have a send timeout of 0, so this
//  never blocks. Returns 0, or -1 when the socket refused it.
int unitkit_wire_send (zsock_t *sock, const char *type, const ProtobufCMessage *body);

//  The proto's name of an ErrorCode ("ERROR_STALE"), for log lines.
const char *unitkit_wire_error_name (int code);

#endif
