/*  dispatch_round.c — the offer round of a loop turn: cases due, their
    briefs, candidates, one pipelined gc_offer per case, then the sends. */
#include "dispatch_round.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"

#define CANDIDATES_MAX 200      //  store calls carry at most 256 arguments
#define BRIEF_MAX 200           //  cases read per gc_case_brief call
#define ID_MAX CODEC_ID_MAX

typedef struct {
    char id [ID_MAX + 1];
    char grid [ID_MAX + 1];
    char category [ID_MAX + 1];
    int state;                  //  GRIDCALL__V1__CASE_STATE__*, 0 when not known
    int tier;
    bool known;                 //  the brief is filled in
    bool appended;              //  its gc_offer is in the pipeline
} s_case_t;

struct _dispatch_round_t {
    s_case_t *cases;            //  this turn's cases, in arrival order
    size_t count;
    size_t max;
    zhashx_t *index;            //  case id -> 1 + its position in cases
    char answer_ms [24];        //  gc_offer arguments
    char retry_ms [24];
    long long rota_offset_ms;   //  added to the wall clock for rota decisions
    size_t turn;                //  round-robin start for candidate lists
};

dispatch_round_t *
dispatch_round_new (size_t max, const char *answer_ms, const char *retry_ms,
                    long long rota_offset_ms)
{
    dispatch_round_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->max = max;
    self->cases = calloc (max, sizeof *self->cases);
    self->index = zhashx_new ();
    if (!self->cases || !self->index) {
        dispatch_round_destroy (&self);
        return NULL;
    }
    snprintf (self->answer_ms, sizeof self->answer_ms, "%s", answer_ms);
    snprintf (self->retry_ms, sizeof self->retry_ms, "%s", retry_ms);
    self->rota_offset_ms = rota_offset_ms;
    return self;
}

void
dispatch_round_destroy (dispatch_round_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_round_t *self = *self_p;
    zhashx_destroy (&self->index);
    free (self->cases);
    free (self);
    *self_p = NULL;
}

static void
s_copy (char *dest, const char *src)
{
    snprintf (dest, ID_MAX + 1, "%s", src ? src : "");
}

int
dispatch_round_add (dispatch_round_t *self, const char *case_id, const char *state, int tier,
                    const char *grid, const char *category)
{
    if (!case_id || !*case_id || strlen (case_id) > ID_MAX)
        return -1;
    if (zhashx_lookup (self->index, case_id))
        return 0;
    if (self->count == self->max)
        return -1;
    s_case_t *c = &self->cases [self->count];
    memset (c, 0, sizeof *c);
    s_copy (c->id, case_id);
    if (grid && *grid && category && *category && strlen (grid) <= ID_MAX
    &&  strlen (category) <= ID_MAX) {
        s_copy (c->grid, grid);
        s_copy (c->category, category);
        c->state = state ? codec_state_parse (state) : 0;
        c->tier = tier;
        c->known = c->state != 0;
    }
    zhashx_insert (self->index, c->id, (void *) (uintptr_t) (self->count + 1));
    self->count++;
    return 0;
}

size_t
dispatch_round_size (const dispatch_round_t *self)
{
    return self->count;
}

//  Read the briefs the wake-ups did not bring, BRIEF_MAX cases a call.
static void
s_read_briefs (dispatch_round_t *self, store_t *store)
{
    const char *ids [BRIEF_MAX];
    size_t n = 0;
    for (size_t i = 0; i <= self->count; i++) {
        if (i < self->count && !self->cases [i].known)
            ids [n++] = self->cases [i].id;
        if (n == 0 || (n < BRIEF_MAX && i < self->count))
            continue;
        json_t *reply = store_call (store, "gc_case_brief", (int) n, ids, NULL);
        size_t k;
        json_t *brief;
        json_array_foreach (json_object_get (reply, "cases"), k, brief) {
            const char *id = json_string_value (json_object_get (brief, "id"));
            uintptr_t at = id ? (uintptr_t) zhashx_lookup (self->index, id) : 0;
            if (!at)
                continue;
            s_case_t *c = &self->cases [at - 1];
            s_copy (c->grid, json_string_value (json_object_get (brief, "grid")));
            s_copy (c->category, json_string_value (json_object_get (brief, "category")));
            c->state = codec_state_parse (json_string_value (json_object_get (brief, "state")));
            c->tier = (int) json_integer_value (json_object_get (brief, "tier"));
            c->known = true;
        }
        json_decref (reply);
        n = 0;
    }
}

static bool
s_dispatchable (int state)
{
    return state == GRIDCALL__V1__CASE_STATE__STATE_REGISTERED
        || state == GRIDCALL__V1__CASE_STATE__STATE_DISPATCHED
        || state == GRIDCALL__V1__CASE_STATE__STATE_REOPENED
        || state == GRIDCALL__V1__CASE_STATE__STATE_ESCALATED
        || state == GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED;
}

//  A service order no unit can take now waits for the next rota slot:
//  fill book_at (Unix ms, "0" when not booking) and its note.
static void
s_booking (dispatch_round_t *self, const directory_t *directory, const s_case_t *c,
           const dir_category_t *cat, const street_time_t *at,
           char *book_at, size_t book_at_size, char *note, size_t note_size)
{
    snprintf (book_at, book_at_size, "0");
    note [0] = 0;
    if (!cat || !cat->service)
        return;
    const char *unit_id;
    long long next = dispatch_match_next_duty (directory, c->tier, c->grid, c->category, at,
                                               &unit_id);
    if (next <= at->unix_ms)
        return;
    street_time_t slot;
    street_local (directory, next, &slot);
    static const char *days [] = { "", "Monday", "Tuesday", "Wednesday", "Thursday",
                                   "Friday", "Saturday", "Sunday" };
    snprintf (book_at, book_at_size, "%lld", next - self->rota_offset_ms);
    snprintf (note, note_size, "%s %04d-%02d-%02d %02d:%02d local (%s)", days [slot.weekday],
              slot.year, slot.month, slot.day, slot.minute / 60, slot.minute % 60, unit_id);
}

void
dispatch_round_run (dispatch_round_t *self, store_t *store, const directory_t *directory,
                    dispatch_accepts_fn *accepts, void *accepts_arg,
                    dispatch_send_fn *send, void *send_arg)
{
    if (self->count == 0)
        return;
    s_read_briefs (self, store);
    street_time_t at;
    street_local (directory, zclock_time () + self->rota_offset_ms, &at);
    const char *argv [CANDIDATES_MAX + 6];
    char book_at [24], book_note [160], joint [8];
    for (size_t i = 0; i < self->count; i++) {
        s_case_t *c = &self->cases [i];
        if (!c->known || !s_dispatchable (c->state))
            continue;
        const dir_category_t *cat = directory_category_find (directory, c->category);
        snprintf (joint, sizeof joint, "%d", cat ? dir_category_joint_units (cat, c->tier) : 1);
        s_booking (self, directory, c, cat, &at, book_at, sizeof book_at, book_note,
                   sizeof book_note);
        argv [0] = c->id;
        argv [1] = self->answer_ms;
        argv [2] = self->retry_ms;
        argv [3] = joint;
        argv [4] = book_at;
        argv [5] = book_note;
        size_t found = dispatch_match (directory, c->tier, c->grid, c->category, &at, accepts,
                                       accepts_arg, self->turn++, argv + 6, CANDIDATES_MAX);
        c->appended = store_append (store, "gc_offer", (int) (6 + found), argv, NULL) == 0;
    }
    for (size_t i = 0; i < self->count; i++) {
        if (!self->cases [i].appended)
            continue;
        json_t *reply = store_reply (store);
        if (json_is_true (json_object_get (reply, "ok"))) {
            size_t k;
            json_t *item;
            json_array_foreach (json_object_get (reply, "offers"), k, item)
                send (send_arg, item);
        }
        else
        if (reply)
            log_debug ("dispatch: no offer for \"%s\": %s", self->cases [i].id,
                       json_string_value (json_object_get (reply, "message")));
        json_decref (reply);
    }
    zhashx_purge (self->index);
    self->count = 0;
}
