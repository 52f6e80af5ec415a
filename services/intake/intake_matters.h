/*  intake_matters.h — the matter requests intake takes (matters.proto):
    each checked and turned into its store function's arguments
    (75_matters.lua). intake_server.c's kind table names them. */
#ifndef INTAKE_MATTERS_H
#define INTAKE_MATTERS_H

#include <stddef.h>
#include <protobuf-c/protobuf-c.h>

//  One request's transition: the store function's arguments, and the text
//  of the numbers and JSON lists among them.
typedef struct {
    const char *argv [16];
    int argc;
    const char *ref;            //  what the request names: key, case or matter id
    const char *ref2;           //  a second case its rule needs (merge: the duplicate)
    const char *fn;             //  the store function, when the kind has two
    const char *grid;           //  a proposal's grid and channel (auth scope)
    const char *channel;
    const char *area;           //  the sender's community (auth_area), "" street-wide
    char num [4][32];
    char hash [48];             //  a report's content, as its key remembers it
    char channels [256];        //  the sender's channels (auth_channels): matter.evaluate
    char *blob [3];             //  JSON list arguments (owned)
} intake_call_t;

//  What a matter request's arguments need besides its body.
typedef struct {
    size_t text_max;
    const char *scale;          //  time_scale as text
    const char *idem_ttl;
} intake_env_t;

//  Check a decoded body and fill call; who is the sender's principal label.
//  Returns 0, or an error code with reason filled.
typedef int (intake_matter_fn) (const intake_env_t *env, const ProtobufCMessage *body,
                                const char *who, intake_call_t *call, char *reason,
                                size_t reasonlen);

intake_matter_fn intake_matter_propose, intake_matter_promote, intake_meeting_schedule,
                 intake_meeting_agenda,
                 intake_matter_deliberate, intake_matter_notice, intake_matter_vote,
                 intake_matter_tasks, intake_matter_evaluate, intake_matter_close;

//  Free the call's owned arguments; the call may be reused.
void intake_call_free (intake_call_t *call);

#endif
