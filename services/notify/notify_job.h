/*  notify_job.h — one notification job as gc_job_get returns it, and what
    this process has delivered of it so far: the published flag, the webhook
    targets done, the transfers still running. Pure logic: no sockets, no
    HTTP, so the unit tests drive it directly. */
#ifndef NOTIFY_JOB_H
#define NOTIFY_JOB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "gridcall.pb-c.h"

#define NOTIFY_TARGETS_MAX  32      //  webhook targets one daemon serves
#define NOTIFY_JOB_ID_MAX   64      //  bytes of a job id
#define NOTIFY_MASK_MAX     (2 + NOTIFY_TARGETS_MAX * 9 + 1)
#define NOTIFY_MASK_PUBLISHED "p"   //  done-mask token: log and PUB done

typedef struct _notify_job_t notify_job_t;

//  Build a job from a gc_job_get reply ({"ok":true,"id":..,"event":..}).
//  Returns the job, or NULL with reason filled when the stored job is not
//  deliverable (bad event name, invalid UTF-8, wrong field types).
notify_job_t *notify_job_new (const json_t *reply, char *reason, size_t reasonlen);
void notify_job_destroy (notify_job_t **self_p);

//  Borrowed fields.
const char *notify_job_id (const notify_job_t *self);
const char *notify_job_event (const notify_job_t *self);
//  Failed delivery rounds before this one (the job's "attempts" field).
int notify_job_attempts (const notify_job_t *self);

//  The webhook body: compact JSON, built once, borrowed.
const char *notify_job_body (const notify_job_t *self);
size_t notify_job_body_len (const notify_job_t *self);

//  Fill msg (initialised by the caller) for the PUB channel; the strings
//  are borrowed from the job and live as long as it does.
void notify_job_notification (const notify_job_t *self, Gridcall__V1__Notification *msg);
//  Write the log channel's line (notice level).
void notify_job_log (const notify_job_t *self);

//  Apply the stored done mask: tokens [i] names webhook target i. Tokens the
//  mask holds for targets no longer configured are dropped.
void notify_job_load_mask (notify_job_t *self, const char **tokens, int count);
//  Write the done mask for gc_job_done ("p,1a2b3c4d,..."). Returns 0, or -1
//  when buf is too small.
int notify_job_mask (const notify_job_t *self, const char **tokens, int count,
                     char *buf, size_t len);

bool notify_job_published (const notify_job_t *self);
void notify_job_set_published (notify_job_t *self);
bool notify_job_target_done (const notify_job_t *self, int target);
//  True when principal ("gateway:hotline") reported the job's case or a
//  case merged into it: that gateway's webhook hears of the job.
bool notify_job_heard_by (const notify_job_t *self, const char *principal);
//  Target is not this job's (a gateway's webhook, another gateway's case):
//  count it as done.
void notify_job_skip (notify_job_t *self, int target);

//  A webhook transfer started; returns the number running for the job.
int notify_job_begin (notify_job_t *self);
//  A transfer to target ended (ok: 2xx). Returns the number still running.
int notify_job_end (notify_job_t *self, int target, bool ok);
int notify_job_running (const notify_job_t *self);
//  True when published and every one of count targets succeeded.
bool notify_job_complete (const notify_job_t *self, int count);

//  True when the comma-separated mask holds token exactly.
bool notify_mask_has (const char *mask, const char *token);
//  Retry delay after a failed round: base doubled per earlier failure
//  (attempts), capped at max, then scaled by a jitter of ±20 % drawn from
//  random (uniform over uint32); never below 1 ms nor above max.
long long notify_backoff_ms (long long base, long long max, int attempts, uint32_t random);

#endif
