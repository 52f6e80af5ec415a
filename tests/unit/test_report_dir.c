/*  test_report_dir.c — the report's view of the directory by example:
    names beside ids (the id itself when the directory does not know it),
    the street's local time for rotas, ledgers and day files, and a cache
    that asks Redis at most once a second and gives NULL while it is away. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "daemon.h"
#include "report_dir.h"

//  A street in single quotes (s_parse turns them into double quotes);
//  offset is its utc_offset_minutes.
#define STREET(offset) \
    "{'version': 1," \
    " 'street': {'id': 'tianjiao', 'code': 'TJ', 'name': '天骄街道', 'utc_offset_minutes': " \
    offset "}," \
    " 'communities': [{'id': 'C01', 'name': '安达社区'}, {'id': 'C02', 'name': '天骄社区'}]," \
    " 'grids': [{'id': 'G01', 'name': '安达社区第1网格', 'community': 'C01', 'worker': '白国晨'}," \
    "           {'id': 'G07', 'name': '天骄社区第2网格', 'community': 'C02', 'worker': '卢芳'}]," \
    " 'categories': [{'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident'," \
    "   'start_tier': 'GRID'," \
    "   'limits_minutes': {'GRID': 240, 'COMMUNITY': 480, 'STREET': 1440, 'DISTRICT': 2880}}]," \
    " 'units': [{'id': 'U001', 'name': '环卫所', 'kind': 'sanitation', 'responsible': '王师傅'," \
    "   'contact': '0477-1', 'tiers': ['GRID'], 'categories': ['env.garbage']," \
    "   'coverage': 'street', 'capacity': 5}]}"

//  The street as loaded at version 3, and at version 4 with a new offset.
static const char *s_street_v3 = STREET ("480");
static const char *s_street_v4 = STREET ("540");

//  Monday 2024-05-20 02:30 UTC: 10:30 in a UTC+8 street.
#define MONDAY_0230_UTC 1716172200000LL

//  The text with every ' turned into "; the caller frees it.
static char *
s_quoted (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    for (char *c = copy; *c; c++)
        if (*c == '\'')
            *c = '"';
    return copy;
}

static directory_t *
s_parse (const char *text)
{
    char *json = s_quoted (text);
    char err [256] = "";
    directory_t *dir = directory_parse (json, "street.json", err, sizeof err);
    free (json);
    if (!dir)
        fail_msg ("directory refused: %s", err);
    return dir;
}

static int
setup_street (void **state)
{
    *state = s_parse (s_street_v3);
    return 0;
}

static int
teardown_street (void **state)
{
    directory_t *dir = *state;
    directory_destroy (&dir);
    return 0;
}


//  ---------------------------------------------------------------------
//  Names

static void
test_names_beside_ids (void **state)
{
    const directory_t *dir = *state;
    assert_string_equal (report_dir_grid_name (dir, "G07"), "天骄社区第2网格");
    assert_string_equal (report_dir_community_name (dir, "C02"), "天骄社区");
    assert_string_equal (report_dir_category_name (dir, "env.garbage"), "垃圾清运");
    assert_string_equal (report_dir_unit_name (dir, "U001"), "环卫所");
}

static void
test_unknown_ids_stand_for_themselves (void **state)
{
    const directory_t *dir = *state;
    //  a grid or unit dropped from a newer directory: old cases show the id
    assert_string_equal (report_dir_grid_name (dir, "G99"), "G99");
    assert_string_equal (report_dir_community_name (dir, "C99"), "C99");
    assert_string_equal (report_dir_category_name (dir, "old.code"), "old.code");
    assert_string_equal (report_dir_unit_name (dir, "U999"), "U999");
    //  ids are exact: no prefix or case folding
    assert_string_equal (report_dir_grid_name (dir, "G0"), "G0");
    assert_string_equal (report_dir_community_name (dir, "c01"), "c01");
    //  no case unit yet: an empty name, not a lookup
    assert_string_equal (report_dir_unit_name (dir, ""), "");
    //  a missing field: empty, never NULL
    assert_string_equal (report_dir_grid_name (dir, NULL), "");
    assert_string_equal (report_dir_community_name (dir, NULL), "");
    assert_string_equal (report_dir_category_name (dir, NULL), "");
    assert_string_equal (report_dir_unit_name (dir, NULL), "");
}

static void
test_names_before_the_directory_is_read (void **state)
{
    (void) state;
    assert_string_equal (report_dir_grid_name (NULL, "G01"), "G01");
    assert_string_equal (report_dir_community_name (NULL, "C01"), "C01");
    assert_string_equal (report_dir_category_name (NULL, "env.garbage"), "env.garbage");
    assert_string_equal (report_dir_unit_name (NULL, "U001"), "U001");
    assert_string_equal (report_dir_grid_name (NULL, NULL), "");
}


//  ---------------------------------------------------------------------
//  Local time

static void
test_local_time_in_the_street (void **state)
{
    const directory_t *dir = *state;
    int weekday = 0, minute = -1;
    char text [20];
    report_dir_local (dir, MONDAY_0230_UTC, &weekday, &minute, text);
    assert_string_equal (text, "2024-05-20 10:30:00");
    assert_int_equal (weekday, 1);                  //  Monday
    assert_int_equal (minute, 10 * 60 + 30);

    //  the last second of Sunday, local (15:59:59 UTC)
    report_dir_local (dir, MONDAY_0230_UTC - 10 * 3600000LL - 30 * 60000 - 1000,
                      &weekday, &minute, text);
    assert_string_equal (text, "2024-05-19 23:59:59");
    assert_int_equal (weekday, 7);                  //  Sunday is 7, not 0
    assert_int_equal (minute, 1439);

    //  milliseconds do not round up
    report_dir_local (dir, MONDAY_0230_UTC + 999, NULL, NULL, text);
    assert_string_equal (text, "2024-05-20 10:30:00");

    //  a leap day, local (UTC+8 turns 23:59 UTC into the next morning)
    report_dir_local (dir, 1709251140000LL, &weekday, NULL, text);
    assert_string_equal (text, "2024-03-01 07:59:00");
    assert_int_equal (weekday, 5);                  //  Friday
    report_dir_local (dir, 1709251140000LL - 8 * 3600000LL, NULL, NULL, text);
    assert_string_equal (text, "2024-02-29 23:59:00");

    //  any output may be left out
    report_dir_local (dir, MONDAY_0230_UTC, NULL, NULL, NULL);
}

static void
test_local_time_west_of_greenwich (void **state)
{
    (void) state;
    directory_t *dir = s_parse (STREET ("-300"));
    int weekday = 0, minute = -1;
    char text [20];
    //  02:30 UTC on Monday is 21:30 on Sunday at UTC-5
    report_dir_local (dir, MONDAY_0230_UTC, &weekday, &minute, text);
    assert_string_equal (text, "2024-05-19 21:30:00");
    assert_int_equal (weekday, 7);
    assert_int_equal (minute, 21 * 60 + 30);
    directory_destroy (&dir);
}

static void
test_local_time_without_directory_is_utc (void **state)
{
    (void) state;
    int weekday = 0, minute = -1;
    char text [20];
    report_dir_local (NULL, MONDAY_0230_UTC, &weekday, &minute, text);
    assert_string_equal (text, "2024-05-20 02:30:00");
    assert_int_equal (weekday, 1);
    assert_int_equal (minute, 150);

    //  the epoch, and just before it (whole seconds round down)
    report_dir_local (NULL, 0, &weekday, &minute, text);
    assert_string_equal (text, "1970-01-01 00:00:00");
    assert_int_equal (weekday, 4);                  //  a Thursday
    report_dir_local (NULL, -1, &weekday, &minute, text);
    assert_string_equal (text, "1969-12-31 23:59:59");
    assert_int_equal (weekday, 3);
    assert_int_equal (minute, 1439);
    report_dir_local (NULL, -1001, NULL, NULL, text);
    assert_string_equal (text, "1969-12-31 23:59:58");

    //  past 2038 on a 64-bit time_t
    report_dir_local (NULL, 2147483648000LL, NULL, NULL, text);
    assert_string_equal (text, "2038-01-19 03:14:08");
}


#include "fake_redis.h"

//  FCALLs of fn seen so far.
static int
fake_redis_count (fake_redis_t *self, const char *fn)
{
    pthread_mutex_lock (&self->lock);
    int n = 0;
    for (int i = 0; i < self->calls && i < FAKE_MAX; i++)
        n += strcmp (self->called [i], fn) == 0;
    pthread_mutex_unlock (&self->lock);
    return n;
}

//  ---------------------------------------------------------------------
//  The cache

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { NULL, 0, NULL, 0, 0, NULL }
};

static void
test_cache_while_redis_is_away (void **state)
{
    (void) state;
    config_t *config = config_new (s_options);
    char err [128];
    assert_int_equal (config_set (config, "redis_socket", "/nonexistent/gridcall-test.sock",
                                  err, sizeof err), 0);
    store_t *store = store_new (config, "test");
    report_dir_t *cache = report_dir_new (NULL);
    assert_non_null (cache);

    //  no directory yet and none to be had: NULL, and the screen goes on
    //  with ids for names
    long long started = gc_mono_ms ();
    assert_null (report_dir_get (cache, store));
    assert_int_equal (store_failures (store), 1);
    //  asked again within the second (after the store's own 100 ms
    //  back-off), the cache does not go to Redis again
    while (gc_mono_ms () - started < 150)
        usleep (10 * 1000);
    assert_null (report_dir_get (cache, store));
    if (gc_mono_ms () - started < 1000)
        assert_int_equal (store_failures (store), 1);

    report_dir_destroy (&cache);
    assert_null (cache);
    report_dir_destroy (&cache);
    store_destroy (&store);
    config_destroy (&config);
}

//  Queue a gc_dir_get reply holding street (single-quoted JSON).
static void
s_queue_directory (fake_redis_t *redis, long long version, const char *street)
{
    char *text = s_quoted (street);
    json_t *reply = json_pack ("{s:b, s:I, s:s}", "ok", 1, "version", (json_int_t) version,
                               "json", text);
    char *dump = json_dumps (reply, JSON_COMPACT);
    fake_redis_queue (redis, "gc_dir_get", dump);
    free (dump);
    json_decref (reply);
    free (text);
}

//  What the cache tests get: a stand-in Redis and a store on it.
typedef struct {
    fake_redis_t *redis;
    config_t *config;
    store_t *store;
} fixture_t;

static int
setup_redis (void **state)
{
    fixture_t *self = calloc (1, sizeof *self);
    char err [128];
    self->redis = fake_redis_new ();
    self->config = config_new (s_options);
    config_set (self->config, "redis_socket", self->redis->path, err, sizeof err);
    self->store = store_new (self->config, "test");
    *state = self;
    return self->store ? 0 : -1;
}

static int
teardown_redis (void **state)
{
    fixture_t *self = *state;
    store_destroy (&self->store);
    config_destroy (&self->config);
    fake_redis_destroy (&self->redis);
    free (self);
    return 0;
}

static void
test_cache_reads_the_directory_from_redis (void **state)
{
    fixture_t *self = *state;
    //  Redis up, but no directory loaded yet: NULL, and gc_dir_get is
    //  not even asked
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 0}");
    report_dir_t *cache = report_dir_new (NULL);
    assert_null (report_dir_get (cache, self->store));
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_version"), 1);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 0);
    report_dir_destroy (&cache);

    //  a version but the document gone (a flush between the calls): NULL
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 3}");
    fake_redis_queue (self->redis, "gc_dir_get",
                      "{'ok': false, 'code': 'NO_DIRECTORY', 'message': 'no directory'}");
    cache = report_dir_new (NULL);
    assert_null (report_dir_get (cache, self->store));
    report_dir_destroy (&cache);

    //  loaded: the street, parsed; asked again within the second, the
    //  same directory without a word to Redis
    s_queue_directory (self->redis, 3, s_street_v3);
    cache = report_dir_new (NULL);
    long long started = gc_mono_ms ();
    const directory_t *dir = report_dir_get (cache, self->store);
    assert_non_null (dir);
    assert_string_equal (directory_street_name (dir), "天骄街道");
    assert_string_equal (report_dir_unit_name (dir, "U001"), "环卫所");
    assert_ptr_equal (report_dir_get (cache, self->store), dir);
    if (gc_mono_ms () - started < 1000)
        assert_int_equal (fake_redis_count (self->redis, "gc_dir_version"), 3);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 2);
    report_dir_destroy (&cache);
}

static void
test_cache_follows_a_reload (void **state)
{
    fixture_t *self = *state;
    //  three caches of their own each read version 3
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 3}");
    s_queue_directory (self->redis, 3, s_street_v3);
    report_dir_t *a = report_dir_new (NULL);
    report_dir_t *b = report_dir_new (NULL);
    report_dir_t *c = report_dir_new (NULL);
    const directory_t *old_a = report_dir_get (a, self->store);
    const directory_t *old_b = report_dir_get (b, self->store);
    const directory_t *old_c = report_dir_get (c, self->store);
    assert_non_null (old_a);
    assert_non_null (old_b);
    assert_non_null (old_c);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 3);

    //  a second later c looks at the version again; it has not moved, so
    //  c keeps its directory without reading it again
    long long deadline = gc_mono_ms () + 3000;
    while (fake_redis_count (self->redis, "gc_dir_version") == 3 && gc_mono_ms () < deadline) {
        assert_ptr_equal (report_dir_get (c, self->store), old_c);
        usleep (10 * 1000);
    }
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_version"), 4);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 3);

    //  version 4 is loaded, but a reads a broken document: it keeps the
    //  directory it had
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 4}");
    fake_redis_queue (self->redis, "gc_dir_get",
                      "{'ok': true, 'version': 4, 'json': '{\\'version\\': 1}'}");
    assert_ptr_equal (report_dir_get (a, self->store), old_a);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 4);
    assert_int_equal (directory_utc_offset_minutes (old_a), 480);

    //  b reads the new one: the street's new offset is in it
    s_queue_directory (self->redis, 4, s_street_v4);
    const directory_t *new_b = report_dir_get (b, self->store);
    assert_non_null (new_b);
    assert_int_equal (directory_utc_offset_minutes (new_b), 540);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 5);
    report_dir_destroy (&a);
    report_dir_destroy (&b);
    report_dir_destroy (&c);
}

static void
test_caches_of_a_share_read_a_version_once (void **state)
{
    fixture_t *self = *state;
    //  the feed and three pooled connections: one directory between them
    report_dir_share_t *share = report_dir_share_new ();
    assert_non_null (share);
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 3}");
    s_queue_directory (self->redis, 3, s_street_v3);
    report_dir_t *caches [4];
    const directory_t *dirs [4];
    for (int i = 0; i < 4; i++) {
        caches [i] = report_dir_new (share);
        assert_non_null (caches [i]);
        dirs [i] = report_dir_get (caches [i], self->store);
        assert_non_null (dirs [i]);
        assert_ptr_equal (dirs [i], dirs [0]);
    }
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_version"), 4);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 1);

    //  version 4: the first cache to look reads it for the others; those
    //  that have not looked yet keep version 3 whole until they do
    fake_redis_queue (self->redis, "gc_dir_version", "{'ok': true, 'version': 4}");
    s_queue_directory (self->redis, 4, s_street_v4);
    long long deadline = gc_mono_ms () + 3000;
    const directory_t *fresh = dirs [0];
    while (fresh == dirs [0] && gc_mono_ms () < deadline) {
        usleep (10 * 1000);
        fresh = report_dir_get (caches [0], self->store);
    }
    assert_int_equal (directory_utc_offset_minutes (fresh), 540);
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 2);
    assert_int_equal (directory_utc_offset_minutes (dirs [3]), 480);
    for (int i = 1; i < 4; i++) {
        const directory_t *dir;
        while ((dir = report_dir_get (caches [i], self->store)) == dirs [i]
           &&  gc_mono_ms () < deadline)
            usleep (10 * 1000);
        assert_ptr_equal (dir, fresh);
    }
    assert_int_equal (fake_redis_count (self->redis, "gc_dir_get"), 2);

    for (int i = 0; i < 4; i++)
        report_dir_destroy (&caches [i]);
    report_dir_share_destroy (&share);
    assert_null (share);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_names_beside_ids, setup_street, teardown_street),
        cmocka_unit_test_setup_teardown (test_unknown_ids_stand_for_themselves, setup_street,
                                         teardown_street),
        cmocka_unit_test (test_names_before_the_directory_is_read),
        cmocka_unit_test_setup_teardown (test_local_time_in_the_street, setup_street,
                                         teardown_street),
        cmocka_unit_test (test_local_time_west_of_greenwich),
        cmocka_unit_test (test_local_time_without_directory_is_utc),
        cmocka_unit_test (test_cache_while_redis_is_away),
        cmocka_unit_test_setup_teardown (test_cache_reads_the_directory_from_redis, setup_redis,
                                         teardown_redis),
        cmocka_unit_test_setup_teardown (test_cache_follows_a_reload, setup_redis,
                                         teardown_redis),
        cmocka_unit_test_setup_teardown (test_caches_of_a_share_read_a_version_once, setup_redis,
                                         teardown_redis),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
