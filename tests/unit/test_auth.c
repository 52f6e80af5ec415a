/*  test_auth.c — principals and who may do what (services/common/auth.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <czmq.h>

#include "auth.h"

//  A principal from text; the test fails when it does not parse.
static auth_principal_t
s_parse (const char *text)
{
    auth_principal_t p;
    char err [256] = "";
    int rc = auth_principal_parse (text, &p, err, sizeof err);
    if (rc)
        fail_msg ("\"%s\" did not parse: %s", text, err);
    return p;
}

static void
test_principals_parse (void **state)
{
    (void) state;
    auth_principal_t p = s_parse ("unit U009");
    assert_int_equal (p.role, AUTH_ROLE_UNIT);
    assert_string_equal (p.name, "U009");
    assert_string_equal (p.label, "unit:U009");
    auth_principal_reset (&p);

    p = s_parse ("gateway hotline channels hotline,RESIDENT_APP");
    assert_int_equal (p.role, AUTH_ROLE_GATEWAY);
    assert_int_equal (p.scope_count, 2);
    assert_string_equal (p.scope [0], "HOTLINE");      //  channels are stored upper-case
    auth_principal_reset (&p);

    p = s_parse ("grid-worker 白国晨 grids G01,G02");
    assert_string_equal (p.label, "grid-worker:白国晨");
    assert_int_equal (p.scope_count, 2);
    auth_principal_reset (&p);

    p = s_parse ("operator 王主任 community C01");
    assert_string_equal (p.community, "C01");
    auth_principal_reset (&p);
    p = s_parse ("operator 李书记 street");
    assert_null (p.community);
    auth_principal_reset (&p);
    p = s_parse ("admin ops");
    assert_int_equal (p.role, AUTH_ROLE_ADMIN);
    auth_principal_reset (&p);
}

static void
test_bad_principals_say_why (void **state)
{
    (void) state;
    const struct { const char *text; const char *says; } bad [] = {
        { "", "is not a role" },
        { "king arthur", "is not a role" },
        { "unit", "needs a name" },
        { "unit U009 extra", "nothing after the name" },
        { "unit U/09", "is not a unit id" },
        { "gateway hotline", "channels" },
        { "gateway hotline channels FAX", "is not a channel" },
        { "grid-worker w grids", "grid worker" },
        { "grid-worker w grids G01,,", "grid" },
        { "operator x", "community C01" },
        { "operator x community", "community C01" },
        { "admin a:b", "needs a name" },
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad [0]; i++) {
        auth_principal_t p;
        char err [256] = "";
        assert_int_equal (auth_principal_parse (bad [i].text, &p, err, sizeof err), -1);
        if (!strstr (err, bad [i].says))
            fail_msg ("\"%s\": \"%s\" does not say \"%s\"", bad [i].text, err, bad [i].says);
    }
}

//  Who may do what: the matrix docs/security.md describes.
static void
test_who_may_do_what (void **state)
{
    (void) state;
    auth_principal_t unit = s_parse ("unit U009");
    auth_principal_t gateway = s_parse ("gateway hotline channels HOTLINE");
    auth_principal_t worker = s_parse ("grid-worker w grids G01,G02");
    auth_principal_t community = s_parse ("operator o community C01");
    auth_principal_t street = s_parse ("operator s street");
    auth_principal_t admin = s_parse ("admin a");
    auth_principal_t daemon = s_parse ("daemon intake");
    char why [256];
    auth_scope_t g01 = { "G01", "C01", "HOTLINE", "gateway:hotline", NULL };
    auth_scope_t g09 = { "G09", "C02", "HOTLINE", "gateway:other", NULL };

    //  reports: gateways through their channels, grid workers in their grids
    assert_true (auth_may (&gateway, AUTH_REPORT, &g01, why, sizeof why));
    auth_scope_t app = { "G01", NULL, "RESIDENT_APP", NULL, NULL };
    assert_false (auth_may (&gateway, AUTH_REPORT, &app, why, sizeof why));
    assert_non_null (strstr (why, "RESIDENT_APP"));
    auth_scope_t found = { "G02", NULL, "GRID_WORKER", NULL, NULL };
    assert_true (auth_may (&worker, AUTH_REPORT, &found, why, sizeof why));
    found.grid = "G09";
    assert_false (auth_may (&worker, AUTH_REPORT, &found, why, sizeof why));
    assert_false (auth_may (&unit, AUTH_REPORT, &g01, why, sizeof why));
    assert_false (auth_may (&community, AUTH_REPORT, &g01, why, sizeof why));

    //  verify: the grid's worker, an operator above it, an admin
    assert_true (auth_may (&worker, AUTH_VERIFY, &g01, why, sizeof why));
    assert_false (auth_may (&worker, AUTH_VERIFY, &g09, why, sizeof why));
    assert_non_null (strstr (why, "G09"));
    assert_true (auth_may (&community, AUTH_VERIFY, &g01, why, sizeof why));
    assert_false (auth_may (&community, AUTH_VERIFY, &g09, why, sizeof why));
    assert_true (auth_may (&street, AUTH_VERIFY, &g09, why, sizeof why));
    assert_true (auth_may (&admin, AUTH_VERIFY, &g09, why, sizeof why));
    assert_false (auth_may (&gateway, AUTH_VERIFY, &g01, why, sizeof why));

    //  clock and order decisions: operators whose area holds the case
    assert_true (auth_may (&community, AUTH_DECIDE, &g01, why, sizeof why));
    assert_false (auth_may (&community, AUTH_DECIDE, &g09, why, sizeof why));
    assert_true (auth_may (&street, AUTH_DECIDE, &g09, why, sizeof why));
    assert_true (auth_may (&admin, AUTH_DECIDE, &g09, why, sizeof why));
    assert_false (auth_may (&gateway, AUTH_DECIDE, &g01, why, sizeof why));
    assert_non_null (strstr (why, "gateway:hotline"));
    assert_false (auth_may (&worker, AUTH_DECIDE, &g01, why, sizeof why));

    //  matters: residents propose through their gateway's channels, grid
    //  workers in their grids, units and operators; operators run the
    //  meetings and decisions (their community is checked with the
    //  matter: auth_community_area); residents evaluate through a gateway
    auth_scope_t propose = { "G01", NULL, "HOTLINE", NULL, NULL };
    assert_true (auth_may (&gateway, AUTH_PROPOSE, &propose, why, sizeof why));
    assert_false (auth_may (&gateway, AUTH_PROPOSE, &app, why, sizeof why));
    assert_true (auth_may (&worker, AUTH_PROPOSE, &propose, why, sizeof why));
    propose.grid = "G09";
    assert_false (auth_may (&worker, AUTH_PROPOSE, &propose, why, sizeof why));
    assert_non_null (strstr (why, "G09"));
    assert_true (auth_may (&unit, AUTH_PROPOSE, &propose, why, sizeof why));
    assert_true (auth_may (&community, AUTH_PROPOSE, &propose, why, sizeof why));
    assert_false (auth_may (&daemon, AUTH_PROPOSE, &propose, why, sizeof why));
    assert_true (auth_may (&community, AUTH_MATTER, NULL, why, sizeof why));
    assert_true (auth_may (&admin, AUTH_MATTER, NULL, why, sizeof why));
    assert_false (auth_may (&gateway, AUTH_MATTER, NULL, why, sizeof why));
    assert_false (auth_may (&worker, AUTH_MATTER, NULL, why, sizeof why));
    assert_non_null (strstr (why, "operators"));
    assert_true (auth_may (&gateway, AUTH_MATTER_EVALUATE, NULL, why, sizeof why));
    assert_false (auth_may (&community, AUTH_MATTER_EVALUATE, NULL, why, sizeof why));
    assert_string_equal (auth_community_area (&community), "C01");
    assert_string_equal (auth_community_area (&street), "");
    assert_string_equal (auth_community_area (&gateway), "");

    //  evaluations: only the gateway the case came through
    assert_true (auth_may (&gateway, AUTH_EVALUATE, &g01, why, sizeof why));
    assert_false (auth_may (&gateway, AUTH_EVALUATE, &g09, why, sizeof why));
    auth_scope_t old = { "G01", "C01", "HOTLINE", "", NULL };    //  before via was kept
    assert_true (auth_may (&gateway, AUTH_EVALUATE, &old, why, sizeof why));
    assert_false (auth_may (&admin, AUTH_EVALUATE, &g01, why, sizeof why));

    //  a unit speaks for itself only; work comes from daemons
    auth_scope_t u9 = { NULL, NULL, NULL, NULL, "U009" };
    auth_scope_t u10 = { NULL, NULL, NULL, NULL, "U010" };
    assert_true (auth_may (&unit, AUTH_UNIT, &u9, why, sizeof why));
    assert_false (auth_may (&unit, AUTH_UNIT, &u10, why, sizeof why));
    assert_non_null (strstr (why, "U010"));
    assert_false (auth_may (&admin, AUTH_UNIT, &u9, why, sizeof why));
    assert_true (auth_may (&daemon, AUTH_WORK, NULL, why, sizeof why));
    assert_false (auth_may (&admin, AUTH_WORK, NULL, why, sizeof why));

    //  no principal: nothing
    assert_false (auth_may (NULL, AUTH_REPORT, &g01, why, sizeof why));
    assert_non_null (strstr (why, "no principal"));

    auth_principal_t *all [] = { &unit, &gateway, &worker, &community, &street, &admin, &daemon };
    for (size_t i = 0; i < sizeof all / sizeof all [0]; i++)
        auth_principal_reset (all [i]);
}

static char *
s_write (const char *text)
{
    char *path = strdup ("/tmp/gc-auth-XXXXXX");
    int fd = mkstemp (path);
    FILE *file = fdopen (fd, "w");
    fputs (text, file);
    fclose (file);
    return path;
}

//  The community's lists: who may record needs, answer surveys, plan and
//  serve, and the area each acts in (the store checks it).
static void
test_community_actions (void **state)
{
    (void) state;
    auth_principal_t unit = s_parse ("unit U009");
    auth_principal_t gateway = s_parse ("gateway hotline channels HOTLINE");
    auth_principal_t worker = s_parse ("grid-worker w grids G01,G02");
    auth_principal_t community = s_parse ("operator o community C01");
    auth_principal_t street = s_parse ("operator s street");
    char reason [256], area [256];
    auth_scope_t g01 = { "G01", NULL, NULL, NULL, NULL };
    auth_scope_t g07 = { "G07", NULL, NULL, NULL, NULL };
    assert_true (auth_may (&worker, AUTH_NEED, &g01, reason, sizeof reason));
    assert_false (auth_may (&worker, AUTH_NEED, &g07, reason, sizeof reason));
    assert_non_null (strstr (reason, "G07"));
    assert_false (auth_may (&gateway, AUTH_NEED, &g01, reason, sizeof reason));
    assert_non_null (strstr (reason, "may not record needs"));
    assert_true (auth_may (&gateway, AUTH_ANSWER, &g07, reason, sizeof reason));
    assert_false (auth_may (&unit, AUTH_ANSWER, &g01, reason, sizeof reason));
    assert_true (auth_may (&community, AUTH_PLAN, NULL, reason, sizeof reason));
    assert_false (auth_may (&worker, AUTH_PLAN, NULL, reason, sizeof reason));
    assert_false (auth_may (&unit, AUTH_PLAN, NULL, reason, sizeof reason));
    assert_true (auth_may (&unit, AUTH_SERVE, NULL, reason, sizeof reason));
    assert_false (auth_may (&gateway, AUTH_SERVE, NULL, reason, sizeof reason));
    assert_string_equal (auth_area (&street, area, sizeof area), "*");
    assert_string_equal (auth_area (&community, area, sizeof area), "community:C01");
    assert_string_equal (auth_area (&worker, area, sizeof area), "grids:G01,G02");
    assert_string_equal (auth_area (&unit, area, sizeof area), "unit:U009");
    assert_string_equal (auth_area (&gateway, area, sizeof area), "gateway:hotline");
    assert_string_equal (auth_area (NULL, area, sizeof area), "");
    //  the channels a matter's evaluation is checked against (75_matters.lua)
    auth_principal_t two = s_parse ("gateway app channels RESIDENT_APP,HOTLINE");
    assert_string_equal (auth_channels (&two, area, sizeof area), "RESIDENT_APP,HOTLINE");
    assert_string_equal (auth_channels (&gateway, area, sizeof area), "HOTLINE");
    assert_string_equal (auth_channels (&community, area, sizeof area), "");
    assert_string_equal (auth_channels (NULL, area, sizeof area), "");
    auth_principal_reset (&two);
    auth_principal_reset (&unit);
    auth_principal_reset (&gateway);
    auth_principal_reset (&worker);
    auth_principal_reset (&community);
    auth_principal_reset (&street);
}

static void
test_principals_file (void **state)
{
    (void) state;
    char pub1 [41], sec [41], pub2 [41];
    assert_int_equal (zmq_curve_keypair (pub1, sec), 0);
    assert_int_equal (zmq_curve_keypair (pub2, sec), 0);
    char text [512], err [512];
    snprintf (text, sizeof text, "{\"principals\": {\"%s\": \"unit U009\", "
              "\"%s\": \"operator o community C01\"}}", pub1, pub2);
    char *path = s_write (text);
    auth_principals_t *keys = auth_principals_load (path, err, sizeof err);
    assert_non_null (keys);
    assert_int_equal (auth_principals_size (keys), 2);
    assert_string_equal (auth_principals_find (keys, pub1)->label, "unit:U009");
    assert_null (auth_principals_find (keys, "nobody"));

    //  revoking one key and rebinding the other is two changes
    snprintf (text, sizeof text, "{\"principals\": {\"%s\": \"operator o street\"}}", pub2);
    char *path2 = s_write (text);
    auth_principals_t *fresh = auth_principals_load (path2, err, sizeof err);
    assert_non_null (fresh);
    assert_int_equal (auth_principals_revoked (keys, fresh), 2);
    assert_int_equal (auth_principals_revoked (fresh, fresh), 0);
    auth_principals_destroy (&fresh);
    auth_principals_destroy (&keys);
    assert_null (keys);

    //  errors name the key and the problem
    snprintf (text, sizeof text, "{\"principals\": {\"%s\": \"unit\"}}", pub1);
    char *bad = s_write (text);
    assert_null (auth_principals_load (bad, err, sizeof err));
    assert_non_null (strstr (err, pub1));
    assert_non_null (strstr (err, "needs a name"));
    char *short_key = s_write ("{\"principals\": {\"abc\": \"unit U1\"}}");
    assert_null (auth_principals_load (short_key, err, sizeof err));
    assert_non_null (strstr (err, "Z85"));
    char *dup = s_write ("{\"principals\": {\"a\": \"unit U1\", \"a\": \"unit U2\"}}");
    assert_null (auth_principals_load (dup, err, sizeof err));
    char *shape = s_write ("[1, 2]");
    assert_null (auth_principals_load (shape, err, sizeof err));
    assert_non_null (strstr (err, "principals"));
    const char *paths [] = { path, path2, bad, short_key, dup, shape };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        unlink (paths [i]);
        free ((char *) paths [i]);
    }
}

//  API keys: only their SHA-256 in the file, found by "sha256:<hex>"
static void
test_api_keys (void **state)
{
    (void) state;
    char id [AUTH_API_ID_MAX], err [512];
    assert_int_equal (auth_api_key_id ("abc", id, sizeof id), 0);
    assert_string_equal (id, "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    assert_int_equal (auth_api_key_id ("", id, sizeof id), -1);
    assert_int_equal (auth_api_key_id ("a key", id, sizeof id), -1);     //  a space
    assert_int_equal (auth_api_key_id ("abc", id, 20), -1);
    char *path = s_write ("{\"principals\": {}, \"api_keys\": {\"ba7816bf8f01cfea414140de5dae2223"
                          "b00361a396177a9cb410ff61f20015ad\": \"gateway app channels OPEN311\"}}");
    auth_principals_t *keys = auth_principals_load (path, err, sizeof err);
    assert_non_null (keys);
    auth_api_key_id ("abc", id, sizeof id);
    const auth_principal_t *p = auth_principals_find (keys, id);
    assert_non_null (p);
    assert_string_equal (p->label, "gateway:app");
    //  the hash itself is no key
    assert_null (auth_principals_find (keys, id + strlen (AUTH_API_PREFIX)));
    auth_principals_destroy (&keys);
    char *bad = s_write ("{\"principals\": {}, \"api_keys\": {\"ABC\": \"gateway app channels "
                         "OPEN311\"}}");
    assert_null (auth_principals_load (bad, err, sizeof err));
    assert_non_null (strstr (err, "SHA-256"));
    char *shape = s_write ("{\"principals\": {}, \"api_keys\": []}");
    assert_null (auth_principals_load (shape, err, sizeof err));
    assert_non_null (strstr (err, "api_keys"));
    const char *paths [] = { path, bad, shape };
    for (size_t i = 0; i < sizeof paths / sizeof paths [0]; i++) {
        unlink (paths [i]);
        free ((char *) paths [i]);
    }
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_api_keys),
        cmocka_unit_test (test_principals_parse),
        cmocka_unit_test (test_bad_principals_say_why),
        cmocka_unit_test (test_who_may_do_what),
        cmocka_unit_test (test_community_actions),
        cmocka_unit_test (test_principals_file),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
