/*  daemon.c — shared daemon start-up and the post-commit wake-ups. */
#include "daemon.h"
#include "instance.h"

#include <czmq.h>
#include <malloc.h>
#include <pthread.h>
#include <signal.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "curve.h"
#include "log.h"
#include "sentinel.h"

//  malloc arenas of a daemon (see gc_daemon_init_options)
#define GC_MALLOC_ARENAS 2

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

//  The daemon's own check of its options taken together, or NULL.
static gc_config_check_fn *s_config_check;

void
gc_daemon_set_check (gc_config_check_fn *check)
{
    s_config_check = check;
}

//  Load -c FILE (when given) and then the --set overrides of argv into
//  config, and check log_level and the daemon's own rules. Returns 0, or
//  -1 with the reason in err.
static int
s_load (config_t *config, const char *file, int argc, char **argv, char *err, size_t errlen)
{
    char problem [400];
    if (file && config_load_file (config, file, problem, sizeof problem)) {
        snprintf (err, errlen, "%s", problem);
        return -1;
    }
    //  overrides apply after the file whatever their position
    for (int i = 1; i < argc - 1; i++)
        if (strcmp (argv [i], "--set") == 0
        &&  config_set_pair (config, argv [++i], problem, sizeof problem)) {
            snprintf (err, errlen, "--set %s", problem);
            return -1;
        }
    if (gc_log_level_parse (config_str (config, "log_level")) < 0) {
        snprintf (err, errlen, "log_level: \"%s\" is not debug, info, notice, warning or error",
                  config_str (config, "log_level"));
        return -1;
    }
    if (sentinel_list_check (config_str (config, "sentinels"), err, errlen) < 0)
        return -1;
    return s_config_check ? s_config_check (config, err, errlen) : 0;
}

//  What SIGHUP needs to reload. Process-wide like the signal it answers;
//  written once by init before the signal thread starts, then only read
//  by that thread (running is its private copy of the values in force).
static struct {
    const char *name;               //  daemon name for log lines
    const cfg_option_t *options;    //  the option table, or NULL when unknown
    const char *file;               //  -c FILE, or NULL
    int argc;                       //  main's arguments, for the --set overrides
    char **argv;
    config_t *running;              //  the values in force
    atomic_uint generation;         //  reloads completed
} s_reload;

//  Append "name" to a comma-separated list in buf.
static void
s_list_add (char *buf, size_t size, const char *name)
{
    size_t len = strlen (buf);
    snprintf (buf + len, size - len, "%s%s", len ? ", " : "", name);
}

//  1 when option opt has the same value in a and b.
static int
s_same (const config_t *a, const config_t *b, const cfg_option_t *opt)
{
    switch (opt->type) {
        case CFG_STRING:
        case CFG_SECRET: return strcmp (config_str (a, opt->name), config_str (b, opt->name)) == 0;
        case CFG_INT:    return config_int (a, opt->name) == config_int (b, opt->name);
        case CFG_DOUBLE: return config_double (a, opt->name) == config_double (b, opt->name);
        case CFG_BOOL:   return config_bool (a, opt->name) == config_bool (b, opt->name);
    }
    return 0;
}

//  Re-read the options, apply those that can change at run time
//  (log_level), name the others that changed, then bump the generation
//  so loops re-read the directory. A bad file changes nothing.
static void
s_reload_now (void)
{
    const char *file = s_reload.file ? s_reload.file : "(no -c file)";
    config_t *fresh = s_reload.options ? config_new (s_reload.options) : NULL;
    char err [512] = "out of memory";
    if (!s_reload.options)
        ;   //  nothing to re-read: the generation alone still re-reads the directory
    else
    if (!fresh || s_load (fresh, s_reload.file, s_reload.argc, s_reload.argv, err, sizeof err)) {
        log_error ("%s: reload of %s failed: %s; the running options stay", s_reload.name,
                   file, err);
        config_destroy (&fresh);
        atomic_fetch_add (&s_reload.generation, 1);
        return;
    }
    char applied [512] = "";
    char restart [1024] = "";
    for (const cfg_option_t *opt = s_reload.options; fresh && opt->name; opt++) {
        if (s_same (s_reload.running, fresh, opt))
            continue;
        if (strcmp (opt->name, "log_level") == 0) {
            const char *level = config_str (fresh, "log_level");
            snprintf (applied, sizeof applied, "log_level %s -> %s",
                      config_str (s_reload.running, "log_level"), level);
            gc_log_set_level ((gc_log_level_t) gc_log_level_parse (level));
            config_set (s_reload.running, "log_level", level, err, sizeof err);
        }
        else
            s_list_add (restart, sizeof restart, opt->name);
    }
    config_destroy (&fresh);
    unsigned generation = atomic_fetch_add (&s_reload.generation, 1) + 1;
    //  written whatever the level: the operator asked and waits for it
    gc_log_write (GC_LOG_NOTICE, "%s: reloaded %s (generation %u): %s%s%s", s_reload.name,
                  file, generation,
                  !s_reload.options ? "options not re-read by this daemon"
                  : *applied ? applied : "no option to apply",
                  *restart ? "; changed, applied only after a restart: " : "", restart);
}

//  The one thread that takes SIGHUP: every other thread has it blocked,
//  so it never interrupts a poller (zpoller would report "terminated").
static void *
s_signal_thread (void *args)
{
    (void) args;
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGHUP);
    while (true) {
        int sig;
        if (sigwait (&set, &sig) == 0 && sig == SIGHUP)
            s_reload_now ();
    }
    return NULL;
}

//  Ignore SIGPIPE and hand SIGHUP to its own thread. Must run before any
//  other thread exists, as the mask is inherited. Returns 0 or -1.
static int
s_signals_start (void)
{
    //  a write to a Redis or peer that went away fails with EPIPE instead
    signal (SIGPIPE, SIG_IGN);
    sigset_t set;
    sigemptyset (&set);
    sigaddset (&set, SIGHUP);
    if (pthread_sigmask (SIG_BLOCK, &set, NULL))
        return -1;
    pthread_t thread;
    if (pthread_create (&thread, NULL, s_signal_thread, NULL))
        return -1;
    pthread_detach (thread);
    return 0;
}

int
gc_daemon_init_options (int argc, char **argv, const char *name, const cfg_option_t *options,
                        config_t *config)
{
    //  glibc gives each new thread that allocates an arena of its own, up
    //  to 8 per core, and each keeps what it has touched: intake's HTTP door
    //  (a thread per connection) held 6 MB in 15 arenas at 64 clients on two
    //  cores, 0.7-1.4 MB more than in two. Set before any thread exists; the
    //  operator's MALLOC_ARENA_MAX or GLIBC_TUNABLES still decide.
    const char *tunables = getenv ("GLIBC_TUNABLES");
    if (!getenv ("MALLOC_ARENA_MAX") && !(tunables && strstr (tunables, "arena_max")))
        mallopt (M_ARENA_MAX, GC_MALLOC_ARENAS);
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
            i++;                //  applied by s_load, after the file
        else {
            fprintf (stderr, "%s: unknown argument \"%s\" (try --help)\n", name, argv [i]);
            return -1;
        }
    }
    if (s_load (config, file, argc, argv, err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", name, err);
        return -1;
    }
    //  a bind beyond loopback without CURVE, or CURVE without its keys
    if (options && curve_check_config (options, config, err, sizeof err)) {
        fprintf (stderr, "%s: %s\n", name, err);
        return -1;
    }
    if (check) {
        printf ("%s: configuration %s is valid\n", name, file ? file : "(defaults)");
        return 1;
    }
    gc_log_init (name, (gc_log_level_t) gc_log_level_parse (config_str (config, "log_level")));
    s_reload.name = name;
    s_reload.file = file;
    s_reload.argc = argc;
    s_reload.argv = argv;
    if (options) {
        s_reload.running = config_new (options);
        if (!s_reload.running || s_load (s_reload.running, file, argc, argv, err, sizeof err)) {
            fprintf (stderr, "%s: out of memory\n", name);
            return -1;
        }
        s_reload.options = options;
    }
    if (s_signals_start ()) {
        fprintf (stderr, "%s: cannot set up signal handling\n", name);
        return -1;
    }
    //  SHA-256 and random bytes come from libsodium, which CurveZMQ loads
    //  anyway: OpenSSL 3's provider set-up costs 2 MB of RSS per process
    if (sodium_init () < 0) {
        fprintf (stderr, "%s: libsodium cannot start\n", name);
        return -1;
    }
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
gc_daemon_init (int argc, char **argv, const char *name, config_t *config)
{
    return gc_daemon_init_options (argc, argv, name, NULL, config);
}

unsigned
gc_daemon_reload_generation (void)
{
    return atomic_load (&s_reload.generation);
}

int
gc_daemon_main (int argc, char **argv, const char *name, const cfg_option_t *options,
                const gc_server_ops_t *ops)
{
    config_t *config = config_new (options);
    if (!config)
        return EXIT_FAILURE;
    int rc = gc_daemon_init_options (argc, argv, name, options, config);
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
    if (!metrics)
        return NULL;
    char name [64];
    instance_name_of (config, name, sizeof name);
    metrics_set_instance (metrics, name);
    if (port == 0)
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

//  Item i of a JSON array as text, "" when missing.
static const char *
s_item (const json_t *array, size_t i)
{
    const char *text = json_string_value (json_array_get (array, i));
    return text ? text : "";
}

int
gc_wake_notify (void *push, const json_t *reply)
{
    int dropped = 0;
    size_t i;
    json_t *job;
    //  job_info [i] is [id, event, audience, note, state, tier, unit, at];
    //  job_cases names each case's [ledger, grid, category, via, followers]
    //  once (the Lua library's queue_job and job_cases_of)
    json_t *infos = json_object_get (reply, "job_info");
    json_t *cases = json_object_get (reply, "job_cases");
    json_array_foreach (json_object_get (reply, "jobs"), i, job) {
        Gridcall__V1__JobRef ref = GRIDCALL__V1__JOB_REF__INIT;
        Gridcall__V1__Notification note = GRIDCALL__V1__NOTIFICATION__INIT;
        ref.job_id = (char *) json_string_value (job);
        const json_t *info = json_array_get (infos, i);
        const char *id = json_string_value (json_array_get (info, 0));
        //  a job's id is "<case>:<entry number>"
        const char *colon = ref.job_id ? strrchr (ref.job_id, ':') : NULL;
        char case_id [128];
        const json_t *kase = NULL;
        if (colon && (size_t) (colon - ref.job_id) < sizeof case_id) {
            snprintf (case_id, sizeof case_id, "%.*s", (int) (colon - ref.job_id), ref.job_id);
            kase = json_object_get (cases, case_id);
        }
        if (id && kase && strcmp (id, ref.job_id) == 0) {
            //  the job as committed: notify delivers it without a read
            note.job_id = ref.job_id;
            note.event = (char *) s_item (info, 1);
            note.audience = (char *) s_item (info, 2);
            note.note = (char *) s_item (info, 3);
            note.state = codec_state_parse (s_item (info, 4));
            note.tier = (Gridcall__V1__Tier) json_integer_value (json_array_get (info, 5));
            note.unit = (char *) s_item (info, 6);
            note.at_ms = json_integer_value (json_array_get (info, 7));
            note.case_id = case_id;
            note.ledger_no = (char *) s_item (kase, 0);
            note.grid = (char *) s_item (kase, 1);
            note.category = (char *) s_item (kase, 2);
            note.via = (char *) s_item (kase, 3);
            note.followers = (char *) s_item (kase, 4);
            ref.job = &note;
        }
        if (ref.job_id && codec_send (push, NULL, "notify.job", &ref.base))
            dropped++;
    }
    return dropped;
}

int
gc_offer_from_json (const json_t *item, Gridcall__V1__Offer *offer)
{
    gridcall__v1__offer__init (offer);
    offer->offer_id = (char *) json_string_value (json_object_get (item, "offer_id"));
    offer->case_id = (char *) json_string_value (json_object_get (item, "case_id"));
    if (!offer->offer_id || !offer->case_id)
        return -1;
    //  an old case missing a descriptive field is still offered, not lost
    offer->ledger_no = (char *) s_text (item, "ledger");
    if (!*offer->ledger_no)
        offer->ledger_no = offer->case_id;
    offer->grid = (char *) s_text (item, "grid");
    offer->category = (char *) s_text (item, "category");
    offer->text = (char *) s_text (item, "text");
    offer->tier = (int) json_integer_value (json_object_get (item, "tier"));
    offer->answer_by_ms = json_integer_value (json_object_get (item, "answer_by"));
    offer->resolve_by_ms = json_integer_value (json_object_get (item, "resolve_by"));
    offer->role = (char *) s_text (item, "role");
    if (!*offer->role)
        offer->role = "lead";
    return 0;
}

int
gc_wake_dispatch (void *push, const char *case_id, const json_t *reply)
{
    Gridcall__V1__CaseRef ref = GRIDCALL__V1__CASE_REF__INIT;
    ref.case_id = (char *) case_id;
    //  offers committed with the case go along for dispatch to send
    Gridcall__V1__Offer offers [4], *list [4];
    char *units [4];
    size_t i;
    json_t *item;
    json_array_foreach (json_object_get (reply, "offers"), i, item)
        if (ref.n_offers < 4 && *s_text (item, "unit")
        &&  gc_offer_from_json (item, &offers [ref.n_offers]) == 0) {
            list [ref.n_offers] = &offers [ref.n_offers];
            units [ref.n_offers] = (char *) s_text (item, "unit");
            ref.n_offers++;
        }
    ref.offers = ref.n_offers ? list : NULL;
    ref.offer_units = ref.n_offers ? units : NULL;
    ref.n_offer_units = ref.n_offers;
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

void *
gc_socket_new (int type, const char *who)
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
    return sock;
}

static void *
s_socket (int type, const char *endpoint, const char *who, bool bind)
{
    zsock_t *sock = (zsock_t *) gc_socket_new (type, who);
    if (!sock)
        return NULL;
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
