/*  test_directory.c — the directory class by example: load the Tianjiao
    demo street, look things up, ask who fits and who is on duty, and see
    how each kind of mistake in a directory file is reported.
    Usage: test_directory [deploy/tianjiao/directory.json] (or GC_DIRECTORY). */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "directory.h"

static const char *s_path = "deploy/tianjiao/directory.json";   //  set by main

//  A small valid street for the error cases, written with single quotes
//  (quoted () turns them into double quotes) so the cases stay readable.
#define STREET "{'id': 'tj', 'code': 'TJ', 'name': '天骄街道', 'utc_offset_minutes': 480}"
#define COMMUNITIES "[{'id': 'C01', 'name': '安达社区'}, {'id': 'C02', 'name': '天骄社区'}]"
#define GRIDS "[{'id': 'G01', 'name': 'one', 'community': 'C01', 'worker': 'w1'}," \
              " {'id': 'G02', 'name': 'two', 'community': 'C02', 'worker': 'w2'}]"
#define LIMITS "{'GRID': 240, 'COMMUNITY': 480, 'STREET': 1440, 'DISTRICT': 2880}"
#define CATEGORIES "[{'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident'," \
                   " 'start_tier': 'GRID', 'limits_minutes': " LIMITS "}]"
#define UNIT_HEAD "'id': 'U001', 'name': 'team', 'kind': 'grid_team', 'responsible': 'r', 'contact': 'c'"
#define UNIT_BODY "'tiers': ['GRID'], 'categories': ['env.garbage'], 'capacity': 5"
#define UNITS "[{" UNIT_HEAD ", " UNIT_BODY ", 'coverage': 'street'}]"
#define DOCUMENT5(street, communities, grids, categories, units) \
    "{'version': 1, 'street': " street ", 'communities': " communities \
    ", 'grids': " grids ", 'categories': " categories ", 'units': " units "}"
#define DOCUMENT(categories, units) DOCUMENT5 (STREET, COMMUNITIES, GRIDS, categories, units)
#define DOCUMENT_UNIT(fields) DOCUMENT (CATEGORIES, "[{" UNIT_HEAD ", " fields "}]")

//  The text with every ' turned into "; the caller frees it.
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

//  Parse a single-quoted document that must be refused with a message
//  containing expected.
static void
assert_refused (const char *document, const char *expected)
{
    char *json = quoted (document);
    char err [512] = "";
    directory_t *dir = directory_parse (json, "test.json", err, sizeof err);
    if (dir || !strstr (err, expected))
        print_error ("want an error containing: %s\n got: %s\n", expected,
                     dir? "(accepted)": err);
    directory_destroy (&dir);
    free (json);
    assert_non_null (strstr (err, expected));
}

//  Parse a single-quoted document that must be accepted; caller destroys it.
static directory_t *
parse_ok (const char *document)
{
    char *json = quoted (document);
    char err [512] = "";
    directory_t *dir = directory_parse (json, "test.json", err, sizeof err);
    if (!dir)
        print_error ("refused: %s\n", err);
    free (json);
    assert_non_null (dir);
    return dir;
}

static int
load_demo (void **state)
{
    char err [512];
    directory_t *dir = directory_load (s_path, err, sizeof err);
    if (!dir)
        print_error ("%s\n", err);
    *state = dir;
    return dir? 0: -1;
}

static int
destroy_demo (void **state)
{
    directory_t *dir = *state;
    directory_destroy (&dir);
    assert_null (dir);
    return 0;
}


//  ---------------------------------------------------------------------
//  The demo street

static void
test_demo_street (void **state)
{
    const directory_t *dir = *state;
    assert_string_equal (directory_street_id (dir), "tianjiao");
    assert_string_equal (directory_street_code (dir), "TJ");
    assert_string_equal (directory_street_name (dir), "天骄街道");
    assert_int_equal (directory_utc_offset_minutes (dir), 480);
    assert_true (directory_community_count (dir) >= 7);
    assert_int_equal (directory_grid_count (dir), 63);
    assert_int_equal (directory_unit_count (dir), 102);

    size_t services = 0;
    for (size_t i = 0; i < directory_category_count (dir); i++)
        if (directory_category (dir, i)->service)
            services++;
    assert_int_equal (services, 9);

    //  Every grid sits in a listed community and has a worker and buildings
    for (size_t i = 0; i < directory_grid_count (dir); i++) {
        const dir_grid_t *grid = directory_grid (dir, i);
        assert_ptr_equal (directory_grid_find (dir, grid->id), grid);
        bool known = false;
        for (size_t c = 0; c < directory_community_count (dir); c++)
            known |= strcmp (directory_community (dir, c)->id, grid->community) == 0;
        assert_true (known);
        assert_true (strlen (grid->worker) > 0);
        assert_in_range (grid->building_count, 2, 6);
    }
    assert_null (directory_grid (dir, 63));
    assert_null (directory_unit (dir, 102));
    assert_null (directory_grid_find (dir, "G64"));
    assert_null (directory_unit_find (dir, "nobody"));
}

static void
test_categories (void **state)
{
    const directory_t *dir = *state;
    const dir_category_t *legal = directory_category_find (dir, "svc.legal");
    assert_non_null (legal);
    assert_true (legal->service);
    assert_string_equal (legal->name, "法律援助");

    //  A gas leak goes straight to the street, with short limits
    const dir_category_t *gas = directory_category_find (dir, "safety.gas_leak");
    assert_non_null (gas);
    assert_false (gas->service);
    assert_int_equal (gas->start_tier, DIR_TIER_STREET);
    assert_int_equal (gas->limit_minutes [DIR_TIER_STREET], 30);
    assert_int_equal (gas->limit_minutes [DIR_TIER_DISTRICT], 60);
    assert_int_equal (gas->limit_minutes [DIR_TIER_GRID], 0);

    //  A family dispute is handled jointly (judicial, women's federation, civil affairs)
    const dir_category_t *family = directory_category_find (dir, "dispute.family");
    assert_non_null (family);
    assert_int_equal (family->joint_units, 3);
    assert_null (directory_category_find (dir, "svc.unknown"));

    //  Every tier from the start tier up to DISTRICT has a limit
    for (size_t i = 0; i < directory_category_count (dir); i++) {
        const dir_category_t *category = directory_category (dir, i);
        for (int tier = category->start_tier; tier <= DIR_TIER_DISTRICT; tier++)
            assert_true (category->limit_minutes [tier] > 0);
    }
}

static void
test_lawyers_on_wednesday_afternoons (void **state)
{
    const directory_t *dir = *state;
    const dir_unit_t *lawyers = directory_unit_find (dir, "U001");
    assert_non_null (lawyers);
    assert_non_null (strstr (lawyers->name, "律师行业协会"));
    assert_int_equal (lawyers->rota_count, 1);
    assert_int_equal (lawyers->rota [0].weekday, 3);
    assert_int_equal (lawyers->rota [0].from_minute, 14 * 60);
    assert_int_equal (lawyers->rota [0].to_minute, 18 * 60);

    assert_true (dir_unit_on_duty (lawyers, 3, 15 * 60));
    assert_true (dir_unit_on_duty (lawyers, 3, 14 * 60));
    assert_false (dir_unit_on_duty (lawyers, 3, 18 * 60));     //  "to" is exclusive
    assert_false (dir_unit_on_duty (lawyers, 3, 19 * 60));
    assert_false (dir_unit_on_duty (lawyers, 4, 15 * 60));

    //  A unit without a rota is always on duty
    const dir_unit_t *judicial = directory_unit_find (dir, "U004");
    assert_non_null (judicial);
    assert_non_null (strstr (judicial->name, "司法所"));
    assert_int_equal (judicial->rota_count, 0);
    assert_true (dir_unit_on_duty (judicial, 7, 3 * 60));
}

static void
test_unit_fits (void **state)
{
    const directory_t *dir = *state;
    //  The lawyers serve the whole street at community and street tiers
    const dir_unit_t *lawyers = directory_unit_find (dir, "U001");
    assert_int_equal (lawyers->grid_count, 63);
    assert_true (dir_unit_fits (lawyers, DIR_TIER_COMMUNITY, "G01", "svc.legal"));
    assert_true (dir_unit_fits (lawyers, DIR_TIER_STREET, "G63", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, DIR_TIER_GRID, "G01", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, DIR_TIER_DISTRICT, "G01", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, DIR_TIER_COMMUNITY, "G01", "env.garbage"));
    assert_false (dir_unit_fits (lawyers, DIR_TIER_COMMUNITY, "G99", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, 0, "G01", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, 5, "G01", "svc.legal"));
    assert_false (dir_unit_fits (NULL, DIR_TIER_COMMUNITY, "G01", "svc.legal"));
    assert_false (dir_unit_fits (lawyers, DIR_TIER_COMMUNITY, NULL, "svc.legal"));

    //  The Yitai property company covers two communities only
    const dir_unit_t *yitai = directory_unit_find (dir, "U003");
    assert_non_null (strstr (yitai->name, "伊泰物业"));
    const dir_grid_t *first = directory_grid_find (dir, yitai->grids [0]);
    assert_string_equal (first->community, "C02");
    assert_true (dir_unit_fits (yitai, DIR_TIER_GRID, first->id, "property.service"));
    assert_false (dir_unit_fits (yitai, DIR_TIER_GRID, "G01", "property.service"));
    assert_false (dir_unit_fits (yitai, DIR_TIER_STREET, first->id, "property.service"));
}

//  The dispatcher always finds enough units: every category, at every tier
//  from its start tier up, in every grid.
static void
test_every_case_finds_units (void **state)
{
    const directory_t *dir = *state;
    for (size_t c = 0; c < directory_category_count (dir); c++) {
        const dir_category_t *category = directory_category (dir, c);
        size_t need = category->joint_units > 2? (size_t) category->joint_units: 2;
        for (int tier = category->start_tier; tier <= DIR_TIER_DISTRICT; tier++)
            for (size_t g = 0; g < directory_grid_count (dir); g++) {
                const char *grid = directory_grid (dir, g)->id;
                size_t found = 0;
                for (size_t u = 0; u < directory_unit_count (dir); u++)
                    if (dir_unit_fits (directory_unit (dir, u), tier, grid, category->code))
                        found++;
                if (found < need)
                    print_error ("%s at %s in %s: %zu units\n", category->code,
                                 dir_tier_name (tier), grid, found);
                assert_true (found >= need);
            }
    }
}

static void
test_tier_names (void **state)
{
    (void) state;
    assert_string_equal (dir_tier_name (DIR_TIER_GRID), "GRID");
    assert_string_equal (dir_tier_name (DIR_TIER_DISTRICT), "DISTRICT");
    assert_null (dir_tier_name (0));
    assert_null (dir_tier_name (5));
    for (int tier = 1; tier <= DIR_TIERS; tier++)
        assert_int_equal (dir_tier_parse (dir_tier_name (tier)), tier);
    assert_int_equal (dir_tier_parse ("grid"), 0);
    assert_int_equal (dir_tier_parse (NULL), 0);
}

//  The normalised JSON parses again and names every unit's grids.
static void
test_normalised_json (void **state)
{
    directory_t *dir = *state;
    const char *text = directory_json (dir);
    assert_null (strchr (text, '\n'));                  //  compact

    char err [512];
    directory_t *again = directory_parse (text, "normalised", err, sizeof err);
    if (!again)
        print_error ("%s\n", err);
    assert_non_null (again);
    assert_int_equal (directory_grid_count (again), 63);
    assert_int_equal (directory_unit_count (again), 102);
    assert_string_equal (directory_json (again), text);  //  a fixed point
    for (size_t u = 0; u < directory_unit_count (dir); u++)
        assert_int_equal (directory_unit (again, u)->grid_count,
                          directory_unit (dir, u)->grid_count);
    directory_destroy (&again);

    json_t *root = json_loads (text, 0, NULL);
    assert_non_null (root);
    json_t *yitai = json_array_get (json_object_get (root, "units"), 2);
    assert_null (json_object_get (yitai, "coverage"));
    json_t *grids = json_object_get (yitai, "grids");
    assert_true (json_is_array (grids));
    assert_int_equal (json_array_size (grids), directory_unit_find (dir, "U003")->grid_count);
    json_decref (root);
}

//  Coverage by street, by community and by grid all end as a grid list.
static void
test_coverage_forms (void **state)
{
    (void) state;
    directory_t *dir = parse_ok (DOCUMENT (CATEGORIES,
        "[{" UNIT_HEAD ", " UNIT_BODY ", 'coverage': 'street'},"
        " {'id': 'U002', 'name': 'b', 'kind': 'k', 'responsible': 'r', 'contact': 'c',"
        "  " UNIT_BODY ", 'coverage': {'communities': ['C02']}},"
        " {'id': 'U003', 'name': 'c', 'kind': 'k', 'responsible': 'r', 'contact': 'c',"
        "  " UNIT_BODY ", 'coverage': {'grids': ['G02', 'G01']}},"
        " {'id': 'U004', 'name': 'd', 'kind': 'k', 'responsible': 'r', 'contact': 'c',"
        "  " UNIT_BODY ", 'grids': ['G01']}]"));
    assert_int_equal (directory_unit_find (dir, "U001")->grid_count, 2);
    const dir_unit_t *by_community = directory_unit_find (dir, "U002");
    assert_int_equal (by_community->grid_count, 1);
    assert_string_equal (by_community->grids [0], "G02");
    const dir_unit_t *by_grid = directory_unit_find (dir, "U003");
    assert_int_equal (by_grid->grid_count, 2);
    assert_string_equal (by_grid->grids [0], "G01");      //  directory order
    assert_int_equal (directory_unit_find (dir, "U004")->grid_count, 1);
    assert_non_null (strstr (directory_json (dir),
        "\"capacity\":5,\"grids\":[\"G01\",\"G02\"]"));
    directory_destroy (&dir);
}


//  ---------------------------------------------------------------------
//  Each kind of mistake, and how it is reported

static void
test_error_not_json (void **state)
{
    (void) state;
    assert_refused ("{'version': 1,\n 'street': }", "test.json: line 2, column 12: not JSON: ");
    assert_refused ("[]", "test.json: the document must be a JSON object, not an array");
    assert_refused ("{'version': 1, 'version': 1}", "not JSON: duplicate object key");

    char err [512];
    assert_null (directory_load ("/nonexistent/directory.json", err, sizeof err));
    assert_non_null (strstr (err, "/nonexistent/directory.json: cannot open: "));
}

static void
test_error_too_large (void **state)
{
    (void) state;
    size_t size = 16 * 1024 * 1024 + 1;
    char *huge = malloc (size + 1);
    assert_non_null (huge);
    memset (huge, ' ', size);
    huge [size] = 0;
    char err [512];
    assert_null (directory_parse (huge, "huge.json", err, sizeof err));
    assert_non_null (strstr (err, "huge.json: larger than 16 MiB, refused"));

    char path [] = "/tmp/test_directory_XXXXXX";
    int fd = mkstemp (path);
    assert_true (fd >= 0);
    FILE *file = fdopen (fd, "w");
    assert_non_null (file);
    assert_int_equal (fwrite (huge, 1, size, file), size);
    fclose (file);
    assert_null (directory_load (path, err, sizeof err));
    assert_non_null (strstr (err, ": larger than 16 MiB, refused"));
    remove (path);
    free (huge);
}

static void
test_error_missing_or_wrong_type (void **state)
{
    (void) state;
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage'], 'coverage': 'street'"),
                    "test.json: units[0].capacity: required field missing");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': '5'"),
                    "test.json: units[0].capacity: must be an integer, not a string");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY),
                    "test.json: units[0].coverage: required field missing");
    assert_refused (DOCUMENT5 (STREET, COMMUNITIES,
                               "[{'id': 'G01', 'name': 'one', 'community': 'C01'}]",
                               CATEGORIES, UNITS),
                    "test.json: grids[0].worker: required field missing");
    assert_refused (DOCUMENT5 (STREET, "[]", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities: must not be empty");
    assert_refused (DOCUMENT5 (STREET, "{}", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities: must be an array, not an object");
    assert_refused ("{'version': 1}", "test.json: street: required field missing");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street', 'capcity': 5"),
                    "test.json: units[0].capcity: unknown field");
    assert_refused ("{'version': 2}", "test.json: version: version 2 is not supported");
}

static void
test_error_duplicate_ids (void **state)
{
    (void) state;
    assert_refused (DOCUMENT5 (STREET, COMMUNITIES,
                               "[{'id': 'G01', 'name': 'one', 'community': 'C01', 'worker': 'w'},"
                               " {'id': 'G01', 'name': 'two', 'community': 'C02', 'worker': 'w'}]",
                               CATEGORIES, UNITS),
                    "test.json: grids[1].id: duplicate id \"G01\" (first at grids[0])");
    assert_refused (DOCUMENT (CATEGORIES, "[{" UNIT_HEAD ", " UNIT_BODY ", 'coverage': 'street'},"
                                          " {" UNIT_HEAD ", " UNIT_BODY ", 'coverage': 'street'}]"),
                    "test.json: units[1].id: duplicate id \"U001\" (first at units[0])");
    assert_refused (DOCUMENT5 (STREET, COMMUNITIES,
                               "[{'id': 'G01', 'name': 'one', 'community': 'C01', 'worker': 'w',"
                               "  'buildings': [{'id': 'B1', 'name': 'b'}]},"
                               " {'id': 'G02', 'name': 'two', 'community': 'C02', 'worker': 'w',"
                               "  'buildings': [{'id': 'B2', 'name': 'b'}, {'id': 'B1', 'name': 'b'}]}]",
                               CATEGORIES, UNITS),
                    "test.json: grids[1].buildings[1].id: duplicate id \"B1\" (first at grids[0].buildings[0])");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage', 'env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 5"),
                    "test.json: units[0].categories[1]: category \"env.garbage\" listed twice");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': {'grids': ['G01', 'G01']}"),
                    "test.json: units[0].coverage.grids[1]: \"G01\" listed twice");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID', 'GRID'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 5"),
                    "test.json: units[0].tiers[1]: tier GRID listed twice");
}

static void
test_error_unknown_references (void **state)
{
    (void) state;
    assert_refused (DOCUMENT5 (STREET, COMMUNITIES,
                               "[{'id': 'G01', 'name': 'one', 'community': 'C09', 'worker': 'w'}]",
                               CATEGORIES, UNITS),
                    "test.json: grids[0].community: unknown community \"C09\"");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.trash'],"
                                   " 'coverage': 'street', 'capacity': 5"),
                    "test.json: units[0].categories[0]: unknown category \"env.trash\"");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': {'grids': ['G01', 'G99']}"),
                    "test.json: units[0].coverage.grids[1]: unknown grid \"G99\"");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': {'communities': ['C07']}"),
                    "test.json: units[0].coverage.communities[0]: unknown community \"C07\"");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'city'"),
                    "test.json: units[0].coverage: must be \"street\"");
    assert_refused (DOCUMENT5 (STREET, "[{'id': 'C01', 'name': 'a'}, {'id': 'C02', 'name': 'b'},"
                                       " {'id': 'C03', 'name': 'no grids yet'}]", GRIDS, CATEGORIES,
                               "[{" UNIT_HEAD ", " UNIT_BODY ", 'coverage': {'communities': ['C03']}}]"),
                    "test.json: units[0].coverage: covers no grid");
}

static void
test_error_tier_names (void **state)
{
    (void) state;
    assert_refused (DOCUMENT ("[{'code': 'env.garbage', 'name': 'g', 'kind': 'incident',"
                              " 'start_tier': 'BLOCK', 'limits_minutes': " LIMITS "}]", UNITS),
                    "test.json: categories[0].start_tier: unknown tier \"BLOCK\"");
    assert_refused (DOCUMENT ("[{'code': 'env.garbage', 'name': 'g', 'kind': 'incident',"
                              " 'start_tier': 'GRID', 'limits_minutes': {'GRID': 1, 'COMMUNITY': 2,"
                              " 'STREET': 3, 'DISTRICT': 4, 'CITY': 5}}]", UNITS),
                    "test.json: categories[0].limits_minutes.CITY: unknown tier");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID', 'CITY'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 5"),
                    "test.json: units[0].tiers[1]: unknown tier \"CITY\"");
    assert_refused (DOCUMENT ("[{'code': 'env.garbage', 'name': 'g', 'kind': 'accident',"
                              " 'start_tier': 'GRID', 'limits_minutes': " LIMITS "}]", UNITS),
                    "test.json: categories[0].kind: \"accident\" is neither");
}

static void
test_error_limits (void **state)
{
    (void) state;
    assert_refused (DOCUMENT ("[{'code': 'env.garbage', 'name': 'g', 'kind': 'incident',"
                              " 'start_tier': 'GRID', 'limits_minutes': {'GRID': 240,"
                              " 'COMMUNITY': 480, 'DISTRICT': 2880}}]", UNITS),
                    "test.json: categories[0].limits_minutes.STREET: required field missing");
    assert_refused (DOCUMENT ("[{'code': 'env.garbage', 'name': 'g', 'kind': 'incident',"
                              " 'start_tier': 'GRID', 'limits_minutes': {'GRID': 0,"
                              " 'COMMUNITY': 480, 'STREET': 1440, 'DISTRICT': 2880}}]", UNITS),
                    "test.json: categories[0].limits_minutes.GRID: 0 is out of range 1..");
    //  A category starting at STREET needs only STREET and DISTRICT
    directory_t *dir = parse_ok (DOCUMENT (
        "[{'code': 'safety.gas_leak', 'name': 'g', 'kind': 'incident', 'start_tier': 'STREET',"
        "  'limits_minutes': {'STREET': 30, 'DISTRICT': 60}, 'joint_units': 2}]",
        "[{" UNIT_HEAD ", 'tiers': ['STREET'], 'categories': ['safety.gas_leak'],"
        "  'coverage': 'street', 'capacity': 5}]"));
    const dir_category_t *gas = directory_category (dir, 0);
    assert_int_equal (gas->limit_minutes [DIR_TIER_STREET], 30);
    assert_int_equal (gas->joint_units, 2);
    directory_destroy (&dir);
}

static void
test_error_capacity (void **state)
{
    (void) state;
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 0"),
                    "test.json: units[0].capacity: 0 is out of range 1..10000");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 10001"),
                    "test.json: units[0].capacity: 10001 is out of range 1..10000");
    assert_refused (DOCUMENT_UNIT ("'tiers': ['GRID'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 5.5"),
                    "test.json: units[0].capacity: must be an integer, not a real number");
}

static void
test_error_rota (void **state)
{
    (void) state;
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street',"
                                   " 'rota': [{'weekday': 8, 'from': '14:00', 'to': '18:00'}]"),
                    "test.json: units[0].rota[0].weekday: 8 is out of range 1..7");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street',"
                                   " 'rota': [{'weekday': 3, 'from': '2pm', 'to': '18:00'}]"),
                    "test.json: units[0].rota[0].from: \"2pm\" is not a time of day");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street',"
                                   " 'rota': [{'weekday': 3, 'from': '14:00', 'to': '24:30'}]"),
                    "test.json: units[0].rota[0].to: \"24:30\" is not a time of day");
    assert_refused (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street',"
                                   " 'rota': [{'weekday': 3, 'from': '18:00', 'to': '14:00'}]"),
                    "test.json: units[0].rota[0].to: \"14:00\" is not after from \"18:00\"");
    //  An evening slot may end at midnight
    directory_t *dir = parse_ok (DOCUMENT_UNIT (UNIT_BODY ", 'coverage': 'street',"
                                                " 'rota': [{'weekday': 7, 'from': '20:00', 'to': '24:00'}]"));
    const dir_unit_t *unit = directory_unit (dir, 0);
    assert_true (dir_unit_on_duty (unit, 7, 23 * 60 + 59));
    assert_false (dir_unit_on_duty (unit, 7, 19 * 60));
    directory_destroy (&dir);
}

static void
test_error_strings (void **state)
{
    (void) state;
    assert_refused (DOCUMENT5 (STREET, "[{'id': 'C 01', 'name': 'x'}]", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities[0].id: \"C 01\" is not a valid id");
    assert_refused (DOCUMENT5 (STREET,
                               "[{'id': 'C0123456789012345678901234567890123456789012345678901234567890123',"
                               "  'name': 'x'}]", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities[0].id: longer than 64 bytes");
    assert_refused (DOCUMENT5 (STREET, "[{'id': 'C01', 'name': ''}]", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities[0].name: must not be empty");
    assert_refused (DOCUMENT5 (STREET, "[{'id': 'C01', 'name': 'a\\nb'}]", GRIDS, CATEGORIES, UNITS),
                    "test.json: communities[0].name: contains a control character");
}

static void
test_error_utc_offset (void **state)
{
    (void) state;
    assert_refused (DOCUMENT5 ("{'id': 'tj', 'code': 'TJ', 'name': 'n', 'utc_offset_minutes': 900}",
                               COMMUNITIES, GRIDS, CATEGORIES, UNITS),
                    "test.json: street.utc_offset_minutes: 900 is out of range -720..840");
    assert_refused (DOCUMENT5 ("{'id': 'tj', 'code': 'TJ', 'name': 'n'}",
                               COMMUNITIES, GRIDS, CATEGORIES, UNITS),
                    "test.json: street.utc_offset_minutes: required field missing");
}

static void
test_error_category_not_served (void **state)
{
    (void) state;
    //  The only garbage unit works at COMMUNITY, but garbage starts at GRID
    assert_refused (DOCUMENT_UNIT ("'tiers': ['COMMUNITY'], 'categories': ['env.garbage'],"
                                   " 'coverage': 'street', 'capacity': 5"),
                    "test.json: categories[0]: no unit serves \"env.garbage\" at its start tier GRID");
}

//  ---------------------------------------------------------------------
//  The working calendar and the clock rules of categories

//  The demo street's 2026 calendar: office hours, National Day off, the
//  make-up Saturday on 10 October working Monday's hours.
//  Shedding the checked-only sections and the grids' geometry keeps every
//  look-up (ASan reads each string again), the grids' rings and building
//  counts and the people count; only the dump is gone.
static void
test_shed_keeps_lookups (void **state)
{
    (void) state;
    char err [512];
    directory_t *whole = directory_load (s_path, err, sizeof err);
    directory_t *shed = directory_load (s_path, err, sizeof err);
    assert_non_null (whole);
    assert_non_null (shed);
    assert_non_null (strstr (directory_json (whole), "\"people\":"));
    directory_shed (shed);
    assert_null (directory_json (shed));
    assert_int_equal (directory_person_count (shed), directory_person_count (whole));
    assert_true (directory_person_count (shed) > 0);
    assert_int_equal (directory_unit_count (shed), directory_unit_count (whole));
    for (size_t u = 0; u < directory_unit_count (whole); u++) {
        const dir_unit_t *a = directory_unit (whole, u), *b = directory_unit (shed, u);
        assert_string_equal (b->id, a->id);
        assert_string_equal (b->name, a->name);
        assert_string_equal (b->kind, a->kind);
        if (a->responsible)
            assert_string_equal (b->responsible, a->responsible);
        assert_int_equal (b->grid_count, a->grid_count);
        for (size_t g = 0; g < a->grid_count; g++)
            assert_string_equal (b->grids [g], a->grids [g]);
        assert_ptr_equal (directory_unit_find (shed, a->id), b);
    }
    assert_int_equal (directory_grid_count (shed), directory_grid_count (whole));
    size_t geometry = 0;                //  grids with a polygon and buildings
    for (size_t g = 0; g < directory_grid_count (whole); g++) {
        const dir_grid_t *a = directory_grid (whole, g), *b = directory_grid (shed, g);
        assert_string_equal (b->id, a->id);
        assert_string_equal (b->name, a->name);
        assert_string_equal (b->community, a->community);
        if (a->worker)
            assert_string_equal (b->worker, a->worker);
        assert_int_equal (b->building_count, a->building_count);
        assert_int_equal (b->polygon_points, a->polygon_points);
        if (a->polygon)
            assert_memory_equal (b->polygon, a->polygon, 2 * a->polygon_points * sizeof (double));
        geometry += a->polygon && a->building_count;
    }
    assert_true (geometry > 0);
    for (size_t c = 0; c < directory_category_count (whole); c++) {
        const dir_category_t *a = directory_category (whole, c), *b = directory_category (shed, c);
        assert_string_equal (b->name, a->name);
        if (a->joint_team)
            assert_string_equal (b->joint_team, a->joint_team);
    }
    directory_destroy (&shed);
    directory_destroy (&whole);
}

static void
test_demo_calendar (void **state)
{
    const directory_t *dir = *state;
    const dir_calendar_t *cal = directory_calendar (dir);
    assert_non_null (cal);
    assert_true (dir_calendar_works (cal, 2026, 9, 30, 3, 9 * 60));      //  Wednesday 09:00
    assert_false (dir_calendar_works (cal, 2026, 9, 30, 3, 13 * 60));    //  lunch break
    assert_false (dir_calendar_works (cal, 2026, 9, 30, 3, 19 * 60));    //  evening
    assert_false (dir_calendar_works (cal, 2026, 10, 1, 4, 9 * 60));     //  National Day
    assert_false (dir_calendar_works (cal, 2026, 10, 7, 3, 9 * 60));     //  still the holiday
    assert_true (dir_calendar_works (cal, 2026, 10, 8, 4, 9 * 60));      //  back at work
    assert_true (dir_calendar_works (cal, 2026, 10, 10, 6, 9 * 60));     //  make-up Saturday
    assert_false (dir_calendar_works (cal, 2026, 10, 17, 6, 9 * 60));    //  an ordinary Saturday
    const dir_category_t *meal = directory_category_find (dir, "svc.meal");
    const dir_category_t *gas = directory_category_find (dir, "safety.gas_leak");
    const dir_category_t *fire = directory_category_find (dir, "safety.fire_hazard");
    assert_true (meal->working_time);
    assert_false (gas->working_time);                                   //  emergencies: wall time
    assert_true (gas->reminder_fraction > 0 && gas->reminder_fraction < meal->reminder_fraction);
    assert_int_equal (dir_category_joint_units (fire, DIR_TIER_GRID), 1);
    assert_int_equal (dir_category_joint_units (fire, DIR_TIER_STREET), 2);
    assert_int_equal (dir_category_joint_units (fire, DIR_TIER_DISTRICT), 3);
}

#define CALENDAR "{'working_hours': [{'weekday': 1, 'from': '08:30', 'to': '12:00'}]," \
                 " 'holidays': ['2026-01-01'], 'makeup_days': ['2026-01-04']}"
#define CATEGORY_WITH(fields) "[{'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident'," \
                   " 'start_tier': 'GRID', 'limits_minutes': " LIMITS ", " fields "}]"
#define DOCUMENT_CAL(calendar, categories) \
    "{'version': 1, 'street': " STREET ", 'communities': " COMMUNITIES \
    ", 'grids': " GRIDS ", 'calendar': " calendar ", 'categories': " categories \
    ", 'units': " UNITS "}"

//  Directories without a calendar still load: every clock is wall time.
static void
test_calendar_optional (void **state)
{
    (void) state;
    directory_t *dir = parse_ok (DOCUMENT (CATEGORIES, UNITS));
    assert_null (directory_calendar (dir));
    const dir_category_t *cat = directory_category (dir, 0);
    assert_false (cat->working_time);
    assert_true (cat->reminder_fraction == 0.75);
    assert_int_equal (cat->verify_minutes, 1440);
    assert_int_equal (dir_category_joint_units (cat, DIR_TIER_STREET), 1);
    directory_destroy (&dir);
    dir = parse_ok (DOCUMENT (CATEGORY_WITH ("'verify_minutes': 120"), UNITS));
    assert_int_equal (directory_category (dir, 0)->verify_minutes, 120);
    directory_destroy (&dir);
    dir = parse_ok (DOCUMENT_CAL (CALENDAR, CATEGORY_WITH ("'clock': 'working', "
                    "'reminder_fraction': 0.5, 'joint_by_tier': {'STREET': 2}")));
    const dir_calendar_t *cal = directory_calendar (dir);
    assert_int_equal (cal->hour_count, 1);
    assert_int_equal (cal->makeup_weekday, 1);
    assert_true (dir_calendar_works (cal, 2026, 1, 4, 7, 9 * 60));      //  make-up Sunday
    assert_false (dir_calendar_works (cal, 2026, 1, 1, 4, 9 * 60));
    assert_true (directory_category (dir, 0)->working_time);
    assert_int_equal (dir_category_joint_units (directory_category (dir, 0), DIR_TIER_STREET), 2);
    directory_destroy (&dir);
}

static void
test_error_calendar (void **state)
{
    (void) state;
    assert_refused (DOCUMENT (CATEGORY_WITH ("'clock': 'working'"), UNITS),
                    "categories[0].clock: \"working\" needs a \"calendar\" section");
    assert_refused (DOCUMENT (CATEGORY_WITH ("'clock': 'night'"), UNITS),
                    "categories[0].clock: \"night\" is neither");
    assert_refused (DOCUMENT (CATEGORY_WITH ("'reminder_fraction': 1"), UNITS),
                    "categories[0].reminder_fraction: 1 is out of range");
    assert_refused (DOCUMENT (CATEGORY_WITH ("'verify_minutes': 0"), UNITS),
                    "categories[0].verify_minutes: 0 is out of range");
    assert_refused (DOCUMENT (CATEGORY_WITH ("'joint_by_tier': {'STREET': 11}"), UNITS),
                    "categories[0].joint_by_tier.STREET: 11 is out of range 1..10");
    assert_refused (DOCUMENT_CAL ("{'working_hours': []}", CATEGORIES),
                    "calendar.working_hours: must not be empty");
    assert_refused (DOCUMENT_CAL ("{'working_hours': [{'weekday': 1, 'from': '08:30', 'to': '12:00'}],"
                                  " 'holidays': ['2026-02-30']}", CATEGORIES),
                    "calendar.holidays[0]: \"2026-02-30\" is not a date");
    assert_refused (DOCUMENT_CAL ("{'working_hours': [{'weekday': 1, 'from': '08:30', 'to': '12:00'}],"
                                  " 'holidays': ['2026-01-04'], 'makeup_days': ['2026-01-04']}",
                                  CATEGORIES),
                    "calendar.makeup_days[0]: date \"2026-01-04\" listed twice (first at calendar.holidays[0])");
    assert_refused (DOCUMENT_CAL ("{'working_hours': [{'weekday': 8, 'from': '08:30', 'to': '12:00'}]}",
                                  CATEGORIES),
                    "calendar.working_hours[0].weekday: 8 is out of range 1..7");
}


//  ---------------------------------------------------------------------
//  The community's sections: people, chain, teams, venues, agreements

#define FAMILY "{'code': 'dispute.family', 'name': '家庭纠纷', 'kind': 'incident', " \
               "'start_tier': 'GRID', 'limits_minutes': " LIMITS ", 'joint_team': 'alliance'}"
#define CUNIT(id, cats) "{'id': '" id "', 'name': '" id "', 'kind': 'k', 'responsible': 'r', " \
                        "'contact': 'c', 'tiers': ['GRID'], 'categories': " cats ", " \
                        "'capacity': 5, 'coverage': 'street'}"
#define CUNITS "[" CUNIT ("U1", "['dispute.family']") ", " CUNIT ("U2", "['dispute.family']") \
               ", " CUNIT ("U3", "['dispute.family', 'env.garbage']") "]"
#define CGRIDS "[{'id': 'G01', 'name': 'one', 'community': 'C01', 'worker': 'w1', " \
               "'buildings': [{'id': 'B1', 'name': 'b1'}]}, " \
               "{'id': 'G02', 'name': 'two', 'community': 'C02', 'worker': 'w2', " \
               "'buildings': [{'id': 'B2', 'name': 'b2'}]}]"
#define PEOPLE "'people': [" \
    "{'id': 'P1', 'name': '李书记', 'roles': ['street_leader'], 'principal': 'operator:李书记'}," \
    "{'id': 'P2', 'name': '王支书', 'roles': ['grid_secretary', 'party_member']}," \
    "{'id': 'P3', 'name': '白国晨', 'roles': ['grid_worker'], 'grid': 'G01', " \
    " 'principal': 'grid-worker:白国晨'}," \
    "{'id': 'P4', 'name': '赵组长', 'roles': ['party_group_leader'], 'building': 'B1'}," \
    "{'id': 'P5', 'name': '钱党员', 'roles': ['party_member'], 'unit': 'U1', 'skills': ['legal']}," \
    "{'id': 'P6', 'name': '孙志愿', 'roles': ['volunteer'], 'skills': ['cooking'], " \
    " 'availability': [{'weekday': 6, 'from': '09:00', 'to': '12:00'}]}]"
#define CHAIN_GRID(building) "{'grid': 'G01', 'street_leader': 'P1', 'secretary': 'P2', " \
    "'worker': 'P3', 'buildings': [{'building': '" building "', 'party_group': 'P4', " \
    "'members': ['P5']}]}"
#define TEAMS "'teams': [{'id': 'alliance', 'name': '家事服务联盟', 'lead': 'U1', " \
              "'members': ['U2', 'U3'], 'served': 698}]"
#define VENUES "'venues': [{'id': 'V1', 'name': '议事之家', 'unit': 'U2', 'capacity': 30}]"
#define AGREEMENT(extra) "{'id': 'A1', 'unit': 'U1', 'from': '2026-01-01', 'to': '2026-12-31', " \
    "'services': ['dispute.family'], 'services_per_quarter': 12, 'hours_per_quarter': 24, " \
    "'venues': ['V1']" extra "}"
#define COMMUNITY_DOC(people, chain, teams, agreements) \
    "{'version': 1, 'street': " STREET ", 'communities': " COMMUNITIES ", 'grids': " CGRIDS \
    ", 'categories': [" FAMILY ", {'code': 'env.garbage', 'name': 'g', 'kind': 'incident', " \
    "'start_tier': 'GRID', 'limits_minutes': " LIMITS "}], 'units': " CUNITS ", " people \
    ", 'chain': {'grids': [" chain "]}, " teams ", " VENUES ", 'agreements': [" agreements "]}"
#define NOCHAIN "{'grid': 'G01', 'street_leader': 'P1', 'secretary': 'P2', 'worker': 'P3'}"

static void
test_community_sections (void **state)
{
    (void) state;
    directory_t *dir = parse_ok (COMMUNITY_DOC (PEOPLE, CHAIN_GRID ("B1"), TEAMS, AGREEMENT ("")));
    assert_int_equal (directory_person_count (dir), 6);
    assert_string_equal (directory_category_find (dir, "dispute.family")->joint_team, "alliance");
    assert_null (directory_category_find (dir, "env.garbage")->joint_team);
    directory_destroy (&dir);
}

static void
test_error_community_sections (void **state)
{
    (void) state;
    //  a building of another grid hangs off this grid's chain
    assert_refused (COMMUNITY_DOC (PEOPLE, CHAIN_GRID ("B2"), TEAMS, AGREEMENT ("")),
                    "chain.grids[0].buildings[0].building: building \"B2\" is not in grid \"G01\"");
    //  a link held by someone without the role, or by nobody known
    assert_refused (COMMUNITY_DOC (PEOPLE, "{'grid': 'G01', 'street_leader': 'P2', "
                                   "'secretary': 'P2', 'worker': 'P3'}", TEAMS, AGREEMENT ("")),
                    "chain.grids[0].street_leader: person \"P2\" is not a street_leader");
    assert_refused (COMMUNITY_DOC (PEOPLE, "{'grid': 'G01', 'street_leader': 'P1', "
                                   "'secretary': 'P2', 'worker': 'P9'}", TEAMS, AGREEMENT ("")),
                    "chain.grids[0].worker: unknown person \"P9\"");
    assert_refused (COMMUNITY_DOC ("'people': [{'id': 'P1', 'name': 'x', 'roles': ['mayor']}]",
                                   NOCHAIN, TEAMS, AGREEMENT ("")),
                    "people[0].roles[0]: not a role");
    assert_refused (COMMUNITY_DOC (PEOPLE ", 'x': 1", NOCHAIN, TEAMS, AGREEMENT ("")),
                    "x: unknown field");
    //  a team member that is not a unit; a category naming a team not listed
    assert_refused (COMMUNITY_DOC (PEOPLE, NOCHAIN, "'teams': [{'id': 'alliance', 'name': 't', "
                                   "'lead': 'U1', 'members': ['U2', 'U9']}]", AGREEMENT ("")),
                    "teams[0].members[1]: unknown unit \"U9\"");
    assert_refused (COMMUNITY_DOC (PEOPLE, NOCHAIN, "'teams': [{'id': 'other', 'name': 't', "
                                   "'lead': 'U1', 'members': ['U2']}]", AGREEMENT ("")),
                    "categories[0].joint_team: unknown team \"alliance\"");
    //  agreements: real dates in order, known categories, one per unit
    assert_refused (COMMUNITY_DOC (PEOPLE, NOCHAIN, TEAMS,
                                   "{'id': 'A1', 'unit': 'U1', 'from': '2026-12-31', "
                                   "'to': '2026-01-01', 'services': ['dispute.family'], "
                                   "'services_per_quarter': 1, 'hours_per_quarter': 1}"),
                    "agreements[0].to: \"2026-12-31\" .. \"2026-01-01\" is not a term");
    assert_refused (COMMUNITY_DOC (PEOPLE, NOCHAIN, TEAMS,
                                   "{'id': 'A1', 'unit': 'U1', 'from': '2026-01-01', "
                                   "'to': '2026-12-31', 'services': ['svc.none'], "
                                   "'services_per_quarter': 1, 'hours_per_quarter': 1}"),
                    "agreements[0].services[0]: unknown category \"svc.none\"");
}

int
main (int argc, char *argv [])
{
    if (argc > 1)
        s_path = argv [1];
    else
    if (getenv ("GC_DIRECTORY"))
        s_path = getenv ("GC_DIRECTORY");

    const struct CMUnitTest demo [] = {
        cmocka_unit_test (test_demo_street),
        cmocka_unit_test (test_categories),
        cmocka_unit_test (test_lawyers_on_wednesday_afternoons),
        cmocka_unit_test (test_unit_fits),
        cmocka_unit_test (test_every_case_finds_units),
        cmocka_unit_test (test_normalised_json),
        cmocka_unit_test (test_shed_keeps_lookups),
        cmocka_unit_test (test_demo_calendar),
    };
    const struct CMUnitTest documents [] = {
        cmocka_unit_test (test_tier_names),
        cmocka_unit_test (test_coverage_forms),
        cmocka_unit_test (test_error_not_json),
        cmocka_unit_test (test_error_too_large),
        cmocka_unit_test (test_error_missing_or_wrong_type),
        cmocka_unit_test (test_error_duplicate_ids),
        cmocka_unit_test (test_error_unknown_references),
        cmocka_unit_test (test_error_tier_names),
        cmocka_unit_test (test_error_limits),
        cmocka_unit_test (test_error_capacity),
        cmocka_unit_test (test_error_rota),
        cmocka_unit_test (test_error_strings),
        cmocka_unit_test (test_error_utc_offset),
        cmocka_unit_test (test_error_category_not_served),
        cmocka_unit_test (test_calendar_optional),
        cmocka_unit_test (test_error_calendar),
        cmocka_unit_test (test_community_sections),
        cmocka_unit_test (test_error_community_sections),
    };
    int failed = cmocka_run_group_tests_name ("directory: demo street", demo,
                                              load_demo, destroy_demo);
    failed += cmocka_run_group_tests_name ("directory: documents", documents, NULL, NULL);
    return failed? 1: 0;
}
