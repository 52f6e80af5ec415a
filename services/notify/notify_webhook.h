/*  notify_webhook.h — webhook delivery: signed HTTP POSTs run by one libcurl
    multi handle that never blocks. The caller polls curl's sockets next to
    its own (zmq_poll items), hands the result back, and hears of every
    finished transfer through a callback. A signature covers a timestamp
    and the body (X-Gridcall-Signature: t=<unix s>,v1=<hex>), so a receiver
    refuses a request replayed after the tolerance (docs/notify.md). */
#ifndef NOTIFY_WEBHOOK_H
#define NOTIFY_WEBHOOK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_URL_MAX        2048  //  bytes of one webhook URL
#define NOTIFY_TOKEN_LEN      8     //  hex digits of a target's done-mask token
#define NOTIFY_HMAC_HEX       (64 + 1)      //  hex HMAC-SHA256 + NUL
#define NOTIFY_SIGNATURE_MAX  (2 + 20 + 4 + 64 + 1)  //  "t=" + seconds + ",v1=" + hex + NUL
#define NOTIFY_DELIVERY_LEN   32            //  hex digits of a random delivery id
#define NOTIFY_TOLERANCE_S    300           //  receivers refuse a t further from their clock

typedef struct _notify_webhook_t notify_webhook_t;

//  A transfer finished. status is the HTTP status (0 when no response came);
//  ok is true for 2xx; reason says what went wrong otherwise.
typedef void (notify_webhook_done_fn) (void *arg, void *tag, int target, bool ok,
                                       long status, const char *reason);

//  Create the multi handle. secret signs bodies when not empty; timeout_ms
//  bounds each transfer. Returns NULL when curl cannot be set up.
notify_webhook_t *notify_webhook_new (const char *secret, long timeout_ms,
                                      notify_webhook_done_fn *done, void *arg);
//  Abandon every running transfer (no callbacks) and free everything.
void notify_webhook_destroy (notify_webhook_t **self_p);

//  Start POSTing body to url with the gridcall headers: the event, the job
//  (the same on every retry: receivers dedupe on it), a random delivery id
//  (new each POST), the attempt and, with a secret, the signature over the
//  current time and the body. tag and target come back in the done
//  callback. body is copied. Returns 0, or -1 when the transfer could not
//  start (no callback follows).
int notify_webhook_post (notify_webhook_t *self, const char *url, const char *event,
                         const char *job, int attempt, const char *body,
                         size_t len, void *tag, int target);
//  Transfers started and not yet reported.
size_t notify_webhook_running (const notify_webhook_t *self);

//  Sockets curl wants watched; fill at most max poll items with them and
//  return how many were filled.
size_t notify_webhook_sockets (const notify_webhook_t *self);
size_t notify_webhook_pollitems (const notify_webhook_t *self, zmq_pollitem_t *items,
                                 size_t max);
//  Milliseconds until curl must be called even without socket activity;
//  0 for now, -1 when no timer is set.
long notify_webhook_timeout (const notify_webhook_t *self);
//  Act on poll results (items as filled above, revents set) and on curl's
//  timer; report finished transfers through the done callback.
void notify_webhook_dispatch (notify_webhook_t *self, const zmq_pollitem_t *items,
                              size_t count);

//  Split a comma-separated list of http(s) URLs into urls [0..max-1] (each
//  the caller's, free()). Blanks around items are ignored, empty items
//  skipped. Returns the count, or -1 with err filled (and nothing to free).
int notify_webhook_parse_list (const char *list, char **urls, int max,
                               char *err, size_t errlen);
//  A target's done-mask token: 8 hex digits of the FNV-1a hash of its URL,
//  so reordering the list does not re-deliver. out holds 9 bytes.
void notify_webhook_token (const char *url, char *out, size_t outlen);
//  True when url's host is this machine (localhost, 127.0.0.0/8, ::1):
//  the only targets an unsigned webhook may have.
bool notify_webhook_local (const char *url);
//  Hex HMAC-SHA256 of data keyed by secret into out (at least
//  NOTIFY_HMAC_HEX bytes). Returns 0 or -1.
int notify_webhook_hmac_hex (const char *secret, const char *data, size_t len,
                             char *out, size_t outlen);
//  "t=<at_s>,v1=<hex HMAC-SHA256 of "<at_s>." + body keyed by secret>" into
//  out (at least NOTIFY_SIGNATURE_MAX bytes). Returns 0 or -1.
int notify_webhook_sign (const char *secret, long long at_s, const char *body, size_t len,
                         char *out, size_t outlen);
//  A delivery id: NOTIFY_DELIVERY_LEN hex digits from the system's random
//  source (OpenSSL RAND_bytes), into out. Returns 0 or -1.
int notify_webhook_delivery_id (char *out, size_t outlen);

#endif
