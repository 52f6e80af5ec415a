/*  gridcall-intake — takes reports from reporters and gateways, registers
    cases in Redis and hands them to dispatch. */
#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "intake_http.h"
#include "intake_server.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    CURVE_SERVER_OPTIONS,
    { "bind", CFG_STRING, "tcp://127.0.0.1:5560", 0, 0, "ROUTER endpoint for reporters" },
    { "dispatch_endpoint", CFG_STRING, "tcp://127.0.0.1:5562", 0, 0, "dispatch's work PULL" },
    { "dispatch_key", CFG_STRING, "", 0, 0,
      "dispatch's public key (Z85) or certificate file, for a TCP dispatch_endpoint with curve on" },
    { "notify_endpoint", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0, "notify's work PULL" },
    { "notify_key", CFG_STRING, "", 0, 0,
      "notify's public key (Z85) or certificate file, for a TCP notify_endpoint with curve on" },
    { "text_max", CFG_INT, "2000", 1, 65536, "longest report text in bytes" },
    { "message_max", CFG_INT, "65536", 256, 1048576, "largest message body in bytes" },
    { "idempotency_ttl_s", CFG_INT, "86400", 60, 2592000, "how long a retry finds its case" },
    { "batch_max", CFG_INT, "256", 1, 4096, "requests pipelined to Redis per loop turn" },
    { "wait_replicas", CFG_INT, "0", 0, 16, "acknowledge a report only once this many Redis replicas have it (WAIT); 0 = on the primary's word" },
    { "wait_timeout_ms", CFG_INT, "1000", 1, 60000, "longest WAIT for wait_replicas; below redis_timeout_ms" },
    INTAKE_HTTP_OPTIONS,
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
s_create (const config_t *config)
{
    return intake_server_new (config);
}

static int
s_run (void *server)
{
    return intake_server_run ((intake_server_t *) server);
}

static void
s_destroy (void *server)
{
    intake_server_t *self = (intake_server_t *) server;
    intake_server_destroy (&self);
}

int
main (int argc, char **argv)
{
    const gc_server_ops_t ops = { s_create, s_run, s_destroy };
    //  secure by default: start and --check-config refuse HTTP doors open
    //  to other hosts without a principals file (API keys)
    gc_daemon_set_check (intake_http_check_config);
    return gc_daemon_main (argc, argv, "gridcall-intake", s_options, &ops);
}
