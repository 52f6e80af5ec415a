/*  dispatch_reply.h — units' replies (accept, decline, progress, resolve,
    extend) of one loop turn: each is checked and its transition appended
    to the store's pipeline as it is read; after the turn's reads the
    replies are read back in order and every unit is answered (commit,
    then send). One round trip to Redis for the whole turn. */
#ifndef DISPATCH_REPLY_H
#define DISPATCH_REPLY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "codec.h"
#include "store.h"

typedef struct _dispatch_reply_t dispatch_reply_t;

//  After a committed reply: reply is the transition's answer (jobs to wake
//  notify for, redispatch), case_id the case. answered is false when the
//  unit could not be reached (its session is gone).
typedef void (dispatch_reply_done_fn) (void *arg, const char *unit_id, const char *case_id,
                                       const json_t *reply, bool answered);

//  Room for max replies a turn; notes up to text_max bytes; scale is the
//  time scale as text (extension requests carry it).
dispatch_reply_t *dispatch_reply_new (size_t max, size_t text_max, const char *scale);
void dispatch_reply_destroy (dispatch_reply_t **self_p);

//  Check msg (a decoded reply from unit_id) and append its transition.
//  A bad reply is answered with an error in its turn, after the answers
//  to the replies read before it (a unit pairs answers in order). Returns 0 when appended,
//  -1 when answered (refused) or when the turn is full (answered
//  UNAVAILABLE: send it again).
int dispatch_reply_append (dispatch_reply_t *self, store_t *store, void *router,
                           const char *unit_id, codec_msg_t *msg);
//  Replies appended and not yet flushed.
size_t dispatch_reply_pending (const dispatch_reply_t *self);

//  Read every appended transition's answer, answer its unit (ok or error),
//  and call done for each committed one.
void dispatch_reply_flush (dispatch_reply_t *self, store_t *store, void *router,
                           dispatch_reply_done_fn *done, void *arg);

//  Counters: replies committed, and refused (answered with an error).
uint64_t dispatch_reply_committed (const dispatch_reply_t *self);
uint64_t dispatch_reply_refused (const dispatch_reply_t *self);

#endif
