/*  test_report_hub.c — the live feed's fan-out by example: the feed thread
    pushes SSE frames and snapshots, stream connections start from the
    latest snapshot and wait for what follows, a slow screen that fell out
    of the ring starts again from a snapshot, and close wakes everyone. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "report_hub.h"

//  Monotonic milliseconds, to tell a wake-up from a timeout.
static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  How many frames a joined text holds (each ends with a blank line).
static int
s_frames_in (const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strstr (p, "\n\n")); p += 2)
        n++;
    return n;
}


//  ---------------------------------------------------------------------
//  One reader, one writer

static void
test_push_numbers_frames_from_one (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    assert_non_null (hub);
    //  a reader that comes before any snapshot starts at the next frame
    uint64_t next = 99;
    assert_null (report_hub_start (hub, &next));
    assert_int_equal (next, 1);

    assert_int_equal (report_hub_push (hub, "case", "{\"case_id\":\"A1\"}", false), 1);
    assert_int_equal (report_hub_push (hub, "status", "{\"ok\":false}", false), 2);

    bool lost = true;
    char *frames = report_hub_wait (hub, next, 1000, &next, &lost);
    assert_string_equal (frames, "event: case\nid: 1\ndata: {\"case_id\":\"A1\"}\n\n"
                                 "event: status\nid: 2\ndata: {\"ok\":false}\n\n");
    assert_false (lost);
    assert_int_equal (next, 3);
    free (frames);

    report_hub_destroy (&hub);
    assert_null (hub);
    report_hub_destroy (&hub);      //  NULL is fine
}

static void
test_reader_starts_at_latest_snapshot (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (16);
    report_hub_push (hub, "case", "{\"n\":1}", false);
    report_hub_push (hub, "snapshot", "{\"at_ms\":1}", true);
    report_hub_push (hub, "case", "{\"n\":3}", false);
    assert_int_equal (report_hub_push (hub, "snapshot", "{\"at_ms\":2}", true), 4);
    report_hub_push (hub, "case", "{\"n\":5}", false);

    //  a new screen gets the newest snapshot, then only what came after it
    uint64_t next = 0;
    char *snapshot = report_hub_start (hub, &next);
    assert_string_equal (snapshot, "event: snapshot\nid: 4\ndata: {\"at_ms\":2}\n\n");
    assert_int_equal (next, 5);
    free (snapshot);

    bool lost = true;
    char *frames = report_hub_wait (hub, next, 1000, &next, &lost);
    assert_string_equal (frames, "event: case\nid: 5\ndata: {\"n\":5}\n\n");
    assert_false (lost);
    assert_int_equal (next, 6);
    free (frames);
    report_hub_destroy (&hub);
}

static void
test_wait_times_out_when_nothing_comes (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (4);
    report_hub_push (hub, "case", "{}", false);
    uint64_t next = 2;
    bool lost = true;
    long long started = s_now_ms ();
    assert_null (report_hub_wait (hub, next, 60, &next, &lost));
    //  it did wait (the caller sends a keepalive after that), and left
    //  the reader where it was
    assert_true (s_now_ms () - started >= 50);
    assert_int_equal (next, 2);
    assert_false (lost);
    report_hub_destroy (&hub);
}

static void
test_readers_at_their_own_pace (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    for (int i = 1; i <= 4; i++)
        report_hub_push (hub, "case", "{}", false);
    //  a quick reader already had frames 1..3; a slow one had none
    uint64_t quick = 4, slow = 1;
    bool lost;
    char *a = report_hub_wait (hub, quick, 0, &quick, &lost);
    char *b = report_hub_wait (hub, slow, 0, &slow, &lost);
    assert_int_equal (s_frames_in (a), 1);
    assert_non_null (strstr (a, "id: 4\n"));
    assert_int_equal (s_frames_in (b), 4);
    assert_true (strstr (b, "id: 1\n") < strstr (b, "id: 4\n"));
    //  both now wait for the same next frame
    assert_int_equal (quick, 5);
    assert_int_equal (slow, 5);
    free (a);
    free (b);
    report_hub_destroy (&hub);
}


//  ---------------------------------------------------------------------
//  The ring: a slow screen falls out and starts again from a snapshot

static void
test_ring_holds_exactly_slots_frames (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (3);
    for (int i = 1; i <= 3; i++)
        report_hub_push (hub, "case", "{}", false);
    //  three slots: frame 1 is still there
    uint64_t next;
    bool lost = true;
    char *frames = report_hub_wait (hub, 1, 0, &next, &lost);
    assert_false (lost);
    assert_int_equal (s_frames_in (frames), 3);
    assert_int_equal (next, 4);
    free (frames);
    //  a fourth frame overwrites it: a reader at 1 has lost frames
    report_hub_push (hub, "case", "{}", false);
    frames = report_hub_wait (hub, 1, 0, &next, &lost);
    assert_true (lost);
    assert_null (strstr (frames, "id: 1\n"));
    assert_int_equal (next, 5);
    free (frames);
    report_hub_destroy (&hub);
}

static void
test_slow_reader_gets_latest_snapshot_again (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (4);
    report_hub_push (hub, "snapshot", "{\"v\":1}", true);       //  1
    report_hub_push (hub, "case", "{\"n\":2}", false);          //  2
    report_hub_push (hub, "case", "{\"n\":3}", false);          //  3
    report_hub_push (hub, "snapshot", "{\"v\":2}", true);       //  4
    report_hub_push (hub, "case", "{\"n\":5}", false);          //  5
    report_hub_push (hub, "case", "{\"n\":6}", false);          //  6
    report_hub_push (hub, "case", "{\"n\":7}", false);          //  7

    //  a screen still at frame 2: 2 and 3 are gone, so it gets the latest
    //  snapshot and the frames after it, and knows it skipped
    uint64_t next = 2;
    bool lost = false;
    char *frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_true (lost);
    assert_string_equal (frames, "event: snapshot\nid: 4\ndata: {\"v\":2}\n\n"
                                 "event: case\nid: 5\ndata: {\"n\":5}\n\n"
                                 "event: case\nid: 6\ndata: {\"n\":6}\n\n"
                                 "event: case\nid: 7\ndata: {\"n\":7}\n\n");
    assert_int_equal (next, 8);
    free (frames);

    //  and from there on it reads normally
    report_hub_push (hub, "case", "{\"n\":8}", false);
    frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_false (lost);
    assert_string_equal (frames, "event: case\nid: 8\ndata: {\"n\":8}\n\n");
    free (frames);
    report_hub_destroy (&hub);
}

static void
test_slow_reader_when_the_snapshot_left_the_ring_too (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (4);
    report_hub_push (hub, "snapshot", "{\"v\":1}", true);       //  1
    char data [32];
    for (int n = 2; n <= 10; n++) {
        snprintf (data, sizeof data, "{\"n\":%d}", n);
        report_hub_push (hub, "case", data, false);
    }
    //  the ring holds 7..10 only: the reader gets the snapshot and those,
    //  each once and in order, never a stale slot
    uint64_t next = 2;
    bool lost = false;
    char *frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_true (lost);
    assert_string_equal (frames, "event: snapshot\nid: 1\ndata: {\"v\":1}\n\n"
                                 "event: case\nid: 7\ndata: {\"n\":7}\n\n"
                                 "event: case\nid: 8\ndata: {\"n\":8}\n\n"
                                 "event: case\nid: 9\ndata: {\"n\":9}\n\n"
                                 "event: case\nid: 10\ndata: {\"n\":10}\n\n");
    assert_int_equal (next, 11);
    free (frames);
    report_hub_destroy (&hub);
}

static void
test_slow_reader_without_snapshot_skips_ahead (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (2);
    for (int i = 1; i <= 5; i++)
        report_hub_push (hub, "case", "{}", false);
    uint64_t next = 1;
    bool lost = false;
    char *frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_true (lost);
    //  only frames the ring still holds, newest last, and on past them
    assert_null (strstr (frames, "id: 1\n"));
    assert_non_null (strstr (frames, "id: 5\n"));
    assert_int_equal (next, 6);
    free (frames);
    report_hub_destroy (&hub);
}

//  ---------------------------------------------------------------------
//  What the hub holds: every case frame of the ring, one snapshot

static void
test_a_newer_snapshot_replaces_the_older (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (16);
    report_hub_push (hub, "snapshot", "{\"v\":1}", true);     //  1
    report_hub_push (hub, "case", "{\"n\":2}", false);        //  2
    report_hub_push (hub, "snapshot", "{\"v\":2}", true);     //  3
    report_hub_push (hub, "case", "{\"n\":4}", false);        //  4

    //  a screen still at frame 1 is in the ring, and gets what follows
    //  with the newer snapshot only: it shows all the older one did
    uint64_t next = 1;
    bool lost = true;
    char *frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_false (lost);
    assert_string_equal (frames, "event: case\nid: 2\ndata: {\"n\":2}\n\n"
                                 "event: snapshot\nid: 3\ndata: {\"v\":2}\n\n"
                                 "event: case\nid: 4\ndata: {\"n\":4}\n\n");
    assert_int_equal (next, 5);
    //  and the hub holds exactly those three frames
    assert_int_equal (report_hub_bytes (hub), strlen (frames));
    free (frames);
    report_hub_destroy (&hub);
}

static void
test_a_quiet_street_holds_one_snapshot (void **state)
{
    (void) state;
    //  nothing happens for hours: the feed pushes a snapshot every
    //  snapshot_ms and nothing else, far more than the ring's slots
    report_hub_t *hub = report_hub_new (1024);
    size_t size = 8192;
    char *data = malloc (size + 1);
    assert_non_null (data);
    memset (data, 'x', size);
    data [size] = 0;
    for (int n = 1; n <= 2000; n++)
        report_hub_push (hub, "snapshot", data, true);
    size_t one = strlen ("event: snapshot\nid: 2000\ndata: \n\n") + size;
    assert_int_equal (report_hub_bytes (hub), one);
    //  case frames add their own text, each once
    report_hub_push (hub, "case", "{\"n\":2001}", false);
    assert_int_equal (report_hub_bytes (hub),
                      one + strlen ("event: case\nid: 2001\ndata: {\"n\":2001}\n\n"));
    //  a screen that had read up to frame 1500 gets the latest snapshot
    //  and the case, once each
    uint64_t next = 1500;
    bool lost = true;
    char *frames = report_hub_wait (hub, next, 0, &next, &lost);
    assert_false (lost);
    assert_int_equal (s_frames_in (frames), 2);
    assert_non_null (strstr (frames, "id: 2000\n"));
    assert_int_equal (next, 2002);
    free (frames);
    //  the ring turns over: old case frames leave, and their bytes
    for (int n = 0; n < 1024; n++)
        report_hub_push (hub, "case", "{}", false);
    assert_int_equal (report_hub_bytes (hub),
                      one + 1024 * strlen ("event: case\nid: 3025\ndata: {}\n\n"));
    free (data);
    report_hub_destroy (&hub);
}

static void
test_ring_has_at_least_two_slots (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (0);
    assert_non_null (hub);
    report_hub_push (hub, "case", "{\"n\":1}", false);
    report_hub_push (hub, "case", "{\"n\":2}", false);
    uint64_t next;
    bool lost = true;
    char *frames = report_hub_wait (hub, 1, 0, &next, &lost);
    assert_false (lost);
    assert_int_equal (s_frames_in (frames), 2);
    free (frames);
    report_hub_destroy (&hub);
}


//  ---------------------------------------------------------------------
//  Threads: the feed wakes readers; close ends their waits

typedef struct {
    report_hub_t *hub;          //  shared hub
    uint64_t seq;               //  where the reader waits / starts
    int timeout_ms;             //  how long it waits
    char *frames;               //  what it got (owned)
    bool lost;                  //  what report_hub_wait said
    long long took_ms;          //  how long the call took
} reader_t;

static void *
s_waiting_reader (void *arg)
{
    reader_t *r = arg;
    long long started = s_now_ms ();
    r->frames = report_hub_wait (r->hub, r->seq, r->timeout_ms, &r->seq, &r->lost);
    r->took_ms = s_now_ms () - started;
    return NULL;
}

static void *
s_fresh_reader (void *arg)
{
    reader_t *r = arg;
    long long started = s_now_ms ();
    r->frames = report_hub_start_fresh (r->hub, r->timeout_ms, &r->seq);
    r->took_ms = s_now_ms () - started;
    return NULL;
}

static void
test_push_wakes_a_waiting_reader (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    reader_t r = { .hub = hub, .seq = 1, .timeout_ms = 10000 };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_waiting_reader, &r), 0);
    //  give the reader time to block (it gets the frame either way)
    usleep (20 * 1000);
    report_hub_push (hub, "case", "{\"n\":1}", false);
    pthread_join (thread, NULL);
    assert_string_equal (r.frames, "event: case\nid: 1\ndata: {\"n\":1}\n\n");
    assert_int_equal (r.seq, 2);
    assert_true (r.took_ms < 5000);
    free (r.frames);
    report_hub_destroy (&hub);
}

static void
test_close_ends_every_wait (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    report_hub_push (hub, "snapshot", "{\"v\":1}", true);
    reader_t r = { .hub = hub, .seq = 2, .timeout_ms = 10000 };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_waiting_reader, &r), 0);
    usleep (20 * 1000);
    assert_false (report_hub_closed (hub));
    report_hub_close (hub);
    pthread_join (thread, NULL);
    assert_null (r.frames);
    assert_true (r.took_ms < 5000);
    assert_true (report_hub_closed (hub));

    //  after close even frames already there are not handed out, and a
    //  fresh start does not wait for the feed any more
    report_hub_push (hub, "case", "{}", false);
    uint64_t next = 1;
    bool lost;
    assert_null (report_hub_wait (hub, next, 10000, &next, &lost));
    long long started = s_now_ms ();
    char *snapshot = report_hub_start_fresh (hub, 10000, &next);
    assert_true (s_now_ms () - started < 5000);
    assert_string_equal (snapshot, "event: snapshot\nid: 1\ndata: {\"v\":1}\n\n");
    free (snapshot);
    report_hub_destroy (&hub);
}

static void
test_fresh_start_waits_for_the_feed (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    report_hub_push (hub, "snapshot", "{\"v\":\"old\"}", true);
    assert_false (report_hub_take_request (hub));

    //  a screen connects and wants a snapshot built after it came
    reader_t r = { .hub = hub, .timeout_ms = 10000 };
    pthread_t thread;
    assert_int_equal (pthread_create (&thread, NULL, s_fresh_reader, &r), 0);
    //  the feed sees the request, and takes it once
    long long deadline = s_now_ms () + 5000;
    while (!report_hub_take_request (hub) && s_now_ms () < deadline)
        usleep (1000);
    assert_true (s_now_ms () < deadline);
    assert_false (report_hub_take_request (hub));
    report_hub_push (hub, "case", "{}", false);
    report_hub_push (hub, "snapshot", "{\"v\":\"new\"}", true);
    pthread_join (thread, NULL);

    assert_string_equal (r.frames, "event: snapshot\nid: 3\ndata: {\"v\":\"new\"}\n\n");
    assert_int_equal (r.seq, 4);
    assert_true (r.took_ms < 5000);
    free (r.frames);
    report_hub_destroy (&hub);
}

static void
test_fresh_start_falls_back_to_latest (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (8);
    //  nothing at all yet: no snapshot, start at the next frame
    uint64_t next = 0;
    assert_null (report_hub_start_fresh (hub, 30, &next));
    assert_int_equal (next, 1);
    assert_true (report_hub_take_request (hub));

    //  the feed does not answer in time: the latest snapshot will do
    report_hub_push (hub, "snapshot", "{\"v\":1}", true);
    report_hub_push (hub, "case", "{}", false);
    long long started = s_now_ms ();
    char *snapshot = report_hub_start_fresh (hub, 50, &next);
    assert_true (s_now_ms () - started >= 40);
    assert_string_equal (snapshot, "event: snapshot\nid: 1\ndata: {\"v\":1}\n\n");
    assert_int_equal (next, 2);
    free (snapshot);
    report_hub_destroy (&hub);
}

static void
test_reader_count (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (4);
    assert_int_equal (report_hub_readers (hub), 0);
    report_hub_attach (hub);
    report_hub_attach (hub);
    assert_int_equal (report_hub_readers (hub), 2);
    report_hub_detach (hub);
    report_hub_detach (hub);
    report_hub_detach (hub);        //  one too many: stays at zero
    assert_int_equal (report_hub_readers (hub), 0);
    report_hub_attach (hub);
    assert_int_equal (report_hub_readers (hub), 1);
    report_hub_destroy (&hub);
}

//  A screen reading everything the feed pushes, checking that ids run on
//  without a gap unless the hub said frames were lost.
typedef struct {
    report_hub_t *hub;          //  shared hub
    uint64_t last;              //  last id read (atomic: main polls it)
    int gaps;                   //  ids skipped without lost set
} screen_t;

static void *
s_screen (void *arg)
{
    screen_t *s = arg;
    uint64_t next = 1, last = 0;
    bool lost;
    char *text;
    while ((text = report_hub_wait (s->hub, next, 5000, &next, &lost))) {
        for (const char *p = text; (p = strstr (p, "\nid: ")); p++) {
            uint64_t id = strtoull (p + 5, NULL, 10);
            if (id != last + 1 && !lost)
                s->gaps++;
            last = id;
        }
        __atomic_store_n (&s->last, last, __ATOMIC_SEQ_CST);
        free (text);
    }
    return NULL;
}

static void
test_feed_and_screens_in_threads (void **state)
{
    (void) state;
    report_hub_t *hub = report_hub_new (64);
    screen_t screens [3];
    pthread_t threads [3];
    for (int i = 0; i < 3; i++) {
        screens [i] = (screen_t) { .hub = hub };
        assert_int_equal (pthread_create (&threads [i], NULL, s_screen, &screens [i]), 0);
        report_hub_attach (hub);
    }
    assert_int_equal (report_hub_readers (hub), 3);
    //  the feed: case frames, and a snapshot every 100
    char data [64];
    for (int n = 1; n <= 3000; n++) {
        snprintf (data, sizeof data, "{\"n\":%d}", n);
        assert_int_equal (report_hub_push (hub, n % 100 ? "case" : "snapshot", data,
                                           n % 100 == 0), (uint64_t) n);
    }
    //  every screen catches up with the last frame
    long long deadline = s_now_ms () + 5000;
    for (int i = 0; i < 3; i++)
        while (__atomic_load_n (&screens [i].last, __ATOMIC_SEQ_CST) != 3000
           &&  s_now_ms () < deadline)
            usleep (1000);
    report_hub_close (hub);
    for (int i = 0; i < 3; i++) {
        pthread_join (threads [i], NULL);
        report_hub_detach (hub);
        assert_int_equal (screens [i].last, 3000);
        assert_int_equal (screens [i].gaps, 0);
    }
    assert_int_equal (report_hub_readers (hub), 0);
    report_hub_destroy (&hub);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_push_numbers_frames_from_one),
        cmocka_unit_test (test_reader_starts_at_latest_snapshot),
        cmocka_unit_test (test_wait_times_out_when_nothing_comes),
        cmocka_unit_test (test_readers_at_their_own_pace),
        cmocka_unit_test (test_ring_holds_exactly_slots_frames),
        cmocka_unit_test (test_slow_reader_gets_latest_snapshot_again),
        cmocka_unit_test (test_slow_reader_when_the_snapshot_left_the_ring_too),
        cmocka_unit_test (test_slow_reader_without_snapshot_skips_ahead),
        cmocka_unit_test (test_ring_has_at_least_two_slots),
        cmocka_unit_test (test_a_newer_snapshot_replaces_the_older),
        cmocka_unit_test (test_a_quiet_street_holds_one_snapshot),
        cmocka_unit_test (test_push_wakes_a_waiting_reader),
        cmocka_unit_test (test_close_ends_every_wait),
        cmocka_unit_test (test_fresh_start_waits_for_the_feed),
        cmocka_unit_test (test_fresh_start_falls_back_to_latest),
        cmocka_unit_test (test_reader_count),
        cmocka_unit_test (test_feed_and_screens_in_threads),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
