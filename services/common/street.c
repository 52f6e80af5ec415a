/*  street.c — the street's local time, and who may take a case, when. */
#include "street.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define MINUTE_MS 60000LL
#define DAY_MS 86400000LL
#define LOOKAHEAD_DAYS 28

void
street_time (int utc_offset_minutes, long long unix_ms, street_time_t *at)
{
    long long local_ms = unix_ms + utc_offset_minutes * MINUTE_MS;
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

void
street_local (const directory_t *directory, long long unix_ms, street_time_t *at)
{
    street_time (directory ? directory_utc_offset_minutes (directory) : 0, unix_ms, at);
}

int
street_month_days (int year, int month)
{
    static const int days [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (month < 1 || month > 12)
        return 0;
    bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
    return days [month - 1] + (month == 2 && leap);
}

int
street_parse (int utc_offset_minutes, const char *text, long long *unix_ms)
{
    int y, mo, d, h = 0, mi = 0, used = 0;
    if (!text || sscanf (text, "%4d-%2d-%2d%n", &y, &mo, &d, &used) != 3 || used != 10)
        return -1;
    if (text [10]) {
        int more = 0;
        if ((text [10] != ' ' && text [10] != 'T')
        ||  sscanf (text + 11, "%2d:%2d%n", &h, &mi, &more) != 2 || more != 5 || text [16])
            return -1;
    }
    //  a day the month does not have is refused, not moved into the next
    if (y < 1970 || d < 1 || d > street_month_days (y, mo) || h < 0 || h > 23 || mi < 0 || mi > 59)
        return -1;
    struct tm tm = { .tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d,
                     .tm_hour = h, .tm_min = mi };
    *unix_ms = ((long long) timegm (&tm) - utc_offset_minutes * 60LL) * 1000;
    return 0;
}

void
street_format (const street_time_t *at, char *buf, size_t size)
{
    snprintf (buf, size, "%04d-%02d-%02d %02d:%02d", at->year, at->month, at->day,
              at->minute / 60, at->minute % 60);
}

long long
street_day_start (const street_time_t *at)
{
    long long into_minute = at->unix_ms % MINUTE_MS;
    if (into_minute < 0)
        into_minute += MINUTE_MS;
    return at->unix_ms - into_minute - at->minute * MINUTE_MS;
}

//  The weekday whose rota applies on at's date, or 0 on a holiday.
static int
s_rota_weekday (const directory_t *directory, const street_time_t *at)
{
    const dir_calendar_t *calendar = directory ? directory_calendar (directory) : NULL;
    return calendar ? dir_calendar_weekday (calendar, at->year, at->month, at->day, at->weekday)
                    : at->weekday;
}

bool
street_on_duty (const directory_t *directory, const dir_unit_t *unit, const street_time_t *at)
{
    if (unit->rota_count == 0)
        return true;
    int weekday = s_rota_weekday (directory, at);
    return weekday > 0 && dir_unit_on_duty (unit, weekday, at->minute);
}

street_why_t
street_check (const directory_t *directory, const dir_unit_t *unit, int tier,
              const char *grid, const char *category, const street_time_t *at)
{
    switch (dir_unit_fit (unit, tier, grid, category)) {
        case DIR_MISFIT_TIER: return STREET_TIER;
        case DIR_MISFIT_CATEGORY: return STREET_CATEGORY;
        case DIR_MISFIT_GRID: return STREET_GRID;
        case DIR_FITS: break;
    }
    if (!street_on_duty (directory, unit, at))
        return s_rota_weekday (directory, at) == 0 ? STREET_HOLIDAY : STREET_OFF_DUTY;
    return STREET_IN;
}

long long
street_next_duty (const directory_t *directory, const dir_unit_t *unit, const street_time_t *at)
{
    if (street_on_duty (directory, unit, at))
        return at->unix_ms;
    //  walk day by day from local midnight; the first slot start after at
    long long midnight = street_day_start (at);
    for (int day = 0; day <= LOOKAHEAD_DAYS; day++) {
        street_time_t that;
        street_local (directory, midnight + day * DAY_MS + 12 * 3600000LL, &that);
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
street_why_text (street_why_t why)
{
    switch (why) {
        case STREET_IN: return "fits, on duty";
        case STREET_TIER: return "does not answer at this tier";
        case STREET_CATEGORY: return "does not handle this category";
        case STREET_GRID: return "does not cover this grid";
        case STREET_OFF_DUTY: return "off duty (rota)";
        case STREET_HOLIDAY: return "off duty (holiday)";
    }
    return "?";
}
