/*  test_directory_geo.c — the directory's optional geometry: grid polygons,
    building points and addresses, the location section; what it accepts,
    and each mistake refused with the path and the reason. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"

//  One street, one grid (a square 0.01 degree wide at Dongsheng), one
//  unit; written with single quotes, turned into JSON by quoted ().
#define SQUARE "[[110.0, 39.8], [110.01, 39.8], [110.01, 39.81], [110.0, 39.81], [110.0, 39.8]]"
#define DOC(location, polygon, building) \
    "{'version': 1, 'street': {'id': 'tj', 'code': 'TJ', 'name': '天骄街道'," \
    " 'utc_offset_minutes': 480}, 'communities': [{'id': 'C01', 'name': '安达社区'}]," \
    location " 'grids': [{'id': 'G01', 'name': 'one', 'community': 'C01', 'worker': 'w1'" \
    polygon ", 'buildings': [" building "]}]," \
    " 'categories': [{'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident'," \
    " 'start_tier': 'GRID', 'limits_minutes': {'GRID': 240, 'COMMUNITY': 480, 'STREET': 1440," \
    " 'DISTRICT': 2880}}], 'units': [{'id': 'U001', 'name': 'team', 'kind': 'grid_team'," \
    " 'responsible': 'r', 'contact': 'c', 'tiers': ['GRID'], 'categories': ['env.garbage']," \
    " 'capacity': 5, 'coverage': 'street'}]}"
#define POLYGON(ring) ", 'polygon': " ring
#define BUILDING(point) "{'id': 'B0101', 'name': '安达小区1号楼', 'address': '天骄路10号安达小区1号楼'" \
                        ", 'point': " point "}"
#define INSIDE "[110.005, 39.805]"

static char *
quoted (const char *text)
{
    char *json = strdup (text);
    assert_non_null (json);
    for (char *c = json; *c; c++)
        if (*c == '\'')
            *c = '"';
    return json;
}

static directory_t *
parse (const char *document, char *err, size_t errlen)
{
    char *json = quoted (document);
    *err = 0;
    directory_t *dir = directory_parse (json, "test.json", err, errlen);
    free (json);
    return dir;
}

static void
assert_refused (const char *document, const char *expected)
{
    char err [512];
    directory_t *dir = parse (document, err, sizeof err);
    if (dir || !strstr (err, expected))
        print_error ("want an error containing: %s\n got: %s\n", expected, dir ? "(accepted)" : err);
    directory_destroy (&dir);
    assert_non_null (strstr (err, expected));
}

static void
test_geometry_accepted (void **state)
{
    (void) state;
    char err [512];
    directory_t *dir = parse (DOC ("'location': {'schematic': true, 'note': '示意', "
                                   "'nearest_building_m': 150, 'duplicate_window_minutes': 1440},",
                                   POLYGON (SQUARE), BUILDING (INSIDE)), err, sizeof err);
    if (!dir)
        print_error ("refused: %s\n", err);
    assert_non_null (dir);
    const dir_grid_t *grid = directory_grid (dir, 0);
    assert_int_equal (grid->polygon_points, 5);
    assert_true (grid->polygon [0] == 110.0 && grid->polygon [1] == 39.8);
    assert_true (dir_ring_contains (grid->polygon, grid->polygon_points, 110.005, 39.805));
    assert_false (dir_ring_contains (grid->polygon, grid->polygon_points, 110.02, 39.805));
    assert_false (dir_ring_contains (grid->polygon, grid->polygon_points, 110.005, 39.79));
    //  the geometry reaches the normalised JSON the store loads
    assert_non_null (strstr (directory_json (dir), "\"polygon\":[[110.0,39.799999999999997]"));
    directory_destroy (&dir);
    //  all of it is optional: a grid without a polygon, a building without a point
    dir = parse (DOC ("", "", "{'id': 'B0101', 'name': 'n'}"), err, sizeof err);
    assert_non_null (dir);
    assert_null (directory_grid (dir, 0)->polygon);
    directory_destroy (&dir);
    //  a building point in a grid without a polygon is only checked as a point
    dir = parse (DOC ("", "", BUILDING ("[111.0, 40.0]")), err, sizeof err);
    assert_non_null (dir);
    directory_destroy (&dir);
}

static void
test_concave_ring (void **state)
{
    (void) state;
    //  an L: the notch's point is outside, the arms' inside
    static const double ring [] = { 0, 0, 2, 0, 2, 1, 1, 1, 1, 2, 0, 2, 0, 0 };
    assert_true (dir_ring_contains (ring, 7, 0.5, 1.5));
    assert_true (dir_ring_contains (ring, 7, 1.5, 0.5));
    assert_false (dir_ring_contains (ring, 7, 1.5, 1.5));
}

static void
test_polygon_errors (void **state)
{
    (void) state;
    assert_refused (DOC ("", POLYGON ("[[110.0, 39.8], [110.01, 39.8], [110.01, 39.81], [110.0, 39.81]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon: the ring is not closed");
    assert_refused (DOC ("", POLYGON ("[[110.0, 39.8], [110.01, 39.8], [110.0, 39.8]]"), BUILDING (INSIDE)),
                    "grids[0].polygon: a polygon is a closed ring of 4..2000 points, not 3");
    assert_refused (DOC ("", POLYGON ("[[110.0, 39.8], [110.01, 39.8], [110.02, 39.8], [110.0, 39.8]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon: the ring encloses no area");
    assert_refused (DOC ("", POLYGON ("[[110.0, 39.8], [110.01, 91], [110.01, 39.81], [110.0, 39.8]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon[1]: latitude 91 is outside -90..90");
    assert_refused (DOC ("", POLYGON ("[[181, 39.8], [110.01, 39.8], [110.01, 39.81], [181, 39.8]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon[0]: longitude 181 is outside -180..180");
    assert_refused (DOC ("", POLYGON ("[[110.0, 39.8, 3], [110.01, 39.8], [110.01, 39.81], [110.0, 39.8]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon[0]: must be a point [longitude, latitude]");
    assert_refused (DOC ("", POLYGON ("[['110', 39.8], [110.01, 39.8], [110.01, 39.81], ['110', 39.8]]"),
                         BUILDING (INSIDE)),
                    "grids[0].polygon[0]: must be a point of two numbers");
    assert_refused (DOC ("", POLYGON ("{'type': 'Polygon'}"), BUILDING (INSIDE)),
                    "grids[0].polygon: must be an array, not an object");
}

static void
test_building_errors (void **state)
{
    (void) state;
    assert_refused (DOC ("", POLYGON (SQUARE), BUILDING ("[110.02, 39.805]")),
                    "grids[0].buildings[0].point: [110.02, 39.805] lies outside its grid's polygon");
    assert_refused (DOC ("", POLYGON (SQUARE), BUILDING ("[39.805, 110.005]")),
                    "grids[0].buildings[0].point: latitude 110.005 is outside -90..90");
    assert_refused (DOC ("", POLYGON (SQUARE), BUILDING ("'here'")),
                    "grids[0].buildings[0].point: must be a point [longitude, latitude]");
    assert_refused (DOC ("", POLYGON (SQUARE), "{'id': 'B0101', 'name': 'n', 'address': ''}"),
                    "grids[0].buildings[0].address: must not be empty");
    assert_refused (DOC ("", POLYGON (SQUARE), "{'id': 'B0101', 'name': 'n', 'where': 'x'}"),
                    "grids[0].buildings[0].where: unknown field");
}

static void
test_location_errors (void **state)
{
    (void) state;
    assert_refused (DOC ("'location': {'schematic': 'yes'},", POLYGON (SQUARE), BUILDING (INSIDE)),
                    "location.schematic: must be true or false, not a string");
    assert_refused (DOC ("'location': {'nearest_building_m': 5001},", POLYGON (SQUARE), BUILDING (INSIDE)),
                    "location.nearest_building_m: 5001 is out of range 0..5000");
    assert_refused (DOC ("'location': {'duplicate_window_minutes': -1},", POLYGON (SQUARE),
                         BUILDING (INSIDE)),
                    "location.duplicate_window_minutes: -1 is out of range");
    assert_refused (DOC ("'location': {'radius': 3},", POLYGON (SQUARE), BUILDING (INSIDE)),
                    "location.radius: unknown field");
}

//  The demo street: every grid has a polygon, every building a point in it.
static void
test_demo_geometry (void **state)
{
    (void) state;
    char err [512];
    directory_t *dir = directory_load ("deploy/tianjiao/directory.json", err, sizeof err);
    if (!dir)
        print_error ("%s\n", err);
    assert_non_null (dir);
    for (size_t i = 0; i < directory_grid_count (dir); i++) {
        const dir_grid_t *grid = directory_grid (dir, i);
        assert_non_null (grid->polygon);
        assert_true (grid->polygon [1] > 39.7 && grid->polygon [1] < 39.9);
        assert_true (grid->polygon [0] > 109.9 && grid->polygon [0] < 110.1);
    }
    directory_destroy (&dir);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_geometry_accepted),
        cmocka_unit_test (test_concave_ring),
        cmocka_unit_test (test_polygon_errors),
        cmocka_unit_test (test_building_errors),
        cmocka_unit_test (test_location_errors),
        cmocka_unit_test (test_demo_geometry),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
