/*  dispatch_match.c — candidate units for a case. */
#include "dispatch_match.h"

size_t
dispatch_match (const directory_t *directory, int tier, const char *grid,
                const char *category, int weekday, int minute,
                dispatch_connected_fn *connected, void *arg, size_t turn,
                const char **out, size_t max)
{
    size_t units = directory_unit_count (directory);
    size_t count = 0;
    for (size_t i = 0; i < units && count < max; i++) {
        const dir_unit_t *unit = directory_unit (directory, (i + turn) % units);
        if (dir_unit_fits (unit, tier, grid, category)
        &&  dir_unit_on_duty (unit, weekday, minute)
        &&  (!connected || connected (arg, unit->id)))
            out [count++] = unit->id;
    }
    return count;
}
