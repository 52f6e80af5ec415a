/*  gridcall-dispatch — offers cases to responder units that plug in over
    ZeroMQ, and moves each case on when a unit declines or stays silent. */
#include <stdlib.h>

#include "config.h"
#include "daemon.h"
#include "dispatch_server.h"
#include "log.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "unit_bind", CFG_STRING, "tcp://127.0.0.1:5561", 0, 0, "ROUTER endpoint units connect to" },
    { "work_bind", CFG_STRING, "tcp://127.0.0.1:5562", 0, 0, "PULL endpoint for case wake-ups" },
    { "notify_endpoint", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0, "notify's work PULL" },
    { "offer_timeout_ms", CFG_INT, "30000", 100, 86400000, "wall time a unit has to accept" },
    { "retry_ms", CFG_INT, "5000", 100, 3600000, "wait before retrying a case no unit can take" },
    { "sweep_ms", CFG_INT, "1000", 10, 60000, "how often the pending set is swept" },
    { "lease_ms", CFG_INT, "10000", 100, 600000, "lease on a swept case before another sweep retakes it" },
    { "heartbeat_ms", CFG_INT, "1000", 50, 60000, "heartbeat interval both ways" },
    { "heartbeat_liveness", CFG_INT, "3", 2, 100, "silent intervals before a unit is gone" },
    { "directory_poll_ms", CFG_INT, "5000", 100, 3600000, "how often to look for a new directory" },
    { "batch_max", CFG_INT, "256", 1, 4096, "messages handled per loop turn" },
    { "message_max", CFG_INT, "65536", 256, 1048576, "largest message body in bytes" },
    { "text_max", CFG_INT, "2000", 1, 65536, "longest progress note or summary in bytes" },
    { NULL, 0, NULL, 0, 0, NULL }
};

int
main (int argc, char **argv)
{
    config_t *config = config_new (s_options);
    if (!config)
        return EXIT_FAILURE;
    int rc = gc_daemon_init (argc, argv, "gridcall-dispatch", config);
    if (rc) {
        config_destroy (&config);
        return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    dispatch_server_t *server = dispatch_server_new (config);
    if (!server) {
        log_error ("dispatch: start-up failed");
        config_destroy (&config);
        return EXIT_FAILURE;
    }
    dispatch_server_run (server);
    dispatch_server_destroy (&server);
    config_destroy (&config);
    return EXIT_SUCCESS;
}
