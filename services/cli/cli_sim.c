/*  cli_sim.c — the simulated street for demos and soak runs: reporters
    file reports at a steady rate on random grids and categories from the
    directory; the community operator places the service-card orders a few
    case minutes later (declines some, with a reason); grid workers verify
    what units resolve (most pass); some residents evaluate closed cases;
    a few matters (议题) walk 提议定办评 (cli_sim_matters.c).
    They learn of resolved and closed cases from notify's PUB, like any app
    would; the operator acts through Redis, as `gridcall order` does. */
#include "cli_args.h"
#include "cli_commands.h"

#include <czmq.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_client.h"
#include "cli_sim_matters.h"
#include "codec.h"
#include "directory.h"
#include "store.h"

#define ORDERS_WAITING_MAX 1000     //  orders of an earlier run picked up at start

//  An order the community operator will place or decline at due.
typedef struct {
    char case_id [64];
    long long due;              //  monotonic ms
} sim_order_t;

//  Why a community declines an order; one is picked at random.
static const char *s_decline_reasons [] = {
    "本社区暂无该项服务，已转介街道便民服务中心",
    "居民已电话撤回需求",
    "不属于服务卡受理范围，已告知居民其他办理渠道",
};

typedef struct {
    const config_t *config;     //  borrowed
    directory_t *directory;
    cli_client_t *client;       //  DEALER to intake as the gateway: reports, evaluations
    cli_client_t *official;     //  DEALER to intake as the operator: verify, order decisions
    zsock_t *events;            //  SUB to notify's PUB
    double rate;                //  reports per second
    long long count;            //  reports to file; 0 = until interrupted
    double pass_rate;           //  share of verifications that pass
    double evaluate_rate;       //  share of closed cases evaluated
    store_t *store;             //  the community operator's door to Redis
    zlistx_t *orders;           //  sim_order_t waiting for the operator
    sim_matters_t *matters;     //  the matters walking their templates (--matters)
    double place_after_ms;      //  mean wait before the operator acts, wall ms
    double decline_rate;        //  share of orders the community declines
    long long filed;
    long long answered;
    long long refused;
    long long verified;
    long long evaluated;
    long long placed;
    long long declined;
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

//  Queue an order for the operator: due after the mean wait, +-50 %.
static void
s_order_queue (sim_t *self, const char *case_id)
{
    sim_order_t *order = calloc (1, sizeof *order);
    if (!order)
        return;
    snprintf (order->case_id, sizeof order->case_id, "%s", case_id);
    order->due = zclock_mono () + (long long) (self->place_after_ms * (0.5 + s_uniform ()));
    zlistx_add_end (self->orders, order);
}

//  Pick up orders an earlier run left waiting (a restarted demo).
static void
s_orders_waiting (sim_t *self)
{
    char max [16];
    snprintf (max, sizeof max, "%d", ORDERS_WAITING_MAX);
    json_t *reply = store_callv (self->store, "gc_orders", max, NULL);
    size_t index;
    json_t *order;
    json_array_foreach (json_object_get (reply, "waiting"), index, order) {
        const char *id = json_string_value (json_object_get (order, "case_id"));
        if (id)
            s_order_queue (self, id);
    }
    json_decref (reply);
}

//  Place or decline one order, as the community operator would, through
//  intake (order.decide; the answer comes with the others). Returns 0 when
//  sent, -1 when it could not be and must be tried again.
static int
s_order_act (sim_t *self, const sim_order_t *order)
{
    bool decline = s_uniform () < self->decline_rate;
    //  draw the reason either way: a seed gives the same run as before
    const char *reason = s_decline_reasons [randof ((int) (sizeof s_decline_reasons
                                                           / sizeof *s_decline_reasons))];
    Gridcall__V1__OrderDecision decision = GRIDCALL__V1__ORDER_DECISION__INIT;
    decision.case_id = (char *) order->case_id;
    decision.place = !decline;
    decision.reason = decline ? (char *) reason : "";
    decision.operator_ = "community operator";
    if (cli_client_send (self->official, "order.decide", &decision.base))
        return -1;
    if (decline)
        self->declined++;
    else
        self->placed++;
    return 0;
}

//  Act on the orders that are due; one Redis cannot take waits a second.
static void
s_orders_act (sim_t *self)
{
    long long now = zclock_mono ();
    sim_order_t *order = (sim_order_t *) zlistx_first (self->orders);
    while (order) {
        void *handle = zlistx_cursor (self->orders);
        bool done = false;
        if (order->due <= now) {
            done = s_order_act (self, order) == 0;
            if (!done)
                order->due = now + 1000;
        }
        order = (sim_order_t *) zlistx_next (self->orders);
        if (done)
            zlistx_delete (self->orders, handle);   //  not the cursor any more
    }
}

static void
s_order_destroy (void **item)
{
    free (*item);
    *item = NULL;
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
        if (cli_client_send (self->official, "verify", &verify.base) == 0)
            self->verified++;
    }
    else
    if (n && strcmp (msg.type, "case.closed") == 0 && s_uniform () < self->evaluate_rate
    &&  !(self->matters && sim_matters_task (self->matters, n->case_id))) {
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
s_on_answer (sim_t *self, cli_client_t *client)
{
    codec_msg_t msg;
    if (codec_recv (cli_client_socket (client), false, codec_reporter, 1 << 20, &msg))
        return;
    self->answered++;
    if (self->matters && sim_matters_answer (self->matters, &msg)) {
        codec_msg_reset (&msg);
        return;
    }
    if (!msg.body || strcmp (msg.type, "error") == 0) {
        self->refused++;
        if (msg.body)
            fprintf (stderr, "simulate: refused: %s\n", ((Gridcall__V1__Error *) msg.body)->message);
    }
    else
    if (strcmp (msg.type, "report.ok") == 0) {
        Gridcall__V1__ReportReply *reply = (Gridcall__V1__ReportReply *) msg.body;
        if (reply->state == GRIDCALL__V1__CASE_STATE__STATE_ORDERED && !reply->duplicate)
            s_order_queue (self, reply->case_id);
    }
    codec_msg_reset (&msg);
}

static void
s_print (const sim_t *self)
{
    printf ("simulate: %lld filed, %lld answers (%lld refused), %lld orders placed, "
            "%lld declined, %lld verified, %lld evaluated, %lld matter steps\n", self->filed,
            self->answered, self->refused, self->placed, self->declined, self->verified,
            self->evaluated, self->matters ? sim_matters_steps (self->matters) : 0);
    fflush (stdout);
}

int
cli_simulate (const config_t *config, int argc, char **argv)
{
    if (argc < 1 || strcmp (argv [0], "reports") != 0) {
        fprintf (stderr, "usage: gridcall simulate reports --directory FILE [--rate PER_SECOND] "
                 "[--count N] [--pass-rate 0.9] [--evaluate-rate 0.3] [--seed N]\n"
                 "         [--place-after-minutes 10] [--decline-rate 0.1]   (case minutes)\n"
                 "         [--matters [--matter-step-ms 6000]]   walk a matter per template\n");
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
    double place_after = atof (cli_opt (argc, argv, "--place-after-minutes", "10"));
    sim.decline_rate = atof (cli_opt (argc, argv, "--decline-rate", "0.1"));
    //  the operator's wait is in case minutes, like every limit of the street
    sim.place_after_ms = place_after * 60000.0 / config_double (config, "time_scale");
    srandom ((unsigned) atoi (cli_opt (argc, argv, "--seed", "1")));
    if (sim.rate <= 0 || sim.rate > 100000 || place_after < 0 || sim.decline_rate < 0
    ||  sim.decline_rate > 1) {
        fprintf (stderr, "gridcall: --rate must be in (0, 100000], --place-after-minutes >= 0, "
                 "--decline-rate in [0, 1]\n");
        directory_destroy (&sim.directory);
        return 2;
    }
    //  a Redis that restarts under the demo must not kill the street
    signal (SIGPIPE, SIG_IGN);
    zsys_init ();
    zsys_catch_interrupts ();
    sim.store = store_new (config, "simulate");
    sim.orders = zlistx_new ();
    if (sim.orders)
        zlistx_set_destructor (sim.orders, s_order_destroy);
    if (sim.store && sim.orders)
        s_orders_waiting (&sim);
    //  reports and evaluations come from the gateway, verifications and
    //  order decisions from the operator: each with its own key
    const char *endpoint = config_str (config, "intake_endpoint");
    const char *intake_key = config_str (config, "intake_key");
    sim.client = cli_client_new (endpoint, 1000, 0, cli_client_cert (config, "report"), intake_key);
    sim.official = cli_client_new (endpoint, 1000, 0, cli_client_cert (config, "verify"), intake_key);
    sim.events = cli_subscriber (config, "case.resolved");
    if (sim.events)
        zsock_set_subscribe (sim.events, "case.closed");
    if (!sim.client || !sim.official || !sim.events || !sim.store || !sim.orders) {
        fprintf (stderr, "gridcall: cannot connect to intake or notify\n");
        zlistx_destroy (&sim.orders);
        store_destroy (&sim.store);
        cli_client_destroy (&sim.client);
        cli_client_destroy (&sim.official);
        zsock_destroy (&sim.events);
        directory_destroy (&sim.directory);
        return 1;
    }
    if (cli_flag (argc, argv, "--matters"))
        sim.matters = sim_matters_new (sim.directory, sim.client, sim.official, sim.store,
                                       atoll (cli_opt (argc, argv, "--matter-step-ms", "6000")));
    printf ("simulate: filing %.1f reports a second on %zu grids%s\n", sim.rate,
            directory_grid_count (sim.directory), sim.count ? "" : " until Ctrl-C");
    zpoller_t *poller = zpoller_new (cli_client_socket (sim.client), cli_client_socket (sim.official),
                                     sim.events, NULL);
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
        //  wake at least every 100 ms for the operator's due orders
        long long wait = more && due - now < 100 ? due - now : 100;
        void *which = zpoller_wait (poller, (int) wait);
        if (which == sim.events)
            s_on_event (&sim);
        else
        if (which == cli_client_socket (sim.client))
            s_on_answer (&sim, sim.client);
        else
        if (which == cli_client_socket (sim.official))
            s_on_answer (&sim, sim.official);
        else
        //  no zpoller_terminated () test: after a 0 ms wait it can report a
        //  stale EINTR as "terminated"; the loop condition sees a real stop
        s_orders_act (&sim);
        if (sim.matters)
            sim_matters_tick (sim.matters);
        if (zclock_mono () - last_print >= 10000) {
            last_print = zclock_mono ();
            s_print (&sim);
        }
    }
    s_print (&sim);
    zpoller_destroy (&poller);
    sim_matters_destroy (&sim.matters);
    zlistx_destroy (&sim.orders);
    store_destroy (&sim.store);
    zsock_destroy (&sim.events);
    cli_client_destroy (&sim.client);
    cli_client_destroy (&sim.official);
    directory_destroy (&sim.directory);
    return 0;
}
