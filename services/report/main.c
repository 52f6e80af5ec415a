/*  gridcall-report — live figures for command-center screens: a dashboard
    page, a read-only JSON API (stats, one case with its timeline) and a
    health check over HTTP, reading Redis through the store. */
#include "config.h"
#include "daemon.h"
#include "report_server.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "http_bind", CFG_STRING, "127.0.0.1", 0, 0,
      "address the HTTP server binds: numeric IPv4 or IPv6 (0.0.0.0, ::)" },
    { "http_port", CFG_INT, "8080", 0, 65535, "HTTP port; 0 picks a free port and logs it" },
    { "connection_limit", CFG_INT, "256", 1, 10000,
      "most HTTP connections open at once; more are refused" },
    { "connection_timeout_s", CFG_INT, "30", 1, 3600,
      "close an HTTP connection idle for this many seconds" },
    { NULL, 0, NULL, 0, 0, NULL }
};

static void *
s_create (const config_t *config)
{
    return report_server_new (config);
}

static int
s_run (void *server)
{
    return report_server_run ((report_server_t *) server);
}

static void
s_destroy (void *server)
{
    report_server_t *self = (report_server_t *) server;
    report_server_destroy (&self);
}

int
main (int argc, char **argv)
{
    const gc_server_ops_t ops = { s_create, s_run, s_destroy };
    return gc_daemon_main (argc, argv, "gridcall-report", s_options, &ops);
}
