/*  gridcall — the operator's command: load the directory, file a report,
    show a case, print live counts, verify and evaluate, simulate a street,
    set up Redis, check the audit chain. */
#include <stdio.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "cli_admin.h"
#include "cli_commands.h"
#include "cli_community.h"
#include "cli_keys.h"
#include "cli_matters.h"
#include "cli_status.h"
#include "cli_units.h"
#include "cli_timers.h"
#include "config.h"
#include "log.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "intake_endpoint", CFG_STRING, "tcp://127.0.0.1:5560", 0, 0, "intake's ROUTER" },
    { "events_endpoint", CFG_STRING, "tcp://127.0.0.1:5566", 0, 0, "notify's PUB (for simulate)" },
    { "request_timeout_ms", CFG_INT, "3000", 10, 600000, "wait for intake's answer before a retry" },
    { "client_cert", CFG_STRING, "", 0, 0,
      "our secret certificate (gridcall keys new): the operator's or grid worker's key for verify, extend, park, unpark, order; empty: no CURVE" },
    { "gateway_cert", CFG_STRING, "", 0, 0,
      "the gateway's secret certificate for report and evaluate (and simulate's reporters); empty: client_cert" },
    { "intake_key", CFG_STRING, "", 0, 0, "intake's public key (Z85) or certificate file" },
    { "events_key", CFG_STRING, "", 0, 0, "notify's public key (Z85) or certificate file (simulate)" },
    { NULL, 0, NULL, 0, 0, NULL }
};

typedef struct {
    const char *name;
    int (*run) (const config_t *config, int argc, char **argv);
    const char *usage;
} command_t;

static const command_t s_commands [] = {
    { "directory", cli_directory, "directory load|check FILE   validate (and load) a street directory" },
    { "report", cli_report, "report --category C (--grid G | --lat LAT --lon LON | --address-id B"
                            " | --address TEXT | --building B) [--reporter R] [--channel CH] [--key K] TEXT" },
    { "case", cli_case, "case ID [--json]             a case with its full timeline" },
    { "stats", cli_stats, "stats [--json]                live counts" },
    { "status", cli_status, "status [--json]               every daemon instance: role, last beat, last sweep, lag" },
    { "verify", cli_verify, "verify ID --pass|--fail [--note TEXT]" },
    { "evaluate", cli_evaluate, "evaluate ID SCORE [--comment TEXT]" },
    { "extend", cli_extend, "extend ID --until TIME|--approve|--refuse --reason TEXT   case deadlines" },
    { "park", cli_park, "park ID --until DATE --reason TEXT  park a case until its review date" },
    { "unpark", cli_unpark, "unpark ID [--reason TEXT]    bring a parked case back now" },
    { "merge", cli_merge, "merge KEEP DUP [--note TEXT] close DUP as merged into KEEP" },
    { "clock", cli_clock, "clock [--set TIME]            the case clock (demos and tests)" },
    { "route", cli_route, "route --grid G --category C [--tier T] [--at TIME] [--all]  who would get it" },
    { "order", cli_order, "order place ID [--who NAME] | order decline ID --reason TEXT [--who NAME]"
                          " | order list   service-card orders" },
    { "matter", cli_matter, "matter board|show|propose|meeting|deliberate|notice|vote|tasks|evaluate|close ...   matters (议题)" },
    { "keys", cli_keys, "keys new|show|bind|revoke|check ...   CurveZMQ certificates and principals" },
    { "simulate", cli_simulate, "simulate reports [--rate N] [--count N] [--directory FILE]" },
    { "redis", cli_redis, "redis setup                   load the function library (admin user)" },
    { "community", cli_community, "community VIEW|need|detect|answer|design|claim|hours|book|rate ...   the three lists" },
    { "audit", cli_audit, "audit verify | audit tail [N] [--json]   the chain of operator actions" },
    { NULL, NULL, NULL }
};

static int
s_usage (const config_t *config)
{
    fprintf (stderr, "usage: gridcall [-c FILE] [--set name=value ...] COMMAND ...\ncommands:\n");
    for (const command_t *c = s_commands; c->name; c++)
        fprintf (stderr, "  %s\n", c->usage);
    fprintf (stderr, "options (-c FILE or --set; also the environment GRIDCALL_CONF=FILE):\n");
    config_print (config);
    return 2;
}

int
main (int argc, char **argv)
{
    config_t *config = config_new (s_options);
    if (!config)
        return EXIT_FAILURE;
    //  a Redis that goes away mid-command is an error, not a silent death
    signal (SIGPIPE, SIG_IGN);
    gc_log_init ("gridcall", GC_LOG_ERROR);
    char err [512];
    int i = 1;
    int rc = 0;
    const char *file = getenv ("GRIDCALL_CONF");
    if (file && *file && config_load_file (config, file, err, sizeof err))
        rc = -1;
    for (; rc == 0 && i < argc && argv [i][0] == '-'; i++) {
        if (strcmp (argv [i], "-c") == 0 && i + 1 < argc)
            rc = config_load_file (config, argv [++i], err, sizeof err);
        else
        if (strcmp (argv [i], "--set") == 0 && i + 1 < argc)
            rc = config_set_pair (config, argv [++i], err, sizeof err);
        else {
            rc = s_usage (config);
            config_destroy (&config);
            return rc;
        }
    }
    if (rc) {
        fprintf (stderr, "gridcall: %s\n", err);
        config_destroy (&config);
        return EXIT_FAILURE;
    }
    rc = -1;
    for (const command_t *c = s_commands; i < argc && c->name; c++)
        if (strcmp (argv [i], c->name) == 0)
            rc = c->run (config, argc - i - 1, argv + i + 1);
    if (rc < 0 && i < argc)
        fprintf (stderr, "gridcall: unknown command \"%s\"\n", argv [i]);
    if (rc < 0)
        rc = s_usage (config);
    config_destroy (&config);
    return rc;
}
