/*  unit_example.c — gridcall-unit-example: the smallest useful responder
    unit. It accepts every offer, sends one progress note, and resolves the
    case after a delay. Start here when you write your own unit in C.
    It links the kit archive only (build/libgridcall-unitkit.a).
    Usage: gridcall-unit-example UNIT_ID [ENDPOINT] [RESOLVE_DELAY_MS]
    With GRIDCALL_UNIT_CERT (the unit's secret certificate) and
    GRIDCALL_DISPATCH_KEY (dispatch's public key or certificate file) in the
    environment it connects as a CurveZMQ client, as a dispatch with curve
    on requires (docs/unit-protocol.md, "Keys"). */
#include <czmq.h>
#include <stdarg.h>
#include <stdlib.h>

#include "unitkit.h"

//  A case we hold and will resolve at its due time.
typedef struct {
    char offer_id [UNITKIT_ID_MAX + 1];     //  the offer we accepted
    char case_id [UNITKIT_ID_MAX + 1];      //  its case
    int64_t due;                            //  when to resolve, monotonic ms
} job_t;

//  The example's state: its jobs and how long a job takes.
typedef struct {
    zlist_t *jobs;              //  job_t, oldest first
    int delay_ms;               //  accept to resolve
} example_t;

//  One line on stderr with the wall time: ours and the kit's (its log hook).
static void s_say (const char *level, const char *fmt, ...) __attribute__ ((format (printf, 2, 3)));

static void
s_say (const char *level, const char *fmt, ...)
{
    char *when = zclock_timestr ();
    va_list ap;
    va_start (ap, fmt);
    fprintf (stderr, "%s %s ", when, level);
    vfprintf (stderr, fmt, ap);
    fputc ('\n', stderr);
    va_end (ap);
    zstr_free (&when);
}

static void
s_on_log (const unitkit_t *unit, unitkit_log_level_t level, const char *line, void *arg)
{
    (void) unit;
    (void) arg;
    s_say (level >= UNITKIT_LOG_WARNING ? "WARNING" : "INFO", "%s", line);
}

//  An offer: take it, say so, and plan to resolve it.
static void
s_on_offer (unitkit_t *unit, const Gridcall__V1__Offer *offer, void *arg)
{
    example_t *self = (example_t *) arg;
    s_say ("INFO", "offer %s: case %s in grid %s, %s: \"%s\"", offer->offer_id, offer->ledger_no,
              offer->grid, offer->category, offer->text);
    unitkit_accept (unit, offer->offer_id, offer->case_id);
    unitkit_progress (unit, offer->offer_id, offer->case_id, "on our way");
    job_t *job = calloc (1, sizeof *job);
    if (!job)
        return;                 //  the offer expires and dispatch moves on
    snprintf (job->offer_id, sizeof job->offer_id, "%s", offer->offer_id);
    snprintf (job->case_id, sizeof job->case_id, "%s", offer->case_id);
    job->due = zclock_mono () + self->delay_ms;
    zlist_append (self->jobs, job);
}

//  What dispatch made of our messages.
static void
s_on_event (unitkit_t *unit, const unitkit_event_t *event, void *arg)
{
    (void) arg;
    if (event->type == UNITKIT_WELCOME)
        s_say ("INFO", "%s is on duty (%zu cases held from before)", unitkit_id (unit),
                  event->held_count);
    else
    if (event->type == UNITKIT_ACKED)
        s_say ("INFO", "dispatch took our %s of case %s", event->kind, event->case_id);
    else
    if (event->type == UNITKIT_REFUSED)
        s_say ("WARNING", "dispatch refused our %s of case %s: %s", event->kind, event->case_id,
                     event->message);
    else
        s_say ("WARNING", "%s", event->message);     //  REJECTED or LOST: the kit retries
}

int
main (int argc, char **argv)
{
    if (argc < 2 || argc > 4) {
        fprintf (stderr, "usage: %s UNIT_ID [ENDPOINT] [RESOLVE_DELAY_MS]\n", argv [0]);
        return 1;
    }
    zsys_init ();               //  SIGINT and SIGTERM now set zsys_interrupted
    example_t self = { zlist_new (), argc > 3 ? atoi (argv [3]) : 5000 };
    const char *endpoint = argc > 2 ? argv [2] : "tcp://127.0.0.1:5561";
    const char *cert = getenv ("GRIDCALL_UNIT_CERT");
    unitkit_t *unit = cert && *cert
                    ? unitkit_new_curve (endpoint, argv [1], getenv ("GRIDCALL_DISPATCH_KEY"), cert)
                    : unitkit_new (endpoint, argv [1]);
    if (!unit || !self.jobs) {
        fprintf (stderr, "%s: cannot create unit \"%s\"\n", argv [0], argv [1]);
        return 1;
    }
    unitkit_set_offer_handler (unit, s_on_offer, &self);
    unitkit_set_event_handler (unit, s_on_event, &self);
    unitkit_set_log_handler (unit, UNITKIT_LOG_INFO, s_on_log, NULL);

    //  one loop: the kit's socket and timers, then our own due jobs
    while (unitkit_poll (unit, 100) == 0) {
        job_t *job = (job_t *) zlist_first (self.jobs);
        if (job && job->due <= zclock_mono ()) {
            unitkit_resolve (unit, job->offer_id, job->case_id, "handled on site");
            zlist_remove (self.jobs, job);
            free (job);
        }
    }
    //  give dispatch a moment to acknowledge what we sent, then say bye
    int64_t deadline = zclock_mono () + 1000;
    zsys_interrupted = 0;       //  a second Ctrl-C stops the wait
    while (unitkit_outbox_size (unit) && unitkit_connected (unit) && zclock_mono () < deadline
       &&  unitkit_poll (unit, 50) == 0)
        ;
    unitkit_destroy (&unit);
    for (job_t *job = zlist_first (self.jobs); job; job = zlist_next (self.jobs))
        free (job);             //  cases we still hold; dispatch knows them
    zlist_destroy (&self.jobs);
    return 0;
}
