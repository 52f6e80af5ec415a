/*  gridcall-escalate — fires deadlines: a case whose time limit passes climbs
    one tier and is dispatched again; top-tier cases are re-notified. */
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "escalate_server.h"
#include "log.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "dispatch_endpoint", CFG_STRING, "tcp://127.0.0.1:5562", 0, 0, "dispatch's work PULL" },
    { "notify_endpoint", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0, "notify's work PULL" },
    { "tick_ms", CFG_INT, "100", 1, 10000, "longest wait between looks at the timers" },
    { "batch_max", CFG_INT, "500", 1, 10000, "timers fired per Redis call" },
    { "top_repeat_minutes", CFG_INT, "1440", 1, 525600, "case minutes between re-notices of a top-tier overdue case" },
    { NULL, 0, NULL, 0, 0, NULL }
};

int
main (int argc, char **argv)
{
    config_t *config = config_new (s_options);
    if (!config)
        return EXIT_FAILURE;
    int rc = gc_daemon_init (argc, argv, "gridcall-escalate", config);
    if (rc) {
        config_destroy (&config);
        return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    escalate_server_t *server = escalate_server_new (config);
    if (!server) {
        log_error ("escalate: start-up failed");
        config_destroy (&config);
        return EXIT_FAILURE;
    }
    escalate_server_run (server);
    escalate_server_destroy (&server);
    config_destroy (&config);
    return EXIT_SUCCESS;
}
