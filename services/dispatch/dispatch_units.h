/*  dispatch_units.h — the units connected to dispatch right now: one
    session per unit, found by unit id or by ROUTER routing id, with the
    liveness each side owes the other (heartbeat, expiry). */
#ifndef DISPATCH_UNITS_H
#define DISPATCH_UNITS_H

#include <czmq.h>
#include <stdbool.h>

#include "codec.h"

typedef struct {
    char *unit_id;              //  directory id of the unit
    zframe_t *identity;         //  ROUTER routing id of its connection
    char *identity_hex;         //  the same as a map key
    long long seen_ms;          //  monotonic time of its last message
    long long sent_ms;          //  monotonic time of our last message to it
    char **categories;          //  categories claimed at hello (none = all of the record)
    size_t category_count;
    char **grids;               //  grids claimed at hello (none = all of the record)
    size_t grid_count;
    unsigned capacity;          //  capacity claimed at hello (0 = the record's)
    bool ready_on_duty;         //  on duty when its ready sets were last published
    uint64_t ready_hash;        //  hash of the ready keys last published (0: none yet)
    char key [CODEC_USER_ID_MAX]; //  the CURVE key it said hello with ("" without CURVE)
} unit_session_t;

typedef struct _dispatch_units_t dispatch_units_t;

dispatch_units_t *dispatch_units_new (void);
void dispatch_units_destroy (dispatch_units_t **self_p);

//  Open (or move) the session of unit_id to this routing id; an older
//  connection of the same unit is replaced. Returns the session (borrowed).
unit_session_t *dispatch_units_open (dispatch_units_t *self, const char *unit_id,
                                     zframe_t *identity, long long now_ms);
//  Record what the unit claimed at hello (already checked against the
//  directory): categories and grids narrow its record, capacity lowers it.
//  Returns 0, or -1 when out of memory.
int dispatch_units_claim (unit_session_t *session, char **categories, size_t category_count,
                          char **grids, size_t grid_count, unsigned capacity);
//  True when the unit is connected and its claims cover grid and category.
bool dispatch_units_accepts (dispatch_units_t *self, const char *unit_id, const char *grid,
                             const char *category);
//  Session for a routing id or a unit id, or NULL. Borrowed.
unit_session_t *dispatch_units_by_identity (dispatch_units_t *self, zframe_t *identity);
unit_session_t *dispatch_units_by_unit (dispatch_units_t *self, const char *unit_id);
bool dispatch_units_connected (dispatch_units_t *self, const char *unit_id);
//  Close one session (bye, unroutable, expired).
void dispatch_units_close (dispatch_units_t *self, const char *unit_id);
size_t dispatch_units_size (dispatch_units_t *self);
//  Iterate sessions: first/next return NULL at the end. Do not close
//  sessions while iterating; collect ids first.
unit_session_t *dispatch_units_first (dispatch_units_t *self);
unit_session_t *dispatch_units_next (dispatch_units_t *self);

#endif
