/*  fuzz_directory.c — libFuzzer harness for the directory parser
    (directory.c) and the look-ups the daemons make on what it accepts
    (street.c). Input: the JSON text of a directory, as directory_load
    reads it from a file. See docs/fuzzing.md. */
#include <assert.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"
#include "street.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Moments the look-ups are asked about: a Monday morning, a Sunday
//  night, a national-holiday noon, the epoch.
static const long long s_moments [] = {
    1717376400000LL, 1717351200000LL + 6 * 86400000LL, 1727755200000LL, 0
};

//  Every look-up a daemon makes, on every unit, grid and category.
static void
s_look_up (const directory_t *dir)
{
    assert (directory_street_id (dir) && directory_street_code (dir));
    assert (directory_street_name (dir));
    assert (directory_community_count (dir) > 0 && directory_grid_count (dir) > 0);
    assert (directory_category_count (dir) > 0 && directory_unit_count (dir) > 0);
    for (size_t i = 0; i < directory_community_count (dir); i++)
        assert (directory_community (dir, i)->id && directory_community (dir, i)->name);
    for (size_t i = 0; i < directory_grid_count (dir); i++) {
        const dir_grid_t *grid = directory_grid (dir, i);
        assert (directory_grid_find (dir, grid->id) == grid);
    }
    for (size_t i = 0; i < directory_category_count (dir); i++) {
        const dir_category_t *category = directory_category (dir, i);
        assert (directory_category_find (dir, category->code) == category);
        assert (dir_tier_name (category->start_tier));
        for (int tier = 1; tier <= DIR_TIERS; tier++)
            assert (dir_category_joint_units (category, tier) >= 0);
    }
    street_time_t at [sizeof s_moments / sizeof s_moments [0]];
    for (size_t m = 0; m < sizeof s_moments / sizeof s_moments [0]; m++) {
        street_local (dir, s_moments [m], &at [m]);
        assert (at [m].weekday >= 1 && at [m].weekday <= 7);
        assert (at [m].minute >= 0 && at [m].minute < 1440);
        const dir_calendar_t *calendar = directory_calendar (dir);
        if (calendar) {
            int weekday = dir_calendar_weekday (calendar, at [m].year, at [m].month, at [m].day,
                                                at [m].weekday);
            assert (weekday >= 0 && weekday <= 7);
            dir_calendar_works (calendar, at [m].year, at [m].month, at [m].day,
                                at [m].weekday, at [m].minute);
        }
    }
    for (size_t u = 0; u < directory_unit_count (dir); u++) {
        const dir_unit_t *unit = directory_unit (dir, u);
        assert (directory_unit_find (dir, unit->id) == unit);
        for (size_t g = 0; g < unit->grid_count; g++)
            assert (directory_grid_find (dir, unit->grids [g]));
        for (size_t c = 0; c < unit->category_count; c++)
            assert (directory_category_find (dir, unit->categories [c]));
        //  a unit is asked about the grids and categories it may see (the
        //  first few: the cost grows with their product)
        for (size_t g = 0; g < directory_grid_count (dir) && g < 12; g++)
            for (size_t c = 0; c < directory_category_count (dir) && c < 12; c++)
                for (int tier = 1; tier <= DIR_TIERS; tier++) {
                    const char *grid = directory_grid (dir, g)->id;
                    const char *code = directory_category (dir, c)->code;
                    bool fits = dir_unit_fits (unit, tier, grid, code);
                    assert (fits == (dir_unit_fit (unit, tier, grid, code) == DIR_FITS));
                    street_why_t why = street_check (dir, unit, tier, grid, code, &at [0]);
                    assert (fits || why != STREET_IN);
                }
        for (size_t m = 0; m < sizeof at / sizeof at [0]; m++) {
            bool on = street_on_duty (dir, unit, &at [m]);
            long long next = street_next_duty (dir, unit, &at [m]);
            assert (!on || next == at [m].unix_ms);
            assert (on || next == -1 || next > at [m].unix_ms);
        }
    }
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    char *text = malloc (size + 1);
    assert (text);
    memcpy (text, data, size);
    text [size] = 0;
    char err [512];
    directory_t *dir = directory_parse (text, "fuzz.json", err, sizeof err);
    free (text);
    if (!dir) {
        //  refused: the problem is named, with the file it came from
        assert (strncmp (err, "fuzz.json: ", 11) == 0 && strlen (err) > 11);
        return 0;
    }
    s_look_up (dir);
    //  the normalised document (what the store loads into Redis) is a
    //  directory too, and normalises to itself
    char *json = strdup (directory_json (dir));
    assert (json);
    directory_t *again = directory_parse (json, "normalised", err, sizeof err);
    if (!again) {
        fprintf (stderr, "normalised directory refused: %s\n", err);
        abort ();
    }
    assert (strcmp (directory_json (again), json) == 0);
    directory_destroy (&again);
    free (json);
    directory_destroy (&dir);
    assert (dir == NULL);
    return 0;
}
