/*  notify_job.c — a notification job: its fields checked and copied out of
    the store's reply, its webhook body, its Notification message, and the
    bookkeeping of one delivery round (done mask, back-off). */
#include "notify_job.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

struct _notify_job_t {
    char *id;                   //  job id (seq:job number)
    char *event;                //  "case.resolved": PUB topic and X-Gridcall-Event
    char *case_id;              //  case the event is about
    char *ledger_no;            //  ledger number (the case id when not stored)
    char *grid;                 //  grid id
    char *category;             //  category code
    int tier;                   //  Gridcall__V1__Tier value, 0 when unknown
    int state;                  //  Gridcall__V1__CaseState value, 0 when unknown
    char *unit;                 //  unit holding the case, or ""
    long long at_ms;            //  Redis time of the transition
    char *audience;             //  "grid:G01", "tier:COMMUNITY", "reporter:<case id>"
    char *note;                 //  free text from the transition, or ""
    char *via;                  //  the principal that reported the case, or ""
    char *followers;            //  principals of cases merged into it, space-separated
    int attempts;               //  failed rounds before this one
    char *mask;                 //  done mask as stored
    char *body;                 //  webhook JSON body
    size_t body_len;            //  its length in bytes
    bool published;             //  log and PUB done (now or in an earlier round)
    uint64_t targets_done;      //  bit i: webhook target i succeeded
    int running;                //  transfers in flight for this job
};

//  Copy field name of the reply as text. A missing field is "". Returns the
//  copy (the caller's) or NULL when the field is not a string or number or
//  is not UTF-8 (reason filled).
static char *
s_text (const json_t *reply, const char *name, char *reason, size_t reasonlen)
{
    const json_t *value = json_object_get (reply, name);
    char number [32];
    const char *text = "";
    if (json_is_string (value))
        text = json_string_value (value);
    else
    if (json_is_integer (value)) {
        snprintf (number, sizeof number, "%lld", (long long) json_integer_value (value));
        text = number;
    }
    else
    if (value) {
        snprintf (reason, reasonlen, "field \"%s\" is not text", name);
        return NULL;
    }
    if (!codec_utf8_valid (text, strlen (text))) {
        snprintf (reason, reasonlen, "field \"%s\" is not UTF-8", name);
        return NULL;
    }
    char *copy = strdup (text);
    if (!copy)
        snprintf (reason, reasonlen, "out of memory");
    //  a control character (other than tab and line breaks), as text stored
    //  before reports refused them could hold, goes out as a blank: every
    //  receiver's text check passes, and nothing of the job is lost
    for (char *c = copy; c && *c; c++)
        if (codec_text_control ((unsigned char) *c))
            *c = ' ';
    return copy;
}

//  True when text is made only of A-Z a-z 0-9 . _ - : (it goes into HTTP
//  headers and a ZeroMQ topic, so no blanks or line breaks).
static bool
s_token_chars (const char *text)
{
    for (const char *p = text; *p; p++)
        if (!isalnum ((unsigned char) *p) && !strchr ("._-:", *p))
            return false;
    return true;
}

//  Parse a decimal integer field; missing or empty is 0. Returns 0 or -1.
static int
s_number (const json_t *reply, const char *name, long long *out)
{
    const json_t *value = json_object_get (reply, name);
    *out = 0;
    if (!value)
        return 0;
    if (json_is_integer (value)) {
        *out = json_integer_value (value);
        return 0;
    }
    if (!json_is_string (value))
        return -1;
    const char *text = json_string_value (value);
    if (!*text)
        return 0;
    char *end = NULL;
    *out = strtoll (text, &end, 10);
    return *end ? -1 : 0;
}

//  Build the webhook body. Returns 0 or -1.
static int
s_build_body (notify_job_t *self)
{
    json_t *body = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s}",
        "job_id", self->id, "event", self->event, "case_id", self->case_id,
        "ledger_no", self->ledger_no, "grid", self->grid, "category", self->category,
        "tier", codec_tier_name (self->tier), "state", codec_state_name (self->state),
        "unit", self->unit, "at_ms", (json_int_t) self->at_ms,
        "audience", self->audience, "note", self->note);
    if (!body)
        return -1;
    self->body = json_dumps (body, JSON_COMPACT);
    json_decref (body);
    if (!self->body)
        return -1;
    self->body_len = strlen (self->body);
    return 0;
}

notify_job_t *
notify_job_new (const json_t *reply, char *reason, size_t reasonlen)
{
    notify_job_t *self = calloc (1, sizeof *self);
    if (!self) {
        snprintf (reason, reasonlen, "out of memory");
        return NULL;
    }
    long long tier, at, attempts;
    if (!(self->id = s_text (reply, "id", reason, reasonlen))
    ||  !(self->event = s_text (reply, "event", reason, reasonlen))
    ||  !(self->case_id = s_text (reply, "case", reason, reasonlen))
    ||  !(self->ledger_no = s_text (reply, json_object_get (reply, "ledger") ? "ledger" : "case",
                                    reason, reasonlen))
    ||  !(self->grid = s_text (reply, "grid", reason, reasonlen))
    ||  !(self->category = s_text (reply, "category", reason, reasonlen))
    ||  !(self->unit = s_text (reply, "unit", reason, reasonlen))
    ||  !(self->audience = s_text (reply, "audience", reason, reasonlen))
    ||  !(self->note = s_text (reply, "note", reason, reasonlen))
    ||  !(self->via = s_text (reply, "via", reason, reasonlen))
    ||  !(self->followers = s_text (reply, "followers", reason, reasonlen))
    ||  !(self->mask = s_text (reply, "done", reason, reasonlen)))
        goto fail;
    if (s_number (reply, "tier", &tier) || s_number (reply, "at", &at)
    ||  s_number (reply, "attempts", &attempts) || attempts < 0) {
        snprintf (reason, reasonlen, "tier, at or attempts is not a number");
        goto fail;
    }
    size_t id_len = strlen (self->id);
    size_t event_len = strlen (self->event);
    //  the event is the PUB topic: codec_events takes "case." and "matter." types
    if (id_len == 0 || id_len > NOTIFY_JOB_ID_MAX || !s_token_chars (self->id)) {
        snprintf (reason, reasonlen, "job id is empty, too long or has odd characters");
        goto fail;
    }
    bool of_case = event_len > 5 && strncmp (self->event, "case.", 5) == 0;
    bool of_matter = event_len > 7 && strncmp (self->event, "matter.", 7) == 0;
    if ((!of_case && !of_matter) || event_len >= CODEC_TYPE_MAX || !s_token_chars (self->event)) {
        snprintf (reason, reasonlen, "event \"%.40s\" is not a case.* or matter.* name", self->event);
        goto fail;
    }
    //  a reporter is named by their case, never by their phone number: a
    //  job queued before the library said so (or by an older one) is mended
    if (strncmp (self->audience, "reporter:", 9) == 0
    &&  strcmp (self->audience + 9, self->case_id) != 0) {
        char *audience = NULL;
        if (asprintf (&audience, "reporter:%s", self->case_id) < 0) {
            snprintf (reason, reasonlen, "out of memory");
            goto fail;
        }
        free (self->audience);
        self->audience = audience;
    }
    self->tier = *codec_tier_name ((int) tier) ? (int) tier : 0;
    self->state = codec_state_parse (json_string_value (json_object_get (reply, "state")));
    self->at_ms = at;
    self->attempts = attempts > 1000000 ? 1000000 : (int) attempts;
    if (s_build_body (self)) {
        snprintf (reason, reasonlen, "cannot build the JSON body");
        goto fail;
    }
    return self;
fail:
    notify_job_destroy (&self);
    return NULL;
}

void
notify_job_destroy (notify_job_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notify_job_t *self = *self_p;
    free (self->body);
    free (self->mask);
    free (self->note);
    free (self->via);
    free (self->followers);
    free (self->audience);
    free (self->unit);
    free (self->category);
    free (self->grid);
    free (self->ledger_no);
    free (self->case_id);
    free (self->event);
    free (self->id);
    free (self);
    *self_p = NULL;
}

const char *
notify_job_id (const notify_job_t *self)
{
    return self->id;
}

const char *
notify_job_event (const notify_job_t *self)
{
    return self->event;
}

int
notify_job_attempts (const notify_job_t *self)
{
    return self->attempts;
}

const char *
notify_job_body (const notify_job_t *self)
{
    return self->body;
}

size_t
notify_job_body_len (const notify_job_t *self)
{
    return self->body_len;
}

void
notify_job_notification (const notify_job_t *self, Gridcall__V1__Notification *msg)
{
    msg->job_id = self->id;
    msg->event = self->event;
    msg->case_id = self->case_id;
    msg->ledger_no = self->ledger_no;
    msg->grid = self->grid;
    msg->category = self->category;
    msg->tier = (Gridcall__V1__Tier) self->tier;
    msg->state = (Gridcall__V1__CaseState) self->state;
    msg->unit = self->unit;
    msg->at_ms = self->at_ms;
    msg->audience = self->audience;
    msg->note = self->note;
}

void
notify_job_log (const notify_job_t *self)
{
    log_notice ("notify: %s case \"%s\" audience \"%s\" tier %s unit \"%s\" (job %s)",
                self->event, self->case_id, self->audience,
                *codec_tier_name (self->tier) ? codec_tier_name (self->tier) : "-",
                self->unit, self->id);
}

bool
notify_mask_has (const char *mask, const char *token)
{
    size_t n = strlen (token);
    const char *p = mask;
    while (p && *p) {
        const char *comma = strchr (p, ',');
        size_t len = comma ? (size_t) (comma - p) : strlen (p);
        if (len == n && memcmp (p, token, n) == 0)
            return true;
        p = comma ? comma + 1 : NULL;
    }
    return false;
}

void
notify_job_load_mask (notify_job_t *self, const char **tokens, int count)
{
    self->published = notify_mask_has (self->mask, NOTIFY_MASK_PUBLISHED);
    self->targets_done = 0;
    for (int i = 0; i < count && i < NOTIFY_TARGETS_MAX; i++)
        if (notify_mask_has (self->mask, tokens [i]))
            self->targets_done |= (uint64_t) 1 << i;
}

int
notify_job_mask (const notify_job_t *self, const char **tokens, int count,
                 char *buf, size_t len)
{
    size_t used = 0;
    if (len == 0)
        return -1;
    buf [0] = 0;
    for (int i = -1; i < count && i < NOTIFY_TARGETS_MAX; i++) {
        const char *token = NULL;
        if (i < 0)
            token = self->published ? NOTIFY_MASK_PUBLISHED : NULL;
        else
        if (self->targets_done & ((uint64_t) 1 << i))
            token = tokens [i];
        if (!token)
            continue;
        int n = snprintf (buf + used, len - used, "%s%s", used ? "," : "", token);
        if (n < 0 || (size_t) n >= len - used)
            return -1;
        used += (size_t) n;
    }
    return 0;
}

bool
notify_job_published (const notify_job_t *self)
{
    return self->published;
}

void
notify_job_set_published (notify_job_t *self)
{
    self->published = true;
}

bool
notify_job_target_done (const notify_job_t *self, int target)
{
    return target >= 0 && target < NOTIFY_TARGETS_MAX
        && (self->targets_done & ((uint64_t) 1 << target));
}

bool
notify_job_heard_by (const notify_job_t *self, const char *principal)
{
    if (strcmp (self->via, principal) == 0)
        return true;
    size_t len = strlen (principal);
    for (const char *at = self->followers; (at = strstr (at, principal)); at += len)
        if ((at == self->followers || at [-1] == ' ') && (at [len] == ' ' || !at [len]))
            return true;
    return false;
}

void
notify_job_skip (notify_job_t *self, int target)
{
    if (target >= 0 && target < NOTIFY_TARGETS_MAX)
        self->targets_done |= (uint64_t) 1 << target;
}

int
notify_job_begin (notify_job_t *self)
{
    return ++self->running;
}

int
notify_job_end (notify_job_t *self, int target, bool ok)
{
    if (ok && target >= 0 && target < NOTIFY_TARGETS_MAX)
        self->targets_done |= (uint64_t) 1 << target;
    if (self->running > 0)
        self->running--;
    return self->running;
}

int
notify_job_running (const notify_job_t *self)
{
    return self->running;
}

bool
notify_job_complete (const notify_job_t *self, int count)
{
    if (!self->published)
        return false;
    for (int i = 0; i < count && i < NOTIFY_TARGETS_MAX; i++)
        if (!(self->targets_done & ((uint64_t) 1 << i)))
            return false;
    return true;
}

long long
notify_backoff_ms (long long base, long long max, int attempts, uint32_t random)
{
    if (base < 1)
        base = 1;
    if (max < 1)
        max = 1;
    long long delay = base;
    for (int i = 0; i < attempts && delay < max; i++)
        delay *= 2;
    if (delay > max)
        delay = max;
    //  jitter factor in [0.8, 1.2]
    double factor = 0.8 + 0.4 * ((double) random / (double) UINT32_MAX);
    long long jittered = (long long) ((double) delay * factor + 0.5);
    if (jittered > max)
        jittered = max;
    return jittered < 1 ? 1 : jittered;
}
