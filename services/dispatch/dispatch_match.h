/*  dispatch_match.h — which units may take a case: street_check says so
    (record fits tier, grid and category; on duty by rota and holidays),
    the unit is connected, and its hello claims cover the case.
    The list is rotated so equal units take turns; the transition then
    ranks by spare capacity and track record and skips units that declined.
    For a service order no unit can take now, the earliest next duty slot
    of a fitting unit is its appointment. */
#ifndef DISPATCH_MATCH_H
#define DISPATCH_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "directory.h"
#include "street.h"

//  True when the unit is connected and its claims cover grid and category;
//  the caller's session registry answers.
typedef bool (dispatch_accepts_fn) (void *arg, const char *unit_id, const char *grid,
                                    const char *category);

//  Fill out (room for max ids, borrowed from the directory) with the
//  candidates for a case at local time at, starting the round at position
//  turn. Returns the count.
size_t dispatch_match (const directory_t *directory, int tier, const char *grid,
                       const char *category, const street_time_t *at,
                       dispatch_accepts_fn *accepts, void *arg, size_t turn,
                       const char **out, size_t max);

//  The earliest next duty slot (Unix ms) among units that fit the case,
//  connected or not, and that unit in *unit_id (borrowed); -1 when none.
long long dispatch_match_next_duty (const directory_t *directory, int tier, const char *grid,
                                    const char *category, const street_time_t *at,
                                    const char **unit_id);

#endif
