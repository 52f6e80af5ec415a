/*  gridcall-report — live figures for command-center screens: the screen
    page, a read-only JSON API, a server-sent-event stream, the ledger CSV,
    /metrics and a health check over HTTP, and a ZeroMQ PUB of the same
    live events; it only reads Redis, through the store. */
#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "report_guard.h"
#include "report_server.h"

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    CURVE_SERVER_OPTIONS,
    { "http_bind", CFG_STRING, "127.0.0.1", 0, 0,
      "address the HTTP server binds: numeric IPv4 or IPv6 (0.0.0.0, ::)" },
    { "http_port", CFG_INT, "8080", 0, 65535, "HTTP port; 0 picks a free port and logs it" },
    { "http_hosts", CFG_STRING, "", 0, 0,
      "Host header values served, comma-separated (port ignored; * = any); empty: localhost, the loopback addresses and http_bind (a wildcard bind: this machine's addresses and name)" },
    { "connection_limit", CFG_INT, "1024", 40, 10000,
      "most HTTP connections open at once (a thread each); more are refused" },
    { "connection_limit_per_ip", CFG_INT, "64", 1, 10000,
      "most HTTP connections open at once from one client address" },
    { "stream_max", CFG_INT, "256", 1, 10000,
      "most /api/stream screens at once; more get 503 with Retry-After (at most connection_limit - 32)" },
    { "header_timeout_s", CFG_INT, "5", 1, 300,
      "a request's line and headers must arrive within this many seconds of the connection opening or the previous request ending; else the connection is cut" },
    { "connection_timeout_s", CFG_INT, "30", 1, 3600,
      "close an HTTP connection idle for this many seconds" },
    { "screen_token", CFG_SECRET, "", 0, 0,
      "token of the screen role: the page's data with phone numbers masked (Authorization: Bearer, or ?token= from the page); empty: open on a loopback bind, refused on any other" },
    { "export_token", CFG_SECRET, "", 0, 0,
      "token of the export role (Authorization: Bearer only): the ledger and cases with phone numbers; empty: phone numbers are never served" },
    { "metrics_token", CFG_SECRET, "", 0, 0,
      "token for GET /metrics (Authorization: Bearer only); empty: open on a loopback bind, closed on any other" },
    { "static_dir", CFG_STRING, "build/web", 0, 0,
      "folder of the screen page (index.html, screen.js, echarts.min.js); scripts/build-web.sh fills it" },
    { "media_dir", CFG_STRING, "var/media", 0, 0,
      "photos intake's HTTP doors stored (its media_dir), served at /media/<sha256>.<jpg|png> to the screen token" },
    { "redis_pool", CFG_INT, "4", 1, 64, "Redis connections HTTP requests share (one each at a time)" },
    { "pub_bind", CFG_STRING, "", 0, 0,
      "ZeroMQ PUB endpoint for screen events and snapshots (proto/report.proto); empty: none" },
    { "poll_ms", CFG_INT, "100", 10, 10000, "how often the live feed reads the events stream" },
    { "snapshot_ms", CFG_INT, "5000", 100, 600000, "send a fresh screen snapshot at least this often" },
    { "snapshot_min_ms", CFG_INT, "300", 0, 600000,
      "after changes, send a snapshot at most this often" },
    { "stream_buffer", CFG_INT, "1024", 16, 1000000,
      "live frames kept for slow screens (only the latest snapshot among them); one further behind gets a fresh snapshot" },
    { "yellow_fraction", CFG_DOUBLE, "0.25", 0, 1,
      "yellow list: open cases due within this fraction of their tier's time limit" },
    { "list_max", CFG_INT, "50", 1, 1000, "rows of the red and yellow lists" },
    { "perf_sample", CFG_INT, "500", 1, 100000,
      "latest closed cases the per-tier and per-unit performance figures read" },
    { "ledger_dir", CFG_STRING, "", 0, 0,
      "folder for daily ledger files ledger-YYYYMMDD.csv; empty: none" },
    { "ledger_interval_s", CFG_INT, "0", 0, 86400,
      "also rewrite today's ledger file this often; 0: only yesterday's, after local midnight" },
    { "ledger_max_rows", CFG_INT, "1000000", 1, 100000000, "most rows of one ledger export or file" },
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
    //  secure by default: start and --check-config refuse an open non-loopback bind
    gc_daemon_set_check (report_guard_check_config);
    return gc_daemon_main (argc, argv, "gridcall-report", s_options, &ops);
}
