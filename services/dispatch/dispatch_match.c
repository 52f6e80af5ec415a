/*  dispatch_match.c — candidate units for a case. */
#include "dispatch_match.h"

size_t
dispatch_match (const directory_t *directory, int tier, const char *grid,
                const char *category, const street_time_t *at,
                dispatch_accepts_fn *accepts, void *arg, size_t turn,
                const char **out, size_t max)
{
    size_t units = directory_unit_count (directory);
    size_t count = 0;
    for (size_t i = 0; i < units && count < max; i++) {
        const dir_unit_t *unit = directory_unit (directory, (i + turn) % units);
        if (street_check (directory, unit, tier, grid, category, at) == STREET_IN
        &&  (!accepts || accepts (arg, unit->id, grid, category)))
            out [count++] = unit->id;
    }
    return count;
}

long long
dispatch_match_next_duty (const directory_t *directory, int tier, const char *grid,
                          const char *category, const street_time_t *at,
                          const char **unit_id)
{
    long long best = -1;
    *unit_id = NULL;
    for (size_t i = 0; i < directory_unit_count (directory); i++) {
        const dir_unit_t *unit = directory_unit (directory, i);
        if (!dir_unit_fits (unit, tier, grid, category))
            continue;
        long long next = street_next_duty (directory, unit, at);
        if (next >= 0 && (best < 0 || next < best)) {
            best = next;
            *unit_id = unit->id;
        }
    }
    return best;
}
