/*  unit_route.h — which units may take a case, and when a unit is next on
    duty: the directory rules dispatch applies and `gridcall route` shows
    (tier, category, grid, rota, holidays), with the reason a unit is out.
    Shared by dispatch and the CLI; a unit can use it to read its own rota. */
#ifndef GC_UNIT_ROUTE_H
#define GC_UNIT_ROUTE_H

#include <stdbool.h>

#include "directory.h"

typedef enum {
    UNIT_ROUTE_IN = 0,          //  fits and is on duty
    UNIT_ROUTE_TIER,            //  does not answer at the case's tier
    UNIT_ROUTE_CATEGORY,        //  does not handle the category
    UNIT_ROUTE_GRID,            //  does not cover the grid
    UNIT_ROUTE_OFF_DUTY,        //  outside its rota slots
    UNIT_ROUTE_HOLIDAY          //  a holiday in the directory's calendar
} unit_route_why_t;

//  A moment in the street's local time.
typedef struct {
    long long unix_ms;          //  the moment, Unix ms
    int year, month, day;       //  local date
    int weekday;                //  1 = Monday .. 7 = Sunday
    int minute;                 //  minutes after local midnight
} unit_route_time_t;

//  Fill at with the local time of unix_ms in the directory's street.
void unit_route_local (const directory_t *directory, long long unix_ms, unit_route_time_t *at);
//  Parse "YYYY-MM-DDTHH:MM" (or with a space) in local time, or "now".
//  Returns 0 and fills at, or -1.
int unit_route_parse (const directory_t *directory, const char *text, long long now_ms,
                      unit_route_time_t *at);

//  Why the unit may or may not take a case of tier, grid and category at
//  local time at (UNIT_ROUTE_IN when it may).
unit_route_why_t unit_route_check (const directory_t *directory, const dir_unit_t *unit,
                                   int tier, const char *grid, const char *category,
                                   const unit_route_time_t *at);
//  True when the unit is on duty at at: its rota holds the weekday and
//  minute, and the day is no holiday (a make-up day works the rota of its
//  make-up weekday). A unit without a rota is always on duty.
bool unit_route_on_duty (const directory_t *directory, const dir_unit_t *unit,
                         const unit_route_time_t *at);
//  Unix ms when the unit's next duty slot starts at or after at (at itself
//  when on duty now), looking 28 days ahead; -1 when none.
long long unit_route_next_duty (const directory_t *directory, const dir_unit_t *unit,
                                const unit_route_time_t *at);
//  A short phrase for a reason ("off duty", ...).
const char *unit_route_why_text (unit_route_why_t why);

#endif
