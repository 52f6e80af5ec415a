/*  report_hub.h — the live feed's fan-out: a ring of server-sent-event
    frames with sequence numbers and the latest snapshot, written by the
    feed thread and read by any number of stream connections, each at its
    own pace (mutex and condition variable; a reader never blocks a writer
    for longer than a copy). */
#ifndef REPORT_HUB_H
#define REPORT_HUB_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct _report_hub_t report_hub_t;

//  Create a hub keeping the last slots frames (at least 2). NULL on no memory.
report_hub_t *report_hub_new (size_t slots);
//  Free the hub; no reader may be waiting any more (see report_hub_close).
void report_hub_destroy (report_hub_t **self_p);

//  Append one frame "event: EVENT\nid: SEQ\ndata: DATA\n\n" and wake the
//  readers. data must hold no newline (compact JSON). A snapshot frame
//  becomes the latest snapshot and drops the one before: a reader that had
//  not read that one gets only the newer. Returns the frame's sequence
//  number (from 1), or 0 on no memory.
uint64_t report_hub_push (report_hub_t *self, const char *event, const char *data,
                          bool snapshot);

//  Where a new reader starts: a copy of the latest snapshot frame (caller
//  frees; NULL when there is none yet) and, in *next, the sequence number
//  of the first frame after it.
char *report_hub_start (report_hub_t *self, uint64_t *next);

//  Like report_hub_start, but wait up to timeout_ms for a snapshot pushed
//  after this call began (ask the feed first); falls back to the latest.
char *report_hub_start_fresh (report_hub_t *self, int timeout_ms, uint64_t *next);

//  Wait up to timeout_ms for frames from sequence seq on. Returns them
//  joined (caller frees) and sets *next past the last; NULL on timeout or
//  close. When seq has already left the ring (a slow reader), returns the
//  latest snapshot and the frames after it instead, and sets *lost.
char *report_hub_wait (report_hub_t *self, uint64_t seq, int timeout_ms, uint64_t *next,
                       bool *lost);

//  Wake every reader and make further waits return NULL at once.
void report_hub_close (report_hub_t *self);
//  True after report_hub_close.
bool report_hub_closed (report_hub_t *self);

//  Bytes of frame text the hub holds: the ring and the latest snapshot.
size_t report_hub_bytes (report_hub_t *self);

//  Readers currently attached (counted by report_hub_attach / detach).
void report_hub_attach (report_hub_t *self);
void report_hub_detach (report_hub_t *self);
size_t report_hub_readers (report_hub_t *self);

//  Ask the feed for a fresh snapshot (a reader just connected); the feed
//  takes the request with report_hub_take_request, which clears it.
void report_hub_request_snapshot (report_hub_t *self);
bool report_hub_take_request (report_hub_t *self);

#endif
