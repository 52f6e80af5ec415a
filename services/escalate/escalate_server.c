/*  escalate_server.c — fires deadlines. Due times live in the Redis timers
    set and come from Redis TIME; this loop only decides when to look
    again, with a monotonic clock. Timers that fell due while escalate was
    down fire on start, oldest first. */
#include "escalate_server.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "curve.h"
#include "daemon.h"
#include "instance.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

struct _escalate_server_t {
    const config_t *config;     //  borrowed
    store_t *store;
    zsock_t *dispatch;          //  PUSH: case.dispatch wake-ups
    zsock_t *notify;            //  PUSH: notify.job wake-ups
    long long tick_ms;          //  longest wait between looks at the timers
    size_t batch_max;
    char batch_text [24];       //  arguments for gc_fire
    char scale [32];
    char repeat_ms [24];
    uint64_t fired;             //  timers that acted
    uint64_t climbs;            //  cases that climbed a tier
    uint64_t reminders;         //  yellow reminders sent
    uint64_t returns;           //  parked cases back on their review date
    long long late_max_ms;      //  worst lateness seen, Redis time
    metrics_t *metrics;         //  counters for GET /metrics
    metrics_http_t *metrics_http;   //  the endpoint, when metrics_port is set
    metric_t *m [6];            //  see s_metrics_update
    instance_t *beat;           //  our record for gridcall status
    long long last_sweep;       //  wall ms of the last look at due timers
};

escalate_server_t *
escalate_server_new (const config_t *config)
{
    escalate_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->tick_ms = config_int (config, "tick_ms");
    self->batch_max = (size_t) config_int (config, "batch_max");
    double scale = config_double (config, "time_scale");
    snprintf (self->batch_text, sizeof self->batch_text, "%zu", self->batch_max);
    snprintf (self->scale, sizeof self->scale, "%.17g", scale);
    //  the repeat interval is in case minutes, like the directory's limits
    snprintf (self->repeat_ms, sizeof self->repeat_ms, "%lld",
              (long long) (config_int (config, "top_repeat_minutes") * 60000.0 / scale) + 1);
    self->store = store_new (config, "escalate");
    //  a Redis that refuses us is a start-up error; one not up yet is waited for
    if (self->store && store_start (self->store)) {
        escalate_server_destroy (&self);
        return NULL;
    }
    self->beat = instance_new (config, "escalate", "gc_instance_beat");
    self->metrics = metrics_new ("gridcall_escalate_");
    self->m [0] = metrics_counter (self->metrics, "timers_fired_total", "timers that acted");
    self->m [1] = metrics_counter (self->metrics, "climbs_total", "cases that climbed a tier");
    self->m [2] = metrics_counter (self->metrics, "reminders_total", "yellow reminders sent");
    self->m [3] = metrics_counter (self->metrics, "returns_total", "parked cases back on their review date");
    self->m [4] = metrics_gauge (self->metrics, "lateness_max_ms", "worst firing lateness seen, Redis time");
    self->m [5] = metrics_counter (self->metrics, "redis_failures_total", "Redis connection or call failures");
    self->metrics_http = gc_metrics_serve (config, self->metrics);
    //  over TCP with curve on, a CURVE client of dispatch's and notify's keys
    curve_t *curve = curve_new (config, "escalate");
    if (curve) {
        self->dispatch = curve_connect (curve, ZMQ_PUSH, config_str (config, "dispatch_endpoint"),
                                        config_str (config, "dispatch_key"));
        self->notify = curve_connect (curve, ZMQ_PUSH, config_str (config, "notify_endpoint"),
                                      config_str (config, "notify_key"));
    }
    curve_destroy (&curve);
    if (!self->store || !self->dispatch || !self->notify) {
        escalate_server_destroy (&self);
        return NULL;
    }
    log_notice ("escalate: firing timers every %lld ms at most, time scale %s", self->tick_ms,
                self->scale);
    return self;
}

void
escalate_server_destroy (escalate_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    escalate_server_t *self = *self_p;
    metrics_http_stop (&self->metrics_http);
    metrics_destroy (&self->metrics);
    instance_destroy (&self->beat);
    zsock_destroy (&self->notify);
    zsock_destroy (&self->dispatch);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

//  Fire one batch. Returns the ms until the next timer is due (by Redis
//  time), 0 when a full batch fired and more may be due, -1 on no store.
static long long
s_fire (escalate_server_t *self)
{
    json_t *reply = store_callv (self->store, "gc_fire", self->batch_text, self->scale,
                                 self->repeat_ms, NULL);
    if (!reply || !json_is_true (json_object_get (reply, "ok"))) {
        json_decref (reply);
        return -1;
    }
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (reply, "fired"), index, item) {
        long long late = json_integer_value (json_object_get (item, "late_ms"));
        const char *kind = json_string_value (json_object_get (item, "kind"));
        const char *id = json_string_value (json_object_get (item, "id"));
        if (late > self->late_max_ms)
            self->late_max_ms = late;
        self->fired++;
        if (kind && strcmp (kind, "reminder") == 0) {
            self->reminders++;
            log_debug ("escalate: case \"%s\" reminded (%lld ms late)", id, late);
        }
        else
        if (kind && strcmp (kind, "review") == 0) {
            self->returns++;
            log_info ("escalate: case \"%s\" back from the parked ledger (%lld ms late)", id, late);
        }
        else {
            self->climbs++;
            int tier = (int) json_integer_value (json_object_get (item, "tier"));
            log_info ("escalate: case \"%s\" overdue, now at %s (%lld ms late)", id,
                      *codec_tier_name (tier) ? codec_tier_name (tier) : "?", late);
        }
    }
    //  climbs and returns go back to dispatch (commit, then send)
    json_array_foreach (json_object_get (reply, "wake"), index, item) {
        gc_wake_dispatch (self->dispatch, json_string_value (item), NULL);
    }
    gc_wake_notify (self->notify, reply);
    long long scanned = json_integer_value (json_object_get (reply, "scanned"));
    long long next_due = json_integer_value (json_object_get (reply, "next_due"));
    long long now = json_integer_value (json_object_get (reply, "now"));
    json_decref (reply);
    if (scanned >= (long long) self->batch_max)
        return 0;
    return next_due ? (next_due > now ? next_due - now : 0) : self->tick_ms;
}

//  Copy the loop's counters into the metrics registry (cheap atomics).
static void
s_metrics_update (escalate_server_t *self)
{
    metric_set (self->m [0], (int64_t) self->fired);
    metric_set (self->m [1], (int64_t) self->climbs);
    metric_set (self->m [2], (int64_t) self->reminders);
    metric_set (self->m [3], (int64_t) self->returns);
    metric_set (self->m [4], self->late_max_ms);
    metric_set (self->m [5], (int64_t) store_failures (self->store));
}

int
escalate_server_run (escalate_server_t *self)
{
    while (!zsys_interrupted) {
        long long wait = s_fire (self);
        s_metrics_update (self);
        self->last_sweep = zclock_time ();
        if (self->beat && instance_due (self->beat, zclock_mono ()))
            instance_beat (self->beat, self->store, json_pack ("{s:s, s:I, s:I, s:I}",
                "role", "active", "last_sweep_ms", (json_int_t) self->last_sweep,
                "fired", (json_int_t) self->fired, "climbs", (json_int_t) self->climbs));
        if (wait < 0 || wait > self->tick_ms)
            wait = self->tick_ms;
        if (wait > 0)
            zclock_sleep ((int) wait);      //  relative: immune to wall-clock jumps
    }
    log_notice ("escalate: stopping; %llu timers fired: %llu climbs or overdue notices, "
                "%llu reminders, %llu parked cases back; worst lateness %lld ms",
                (unsigned long long) self->fired, (unsigned long long) self->climbs,
                (unsigned long long) self->reminders, (unsigned long long) self->returns,
                self->late_max_ms);
    return 0;
}
