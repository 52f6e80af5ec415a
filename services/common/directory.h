/*  directory.h — the street as data: communities, grids, buildings,
    categories with their starting tier and time limits, responder units.
    Parsed from JSON with jansson and validated; every problem is reported
    as "file: path: problem" (path like units[3].coverage.grids[0]).
    The format is described in docs/directory.md. */
#ifndef GC_DIRECTORY_H
#define GC_DIRECTORY_H

#include <stdbool.h>
#include <stddef.h>

#define DIR_TIER_GRID 1
#define DIR_TIER_COMMUNITY 2
#define DIR_TIER_STREET 3
#define DIR_TIER_DISTRICT 4
#define DIR_TIERS 4

typedef struct {
    const char *id;
    const char *name;
} dir_community_t;

typedef struct {
    const char *id;
    const char *name;
    const char *community;      //  community id
    const char *worker;         //  grid worker's name
    size_t building_count;
    double *polygon;            //  closed ring, [lon, lat] pairs; NULL: none given
    size_t polygon_points;      //  points of polygon (the last repeats the first)
} dir_grid_t;

typedef struct {
    const char *code;           //  e.g. "env.garbage"
    const char *name;           //  Chinese label
    bool service;               //  a service-card category (else an incident)
    int start_tier;             //  DIR_TIER_*
    int limit_minutes [DIR_TIERS + 1];  //  per tier, index 1..4; 0 = none
    int joint_units;            //  units a joint case needs (0 or 1 = single)
    int joint_by_tier [DIR_TIERS + 1];  //  per tier override, 0 = joint_units
    bool working_time;          //  limits count working time (the calendar)
    double reminder_fraction;   //  yellow reminder at this part of a limit; 0 = none
    int verify_minutes;         //  grid worker's time to verify a resolved case
    const char *joint_team;     //  the standing team that handles it jointly, or NULL
} dir_category_t;

typedef struct {
    int weekday;                //  1 = Monday .. 7 = Sunday
    int from_minute;            //  minutes after midnight, local time
    int to_minute;              //  exclusive
} dir_slot_t;

//  The working calendar: when a working-time clock runs.
typedef struct {
    dir_slot_t *hours;          //  working hours per weekday, local time
    size_t hour_count;          //  slots in hours
    const char **holidays;      //  "YYYY-MM-DD" days off (statutory holidays)
    size_t holiday_count;       //  entries in holidays
    const char **makeup_days;   //  "YYYY-MM-DD" make-up working days (调休)
    size_t makeup_count;        //  entries in makeup_days
    int makeup_weekday;         //  a make-up day works this weekday's hours
} dir_calendar_t;

typedef struct {
    const char *id;
    const char *name;
    const char *kind;           //  e.g. "lawyers", "property", "government"
    const char *responsible;    //  named responsible person
    const char *contact;
    unsigned tiers;             //  bit (1 << DIR_TIER_*) for each tier served
    const char **categories;    //  category codes it handles
    size_t category_count;
    const char **grids;         //  grids it covers, communities expanded
    size_t grid_count;
    int capacity;               //  open cases at once
    dir_slot_t *rota;           //  duty slots; none = always on duty
    size_t rota_count;
} dir_unit_t;

typedef struct _directory_t directory_t;

//  Parse and validate a directory from JSON text; name is used in messages.
//  Returns the directory, or NULL with the first problem in err.
directory_t *directory_parse (const char *json, const char *name, char *err, size_t errlen);
//  Same, reading the file at path.
directory_t *directory_load (const char *path, char *err, size_t errlen);
void directory_destroy (directory_t **self_p);

//  The validated JSON, normalised (compact); borrowed. This is what the
//  store loads into Redis. Written on the first call (the daemons never
//  need it); NULL when out of memory or shed.
const char *directory_json (directory_t *self);
//  Drop what no look-up reads once the document is checked: the sections
//  people, chain, teams, venues and agreements (checked against the rest
//  and counted, never looked up: two thirds of the parsed tree, 2.3 MB of
//  the tianjiao directory), and each grid's polygon and buildings (kept as
//  the grid's C ring and count: 0.37 MB more). For a daemon that holds the
//  directory for its look-ups; directory_json answers NULL afterwards.
void directory_shed (directory_t *self);

const char *directory_street_id (const directory_t *self);
const char *directory_street_code (const directory_t *self);
const char *directory_street_name (const directory_t *self);
int directory_utc_offset_minutes (const directory_t *self);

size_t directory_community_count (const directory_t *self);
const dir_community_t *directory_community (const directory_t *self, size_t index);
size_t directory_grid_count (const directory_t *self);
const dir_grid_t *directory_grid (const directory_t *self, size_t index);
const dir_grid_t *directory_grid_find (const directory_t *self, const char *id);
size_t directory_category_count (const directory_t *self);
const dir_category_t *directory_category (const directory_t *self, size_t index);
const dir_category_t *directory_category_find (const directory_t *self, const char *code);
//  People of the community's "people" section (docs/directory.md).
size_t directory_person_count (const directory_t *self);
size_t directory_unit_count (const directory_t *self);
const dir_unit_t *directory_unit (const directory_t *self, size_t index);
const dir_unit_t *directory_unit_find (const directory_t *self, const char *id);
//  The working calendar, or NULL when the directory has none; borrowed.
const dir_calendar_t *directory_calendar (const directory_t *self);

//  What of a unit's record keeps it from a case (DIR_FITS: nothing).
typedef enum {
    DIR_FITS = 0,               //  serves the tier, handles the category, covers the grid
    DIR_MISFIT_TIER,            //  does not answer at the tier
    DIR_MISFIT_CATEGORY,        //  does not handle the category
    DIR_MISFIT_GRID             //  does not cover the grid
} dir_fit_t;

//  Whether the unit's record serves this tier, grid and category, and if
//  not, the first reason why. Whether it may take a case now (rota,
//  holidays) is street_check's (street.h), which calls this.
dir_fit_t dir_unit_fit (const dir_unit_t *unit, int tier, const char *grid, const char *category);
//  True when dir_unit_fit says DIR_FITS.
bool dir_unit_fits (const dir_unit_t *unit, int tier, const char *grid, const char *category);
//  True when the unit is on duty at this local weekday (1..7) and minute.
bool dir_unit_on_duty (const dir_unit_t *unit, int weekday, int minute);

//  Units a case of this category summons at tier (1..4): the tier's
//  joint_by_tier entry, else joint_units.
int dir_category_joint_units (const dir_category_t *category, int tier);
//  The weekday whose hours (and rotas) apply on local date (year, month,
//  day; weekday 1..7): 0 on a holiday, makeup_weekday on a make-up day,
//  else weekday.
int dir_calendar_weekday (const dir_calendar_t *calendar, int year, int month, int day,
                          int weekday);
//  True when the calendar counts local date (year, month, day; weekday
//  1..7) and minute (0..1439) as working time. A holiday never works; a
//  make-up day works makeup_weekday's hours.
bool dir_calendar_works (const dir_calendar_t *calendar, int year, int month, int day,
                         int weekday, int minute);

//  Tier name ("GRID"...) for 1..4, NULL otherwise; and back, 0 if unknown.
const char *dir_tier_name (int tier);
int dir_tier_parse (const char *name);

//  True when (lon, lat) lies inside ring, a closed polygon of points
//  [lon, lat] pairs (ring [2 * i], ring [2 * i + 1]), by the even-odd rule.
bool dir_ring_contains (const double *ring, size_t points, double lon, double lat);

#endif
