/*  dispatch_match.h — which units may take a case: the directory record
    fits the case's tier, grid and category, the unit is connected and on
    duty. The list is rotated so equal units take turns; the transition
    then ranks by spare capacity and skips units that already declined. */
#ifndef DISPATCH_MATCH_H
#define DISPATCH_MATCH_H

#include <stdbool.h>
#include <stddef.h>

#include "directory.h"

//  True when the unit is connected; the caller's registry answers.
typedef bool (dispatch_connected_fn) (void *arg, const char *unit_id);

//  Fill out (room for max ids, borrowed from the directory) with the
//  candidates for a case, starting the round at position turn. weekday is
//  1..7 and minute 0..1439 in the street's local time. Returns the count.
size_t dispatch_match (const directory_t *directory, int tier, const char *grid,
                       const char *category, int weekday, int minute,
                       dispatch_connected_fn *connected, void *arg, size_t turn,
                       const char **out, size_t max);

#endif
