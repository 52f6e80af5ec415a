/*  codec.h — the one place wire messages are encoded and decoded.
    A message is [type][protobuf body]; a ROUTER adds the peer identity in
    front. Each conversation is a table of the types it carries; a type
    outside the table, an oversized body or bytes that are not the named
    protobuf are reported to the caller as an error code, never a crash. */
#ifndef GC_CODEC_H
#define GC_CODEC_H

#include <czmq.h>
#include <protobuf-c/protobuf-c.h>
#include <stdbool.h>

#include "gridcall.pb-c.h"
#include "timers.pb-c.h"

#define CODEC_TYPE_MAX 32

typedef struct {
    const char *type;                           //  type frame text
    const ProtobufCMessageDescriptor *desc;     //  body's descriptor
} codec_entry_t;

extern const codec_entry_t codec_reporter [];   //  reporter <-> intake
extern const codec_entry_t codec_unit [];       //  unit <-> dispatch
extern const codec_entry_t codec_work [];       //  daemon -> daemon PUSH/PULL
extern const codec_entry_t codec_events [];     //  notify PUB

typedef struct {
    zframe_t *identity;         //  ROUTER peer identity, or NULL
    char type [CODEC_TYPE_MAX]; //  type frame, NUL-terminated
    ProtobufCMessage *body;     //  decoded body, or NULL when error is set
    int error;                  //  GRIDCALL__V1__ERROR_CODE__* when body is NULL
    char reason [160];          //  what was wrong, for the sender and the log
    char user_id [41];          //  the peer's CURVE public key (Z85) as ZAP admitted it; "" without
} codec_msg_t;

//  Receive one message. Returns 0 when a message was read (body set, or
//  error and reason set), -1 when nothing could be read (interrupted).
//  The caller resets msg with codec_msg_reset.
int codec_recv (void *sock, bool router, const codec_entry_t *conversation,
                size_t max_bytes, codec_msg_t *msg);
void codec_msg_reset (codec_msg_t *msg);

//  Send [identity][type][body]; identity may be NULL and is not taken.
//  Returns 0, or -1 when the socket refused (e.g. unroutable peer).
int codec_send (void *sock, zframe_t *identity, const char *type,
                const ProtobufCMessage *body);
//  Send an "error" Error with a formatted message.
int codec_send_error (void *sock, zframe_t *identity, int code, const char *ref,
                      const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));

//  Check a decoded string field: at most max bytes, valid UTF-8. Returns
//  0, or the error code with reason filled.
int codec_check_text (const char *field, const char *text, size_t max,
                      char *reason, size_t reasonlen);
bool codec_utf8_valid (const char *text, size_t len);

//  Names of enum values as the store writes them ("GRID", "ACCEPTED").
const char *codec_tier_name (int tier);
const char *codec_state_name (int state);
int codec_state_parse (const char *name);
const char *codec_channel_name (int channel);
int codec_channel_parse (const char *name);
const char *codec_error_name (int code);
int codec_error_parse (const char *name);

#endif
