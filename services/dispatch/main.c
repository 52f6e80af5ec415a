/*  gridcall-dispatch — offers cases to responder units that plug in over
    ZeroMQ, and moves each case on when a unit declines or stays silent. */
#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "dispatch_server.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    CURVE_SERVER_OPTIONS,
    { "unit_bind", CFG_STRING, "tcp://127.0.0.1:5561", 0, 0, "ROUTER endpoint units connect to" },
    { "work_bind", CFG_STRING, "tcp://127.0.0.1:5562", 0, 0, "PULL endpoint for case wake-ups" },
    { "notify_endpoint", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0, "notify's work PULL" },
    { "notify_key", CFG_STRING, "", 0, 0,
      "notify's public key (Z85) or certificate file, for a TCP notify_endpoint with curve on" },
    { "offer_timeout_ms", CFG_INT, "30000", 100, 86400000, "wall time a unit has to accept" },
    { "retry_ms", CFG_INT, "5000", 100, 3600000, "wait before retrying a case no unit can take" },
    { "sweep_ms", CFG_INT, "1000", 10, 60000, "how often the pending set is swept" },
    { "lease_ms", CFG_INT, "10000", 100, 600000, "lease on a swept case before another sweep retakes it" },
    { "leader_lease_ms", CFG_INT, "3000", 300, 60000,
      "the leader's lease (several dispatches): a standby takes over this long after the leader stops renewing" },
    { "heartbeat_ms", CFG_INT, "1000", 50, 60000, "heartbeat interval both ways" },
    { "heartbeat_liveness", CFG_INT, "3", 2, 100, "silent intervals before a unit is gone" },
    { "directory_poll_ms", CFG_INT, "5000", 100, 3600000, "how often to look for a new directory" },
    { "batch_max", CFG_INT, "256", 1, 4096, "messages handled per loop turn" },
    { "message_max", CFG_INT, "65536", 256, 1048576, "largest message body in bytes" },
    { "text_max", CFG_INT, "2000", 1, 65536, "longest progress note or summary in bytes" },
    { "order_autoplace", CFG_STRING, "", 0, 0,
      "service categories (and community:ID entries) whose orders place themselves" },
    { "rota_clock_offset_ms", CFG_INT, "0", -31622400000.0, 31622400000.0,
      "shift the clock rotas are read with (demos and tests); 0 in production" },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
s_create (const config_t *config)
{
    return dispatch_server_new (config);
}

static int
s_run (void *server)
{
    return dispatch_server_run ((dispatch_server_t *) server);
}

static void
s_destroy (void *server)
{
    dispatch_server_t *self = (dispatch_server_t *) server;
    dispatch_server_destroy (&self);
}

int
main (int argc, char **argv)
{
    const gc_server_ops_t ops = { s_create, s_run, s_destroy };
    return gc_daemon_main (argc, argv, "gridcall-dispatch", s_options, &ops);
}
