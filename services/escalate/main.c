/*  gridcall-escalate — fires deadlines: a case whose time limit passes climbs
    one tier and is dispatched again; top-tier cases are re-notified. */
#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "escalate_server.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    { "dispatch_endpoint", CFG_STRING, "tcp://127.0.0.1:5562", 0, 0, "dispatch's work PULL" },
    { "dispatch_key", CFG_STRING, "", 0, 0,
      "dispatch's public key (Z85) or certificate file, for a TCP dispatch_endpoint with curve on" },
    { "notify_endpoint", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0, "notify's work PULL" },
    { "notify_key", CFG_STRING, "", 0, 0,
      "notify's public key (Z85) or certificate file, for a TCP notify_endpoint with curve on" },
    { "tick_ms", CFG_INT, "100", 1, 10000, "longest wait between looks at the timers" },
    { "batch_max", CFG_INT, "500", 1, 10000, "timers fired per Redis call" },
    { "top_repeat_minutes", CFG_INT, "1440", 1, 525600, "case minutes between re-notices of a top-tier overdue case" },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
s_create (const config_t *config)
{
    return escalate_server_new (config);
}

static int
s_run (void *server)
{
    return escalate_server_run ((escalate_server_t *) server);
}

static void
s_destroy (void *server)
{
    escalate_server_t *self = (escalate_server_t *) server;
    escalate_server_destroy (&self);
}

int
main (int argc, char **argv)
{
    const gc_server_ops_t ops = { s_create, s_run, s_destroy };
    return gc_daemon_main (argc, argv, "gridcall-escalate", s_options, &ops);
}
