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

#include "community.pb-c.h"
#include "gridcall.pb-c.h"
#include "timers.pb-c.h"
#include "matters.pb-c.h"

#define CODEC_TYPE_MAX 32
//  Ids and codes on the wire (case, unit, offer ids; grid, building,
//  community, category codes) use the directory's charset, A-Z a-z 0-9 . _ -
//  (docs/directory.md), so an id is safe inside a Redis key and a log line.
#define CODEC_ID_MAX 64         //  bytes of an id or code
#define CODEC_KEY_MAX 128       //  bytes of an idempotency key (same charset)
#define CODEC_NAME_MAX 128      //  bytes of a person's name or id (no controls)
//  Latest time a time field may carry: 9999-12-31T23:59:59.999Z in Unix ms
//  (far below 2^53, so Lua's doubles hold it exactly).
#define CODEC_TIME_MAX 253402300799999LL
//  Who sent a message: a ZAP User-Id (a CURVE public key in Z85, 40), or
//  an HTTP door's "sha256:" and the hex digest of its API key (auth.h).
#define CODEC_USER_ID_MAX 72

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
    char user_id [CODEC_USER_ID_MAX];   //  the peer's CURVE public key (Z85) as ZAP admitted it; "" without
} codec_msg_t;

//  Receive one message. Returns 0 when a message was read (body set, or
//  error and reason set), -1 when nothing could be read (interrupted).
//  A string field holding a NUL byte (protobuf-c would cut it short) is
//  refused with BAD_VALUE naming the field.
//  The caller resets msg with codec_msg_reset.
int codec_recv (void *sock, bool router, const codec_entry_t *conversation,
                size_t max_bytes, codec_msg_t *msg);
void codec_msg_reset (codec_msg_t *msg);
//  The same for a message already received (frames as codec_recv reads
//  them); takes *zmsg_p. Returns 0, or -1 when a ROUTER message has no
//  identity.
int codec_decode (zmsg_t **zmsg_p, bool router, const codec_entry_t *conversation,
                  size_t max_bytes, codec_msg_t *msg);

//  Send [identity][type][body]; identity may be NULL and is not taken.
//  Returns 0, or -1 when the socket refused (e.g. unroutable peer).
int codec_send (void *sock, zframe_t *identity, const char *type,
                const ProtobufCMessage *body);
//  Send an "error" Error with a formatted message.
int codec_send_error (void *sock, zframe_t *identity, int code, const char *ref,
                      const char *fmt, ...) __attribute__ ((format (printf, 5, 6)));

//  SHA-1 of a message's packed form, as 40 hex digits in hex (41 bytes):
//  what a message says, for remembering it. Returns 0, or -1 on no memory.
int codec_digest (const ProtobufCMessage *body, char *hex, size_t hexlen);

//  Check a decoded string field: at most max bytes, valid UTF-8. Returns
//  0, or the error code with reason filled.
int codec_check_text (const char *field, const char *text, size_t max,
                      char *reason, size_t reasonlen);
bool codec_utf8_valid (const char *text, size_t len);
//  True for a byte text may not hold: a C0 control other than tab and line
//  breaks, or DEL (XML, which Open311 answers in, cannot carry the former).
bool codec_text_control (unsigned char c);
//  True for a byte of the id charset: A-Z a-z 0-9 . _ -
bool codec_id_char (int c);
//  True when text is 1..max bytes of the id charset.
bool codec_id_valid (const char *text, size_t max);
//  Check an id field: valid UTF-8 (else INVALID_UTF8), 1..max bytes of the
//  id charset (else BAD_VALUE naming the field and the charset). An empty
//  id passes (required fields are checked apart). Returns 0 or the code.
int codec_check_id (const char *field, const char *id, size_t max,
                    char *reason, size_t reasonlen);
//  Check a person's name or id: text of at most max bytes without control
//  characters (else BAD_VALUE). Returns 0 or the code.
int codec_check_name (const char *field, const char *name, size_t max,
                      char *reason, size_t reasonlen);
//  Check a time field in Unix ms: 1..CODEC_TIME_MAX, or 0 when optional
//  (else BAD_VALUE naming the field). Returns 0 or the code.
int codec_check_time (const char *field, int64_t ms, bool optional,
                      char *reason, size_t reasonlen);
//  The name of the first string field of a packed message of type desc
//  (nested messages included) whose bytes hold a NUL, or NULL when none.
const char *codec_nul_field (const ProtobufCMessageDescriptor *desc,
                             const uint8_t *data, size_t len);

//  Names of enum values as the store writes them ("GRID", "ACCEPTED").
const char *codec_tier_name (int tier);
const char *codec_state_name (int state);
int codec_state_parse (const char *name);
const char *codec_channel_name (int channel);
int codec_channel_parse (const char *name);
const char *codec_error_name (int code);
int codec_error_parse (const char *name);

#endif
