/*  report_hub.c — a ring of SSE frames under one mutex. The writer copies
    a frame in and broadcasts the condition; readers copy frames out and
    write them to their sockets without holding the lock, so a slow screen
    only falls behind (and then gets a fresh snapshot), never slows others.
    Only the latest snapshot is kept: a snapshot's slot stays empty and
    names it, and an older one leaves the ring when a newer one comes. */
#include "report_hub.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct _report_hub_t {
    pthread_mutex_t lock;       //  guards everything below
    pthread_cond_t changed;     //  broadcast on push and close
    char **frames;              //  ring of frames; frame seq lives at seq % slots, NULL for a snapshot
    size_t slots;               //  ring size
    uint64_t head;              //  sequence number of the next frame
    char *snapshot;             //  latest snapshot frame, or NULL
    uint64_t snapshot_seq;      //  its sequence number
    size_t bytes;               //  text of the frames held, the snapshot's included
    size_t readers;             //  attached readers
    bool want_snapshot;         //  a reader asked for a fresh snapshot
    bool closed;                //  no more waiting
};

report_hub_t *
report_hub_new (size_t slots)
{
    if (slots < 2)
        slots = 2;
    report_hub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->frames = calloc (slots, sizeof (char *));
    if (!self->frames) {
        free (self);
        return NULL;
    }
    self->slots = slots;
    self->head = 1;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->changed, &attr);
    pthread_condattr_destroy (&attr);
    return self;
}

void
report_hub_destroy (report_hub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_hub_t *self = *self_p;
    for (size_t i = 0; i < self->slots; i++)
        free (self->frames [i]);
    free (self->frames);
    free (self->snapshot);
    pthread_cond_destroy (&self->changed);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

uint64_t
report_hub_push (report_hub_t *self, const char *event, const char *data, bool snapshot)
{
    pthread_mutex_lock (&self->lock);
    uint64_t seq = self->head;
    char *frame = NULL;
    if (asprintf (&frame, "event: %s\nid: %llu\ndata: %s\n\n", event,
                  (unsigned long long) seq, data) < 0) {
        pthread_mutex_unlock (&self->lock);
        return 0;
    }
    size_t slot = seq % self->slots;
    if (self->frames [slot]) {
        self->bytes -= strlen (self->frames [slot]);
        free (self->frames [slot]);
        self->frames [slot] = NULL;
    }
    self->bytes += strlen (frame);
    if (snapshot) {
        //  a reader before the older snapshot reads up to head, past this
        //  one, which replaces all the older one showed: only this one is
        //  kept (a quiet street's ring was all snapshots, 46-60 KB each on
        //  the demo street: 47-60 MB at stream_buffer 1024)
        if (self->snapshot)
            self->bytes -= strlen (self->snapshot);
        free (self->snapshot);
        self->snapshot = frame;
        self->snapshot_seq = seq;
    }
    else
        self->frames [slot] = frame;
    self->head = seq + 1;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
    return seq;
}

char *
report_hub_start (report_hub_t *self, uint64_t *next)
{
    pthread_mutex_lock (&self->lock);
    char *copy = self->snapshot ? strdup (self->snapshot) : NULL;
    *next = self->snapshot ? self->snapshot_seq + 1 : self->head;
    pthread_mutex_unlock (&self->lock);
    return copy;
}

char *
report_hub_start_fresh (report_hub_t *self, int timeout_ms, uint64_t *next)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock (&self->lock);
    uint64_t mark = self->head;
    self->want_snapshot = true;
    while (!self->closed && (!self->snapshot || self->snapshot_seq < mark))
        if (pthread_cond_timedwait (&self->changed, &self->lock, &until) == ETIMEDOUT)
            break;
    char *copy = self->snapshot ? strdup (self->snapshot) : NULL;
    *next = self->snapshot ? self->snapshot_seq + 1 : self->head;
    pthread_mutex_unlock (&self->lock);
    return copy;
}

//  Frame seq of the ring: the latest snapshot for its own empty slot,
//  NULL for an older snapshot's; the lock is held.
static const char *
s_frame (report_hub_t *self, uint64_t seq)
{
    const char *frame = self->frames [seq % self->slots];
    return frame ? frame : seq == self->snapshot_seq ? self->snapshot : NULL;
}

//  Join frames [from, head) into one string; the lock is held.
static char *
s_join (report_hub_t *self, uint64_t from, uint64_t *next)
{
    size_t len = 0;
    for (uint64_t s = from; s < self->head; s++) {
        const char *frame = s_frame (self, s);
        len += frame ? strlen (frame) : 0;
    }
    char *out = malloc (len + 1);
    if (!out)
        return NULL;
    size_t at = 0;
    for (uint64_t s = from; s < self->head; s++) {
        const char *frame = s_frame (self, s);
        if (frame) {
            size_t n = strlen (frame);
            memcpy (out + at, frame, n);
            at += n;
        }
    }
    out [at] = 0;
    *next = self->head;
    return out;
}

char *
report_hub_wait (report_hub_t *self, uint64_t seq, int timeout_ms, uint64_t *next, bool *lost)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    *lost = false;
    char *out = NULL;
    if (seq == 0)
        seq = 1;                //  frames are numbered from 1
    pthread_mutex_lock (&self->lock);
    while (!self->closed && seq >= self->head) {
        if (pthread_cond_timedwait (&self->changed, &self->lock, &until) == ETIMEDOUT)
            break;
    }
    if (!self->closed && seq < self->head) {
        if (self->head - seq > self->slots) {
            //  fell off the ring: start again from the latest snapshot
            *lost = true;
            uint64_t from = self->snapshot ? self->snapshot_seq + 1 : self->head - 1;
            if (self->head - from > self->slots)
                from = self->head - self->slots;
            char *rest = s_join (self, from, next);
            if (rest && self->snapshot) {
                if (asprintf (&out, "%s%s", self->snapshot, rest) < 0)
                    out = NULL;
                free (rest);
            }
            else
                out = rest;
        }
        else
            out = s_join (self, seq, next);
    }
    pthread_mutex_unlock (&self->lock);
    return out;
}

void
report_hub_close (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->closed = true;
    pthread_cond_broadcast (&self->changed);
    pthread_mutex_unlock (&self->lock);
}

bool
report_hub_closed (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool closed = self->closed;
    pthread_mutex_unlock (&self->lock);
    return closed;
}

void
report_hub_attach (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->readers++;
    pthread_mutex_unlock (&self->lock);
}

void
report_hub_detach (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    if (self->readers > 0)
        self->readers--;
    pthread_mutex_unlock (&self->lock);
}

size_t
report_hub_bytes (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->bytes;
    pthread_mutex_unlock (&self->lock);
    return n;
}

size_t
report_hub_readers (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    size_t n = self->readers;
    pthread_mutex_unlock (&self->lock);
    return n;
}

void
report_hub_request_snapshot (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    self->want_snapshot = true;
    pthread_mutex_unlock (&self->lock);
}

bool
report_hub_take_request (report_hub_t *self)
{
    pthread_mutex_lock (&self->lock);
    bool want = self->want_snapshot;
    self->want_snapshot = false;
    pthread_mutex_unlock (&self->lock);
    return want;
}
