/*  unit_sim.c — gridcall-unit-sim: plugs many responder units from the
    directory into dispatch from one process and one zpoller loop, and
    accepts, declines, ignores, reports progress on and resolves offers
    at configurable rates and delays. For demos, load and chaos tests.
    A user of the unit kit that also links the cluster's library (config,
    daemon start-up, directory, log): the kit's log hook feeds the log. */
#include <czmq.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "daemon.h"
#include "directory.h"
#include "log.h"
#include "unitkit.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "dispatch_endpoint", CFG_STRING, "tcp://127.0.0.1:5561", 0, 0,
      "dispatch's unit ROUTER (its unit_bind)" },
    { "dispatch_key", CFG_STRING, "", 0, 0,
      "dispatch's public key (Z85) or certificate file; with keys_dir, every unit is a CurveZMQ client" },
    { "keys_dir", CFG_STRING, "", 0, 0,
      "folder of the units' secret certificates, <UNIT>.key_secret each; empty: no CURVE" },
    { "directory", CFG_STRING, "deploy/tianjiao/directory.json", 0, 0,
      "directory file that names the units" },
    { "units", CFG_STRING, "all", 0, 0, "\"all\" or a comma list of unit ids to plug in" },
    { "accept_rate", CFG_DOUBLE, "0.9", 0, 1, "fraction of answered offers accepted; the rest declined" },
    { "silence_rate", CFG_DOUBLE, "0", 0, 1, "fraction of offers never answered (exercises expiry)" },
    { "accept_delay_ms", CFG_INT, "200", 0, 3600000, "wait before answering an offer" },
    { "resolve_delay_ms", CFG_INT, "2000", 0, 86400000, "wait from accepted to resolved" },
    { "progress_notes", CFG_INT, "1", 0, 5, "progress notes sent between accept and resolve" },
    { "seed", CFG_INT, "0", 0, 2147483647, "random seed; 0 takes one from the clock" },
    { NULL, CFG_STRING, NULL, 0, 0, NULL }
};

static const char *s_notes [] = {
    "on our way", "on site, assessing", "work under way", "waiting for parts",
    "nearly done"
};

typedef enum { JOB_ANSWER, JOB_PROGRESS, JOB_RESOLVE } job_kind_t;

//  Something a unit will do at a due time.
typedef struct {
    int64_t due;                //  monotonic ms
    job_kind_t kind;            //  what to do
    unitkit_t *unit;            //  who does it (owned by the sim)
    char *offer_id;             //  the offer it concerns
    char *case_id;              //  its case
    bool accept;                //  ANSWER: accept, else decline
    int reason;                 //  ANSWER: decline reason
    int note_no;                //  PROGRESS: 1..progress_notes
} job_t;

//  The simulator: its units, its timer list and its dice.
typedef struct {
    unitkit_t **units;          //  one kit per simulated unit
    size_t unit_count;          //  entries in units
    zpoller_t *poller;          //  polls every connected kit's socket
    zlistx_t *jobs;             //  job_t, soonest first
    zhashx_t *active;           //  offer ids being handled, to ignore repeats
    uint64_t rng;               //  splitmix64 state
    double accept_rate;         //  options, read once
    double silence_rate;
    int accept_delay_ms;
    int resolve_delay_ms;
    int progress_notes;
    size_t offers, accepts, declines, silences, progresses, resolves, refusals, withdrawals;
} sim_t;

//  Uniform double in [0, 1).
static double
s_random (sim_t *self)
{
    uint64_t z = (self->rng += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    z ^= z >> 31;
    return (double) (z >> 11) / (double) (1ull << 53);
}

static void
s_job_destroy (void **item_p)
{
    job_t *job = (job_t *) *item_p;
    if (job) {
        free (job->offer_id);
        free (job->case_id);
        free (job);
        *item_p = NULL;
    }
}

static int
s_job_compare (const void *item1, const void *item2)
{
    const job_t *a = (const job_t *) item1;
    const job_t *b = (const job_t *) item2;
    return a->due < b->due ? -1 : a->due > b->due;
}

//  Put a job on the timer list; returns it so the caller can fill it in.
static job_t *
s_schedule (sim_t *self, unitkit_t *unit, job_kind_t kind, int delay_ms,
            const char *offer_id, const char *case_id)
{
    job_t *job = calloc (1, sizeof *job);
    assert (job);
    job->due = zclock_mono () + delay_ms;
    job->kind = kind;
    job->unit = unit;
    job->offer_id = strdup (offer_id);
    job->case_id = strdup (case_id);
    assert (job->offer_id && job->case_id);
    zlistx_insert (self->jobs, job, false);
    return job;
}

//  Offer in: roll the dice now, answer after accept_delay_ms.
static void
s_on_offer (unitkit_t *unit, const Gridcall__V1__Offer *offer, void *arg)
{
    sim_t *self = (sim_t *) arg;
    self->offers++;
    bool ledger = *offer->ledger_no && !streq (offer->ledger_no, offer->case_id);
    log_info ("%s offer %s case %s (%s%s%s %s %s, %s)", unitkit_id (unit), offer->offer_id,
              offer->case_id, ledger ? "ledger " : "", ledger ? offer->ledger_no : "",
              ledger ? "," : "", codec_tier_name (offer->tier), offer->category,
              *offer->role ? offer->role : "lead");
    if (zhashx_lookup (self->active, offer->offer_id)) {
        log_info ("%s already handles offer %s", unitkit_id (unit), offer->offer_id);
        return;
    }
    if (s_random (self) < self->silence_rate) {
        self->silences++;
        log_info ("%s stays silent on offer %s case %s", unitkit_id (unit),
                  offer->offer_id, offer->case_id);
        return;
    }
    zhashx_insert (self->active, offer->offer_id, unit);
    job_t *job = s_schedule (self, unit, JOB_ANSWER, self->accept_delay_ms,
                             offer->offer_id, offer->case_id);
    job->accept = s_random (self) < self->accept_rate;
    job->reason = s_random (self) < 0.5 ? GRIDCALL__V1__DECLINE_REASON__DECLINE_NO_CAPACITY
                                        : GRIDCALL__V1__DECLINE_REASON__DECLINE_NOT_OURS;
}

//  Dispatch's answers: an acknowledged accept starts the work; a final
//  reply, acknowledged or refused, ends the offer.
static void
s_on_event (unitkit_t *unit, const unitkit_event_t *event, void *arg)
{
    sim_t *self = (sim_t *) arg;
    if (event->type == UNITKIT_WELCOME && event->held_count)
        log_notice ("%s holds %zu cases from an earlier session", unitkit_id (unit),
                    event->held_count);
    if (event->type == UNITKIT_ACKED) {
        log_debug ("%s ok %s offer %s case %s: %s%s", unitkit_id (unit), event->kind,
                   event->offer_id, event->case_id, codec_state_name (event->state),
                   event->duplicate ? " (duplicate)" : "");
        if (streq (event->kind, "accept")) {
            for (int i = 1; i <= self->progress_notes; i++) {
                job_t *job = s_schedule (self, unit, JOB_PROGRESS,
                    self->resolve_delay_ms * i / (self->progress_notes + 1),
                    event->offer_id, event->case_id);
                job->note_no = i;
            }
            s_schedule (self, unit, JOB_RESOLVE, self->resolve_delay_ms,
                        event->offer_id, event->case_id);
        }
    }
    if (event->type == UNITKIT_REFUSED)
        self->refusals++;
    if (event->type == UNITKIT_WITHDRAWN) {
        //  the case is gone from us: forget the offer and its planned work
        self->withdrawals++;
        log_info ("%s case %s withdrawn (offer %s), now %s at %s", unitkit_id (unit),
                  event->case_id, event->offer_id, codec_state_name (event->state),
                  codec_tier_name (event->tier));
        zhashx_delete (self->active, event->offer_id);
        job_t *job = zlistx_first (self->jobs);
        while (job) {
            void *handle = zlistx_cursor (self->jobs);
            job_t *next = zlistx_next (self->jobs);
            if (job->unit == unit && streq (job->offer_id, event->offer_id))
                zlistx_delete (self->jobs, handle);
            job = next;
        }
        return;
    }
    if ((event->type == UNITKIT_ACKED || event->type == UNITKIT_REFUSED)
    &&  (streq (event->kind, "decline") || streq (event->kind, "resolve")
    ||   (streq (event->kind, "accept") && event->type == UNITKIT_REFUSED)))
        zhashx_delete (self->active, event->offer_id);
}

//  The daemon's log level for each of the kit's (UNITKIT_LOG_DEBUG..ERROR).
static const gc_log_level_t s_log_levels [] = {
    GC_LOG_DEBUG, GC_LOG_INFO, GC_LOG_NOTICE, GC_LOG_WARNING, GC_LOG_ERROR
};

//  The kit's log lines go to the daemon's log.
static void
s_on_log (const unitkit_t *unit, unitkit_log_level_t level, const char *line, void *arg)
{
    (void) unit;
    (void) arg;
    //  the kit's threshold was set at its start; a SIGHUP may have raised ours
    if (gc_log_enabled (s_log_levels [level]))
        gc_log_write (s_log_levels [level], "%s", line);
}

//  Do one due job.
static void
s_run_job (sim_t *self, job_t *job)
{
    const char *id = unitkit_id (job->unit);
    if (job->kind == JOB_ANSWER && job->accept) {
        self->accepts++;
        log_info ("%s accept offer %s case %s", id, job->offer_id, job->case_id);
        unitkit_accept (job->unit, job->offer_id, job->case_id);
    }
    else
    if (job->kind == JOB_ANSWER) {
        self->declines++;
        bool full = job->reason == GRIDCALL__V1__DECLINE_REASON__DECLINE_NO_CAPACITY;
        log_info ("%s decline offer %s case %s: %s", id, job->offer_id, job->case_id,
                  full ? "NO_CAPACITY" : "NOT_OURS");
        unitkit_decline (job->unit, job->offer_id, job->case_id, job->reason,
                         full ? "simulated: no capacity" : "simulated: not ours");
    }
    else
    if (job->kind == JOB_PROGRESS) {
        self->progresses++;
        const char *note = s_notes [(job->note_no - 1) % (int) (sizeof s_notes / sizeof *s_notes)];
        log_info ("%s progress offer %s case %s: %s", id, job->offer_id, job->case_id, note);
        unitkit_progress (job->unit, job->offer_id, job->case_id, note);
    }
    else {
        self->resolves++;
        log_info ("%s resolve offer %s case %s", id, job->offer_id, job->case_id);
        unitkit_resolve (job->unit, job->offer_id, job->case_id, "simulated: handled and resolved");
    }
}

//  Run every due job; return ms until the next one (at most cap).
static int
s_run_jobs (sim_t *self, int cap)
{
    int64_t now = zclock_mono ();
    job_t *job;
    while ((job = (job_t *) zlistx_first (self->jobs)) && job->due <= now) {
        zlistx_detach (self->jobs, NULL);
        s_run_job (self, job);
        s_job_destroy ((void **) &job);
    }
    if (job && job->due - now < cap)
        cap = (int) (job->due - now);
    return cap;
}

//  Rebuild the poller when any kit replaced its socket.
static void
s_poller_refresh (sim_t *self)
{
    bool changed = !self->poller;
    for (size_t i = 0; i < self->unit_count; i++)
        changed |= unitkit_socket_changed (self->units [i]);
    if (!changed)
        return;
    zpoller_destroy (&self->poller);
    self->poller = zpoller_new (NULL);
    assert (self->poller);
    for (size_t i = 0; i < self->unit_count; i++)
        if (unitkit_socket (self->units [i]))
            zpoller_add (self->poller, unitkit_socket (self->units [i]));
}

//  The lowest of the kit's levels the daemon's log_level lets through.
static unitkit_log_level_t
s_log_level (void)
{
    unitkit_log_level_t level = UNITKIT_LOG_DEBUG;
    while (level < UNITKIT_LOG_ERROR && !gc_log_enabled (s_log_levels [level]))
        level++;
    return level;
}

//  Plug in the units the options name. Returns 0 or -1.
static int
s_units_create (sim_t *self, const config_t *config, const directory_t *dir)
{
    const char *names = config_str (config, "units");
    const char *endpoint = config_str (config, "dispatch_endpoint");
    zlist_t *ids = zlist_new ();
    zlist_autofree (ids);
    if (streq (names, "all"))
        for (size_t i = 0; i < directory_unit_count (dir); i++)
            zlist_append (ids, (void *) directory_unit (dir, i)->id);
    else {
        char *copy = strdup (names);
        char *save = NULL;
        for (char *id = strtok_r (copy, ", ", &save); id; id = strtok_r (NULL, ", ", &save))
            zlist_append (ids, id);
        free (copy);
    }
    int rc = zlist_size (ids) ? 0 : -1;
    if (rc)
        log_error ("unit-sim: units \"%s\" names no unit", names);
    self->units = calloc (zlist_size (ids) + 1, sizeof *self->units);
    assert (self->units);
    for (char *id = zlist_first (ids); id && rc == 0; id = zlist_next (ids)) {
        if (!directory_unit_find (dir, id)) {
            log_error ("unit-sim: unit \"%s\" is not in the directory", id);
            rc = -1;
            break;
        }
        //  each unit with its own key: dispatch knows it by that key alone
        const char *keys = config_str (config, "keys_dir");
        char cert [PATH_MAX];
        snprintf (cert, sizeof cert, "%s/%s.key_secret", keys, id);
        unitkit_t *unit = *keys ? unitkit_new_curve (endpoint, id, config_str (config, "dispatch_key"),
                                                     cert)
                                : unitkit_new (endpoint, id);
        if (!unit) {
            log_error ("unit-sim: unitkit_new() \"%s\" failed", id);
            rc = -1;
            break;
        }
        unitkit_set_offer_handler (unit, s_on_offer, self);
        unitkit_set_event_handler (unit, s_on_event, self);
        unitkit_set_log_handler (unit, s_log_level (), s_on_log, NULL);
        self->units [self->unit_count++] = unit;
    }
    zlist_destroy (&ids);
    return rc;
}

static void sim_destroy (void *server);

//  Load the directory and plug in the units. Returns the sim or NULL (logged).
static void *
sim_create (const config_t *config)
{
    sim_t *self = calloc (1, sizeof *self);
    assert (self);
    self->accept_rate = config_double (config, "accept_rate");
    self->silence_rate = config_double (config, "silence_rate");
    self->accept_delay_ms = (int) config_int (config, "accept_delay_ms");
    self->resolve_delay_ms = (int) config_int (config, "resolve_delay_ms");
    self->progress_notes = (int) config_int (config, "progress_notes");
    self->rng = (uint64_t) config_int (config, "seed");
    if (self->rng == 0)
        self->rng = (uint64_t) zclock_time () ^ ((uint64_t) getpid () << 32);
    self->jobs = zlistx_new ();
    self->active = zhashx_new ();
    assert (self->jobs && self->active);
    zlistx_set_destructor (self->jobs, s_job_destroy);
    zlistx_set_comparator (self->jobs, s_job_compare);
    char err [512];
    const char *path = config_str (config, "directory");
    directory_t *dir = directory_load (path, err, sizeof err);
    if (!dir)
        log_error ("unit-sim: directory_load() \"%s\" failed: %s", path, err);
    if (!dir || s_units_create (self, config, dir)) {
        directory_destroy (&dir);
        sim_destroy (self);
        return NULL;
    }
    directory_destroy (&dir);
    log_notice ("unit-sim: %zu units to %s; accept %.2f, silent %.2f, answer after %d ms, "
                "resolve after %d ms, %d progress notes", self->unit_count,
                config_str (config, "dispatch_endpoint"), self->accept_rate,
                self->silence_rate, self->accept_delay_ms, self->resolve_delay_ms,
                self->progress_notes);
    return self;
}

//  The loop: wait on every kit's socket until the next kit timer or job.
static int
sim_run (void *server)
{
    sim_t *self = (sim_t *) server;
    int wait = 0;
    while (!zsys_interrupted) {
        s_poller_refresh (self);
        void *which = zpoller_wait (self->poller, wait);
        if (zpoller_terminated (self->poller))
            break;
        //  zpoller favours its first readers: give every kit its turn
        for (size_t i = 0; which && i < self->unit_count; i++)
            unitkit_handle (self->units [i]);
        wait = 1000;
        for (size_t i = 0; i < self->unit_count; i++) {
            int next = unitkit_tick (self->units [i]);
            if (next < wait)
                wait = next;
        }
        wait = s_run_jobs (self, wait);
    }
    log_notice ("unit-sim: stopping: %zu offers, %zu accepted, %zu declined, %zu silent, "
                "%zu progress notes, %zu resolved, %zu refused, %zu withdrawn", self->offers,
                self->accepts, self->declines, self->silences, self->progresses, self->resolves,
                self->refusals, self->withdrawals);
    return 0;
}

//  Say bye from every unit and free everything.
static void
sim_destroy (void *server)
{
    sim_t *self = (sim_t *) server;
    for (size_t i = 0; i < self->unit_count; i++)
        unitkit_destroy (&self->units [i]);
    free (self->units);
    zpoller_destroy (&self->poller);
    zhashx_destroy (&self->active);
    zlistx_destroy (&self->jobs);
    free (self);
}

int
main (int argc, char **argv)
{
    const gc_server_ops_t ops = { sim_create, sim_run, sim_destroy };
    return gc_daemon_main (argc, argv, "gridcall-unit-sim", s_options, &ops);
}
