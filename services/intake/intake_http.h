/*  intake_http.h — intake's HTTP front doors (libmicrohttpd, a thread per
    connection): the native JSON API (/api/v1, docs/http-api.md) and
    Open311 GeoReport v2 (/open311/v2, docs/open311.md, intake_open311.c).
    A request becomes the protobuf message the ZeroMQ door takes, with the
    principal of its API key, and goes to the intake loop over an inproc
    socket: the same checks, the same Redis function, one code path. Reads
    (a case's status, Open311 lists) and the per-key rate limit use a
    Redis connection of the doors' own. */
#ifndef INTAKE_HTTP_H
#define INTAKE_HTTP_H

#include <jansson.h>
#include <microhttpd.h>
#include <stdbool.h>

#include "auth.h"
#include "codec.h"
#include "config.h"
#include "metrics.h"

#define INTAKE_HTTP_CALL_MS 10000   //  longest wait for the loop's answer
#define INTAKE_HTTP_STOPPING (-2)   //  intake_http_call: intake is stopping
#define INTAKE_HTTP_STOPPING_TEXT "intake is stopping; retry (with the same Idempotency-Key, " \
                                  "if one was sent)"

typedef struct _intake_http_t intake_http_t;

//  The options of the doors, for intake's option table.
#define INTAKE_HTTP_OPTIONS \
    { "http_bind", CFG_STRING, "", 0, 0, \
      "address of the HTTP doors (JSON API and Open311; docs/http-api.md); empty: off" }, \
    { "http_port", CFG_INT, "8090", 0, 65535, "HTTP doors' port; 0 picks a free port and logs it" }, \
    { "http_body_max", CFG_INT, "65536", 1024, 1048576, \
      "largest request body of the doors in bytes (photos: media_max); more is answered 413" }, \
    { "http_connection_limit", CFG_INT, "512", 8, 10000, \
      "most HTTP connections open at once (a thread each); more are refused" }, \
    { "http_connection_limit_per_ip", CFG_INT, "64", 1, 10000, \
      "most HTTP connections open at once from one client address" }, \
    { "http_header_timeout_s", CFG_INT, "10", 1, 300, \
      "a request's line and headers must arrive within this many seconds; else the connection is cut" }, \
    { "http_body_timeout_s", CFG_INT, "60", 1, 3600, \
      "a request's body must have arrived this many seconds after its headers (plus a second a 16 KiB); else the connection is cut" }, \
    { "http_connection_timeout_s", CFG_INT, "30", 1, 3600, \
      "close an HTTP connection idle for this many seconds" }, \
    { "http_rate_limit", CFG_INT, "600", 1, 1000000, \
      "requests one API key may make per http_rate_window_s (kept in Redis); more get 429" }, \
    { "http_rate_window_s", CFG_INT, "60", 1, 86400, "the rate limit's window" }, \
    { "media_dir", CFG_STRING, "var/media", 0, 0, \
      "where photos uploaded to the doors are stored, by content SHA-256 (report serves them)" }, \
    { "media_max", CFG_INT, "5242880", 1024, 67108864, "largest photo upload in bytes; more is 413" }, \
    { "media_url_base", CFG_STRING, "", 0, 0, \
      "URL of report's /media/ the doors show photos at (Open311 media_url), e.g. http://127.0.0.1:8080/media/; empty: media:<file>" }

//  A request the doors answer: its route's handler sees these.
typedef struct {
    struct MHD_Connection *conn;
    const char *method;
    const char *url;
    const char *path;           //  url after the door's prefix
    json_t *form;               //  x-www-form-urlencoded or multipart fields, and query args
    const char *body;           //  raw body (JSON), NUL-terminated; "" when none
    size_t body_len;
    const char *file;           //  a multipart file part's bytes (photos), or NULL
    size_t file_len;
    char key_id [AUTH_API_ID_MAX];  //  the API key's look-up id; "" without a key
    bool key_known;             //  the key names a principal
    char label [AUTH_LABEL_MAX];    //  its principal's label ("gateway:app")
    int channel;                //  its first channel (gateways), else 0
    auth_role_t role;
    int status;                 //  answer: HTTP status
    char *answer;               //  answer body (malloc'd), and its type
    size_t answer_len;
    const char *answer_type;
    char retry_after [24];      //  Retry-After of a 429 or 503, or ""
} intake_door_req_t;

//  Start the doors on http_bind:http_port; requests reach the loop at
//  endpoint (an inproc ROUTER the loop binds). metrics is borrowed.
//  Returns NULL with a log line on failure.
intake_http_t *intake_http_new (const config_t *config, const char *endpoint, metrics_t *metrics);
void intake_http_destroy (intake_http_t **self_p);
int intake_http_port (const intake_http_t *self);

//  Check the doors' options: a numeric http_bind; a non-loopback bind
//  needs a principals file (API keys). Returns 0, or -1 with err.
int intake_http_check_config (const config_t *config, char *err, size_t errlen);

//  For the doors' handlers (intake_open311.c):
//  Send message type/body to the loop as req's principal and wait for its
//  answer into reply (the caller resets it). Returns 0, -1 when the loop
//  did not answer in time, or INTAKE_HTTP_STOPPING when intake stopped
//  without taking it (reply unset; nothing was committed).
int intake_http_call (intake_http_t *self, intake_door_req_t *req, const char *type,
                      const ProtobufCMessage *body, codec_msg_t *reply);
//  Call a read function (FCALL_RO) on the doors' Redis connection; the
//  caller decrefs. NULL when Redis is unreachable.
json_t *intake_http_read (intake_http_t *self, const char *fn, int argc, const char **argv);
//  gc_door_cases with filters (taken): its reply (the caller decrefs), NULL
//  when Redis is unreachable.
json_t *intake_http_cases (intake_http_t *self, json_t *filters);
//  Read case id for req: its row of gc_door_cases (the caller decrefs),
//  or NULL with the error answered (as Open311 errors when open311). Its
//  reporter (the principal it came through) may read it, and whoever may
//  verify or decide on it; to others it does not exist.
json_t *intake_http_case (intake_http_t *self, intake_door_req_t *req, const char *id,
                          bool open311);
//  Take one request of req's key from its rate limit. Returns 0 when
//  allowed; else fills req->retry_after and returns 429, or 503 when
//  Redis is unreachable.
int intake_http_rate (intake_http_t *self, intake_door_req_t *req);
//  True when req's principal may do action on scope (auth.h).
bool intake_http_may (intake_http_t *self, intake_door_req_t *req, auth_action_t action,
                      const auth_scope_t *scope, char *reason, size_t reasonlen);
//  The street's UTC offset in minutes and the directory's categories
//  (cached, read through the doors' Redis connection).
json_t *intake_http_directory (intake_http_t *self);
//  Where photos are stored, and the URL they are shown at.
const char *intake_http_media_dir (const intake_http_t *self);
const char *intake_http_media_base (const intake_http_t *self);

//  The HTTP status of an error code of the wire (ERROR_*).
int intake_http_status (int code);
//  A request's own random idempotency key "http-<hex>" into key (33+).
void intake_http_random_key (char *key, size_t keylen);

#endif
