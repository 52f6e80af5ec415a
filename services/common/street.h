/*  street.h — the street's local time and who may take a case: the one
    class dispatch, the CLI and report call for both. Local time comes from
    the directory's utc_offset_minutes; duty from a unit's rota and the
    directory's calendar (holidays, make-up days); eligibility from the
    unit's record (tier, category, grid) and its duty. */
#ifndef GC_STREET_H
#define GC_STREET_H

#include <stdbool.h>
#include <stddef.h>

#include "directory.h"

//  Why a unit may or may not take a case.
typedef enum {
    STREET_IN = 0,              //  fits and is on duty
    STREET_TIER,                //  does not answer at the case's tier
    STREET_CATEGORY,            //  does not handle the category
    STREET_GRID,                //  does not cover the grid
    STREET_OFF_DUTY,            //  outside its rota slots
    STREET_HOLIDAY              //  a holiday in the directory's calendar
} street_why_t;

//  A moment in the street's local time.
typedef struct {
    long long unix_ms;          //  the moment, Unix ms
    int year, month, day;       //  local date
    int weekday;                //  1 = Monday .. 7 = Sunday
    int minute;                 //  minutes after local midnight
} street_time_t;

//  Fill at with the local time of unix_ms at utc_offset_minutes east of UTC.
void street_time (int utc_offset_minutes, long long unix_ms, street_time_t *at);
//  The same in the directory's street (UTC when directory is NULL).
void street_local (const directory_t *directory, long long unix_ms, street_time_t *at);
//  Parse a local "YYYY-MM-DD", "YYYY-MM-DD HH:MM" or "YYYY-MM-DDTHH:MM"
//  Days in month (1..12) of year, leap years counted; 0 for another month.
int street_month_days (int year, int month);

//  (a date alone is 00:00) into Unix ms. Returns 0, or -1 when malformed.
int street_parse (int utc_offset_minutes, const char *text, long long *unix_ms);
//  Write at as "YYYY-MM-DD HH:MM" into buf (at least 17 bytes).
void street_format (const street_time_t *at, char *buf, size_t size);
//  Unix ms of the local midnight that starts at's day.
long long street_day_start (const street_time_t *at);

//  Whether the unit may take a case of tier, grid and category at local
//  time at (STREET_IN), else the first reason why not: its record
//  (dir_unit_fit), then its duty. The one place this is decided.
street_why_t street_check (const directory_t *directory, const dir_unit_t *unit,
                           int tier, const char *grid, const char *category,
                           const street_time_t *at);
//  True when the unit is on duty at at: its rota holds the weekday and
//  minute, and the day is no holiday (a make-up day works the rota of its
//  make-up weekday). A unit without a rota is always on duty.
bool street_on_duty (const directory_t *directory, const dir_unit_t *unit,
                     const street_time_t *at);
//  Unix ms when the unit's next duty slot starts at or after at (at itself
//  when on duty now), looking 28 days ahead; -1 when none.
long long street_next_duty (const directory_t *directory, const dir_unit_t *unit,
                            const street_time_t *at);
//  A short phrase for a reason ("off duty (rota)", ...).
const char *street_why_text (street_why_t why);

#endif
