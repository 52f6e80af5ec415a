/*  main.c — gridcall-notify: fans case events out to the log, a ZeroMQ PUB
    socket and signed webhooks, with retries and dead letters. This file
    reads the configuration and runs the server (notify_server.c). */
#include <curl/curl.h>
#include <stdio.h>

#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "log.h"
#include "notify_server.h"

//  Options of this daemon; deploy/gridcall-notify.conf documents each one.
static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    CURVE_OPTIONS,
    CURVE_SERVER_OPTIONS,
    { "work_bind", CFG_STRING, "tcp://127.0.0.1:5565", 0, 0,
      "PULL endpoint for \"notify.job\" wake-ups from the other daemons" },
    { "pub_bind", CFG_STRING, "tcp://127.0.0.1:5566", 0, 0,
      "PUB endpoint: one Notification per event, topic = event name" },
    { "webhooks", CFG_STRING, "", 0, 0,
      "comma-separated http(s) URLs each notification is POSTed to" },
    { "gateway_webhooks", CFG_STRING, "", 0, 0,
      "gateway:NAME=URL, ...: the URL hears of every event of the cases that gateway reported" },
    { "webhook_secret", CFG_SECRET, "", 0, 0,
      "HMAC-SHA256 key for X-Gridcall-Signature (t=,v1=); empty: unsigned, allowed only for webhooks on this machine" },
    { "webhook_timeout_ms", CFG_INT, "5000", 100, 600000,
      "a POST not answered within this is a failure" },
    { "retry_base_ms", CFG_INT, "1000", 1, 86400000,
      "delay before the first retry; doubles per failed round (+-20% jitter)" },
    { "retry_max_ms", CFG_INT, "60000", 1, 86400000,
      "cap on the retry delay" },
    { "max_attempts", CFG_INT, "8", 1, 1000,
      "failed rounds before a job moves to dead:notify" },
    { "sweep_ms", CFG_INT, "1000", 10, 600000,
      "interval of the pending:notify sweep (retries, lost wake-ups)" },
    { "lease_ms", CFG_INT, "30000", 100, 86400000,
      "a claimed job is redelivered if not recorded within this" },
    { "batch_max", CFG_INT, "256", 1, 10000,
      "jobs claimed per Redis call" },
    { "inflight_max", CFG_INT, "1024", 1, 100000,
      "jobs being delivered at once; the rest wait in Redis" },
    { "log_channel", CFG_BOOL, "yes", 0, 0,
      "write one notice line per notification" },
    { NULL, 0, NULL, 0, 0, NULL }
};

int
main (int argc, char **argv)
{
    config_t *config = config_new (s_options);
    if (!config) {
        fprintf (stderr, "gridcall-notify: out of memory\n");
        return 1;
    }
    //  --check-config and every (re)load check the webhooks and their signing
    gc_daemon_set_check (notify_server_check_config);
    int rc = gc_daemon_init_options (argc, argv, "gridcall-notify", s_options, config);
    if (rc != 0) {
        config_destroy (&config);
        return rc > 0 ? 0 : 1;
    }
    //  before any other thread could use curl
    if (curl_global_init (CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error ("notify: curl_global_init() failed");
        config_destroy (&config);
        return 1;
    }
    notify_server_t *server = notify_server_new (config);
    config_destroy (&config);
    if (!server) {
        curl_global_cleanup ();
        return 1;
    }
    log_notice ("notify: started");
    rc = notify_server_run (server);
    notify_server_destroy (&server);
    curl_global_cleanup ();
    log_notice ("notify: stopped");
    return rc == 0 ? 0 : 1;
}
