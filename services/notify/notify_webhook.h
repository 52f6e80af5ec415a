/*  notify_webhook.h — webhook delivery: signed HTTP POSTs run by one libcurl
    multi handle that never blocks. The caller polls curl's sockets next to
    its own (zmq_poll items), hands the result back, and hears of every
    finished transfer through a callback. */
#ifndef NOTIFY_WEBHOOK_H
#define NOTIFY_WEBHOOK_H

#include <czmq.h>
#include <stdbool.h>
#include <stddef.h>

#define NOTIFY_URL_MAX        2048  //  bytes of one webhook URL
#define NOTIFY_TOKEN_LEN      8     //  hex digits of a target's done-mask token
#define NOTIFY_SIGNATURE_MAX  (7 + 64 + 1)  //  "sha256=" + hex + NUL

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

//  Start POSTing body to url with the gridcall headers; tag and target come
//  back in the done callback. body is copied. Returns 0, or -1 when the
//  transfer could not start (no callback follows).
int notify_webhook_post (notify_webhook_t *self, const char *url, const char *event,
                         const char *delivery, int attempt, const char *body,
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
//  "sha256=<hex HMAC-SHA256 of body keyed by secret>" into out (at least
//  NOTIFY_SIGNATURE_MAX bytes). Returns 0 or -1.
int notify_webhook_sign (const char *secret, const char *body, size_t len,
                         char *out, size_t outlen);

#endif
