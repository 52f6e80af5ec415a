/*  report_server.c — the report daemon's server object. It owns the
    parts and their order: the hub and metrics first, then the feed
    thread (its own store), then the HTTP server (a pool of stores); it
    stops them in reverse, closing the hub first so streams end. */
#include "report_server.h"

#include "instance.h"

#include <czmq.h>
#include <malloc.h>
#include <signal.h>
#include <stdlib.h>

#include "daemon.h"
#include "log.h"
#include "metrics.h"
#include "report_feed.h"
#include "report_guard.h"
#include "report_http.h"
#include "report_hub.h"
#include "report_pool.h"

#define RUN_POLL_MS 100             //  how often run looks at zsys_interrupted
#define TRIM_MS 60000               //  hand freed heap back at most this often

struct _report_server_t {
    metrics_t *metrics;         //  what /metrics shows
    report_hub_t *hub;          //  live frames for stream connections
    report_dir_share_t *dirs;   //  the directory the feed and the pool read
    report_feed_t *feed;        //  the feed thread
    report_pool_t *pool;        //  Redis connections for HTTP requests
    report_http_t *http;        //  the HTTP server and its threads
    curve_t *curve;             //  CurveZMQ for the PUB: keys, zauth, principals
};

report_server_t *
report_server_new (const config_t *config)
{
    //  gc_daemon_main ran the same check; a caller of its own must not skip it
    char err [512];
    if (report_guard_check_config (config, err, sizeof err)) {
        log_error ("report: %s", err);
        return NULL;
    }
    //  a write to a Redis or HTTP peer that has gone must fail with EPIPE,
    //  not end the process (several threads here write to sockets)
    signal (SIGPIPE, SIG_IGN);
    report_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = metrics_new ("gridcall_report_");
    if (self->metrics) {        //  instance="..." on every series
        char name [64];
        instance_name_of (config, name, sizeof name);
        metrics_set_instance (self->metrics, name);
    }
    self->hub = report_hub_new ((size_t) config_int (config, "stream_buffer"));
    self->dirs = report_dir_share_new ();
    self->pool = self->dirs ? report_pool_new (config, (int) config_int (config, "redis_pool"),
                                               self->dirs) : NULL;
    if (!self->metrics || !self->hub || !self->pool) {
        log_error ("report: report_server_new() failed: out of memory");
        report_server_destroy (&self);
        return NULL;
    }
    report_conn_t *rc = report_pool_take (self->pool, 0);
    //  connect now so an outage shows in the log at start (requests
    //  retry); a Redis that refuses us is a start-up error
    int refused = rc ? store_start (rc->store) : 0;
    report_pool_give (self->pool, rc);
    if (refused) {
        report_server_destroy (&self);
        return NULL;
    }
    self->curve = curve_new (config, "report");
    if (self->curve)
        self->feed = report_feed_new (config, self->hub, self->metrics, self->curve,
                                      self->dirs);
    if (self->feed)
        self->http = report_http_new (config, self->pool, self->hub, self->metrics);
    if (!self->http)
        report_server_destroy (&self);
    return self;
}

void
report_server_destroy (report_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_server_t *self = *self_p;
    if (self->hub)
        report_hub_close (self->hub);
    report_http_destroy (&self->http);
    report_feed_destroy (&self->feed);
    curve_destroy (&self->curve);
    report_pool_destroy (&self->pool);
    report_dir_share_destroy (&self->dirs);
    report_hub_destroy (&self->hub);
    metrics_destroy (&self->metrics);
    free (self);
    *self_p = NULL;
}

int
report_server_run (report_server_t *self)
{
    long long trimmed_at = gc_mono_ms ();
    unsigned long served = 0;
    while (!zsys_interrupted) {
        zclock_sleep (RUN_POLL_MS);
        //  principals reloaded here; the feed thread drops revoked subscribers
        curve_tick (self->curve);
        //  requests (ledger pages, snapshots, replies of 100s of KB) leave
        //  free chunks among live ones in the HTTP threads' arena, which
        //  glibc keeps mapped: 3.8 MB after a few minutes of load on the
        //  demo street. Give them back while requests come (0-3 ms a call)
        if (gc_mono_ms () - trimmed_at >= TRIM_MS) {
            trimmed_at = gc_mono_ms ();
            if (report_http_requests (self->http) != served) {
                served = report_http_requests (self->http);
                malloc_trim (0);
                log_debug ("report: malloc_trim() took %lld ms", gc_mono_ms () - trimmed_at);
            }
        }
    }
    log_notice ("report: stopping after %lu requests", report_http_requests (self->http));
    return 0;
}
