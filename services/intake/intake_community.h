/*  intake_community.h — the community's requests (community.proto): each
    message type's fields, how each is checked, and the arguments of its
    gc_community call (verb, who, area, fields in order). One table drives
    the checks and the call, read through the protobuf-c descriptors. */
#ifndef INTAKE_COMMUNITY_H
#define INTAKE_COMMUNITY_H

#include <protobuf-c/protobuf-c.h>
#include <stddef.h>

#include "auth.h"

#define INTAKE_COMMUNITY_ARGS 16    //  most arguments of one gc_community call
#define INTAKE_COMMUNITY_OWNED 4    //  joined lists and JSON texts of one call

//  One request's call: argv points into the message body, num and owned.
typedef struct {
    const char *argv [INTAKE_COMMUNITY_ARGS];
    int argc;
    char num [8][24];               //  numbers as text
    char *owned [INTAKE_COMMUNITY_OWNED];   //  heap texts (lists, JSON); freed by reset
    char area [2048];               //  auth_area of the sender
    const char *ref;                //  the key or id the request names
    const char *grid;               //  the grid the request names, for auth_may ("" none)
} intake_community_call_t;

//  True when type is one of the community's request types; then *action is
//  what its sender must be allowed (auth.h).
int intake_community_kind (const char *type, auth_action_t *action);

//  Check body (of type) and build its call; who is the sender's label and
//  p its principal. Returns 0, or an ERROR_CODE with reason filled.
int intake_community_build (const char *type, const ProtobufCMessage *body, const char *who,
                            const auth_principal_t *p, size_t text_max,
                            intake_community_call_t *call, char *reason, size_t reasonlen);

//  Free what a call owns and clear it.
void intake_community_reset (intake_community_call_t *call);

#endif
