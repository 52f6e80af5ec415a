/*  cli_sim.c — the simulated street for demos and soak runs: reporters
    file reports at a steady rate on random grids and categories from the
    directory; grid workers verify what units resolve (most pass); some
    residents evaluate closed cases. They learn of resolved and closed
    cases from notify's PUB, like any app would. */
#include "cli_args.h"
#include "cli_commands.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_client.h"
#include "codec.h"
#include "directory.h"

typedef struct {
    const config_t *config;     //  borrowed
    directory_t *directory;
    cli_client_t *client;       //  DEALER to intake; answers read as they come
    zsock_t *events;            //  SUB to notify's PUB
    double rate;                //  reports per second
    long long count;            //  reports to file; 0 = until interrupted
    double pass_rate;           //  share of verifications that pass
    double evaluate_rate;       //  share of closed cases evaluated
    long long filed;
    long long answered;
    long long refused;
    long long verified;
    long long evaluated;
    unsigned seq;
} sim_t;

static double
s_uniform (void)
{
    return (double) random () / ((double) RAND_MAX + 1.0);
}

static void
s_file_report (sim_t *self)
{
    const dir_grid_t *grid = directory_grid (self->directory,
        (size_t) randof ((int) directory_grid_count (self->directory)));
    const dir_category_t *category = directory_category (self->directory,
        (size_t) randof ((int) directory_category_count (self->directory)));
    char key [64], text [256], reporter [32];
    snprintf (key, sizeof key, "sim-%d-%u", (int) getpid (), ++self->seq);
    snprintf (text, sizeof text, "%s：居民反映%s问题，请尽快处理（模拟第%u号）", grid->name,
              category->name, self->seq);
    snprintf (reporter, sizeof reporter, "%s", grid->worker ? grid->worker : "grid worker");
    Gridcall__V1__Report report = GRIDCALL__V1__REPORT__INIT;
    report.idempotency_key = key;
    report.grid = (char *) grid->id;
    report.category = (char *) category->code;
    report.text = text;
    report.reporter = reporter;
    report.channel = category->service ? GRIDCALL__V1__CHANNEL__CHANNEL_SERVICE_CARD
                                       : GRIDCALL__V1__CHANNEL__CHANNEL_GRID_WORKER;
    if (cli_client_send (self->client, "report", &report.base) == 0)
        self->filed++;
}

static void
s_on_event (sim_t *self)
{
    codec_msg_t msg;
    if (codec_recv (self->events, false, codec_events, 1 << 20, &msg))
        return;
    Gridcall__V1__Notification *n = (Gridcall__V1__Notification *) msg.body;
    if (n && strcmp (msg.type, "case.resolved") == 0) {
        Gridcall__V1__Verify verify = GRIDCALL__V1__VERIFY__INIT;
        verify.case_id = n->case_id;
        verify.pass = s_uniform () < self->pass_rate;
        verify.note = verify.pass ? "现场核查：已处理完毕" : "现场核查：问题仍在，退回重办";
        verify.verifier = "grid worker";
        if (cli_client_send (self->client, "verify", &verify.base) == 0)
            self->verified++;
    }
    else
    if (n && strcmp (msg.type, "case.closed") == 0 && s_uniform () < self->evaluate_rate) {
        Gridcall__V1__Evaluate evaluate = GRIDCALL__V1__EVALUATE__INIT;
        evaluate.case_id = n->case_id;
        evaluate.score = 3 + (uint32_t) randof (3);
        evaluate.comment = "处理及时";
        evaluate.resident = "resident";
        if (cli_client_send (self->client, "evaluate", &evaluate.base) == 0)
            self->evaluated++;
    }
    codec_msg_reset (&msg);
}

static void
s_on_answer (sim_t *self)
{
    codec_msg_t msg;
    if (codec_recv (cli_client_socket (self->client), false, codec_reporter, 1 << 20, &msg))
        return;
    self->answered++;
    if (!msg.body || strcmp (msg.type, "error") == 0) {
        self->refused++;
        if (msg.body)
            fprintf (stderr, "simulate: refused: %s\n", ((Gridcall__V1__Error *) msg.body)->message);
    }
    codec_msg_reset (&msg);
}

int
cli_simulate (const config_t *config, int argc, char **argv)
{
    if (argc < 1 || strcmp (argv [0], "reports") != 0) {
        fprintf (stderr, "usage: gridcall simulate reports --directory FILE [--rate PER_SECOND] "
                 "[--count N] [--pass-rate 0.9] [--evaluate-rate 0.3] [--seed N]\n");
        return 2;
    }
    sim_t sim = { .config = config };
    char err [1024];
    sim.directory = directory_load (cli_opt (argc, argv, "--directory", "deploy/tianjiao/directory.json"),
                                    err, sizeof err);
    if (!sim.directory) {
        fprintf (stderr, "gridcall: %s\n", err);
        return 1;
    }
    sim.rate = atof (cli_opt (argc, argv, "--rate", "2"));
    sim.count = atoll (cli_opt (argc, argv, "--count", "0"));
    sim.pass_rate = atof (cli_opt (argc, argv, "--pass-rate", "0.9"));
    sim.evaluate_rate = atof (cli_opt (argc, argv, "--evaluate-rate", "0.3"));
    srandom ((unsigned) atoi (cli_opt (argc, argv, "--seed", "1")));
    if (sim.rate <= 0 || sim.rate > 100000) {
        fprintf (stderr, "gridcall: --rate must be in (0, 100000]\n");
        directory_destroy (&sim.directory);
        return 2;
    }
    zsys_init ();
    zsys_catch_interrupts ();
    sim.client = cli_client_new (config_str (config, "intake_endpoint"), 1000, 0);
    sim.events = zsock_new_sub (config_str (config, "events_endpoint"), "case.resolved");
    if (sim.events)
        zsock_set_subscribe (sim.events, "case.closed");
    if (!sim.client || !sim.events) {
        fprintf (stderr, "gridcall: cannot connect to intake or notify\n");
        cli_client_destroy (&sim.client);
        zsock_destroy (&sim.events);
        directory_destroy (&sim.directory);
        return 1;
    }
    printf ("simulate: filing %.1f reports a second on %zu grids%s\n", sim.rate,
            directory_grid_count (sim.directory), sim.count ? "" : " until Ctrl-C");
    zpoller_t *poller = zpoller_new (cli_client_socket (sim.client), sim.events, NULL);
    long long start = zclock_mono ();
    long long last_print = start;
    while (!zsys_interrupted) {
        long long now = zclock_mono ();
        long long due = start + (long long) (sim.filed * 1000.0 / sim.rate);
        bool more = !sim.count || sim.filed < sim.count;
        if (more && now >= due) {
            s_file_report (&sim);
            continue;
        }
        void *which = zpoller_wait (poller, more ? (int) (due - now) : 200);
        if (which == sim.events)
            s_on_event (&sim);
        else
        if (which == cli_client_socket (sim.client))
            s_on_answer (&sim);
        else
        if (zpoller_terminated (poller))
            break;
        if (zclock_mono () - last_print >= 10000) {
            last_print = zclock_mono ();
            printf ("simulate: %lld filed, %lld answers (%lld refused), %lld verified, %lld evaluated\n",
                    sim.filed, sim.answered, sim.refused, sim.verified, sim.evaluated);
            fflush (stdout);
        }
    }
    printf ("simulate: %lld filed, %lld answers (%lld refused), %lld verified, %lld evaluated\n",
            sim.filed, sim.answered, sim.refused, sim.verified, sim.evaluated);
    zpoller_destroy (&poller);
    zsock_destroy (&sim.events);
    cli_client_destroy (&sim.client);
    directory_destroy (&sim.directory);
    return 0;
}
