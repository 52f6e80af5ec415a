/*  daemon.c — shared daemon start-up and the post-commit wake-ups. */
#include "daemon.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "log.h"

#ifndef ZMQ_ZERO_COPY_RECV
#define ZMQ_ZERO_COPY_RECV 10   //  libzmq 4.3 context option (draft API header)
#endif

static void
s_usage (const char *name, const config_t *config)
{
    printf ("usage: %s [-c FILE] [--set name=value ...] [--check-config]\n"
            "  -c FILE          read options from FILE (see deploy/%s.conf)\n"
            "  --set name=value override one option (after the file)\n"
            "  --check-config   validate the configuration and exit\n"
            "  --sample-config  print a commented configuration with every default\n"
            "options (current values):\n", name, name);
    config_print (config);
}

int
gc_daemon_init (int argc, char **argv, const char *name, config_t *config)
{
    char err [512];
    const char *file = NULL;
    bool check = false;
    for (int i = 1; i < argc; i++) {
        if (strcmp (argv [i], "-c") == 0 && i + 1 < argc)
            file = argv [++i];
        else
        if (strcmp (argv [i], "--check-config") == 0 || strcmp (argv [i], "-t") == 0)
            check = true;
        else
        if (strcmp (argv [i], "--sample-config") == 0) {
            char title [128];
            snprintf (title, sizeof title, "%s sample configuration", name);
            config_print_sample (config, title);
            return 1;
        }
        else
        if (strcmp (argv [i], "--help") == 0 || strcmp (argv [i], "-h") == 0) {
            s_usage (name, config);
            return 1;
        }
        else
        if (strcmp (argv [i], "--set") == 0 && i + 1 < argc)
            i++;                //  applied below, after the file
        else {
            fprintf (stderr, "%s: unknown argument \"%s\" (try --help)\n", name, argv [i]);
            return -1;
        }
    }
    if (file && config_load_file (config, file, err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", name, err);
        return -1;
    }
    //  overrides apply after the file whatever their position
    for (int i = 1; i < argc - 1; i++)
        if (strcmp (argv [i], "--set") == 0 && config_set_pair (config, argv [++i], err, sizeof err)) {
            fprintf (stderr, "%s: --set %s\n", name, err);
            return -1;
        }
    int level = gc_log_level_parse (config_str (config, "log_level"));
    if (level < 0) {
        fprintf (stderr, "%s: log_level: \"%s\" is not debug, info, notice, warning or error\n",
                 name, config_str (config, "log_level"));
        return -1;
    }
    if (check) {
        printf ("%s: configuration %s is valid\n", name, file ? file : "(defaults)");
        return 1;
    }
    gc_log_init (name, level);
    //  receive copies each message into its own allocation: with zero-copy
    //  receive every queued message over 33 bytes pins the whole 8 KB read
    //  buffer it arrived in (18 KB with its counters) until the loop reads it
    zmq_ctx_set (zsys_init (), ZMQ_ZERO_COPY_RECV, 0);
    zsys_set_logident (name);
    //  czmq's default handler only sets zsys_interrupted on SIGINT and SIGTERM
    zsys_catch_interrupts ();
    return 0;
}

int
gc_daemon_main (int argc, char **argv, const char *name, const cfg_option_t *options,
                const gc_server_ops_t *ops)
{
    config_t *config = config_new (options);
    if (!config)
        return EXIT_FAILURE;
    int rc = gc_daemon_init (argc, argv, name, config);
    if (rc) {
        config_destroy (&config);
        return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    void *server = ops->create (config);
    if (!server) {
        log_error ("%s: start-up failed", name);
        config_destroy (&config);
        return EXIT_FAILURE;
    }
    ops->run (server);
    ops->destroy (server);
    config_destroy (&config);
    return EXIT_SUCCESS;
}

metrics_http_t *
gc_metrics_serve (const config_t *config, metrics_t *metrics)
{
    int port = (int) config_int (config, "metrics_port");
    if (port == 0 || !metrics)
        return NULL;
    metrics_http_t *http = metrics_http_start (metrics, config_str (config, "metrics_bind"), port);
    if (http)
        log_notice ("metrics on http://%s:%d/metrics", config_str (config, "metrics_bind"),
                    metrics_http_port (http));
    return http;
}

long long
gc_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  A text field of a JSON object, "" when missing.
static const char *
s_text (const json_t *object, const char *name)
{
    const char *text = json_string_value (json_object_get (object, name));
    return text ? text : "";
}

int
gc_wake_notify (void *push, const json_t *reply)
{
    int dropped = 0;
    size_t i;
    json_t *job;
    json_t *infos = json_object_get (reply, "job_info");
    json_array_foreach (json_object_get (reply, "jobs"), i, job) {
        Gridcall__V1__JobRef ref = GRIDCALL__V1__JOB_REF__INIT;
        Gridcall__V1__Notification note = GRIDCALL__V1__NOTIFICATION__INIT;
        ref.job_id = (char *) json_string_value (job);
        const json_t *info = json_array_get (infos, i);
        const char *id = json_string_value (json_object_get (info, "id"));
        if (id && ref.job_id && strcmp (id, ref.job_id) == 0) {
            //  the job as committed: notify delivers it without a read
            note.job_id = ref.job_id;
            note.event = (char *) s_text (info, "event");
            note.case_id = (char *) s_text (info, "case");
            note.ledger_no = (char *) s_text (info, "ledger");
            note.grid = (char *) s_text (info, "grid");
            note.category = (char *) s_text (info, "category");
            note.tier = (Gridcall__V1__Tier) json_integer_value (json_object_get (info, "tier"));
            note.state = codec_state_parse (s_text (info, "state"));
            note.unit = (char *) s_text (info, "unit");
            note.at_ms = json_integer_value (json_object_get (info, "at"));
            note.audience = (char *) s_text (info, "audience");
            note.note = (char *) s_text (info, "note");
            ref.job = &note;
        }
        if (ref.job_id && codec_send (push, NULL, "notify.job", &ref.base))
            dropped++;
    }
    return dropped;
}

int
gc_wake_dispatch (void *push, const char *case_id, const json_t *reply)
{
    Gridcall__V1__CaseRef ref = GRIDCALL__V1__CASE_REF__INIT;
    ref.case_id = (char *) case_id;
    const char *grid = json_string_value (json_object_get (reply, "grid"));
    const char *category = json_string_value (json_object_get (reply, "category"));
    if (grid && category) {
        ref.version = (uint32_t) json_integer_value (json_object_get (reply, "version"));
        ref.state = codec_state_parse (json_string_value (json_object_get (reply, "state")));
        ref.tier = (uint32_t) json_integer_value (json_object_get (reply, "tier"));
        ref.grid = (char *) grid;
        ref.category = (char *) category;
    }
    return codec_send (push, NULL, "case.dispatch", &ref.base) ? 1 : 0;
}

static void *
s_socket (int type, const char *endpoint, const char *who, bool bind)
{
    zsock_t *sock = zsock_new (type);
    if (!sock) {
        log_error ("%s: zsock_new() failed", who);
        return NULL;
    }
    zsock_set_linger (sock, 1000);
    //  a PUSH with no peer must not block the loop: a wake-up it cannot
    //  queue is dropped, and the pending set in Redis still has the work.
    //  Deep queues keep bursts from dropping many (a wake-up is ~30 bytes).
    if (type == ZMQ_PUSH) {
        zsock_set_sndtimeo (sock, 0);
        zsock_set_sndhwm (sock, 100000);
    }
    if (type == ZMQ_PULL)
        zsock_set_rcvhwm (sock, 100000);
    int rc = bind ? zsock_bind (sock, "%s", endpoint) : zsock_connect (sock, "%s", endpoint);
    if (rc < 0) {
        log_error ("%s: %s() \"%s\" failed: %s", who, bind ? "bind" : "connect", endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
        return NULL;
    }
    return sock;
}

void *
gc_socket_bind (int type, const char *endpoint, const char *who)
{
    return s_socket (type, endpoint, who, true);
}

void *
gc_socket_connect (int type, const char *endpoint, const char *who)
{
    return s_socket (type, endpoint, who, false);
}
