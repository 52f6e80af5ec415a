/*  report_feed.c — the feed thread. Every poll it asks gc_report_events
    for stream entries after the last one seen and relays each as a
    "case" frame; after changes (at most every snapshot_min_ms), when a
    new screen connects, and every snapshot_ms regardless, it builds the
    snapshot (gc_report_screen, one atomic read) and relays that. Both
    leave with phone numbers masked: screens and PUB subscribers hold no
    export role. */
#include "report_feed.h"

#include <czmq.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "daemon.h"
#include "log.h"
#include "report_dir.h"
#include "report_ledger.h"
#include "report_mask.h"
#include "report_pub.h"
#include "report_screen.h"
#include "store.h"

#define EVENTS_BATCH "200"          //  stream entries read per call
#define STREAM_ID_MAX 64            //  longest stream id we keep

struct _report_feed_t {
    const config_t *config;     //  borrowed
    report_hub_t *hub;          //  borrowed: where frames go
    report_dir_share_t *share;  //  borrowed: the directory the HTTP threads read too
    pthread_t thread;           //  the feed thread
    bool started;               //  thread is running
    atomic_bool stop;           //  asks the thread to end
    char *pub_bind;             //  PUB endpoint, or "" for none
    report_pub_t *pub;          //  bound here, used by the thread only (moved with pthread_create)
    int poll_ms;                //  stream poll interval
    int snapshot_ms;            //  snapshot at least this often
    int snapshot_min_ms;        //  and at most this often after changes
    char fraction [32];         //  yellow_fraction as text
    char scale [32];            //  time_scale as text
    char list_max [16];         //  rows of the red and yellow lists
    char sample [16];           //  closed cases in the performance sample
    const char *ledger_dir;     //  daily ledger folder, or ""
    int ledger_interval_s;      //  rewrite today's file this often; 0 = never
    long long ledger_max_rows;  //  rows per file at most
    metric_t *events;           //  metrics the feed keeps
    metric_t *snapshots;
    metric_t *redis_errors;
    metric_t *snapshot_us;
    metric_t *open_cases;
    metric_t *pending_dispatch;
    metric_t *pending_notify;
    metric_t *dead_notify;
    metric_t *timers;
    metric_t *timer_lag;
    metric_t *units_on_duty;
    metric_t *ledger_rows;
    metric_t *hub_bytes;
};

//  The thread's own state, on its stack.
typedef struct {
    store_t *store;             //  its Redis connection
    report_dir_t *dir;          //  its directory cache
    report_pub_t *pub;          //  PUB socket, or NULL
    char last [STREAM_ID_MAX + 1];  //  last stream id relayed, "" before the first read
    bool dirty;                 //  something changed since the last snapshot
    long long snapshot_at;      //  monotonic ms of the last snapshot
    char ledger_day [20];       //  local date the ledger timer last saw
    long long ledger_at;        //  monotonic ms of the last periodic ledger
} feed_state_t;

static long long
s_json_int (const json_t *obj, const char *key)
{
    json_t *v = json_object_get (obj, key);
    return json_is_integer (v) ? json_integer_value (v) : 0;
}

//  Relay new stream entries. Returns how many, or -1 when Redis failed.
static int
s_events (report_feed_t *self, feed_state_t *st, const directory_t *dir)
{
    json_t *reply = store_callv (st->store, "gc_report_events", st->last, EVENTS_BATCH, NULL);
    if (!reply || !json_is_true (json_object_get (reply, "ok"))) {
        json_decref (reply);
        metric_inc (self->redis_errors);
        return -1;
    }
    int relayed = 0;
    bool first = st->last [0] == 0;
    size_t i;
    json_t *entry;
    json_array_foreach (json_object_get (reply, "events"), i, entry) {
        json_t *ev = report_screen_ticker_event (entry, dir);
        char *text = ev && report_mask_json (ev) == 0 ? json_dumps (ev, JSON_COMPACT | JSON_REAL_PRECISION (15)) : NULL;
        if (text) {
            report_hub_push (self->hub, "case", text, false);
            if (st->pub && report_pub_event (st->pub, ev))
                log_debug ("report: PUB screen.event failed");
            metric_inc (self->events);
            relayed++;
        }
        free (text);
        json_decref (ev);
    }
    const char *last = json_string_value (json_object_get (reply, "last"));
    if (last && strlen (last) <= STREAM_ID_MAX)
        strcpy (st->last, last);
    json_decref (reply);
    if (first)
        log_info ("report: live feed starts after stream entry %s", st->last);
    return relayed;
}

//  Set the gauges from a snapshot document.
static void
s_gauges (report_feed_t *self, const json_t *snap)
{
    const json_t *stats = json_object_get (snap, "stats");
    metric_set (self->open_cases, s_json_int (stats, "open"));
    metric_set (self->pending_dispatch, s_json_int (json_object_get (stats, "pending"), "dispatch"));
    metric_set (self->pending_notify, s_json_int (json_object_get (stats, "pending"), "notify"));
    metric_set (self->dead_notify, s_json_int (json_object_get (stats, "dead"), "notify"));
    metric_set (self->timers, s_json_int (stats, "timers"));
    metric_set (self->timer_lag, s_json_int (snap, "timer_lag_ms"));
    metric_set (self->units_on_duty, s_json_int (json_object_get (snap, "resources"), "on_duty"));
}

//  Build and relay a snapshot. Returns 0, or -1 when Redis failed.
static int
s_snapshot (report_feed_t *self, feed_state_t *st, const directory_t *dir)
{
    long long started = zclock_usecs ();
    json_t *reply = store_callv (st->store, "gc_report_screen", self->fraction, self->scale,
                                 self->list_max, self->sample, "30", NULL);
    json_t *snap = report_screen_compose (reply, dir);
    json_decref (reply);
    if (snap && report_mask_json (snap)) {
        json_decref (snap);
        snap = NULL;
    }
    if (!snap) {
        metric_inc (self->redis_errors);
        report_hub_push (self->hub, "status", "{\"ok\":false,\"redis\":\"down\"}", false);
        return -1;
    }
    char *text = json_dumps (snap, JSON_COMPACT | JSON_REAL_PRECISION (15));
    if (text) {
        report_hub_push (self->hub, "snapshot", text, true);
        if (st->pub && report_pub_snapshot (st->pub, s_json_int (snap, "at_ms"), text))
            log_debug ("report: PUB screen.snapshot failed");
        metric_inc (self->snapshots);
    }
    s_gauges (self, snap);
    free (text);
    json_decref (snap);
    metric_set (self->snapshot_us, zclock_usecs () - started);
    return 0;
}

//  The daily ledger: yesterday's file once the local day turns (and at
//  start when it is missing), today's every ledger_interval_s if set.
static void
s_ledger (report_feed_t *self, feed_state_t *st, const directory_t *dir)
{
    if (!*self->ledger_dir || !dir)
        return;
    long long now = zclock_time ();
    char today [20];
    report_dir_local (dir, now, NULL, NULL, today);
    today [10] = 0;
    if (strcmp (today, st->ledger_day) != 0) {
        bool at_start = st->ledger_day [0] == 0;
        snprintf (st->ledger_day, sizeof st->ledger_day, "%s", today);
        char yesterday [20], path [4096];
        report_dir_local (dir, now - 86400000LL, NULL, NULL, yesterday);
        snprintf (path, sizeof path, "%s/ledger-%.4s%.2s%.2s.csv", self->ledger_dir, yesterday,
                  yesterday + 5, yesterday + 8);
        struct stat info;
        if (!at_start || stat (path, &info) != 0) {
            long long rows = report_ledger_write_day (self->ledger_dir, now - 86400000LL,
                                                      st->store, dir, self->ledger_max_rows);
            if (rows >= 0)
                metric_add (self->ledger_rows, rows);
        }
    }
    if (self->ledger_interval_s > 0
    &&  gc_mono_ms () - st->ledger_at >= (long long) self->ledger_interval_s * 1000) {
        st->ledger_at = gc_mono_ms ();
        long long rows = report_ledger_write_day (self->ledger_dir, now, st->store, dir,
                                                  self->ledger_max_rows);
        if (rows >= 0)
            metric_add (self->ledger_rows, rows);
    }
}

static void *
s_run (void *arg)
{
    report_feed_t *self = (report_feed_t *) arg;
    feed_state_t st;
    memset (&st, 0, sizeof st);
    st.store = store_new (self->config, "report");
    st.dir = report_dir_new (self->share);
    st.snapshot_at = -1000000;
    st.ledger_at = -1000000000LL;
    st.pub = self->pub;
    while (st.store && st.dir && !atomic_load (&self->stop)) {
        const directory_t *dir = report_dir_get (st.dir, st.store);
        int relayed = s_events (self, &st, dir);
        if (relayed > 0)
            st.dirty = true;
        if (report_hub_take_request (self->hub))
            st.dirty = true;
        long long now = gc_mono_ms ();
        if ((st.dirty && now - st.snapshot_at >= self->snapshot_min_ms)
        ||  now - st.snapshot_at >= self->snapshot_ms) {
            st.snapshot_at = now;
            if (s_snapshot (self, &st, dir) == 0)
                st.dirty = false;
        }
        metric_set (self->hub_bytes, (int64_t) report_hub_bytes (self->hub));
        s_ledger (self, &st, dir);
        if (st.pub)
            report_pub_tick (st.pub);
        //  a full batch means more is waiting: read on at once
        if (relayed < atoi (EVENTS_BATCH)) {
            for (int slept = 0; slept < self->poll_ms && !atomic_load (&self->stop); slept += 20)
                zclock_sleep (20);
        }
    }
    report_dir_destroy (&st.dir);
    store_destroy (&st.store);
    return NULL;
}

report_feed_t *
report_feed_new (const config_t *config, report_hub_t *hub, metrics_t *metrics, curve_t *curve,
                 report_dir_share_t *share)
{
    report_feed_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->hub = hub;
    self->share = share;
    atomic_init (&self->stop, false);
    self->pub_bind = strdup (config_str (config, "pub_bind"));
    self->poll_ms = (int) config_int (config, "poll_ms");
    self->snapshot_ms = (int) config_int (config, "snapshot_ms");
    self->snapshot_min_ms = (int) config_int (config, "snapshot_min_ms");
    snprintf (self->fraction, sizeof self->fraction, "%g", config_double (config, "yellow_fraction"));
    snprintf (self->scale, sizeof self->scale, "%g", config_double (config, "time_scale"));
    snprintf (self->list_max, sizeof self->list_max, "%lld", config_int (config, "list_max"));
    snprintf (self->sample, sizeof self->sample, "%lld", config_int (config, "perf_sample"));
    self->ledger_dir = config_str (config, "ledger_dir");
    self->ledger_interval_s = (int) config_int (config, "ledger_interval_s");
    self->ledger_max_rows = config_int (config, "ledger_max_rows");
    self->events = metrics_counter (metrics, "events_total", "case events relayed from the stream");
    self->snapshots = metrics_counter (metrics, "snapshots_total", "screen snapshots built");
    self->redis_errors = metrics_counter (metrics, "redis_errors_total",
                                          "Redis calls that failed or were refused");
    self->snapshot_us = metrics_gauge (metrics, "snapshot_build_microseconds",
                                       "time the last snapshot took to build");
    self->open_cases = metrics_gauge (metrics, "open_cases", "open cases");
    self->pending_dispatch = metrics_gauge (metrics, "pending{stage=\"dispatch\"}",
                                            "work items waiting in a pending set");
    self->pending_notify = metrics_gauge (metrics, "pending{stage=\"notify\"}",
                                          "work items waiting in a pending set");
    self->dead_notify = metrics_gauge (metrics, "dead_letters{stage=\"notify\"}",
                                       "work given up after its last attempt");
    self->timers = metrics_gauge (metrics, "timers", "deadline timers waiting to fire");
    self->timer_lag = metrics_gauge (metrics, "timer_lag_milliseconds",
                                     "how late the oldest due timer is (0 when none is due)");
    self->units_on_duty = metrics_gauge (metrics, "units_on_duty", "units on duty now by their rota");
    self->ledger_rows = metrics_counter (metrics, "ledger_file_rows_total",
                                         "rows written to daily ledger files");
    self->hub_bytes = metrics_gauge (metrics, "stream_buffer_bytes",
                                     "frame text kept for screens: the ring and the latest snapshot");
    if (!self->pub_bind) {
        report_feed_destroy (&self);
        return NULL;
    }
    if (*self->ledger_dir && mkdir (self->ledger_dir, 0755) != 0 && errno != EEXIST) {
        log_error ("report: mkdir() \"%s\" failed: %s", self->ledger_dir, strerror (errno));
        report_feed_destroy (&self);
        return NULL;
    }
    if (*self->pub_bind && !(self->pub = report_pub_new (curve, self->pub_bind))) {
        report_feed_destroy (&self);
        return NULL;
    }
    if (pthread_create (&self->thread, NULL, s_run, self) != 0) {
        log_error ("report: pthread_create() failed for the live feed");
        report_feed_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
report_feed_destroy (report_feed_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_feed_t *self = *self_p;
    if (self->started) {
        atomic_store (&self->stop, true);
        pthread_join (self->thread, NULL);
    }
    report_pub_destroy (&self->pub);
    free (self->pub_bind);
    free (self);
    *self_p = NULL;
}
