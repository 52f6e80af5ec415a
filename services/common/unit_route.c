/*  unit_route.c — the directory rules for who may take a case, and when. */
#include "unit_route.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define LOOKAHEAD_DAYS 28

void
unit_route_local (const directory_t *directory, long long unix_ms, unit_route_time_t *at)
{
    long long offset = directory ? directory_utc_offset_minutes (directory) : 0;
    long long local_ms = unix_ms + offset * MINUTE_MS;
    time_t secs = (time_t) (local_ms >= 0 ? local_ms / 1000 : (local_ms - 999) / 1000);
    struct tm tm;
    gmtime_r (&secs, &tm);
    at->unix_ms = unix_ms;
    at->year = tm.tm_year + 1900;
    at->month = tm.tm_mon + 1;
    at->day = tm.tm_mday;
    at->weekday = tm.tm_wday == 0 ? 7 : tm.tm_wday;
    at->minute = tm.tm_hour * 60 + tm.tm_min;
}

int
unit_route_parse (const directory_t *directory, const char *text, long long now_ms,
                  unit_route_time_t *at)
{
    if (!text || strcmp (text, "now") == 0) {
        unit_route_local (directory, now_ms, at);
        return 0;
    }
    int y, mo, d, h, mi;
    char sep;
    if (sscanf (text, "%4d-%2d-%2d%c%2d:%2d", &y, &mo, &d, &sep, &h, &mi) != 6
    ||  (sep != 'T' && sep != ' ') || mo < 1 || mo > 12 || d < 1 || d > 31
    ||  h < 0 || h > 23 || mi < 0 || mi > 59)
        return -1;
    struct tm tm = { 0 };
    tm.tm_year = y - 1900;
    tm.tm_mon = mo - 1;
    tm.tm_mday = d;
    tm.tm_hour = h;
    tm.tm_min = mi;
    long long local_ms = (long long) timegm (&tm) * 1000;
    long long offset = directory ? directory_utc_offset_minutes (directory) : 0;
    unit_route_local (directory, local_ms - offset * MINUTE_MS, at);
    return 0;
}

//  The weekday whose rota applies on this date, or 0 on a holiday.
static int
s_rota_weekday (const directory_t *directory, const unit_route_time_t *at)
{
    const dir_calendar_t *calendar = directory ? directory_calendar (directory) : NULL;
    if (!calendar)
        return at->weekday;
    char date [16];
    snprintf (date, sizeof date, "%04d-%02d-%02d", at->year, at->month, at->day);
    for (size_t i = 0; i < calendar->holiday_count; i++)
        if (strcmp (calendar->holidays [i], date) == 0)
            return 0;
    for (size_t i = 0; i < calendar->makeup_count; i++)
        if (strcmp (calendar->makeup_days [i], date) == 0 && calendar->makeup_weekday >= 1)
            return calendar->makeup_weekday;
    return at->weekday;
}

bool
unit_route_on_duty (const directory_t *directory, const dir_unit_t *unit,
                    const unit_route_time_t *at)
{
    if (unit->rota_count == 0)
        return true;
    int weekday = s_rota_weekday (directory, at);
    return weekday > 0 && dir_unit_on_duty (unit, weekday, at->minute);
}

unit_route_why_t
unit_route_check (const directory_t *directory, const dir_unit_t *unit, int tier,
                  const char *grid, const char *category, const unit_route_time_t *at)
{
    if (tier < 1 || tier > DIR_TIERS || !(unit->tiers & (1u << tier)))
        return UNIT_ROUTE_TIER;
    bool handles = false;
    for (size_t i = 0; i < unit->category_count && !handles; i++)
        handles = strcmp (unit->categories [i], category) == 0;
    if (!handles)
        return UNIT_ROUTE_CATEGORY;
    if (!dir_unit_fits (unit, tier, grid, category))
        return UNIT_ROUTE_GRID;
    if (unit->rota_count && !unit_route_on_duty (directory, unit, at))
        return s_rota_weekday (directory, at) == 0 ? UNIT_ROUTE_HOLIDAY : UNIT_ROUTE_OFF_DUTY;
    return UNIT_ROUTE_IN;
}

long long
unit_route_next_duty (const directory_t *directory, const dir_unit_t *unit,
                      const unit_route_time_t *at)
{
    if (unit_route_on_duty (directory, unit, at))
        return at->unix_ms;
    //  walk day by day from local midnight; the first slot start after at
    long long midnight = at->unix_ms - (long long) at->minute * MINUTE_MS
                       - at->unix_ms % MINUTE_MS;
    for (int day = 0; day <= LOOKAHEAD_DAYS; day++) {
        unit_route_time_t that;
        unit_route_local (directory, midnight + day * DAY_MS + 12 * 3600000LL, &that);
        int weekday = s_rota_weekday (directory, &that);
        long long best = -1;
        for (size_t i = 0; weekday && i < unit->rota_count; i++) {
            const dir_slot_t *slot = &unit->rota [i];
            if (slot->weekday != weekday)
                continue;
            long long start = midnight + day * DAY_MS + slot->from_minute * MINUTE_MS;
            if (start > at->unix_ms && (best < 0 || start < best))
                best = start;
        }
        if (best > 0)
            return best;
    }
    return -1;
}

const char *
unit_route_why_text (unit_route_why_t why)
{
    switch (why) {
        case UNIT_ROUTE_IN: return "fits, on duty";
        case UNIT_ROUTE_TIER: return "does not answer at this tier";
        case UNIT_ROUTE_CATEGORY: return "does not handle this category";
        case UNIT_ROUTE_GRID: return "does not cover this grid";
        case UNIT_ROUTE_OFF_DUTY: return "off duty (rota)";
        case UNIT_ROUTE_HOLIDAY: return "off duty (holiday)";
    }
    return "?";
}
