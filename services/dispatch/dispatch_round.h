/*  dispatch_round.h — the offer round: the cases due this turn, each with
    what dispatch needs to pick its candidates (a brief: state, tier, grid,
    category). Briefs come with the wake-ups; cases found by the sweep are
    read from Redis in one call. Then one gc_offer per case, all pipelined,
    and the committed offers are handed back to be sent (commit, then send). */
#ifndef DISPATCH_ROUND_H
#define DISPATCH_ROUND_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "directory.h"
#include "dispatch_match.h"
#include "store.h"

typedef struct _dispatch_round_t dispatch_round_t;

//  Send one committed offer (an item of a gc_offer reply: unit, offer_id,
//  case_id, ...).
typedef void (dispatch_send_fn) (void *arg, json_t *offer);

//  A round of at most max cases per turn; answer_ms and retry_ms are the
//  gc_offer arguments as text; rota_offset_ms shifts the clock for rotas.
dispatch_round_t *dispatch_round_new (size_t max, const char *answer_ms, const char *retry_ms,
                                      long long rota_offset_ms);
void dispatch_round_destroy (dispatch_round_t **self_p);

//  Add a case to this turn. grid and category may be NULL (not known: the
//  round reads the brief); a case already added keeps the first brief it
//  came with. Returns 0, or -1 when the round is full or the id is bad
//  (the case stays in pending:dispatch and the sweep brings it back).
int dispatch_round_add (dispatch_round_t *self, const char *case_id, const char *state,
                        int tier, const char *grid, const char *category);
size_t dispatch_round_size (const dispatch_round_t *self);

//  Offer every case added: briefs that are missing in one gc_case_brief
//  call, candidates from directory and the accepts test, gc_offer for each
//  in one pipeline, then send for each committed offer. Empties the round.
void dispatch_round_run (dispatch_round_t *self, store_t *store, const directory_t *directory,
                         dispatch_accepts_fn *accepts, void *accepts_arg,
                         dispatch_send_fn *send, void *send_arg);

#endif
