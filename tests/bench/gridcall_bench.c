/*  gridcall_bench.c — the load generator behind `make bench`. One phase
    per run: "register" (gc_register straight against Redis, pipelined and
    unbatched), "intake" (reports/s through intake), "http" (reports/s
    through intake's HTTP door: keep-alive clients, one request in flight
    each) or "lifecycle" (it plays every unit and the grid workers: report,
    offer, accept, resolve, verify). */
#include <arpa/inet.h>
#include <czmq.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>
#include <unistd.h>

#include "codec.h"
#include "config.h"
#include "curve.h"
#include "daemon.h"
#include "directory.h"
#include "store.h"

//  A report's text as residents write them (the demo's are as long): past
//  the 64 bytes after which Redis's default stores a case's hash as a
//  hash table (deploy/redis.conf). The offer gives it back: t= is the send time.
#define BENCH_TEXT "居民反映楼下垃圾桶已满两天未清运，气味很大，请尽快处理（bench t=%lld）"
#define ERRORS_SHOWN 5          //  error replies printed in full per phase
#define HWM 100000              //  socket queues never drop or block a window
#define IDLE_POLL_MS 50         //  units that get no offers are read this often

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { "phase", CFG_STRING, "lifecycle", 0, 0, "register, intake, http or lifecycle" },
    { "http_port", CFG_INT, "8090", 1, 65535, "http: intake's HTTP door on 127.0.0.1" },
    { "http_key_file", CFG_STRING, "", 0, 0, "http: file holding the API key (gridcall keys api-key)" },
    { "http_clients", CFG_INT, "8", 1, 256, "http: keep-alive connections, one request in flight each" },
    { "intake_endpoint", CFG_STRING, "tcp://127.0.0.1:5560", 0, 0, "intake's reporter ROUTER" },
    { "dispatch_endpoint", CFG_STRING, "tcp://127.0.0.1:5561", 0, 0, "dispatch's unit ROUTER" },
    { "directory", CFG_STRING, "deploy/tianjiao/directory.json", 0, 0,
      "the directory the cluster has loaded (grids, categories, units)" },
    { "category", CFG_STRING, "env.garbage", 0, 0,
      "category of every report; grids without an always-on-duty unit for it are skipped" },
    { "count", CFG_INT, "20000", 1, 10000000, "reports filed, or gc_register calls pipelined" },
    { "unbatched_count", CFG_INT, "3000", 0, 10000000, "gc_register calls one round trip each" },
    { "depth", CFG_INT, "128", 1, 250, "gc_register calls per pipelined round" },
    { "sockets", CFG_INT, "4", 1, 64, "reporter DEALERs to intake" },
    { "window", CFG_INT, "500", 1, 100000,
      "intake: reports outstanding per socket; lifecycle: cases open at once" },
    { "rate", CFG_INT, "0", 0, 1000000,
      "lifecycle: file reports at this many per second (window still caps open cases); 0: as fast as the window allows" },
    { "idle_timeout_ms", CFG_INT, "10000", 100, 600000,
      "a phase aborts when nothing arrives for this long" },
    { "results", CFG_STRING, "", 0, 0, "file to append \"label_name value\" result lines to" },
    { "client_cert", CFG_STRING, "", 0, 0,
      "the reporters' secret certificate (one that may report and verify: an admin); empty: no CURVE" },
    { "intake_key", CFG_STRING, "", 0, 0, "intake's public key or certificate file (with client_cert)" },
    { "unit_keys", CFG_STRING, "", 0, 0,
      "folder of the units' secret certificates, <UNIT>.key_secret; empty: units without CURVE" },
    { "dispatch_key", CFG_STRING, "", 0, 0, "dispatch's public key or certificate file (with unit_keys)" },
    { "label", CFG_STRING, "", 0, 0, "prefix of this run's result names; empty: the phase" },
    { "ready_file", CFG_STRING, "", 0, 0,
      "lifecycle: created once every unit is welcomed; the first report waits until it is "
      "removed (at most 10 s), so the caller can take Redis's figures without the hellos" },
    { NULL, 0, NULL, 0, 0, NULL }
};

typedef struct {
    const config_t *config;     //  borrowed
    directory_t *directory;     //  the street the reports and units come from
    const dir_category_t *category;     //  category of every report
    const char **grids;         //  grids an always-on-duty unit serves for it
    size_t grid_count;          //  entries in grids
    char tag [48];              //  makes this run's idempotency keys unique
    FILE *results;              //  "label_name value" lines for bench.sh, or NULL
    const char *label;          //  prefix of result names
    size_t count;               //  reports or calls in the phase
    long long idle_ms;          //  abort after this long without input
    size_t errors_shown;        //  error replies printed so far
} bench_t;

//  A responder unit played by the bench: one DEALER to dispatch.
typedef struct {
    const char *id;             //  unit id, borrowed from the directory
    zsock_t *sock;              //  DEALER to dispatch
    bool welcomed;              //  dispatch accepted our hello
    int heartbeat_ms;           //  as the welcome said
    long long sent_ms;          //  last message sent, for heartbeats
    bool busy;                  //  fits the reports' category in some grid: may get offers
    size_t offers;              //  offers this unit received
} bench_unit_t;

//  Monotonic microseconds: send stamps and latencies (same process).
static long long
s_now_us (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

//  Append one "label_name value" line for bench.sh.
static void
s_result (bench_t *self, const char *name, double value)
{
    if (self->results)
        fprintf (self->results, "%s_%s %.6g\n", self->label, name, value);
}

//  Record the CPU time this process used, for bench.sh's CPU table.
static void
s_result_cpu (bench_t *self)
{
    struct rusage usage;
    if (getrusage (RUSAGE_SELF, &usage) == 0)
        s_result (self, "cpu_s", usage.ru_utime.tv_sec + usage.ru_stime.tv_sec
                  + (usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6);
}

//  Print an error reply (the first few only) so a failing run says why.
static void
s_show_error (bench_t *self, const char *where, const char *what)
{
    if (self->errors_shown++ < ERRORS_SHOWN)
        fprintf (stderr, "gridcall-bench: %s: %s\n", where, what);
}

//  Load the directory and pick the grids the category can be served in by
//  a unit with no duty rota, so every report finds a unit at once.
//  Returns the bench or NULL with a message printed.
static bench_t *
s_bench_new (const config_t *config)
{
    bench_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->count = (size_t) config_int (config, "count");
    self->idle_ms = config_int (config, "idle_timeout_ms");
    self->label = *config_str (config, "label") ? config_str (config, "label")
                                                : config_str (config, "phase");
    snprintf (self->tag, sizeof self->tag, "%lx%x", (unsigned long) time (NULL), (unsigned) getpid ());
    char err [512];
    self->directory = directory_load (config_str (config, "directory"), err, sizeof err);
    if (!self->directory) {
        fprintf (stderr, "gridcall-bench: %s\n", err);
        goto failed;
    }
    self->category = directory_category_find (self->directory, config_str (config, "category"));
    if (!self->category) {
        fprintf (stderr, "gridcall-bench: category \"%s\" is not in the directory\n",
                 config_str (config, "category"));
        goto failed;
    }
    size_t grids = directory_grid_count (self->directory);
    self->grids = calloc (grids, sizeof (char *));
    if (!self->grids)
        goto failed;
    for (size_t g = 0; g < grids; g++) {
        const char *grid = directory_grid (self->directory, g)->id;
        bool served = false;
        for (size_t u = 0; u < directory_unit_count (self->directory) && !served; u++) {
            const dir_unit_t *unit = directory_unit (self->directory, u);
            served = unit->rota_count == 0
                  && dir_unit_fits (unit, self->category->start_tier, grid, self->category->code);
        }
        if (served)
            self->grids [self->grid_count++] = grid;
    }
    if (self->grid_count == 0) {
        fprintf (stderr, "gridcall-bench: no grid has an always-on-duty unit for %s\n",
                 self->category->code);
        goto failed;
    }
    if (*config_str (config, "results")) {
        self->results = fopen (config_str (config, "results"), "a");
        if (!self->results) {
            fprintf (stderr, "gridcall-bench: fopen() \"%s\" failed: %s\n",
                     config_str (config, "results"), strerror (errno));
            goto failed;
        }
    }
    return self;
failed:
    directory_destroy (&self->directory);
    free (self->grids);
    free (self);
    return NULL;
}

//  Free the bench and close the results file; accepts NULL.
static void
s_bench_destroy (bench_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    bench_t *self = *self_p;
    if (self->results)
        fclose (self->results);
    free (self->grids);
    directory_destroy (&self->directory);
    free (self);
    *self_p = NULL;
}

//  ---------------------------------------------------------------------
//  Phase "register": the ceiling of our own transition, no daemon between.

//  Run calls gc_register calls, depth per round trip. Returns calls/s;
//  errors counts replies that were not ok.
static double
s_register_run (bench_t *self, store_t *store, size_t calls, size_t depth, const char *kind,
                size_t *errors)
{
    long long start = s_now_us ();
    size_t done = 0;
    while (done < calls && !zsys_interrupted) {
        size_t round = calls - done < depth ? calls - done : depth;
        size_t appended = 0;
        for (size_t i = 0; i < round; i++) {
            char key [96], text [160];
            snprintf (key, sizeof key, "bench-%s-%s-%zu", kind, self->tag, done + i);
            snprintf (text, sizeof text, BENCH_TEXT, s_now_us ());
            //  intake's arguments: the principal and the content hash (any
            //  fixed text: each key is used once)
            const char *argv [] = { key, self->grids [(done + i) % self->grid_count],
                self->category->code, text, "GRID_WORKER", "bench", "", "", "1", "86400",
                "bench", "0000000000000000000000000000000000000000" };
            if (store_append (store, "gc_register", 12, argv, NULL) == 0)
                appended++;
            else
                (*errors)++;
        }
        for (size_t i = 0; i < appended; i++) {
            json_t *reply = store_reply (store);
            if (!json_is_true (json_object_get (reply, "ok"))) {
                (*errors)++;
                s_show_error (self, "gc_register", reply
                    ? json_string_value (json_object_get (reply, "message")) : "redis unreachable");
            }
            json_decref (reply);
        }
        done += round;
    }
    double seconds = (s_now_us () - start) / 1e6;
    return seconds > 0 ? done / seconds : 0;
}

//  The "register" phase: count calls pipelined, then unbatched_count one
//  by one, under the configured key_prefix. Returns 0, or -1 on any error.
static int
s_phase_register (bench_t *self)
{
    int rc = -1;
    store_t *store = store_new (self->config, "bench");
    if (!store || store_ensure (store)) {
        fprintf (stderr, "gridcall-bench: register: redis not reachable\n");
        goto cleanup;
    }
    json_t *reply = store_callv (store, "gc_dir_version", NULL);
    long long version = json_integer_value (json_object_get (reply, "version"));
    json_decref (reply);
    if (version == 0) {
        fprintf (stderr, "gridcall-bench: register: no directory under key prefix \"%s\"; "
                 "load it with --set key_prefix=%s\n", store_prefix (store), store_prefix (store));
        goto cleanup;
    }
    size_t depth = (size_t) config_int (self->config, "depth");
    size_t unbatched = (size_t) config_int (self->config, "unbatched_count");
    size_t errors = 0;
    double pipelined = s_register_run (self, store, self->count, depth, "p", &errors);
    double single = unbatched ? s_register_run (self, store, unbatched, 1, "u", &errors) : 0;
    printf ("gc_register  pipelined %.0f transitions/s (%zu calls, depth %zu); "
            "unbatched %.0f transitions/s (%zu calls); errors %zu\n",
            pipelined, self->count, depth, single, unbatched, errors);
    s_result (self, "pipelined", pipelined);
    s_result (self, "unbatched", single);
    s_result (self, "depth", (double) depth);
    s_result (self, "errors", (double) errors);
    rc = errors || zsys_interrupted ? -1 : 0;
cleanup:
    store_destroy (&store);
    return rc;
}

//  ---------------------------------------------------------------------
//  Reporters: DEALERs to intake, shared by the intake and lifecycle phases.

//  A DEALER connected to endpoint, with queues deep enough for any window
//  and a send timeout; a CurveZMQ client of server_key with the secret
//  certificate cert_file when that is not empty. Returns the socket or
//  NULL with a message printed.
static zsock_t *
s_dealer (const char *endpoint, const char *cert_file, const char *server_key)
{
    char err [512], key [AUTH_KEY_LEN + 1];
    zcert_t *cert = NULL;
    if (cert_file && *cert_file
    &&  (!(cert = curve_cert_load (cert_file, err, sizeof err))
         || curve_public_load (server_key, key, err, sizeof err))) {
        fprintf (stderr, "gridcall-bench: %s\n", err);
        zcert_destroy (&cert);
        return NULL;
    }
    zsock_t *sock = zsock_new (ZMQ_DEALER);
    if (!sock) {
        zcert_destroy (&cert);
        return NULL;
    }
    if (cert) {
        zcert_apply (cert, sock);
        zsock_set_curve_serverkey (sock, key);
        zcert_destroy (&cert);
    }
    zsock_set_sndhwm (sock, HWM);
    zsock_set_rcvhwm (sock, HWM);
    zsock_set_sndtimeo (sock, 1000);    //  a wedged peer fails a send, never hangs us
    zsock_set_linger (sock, 200);
    if (zsock_connect (sock, "%s", endpoint) < 0) {
        fprintf (stderr, "gridcall-bench: connect() \"%s\" failed: %s\n", endpoint,
                 zmq_strerror (zmq_errno ()));
        zsock_destroy (&sock);
    }
    return sock;
}

//  File report number seq on sock with the send time in its text.
//  Returns 0, or -1 when the socket refused.
static int
s_send_report (bench_t *self, zsock_t *sock, const char *kind, size_t seq)
{
    char key [96], text [160];
    snprintf (key, sizeof key, "bench-%s-%s-%zu", kind, self->tag, seq);
    snprintf (text, sizeof text, BENCH_TEXT, s_now_us ());
    Gridcall__V1__Report report = GRIDCALL__V1__REPORT__INIT;
    report.idempotency_key = key;
    report.grid = (char *) self->grids [seq % self->grid_count];
    report.category = (char *) self->category->code;
    report.text = text;
    report.channel = GRIDCALL__V1__CHANNEL__CHANNEL_GRID_WORKER;
    report.reporter = "bench";
    return codec_send (sock, NULL, "report", &report.base);
}

//  ---------------------------------------------------------------------
//  Phase "http": reports/s through intake's HTTP door (POST /api/v1/reports),
//  keep-alive clients each on a thread of its own.

typedef struct {
    bench_t *bench;
    int port;
    const char *key;            //  the API key
    size_t first, step;         //  this client files reports first, first + step, ...
    size_t ok, errors;
    char error [200];           //  the first error seen
} http_client_t;

//  Read one response from fd into buf (headers and a Content-Length body).
//  Returns the HTTP status, or -1 when the connection failed.
static int
s_http_read (int fd, char *buf, size_t size)
{
    size_t have = 0, want = 0;
    char *body = NULL;
    while (!body || have < want) {
        if (have + 1 >= size)
            return -1;
        ssize_t n = read (fd, buf + have, size - have - 1);
        if (n <= 0)
            return -1;
        have += (size_t) n;
        buf [have] = 0;
        if (!body && (body = strstr (buf, "\r\n\r\n"))) {
            body += 4;
            const char *length = strcasestr (buf, "\r\nContent-Length:");
            want = (size_t) (body - buf) + (length ? strtoul (length + 17, NULL, 10) : 0);
        }
    }
    return atoi (buf + 9);
}

static void *
s_http_client (void *arg)
{
    http_client_t *self = arg;
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons ((uint16_t) self->port) };
    inet_pton (AF_INET, "127.0.0.1", &addr.sin_addr);
    int fd = socket (AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt (fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (fd < 0 || connect (fd, (struct sockaddr *) &addr, sizeof addr)) {
        snprintf (self->error, sizeof self->error, "connect: %s", strerror (errno));
        if (fd >= 0)
            close (fd);
        return NULL;
    }
    bench_t *bench = self->bench;
    char body [384], request [1024], response [4096];
    for (size_t seq = self->first; seq < bench->count && !zsys_interrupted; seq += self->step) {
        int blen = snprintf (body, sizeof body, "{\"grid\":\"%s\",\"category\":\"%s\","
                             "\"text\":\"" BENCH_TEXT "\",\"reporter\":\"bench\"}",
                             bench->grids [seq % bench->grid_count], bench->category->code,
                             s_now_us ());
        int rlen = snprintf (request, sizeof request, "POST /api/v1/reports HTTP/1.1\r\n"
                             "Host: 127.0.0.1\r\nAuthorization: Bearer %s\r\n"
                             "Idempotency-Key: bench-h-%s-%zu\r\nContent-Type: application/json"
                             "\r\nContent-Length: %d\r\n\r\n%s", self->key, bench->tag, seq,
                             blen, body);
        int status = write (fd, request, (size_t) rlen) == rlen
                   ? s_http_read (fd, response, sizeof response) : -1;
        if (status == 201)
            self->ok++;
        else {
            self->errors++;
            if (!*self->error)
                snprintf (self->error, sizeof self->error, "HTTP %d: %.150s", status,
                          status > 0 && strstr (response, "\r\n\r\n")
                          ? strstr (response, "\r\n\r\n") + 4 : "connection failed");
            if (status < 0)
                break;
        }
    }
    close (fd);
    return NULL;
}

static int
s_phase_http (bench_t *self)
{
    size_t nclients = (size_t) config_int (self->config, "http_clients");
    char key [256] = "";
    FILE *file = fopen (config_str (self->config, "http_key_file"), "r");
    if (!file || !fgets (key, sizeof key, file)) {
        fprintf (stderr, "gridcall-bench: http: cannot read http_key_file \"%s\"\n",
                 config_str (self->config, "http_key_file"));
        if (file)
            fclose (file);
        return -1;
    }
    fclose (file);
    key [strcspn (key, "\r\n")] = 0;
    http_client_t clients [256];
    pthread_t threads [256];
    memset (clients, 0, sizeof clients);
    long long start = s_now_us ();
    for (size_t i = 0; i < nclients; i++) {
        clients [i] = (http_client_t) { self, (int) config_int (self->config, "http_port"), key,
                                        i, nclients, 0, 0, "" };
        pthread_create (&threads [i], NULL, s_http_client, &clients [i]);
    }
    size_t ok = 0, errors = 0;
    for (size_t i = 0; i < nclients; i++) {
        pthread_join (threads [i], NULL);
        ok += clients [i].ok;
        errors += clients [i].errors;
        if (*clients [i].error)
            s_show_error (self, "http", clients [i].error);
    }
    double seconds = (s_now_us () - start) / 1e6;
    double rate = seconds > 0 ? ok / seconds : 0;
    printf ("http intake  %.0f reports/s (%zu reports in %.2f s, %zu keep-alive clients, one "
            "request in flight each); errors %zu\n", rate, ok, seconds, nclients, errors);
    s_result (self, "rate", rate);
    s_result (self, "reports", (double) ok);
    s_result (self, "errors", (double) errors);
    s_result_cpu (self);
    return ok == self->count ? 0 : -1;
}

//  ---------------------------------------------------------------------
//  Phase "intake": reports/s through intake with a window per socket.

//  The "intake" phase: count reports through sockets DEALERs, window
//  outstanding on each. Returns 0 when every report was registered once.
static int
s_phase_intake (bench_t *self)
{
    size_t nsocks = (size_t) config_int (self->config, "sockets");
    size_t window = (size_t) config_int (self->config, "window");
    zsock_t *socks [64] = { NULL };
    size_t outstanding [64] = { 0 };
    size_t sent = 0, ok = 0, errors = 0, duplicates = 0;
    int rc = -1;
    zpoller_t *poller = zpoller_new (NULL);
    for (size_t i = 0; i < nsocks; i++)
        if (!poller || !(socks [i] = s_dealer (config_str (self->config, "intake_endpoint"),
                                                  config_str (self->config, "client_cert"),
                                                  config_str (self->config, "intake_key")))
        ||  zpoller_add (poller, socks [i]))
            goto cleanup;
    long long start = s_now_us ();
    long long last_input = start;
    while (ok + errors < self->count && !zsys_interrupted) {
        for (size_t i = 0; i < nsocks; i++)
            while (outstanding [i] < window && sent < self->count) {
                if (s_send_report (self, socks [i], "i", sent)) {
                    fprintf (stderr, "gridcall-bench: intake: send failed: %s\n",
                             zmq_strerror (zmq_errno ()));
                    goto cleanup;
                }
                outstanding [i]++;
                sent++;
            }
        zpoller_wait (poller, 200);
        if (zpoller_terminated (poller))
            break;
        for (size_t i = 0; i < nsocks; i++)
            while (zsock_events (socks [i]) & ZMQ_POLLIN) {
                codec_msg_t msg;
                if (codec_recv (socks [i], false, codec_reporter, 1 << 20, &msg))
                    break;
                last_input = s_now_us ();
                if (outstanding [i])
                    outstanding [i]--;
                if (msg.body && strcmp (msg.type, "report.ok") == 0) {
                    ok++;
                    duplicates += ((Gridcall__V1__ReportReply *) msg.body)->duplicate;
                }
                else {
                    errors++;
                    s_show_error (self, "intake", msg.body && strcmp (msg.type, "error") == 0
                                  ? ((Gridcall__V1__Error *) msg.body)->message : msg.type);
                }
                codec_msg_reset (&msg);
            }
        if (s_now_us () - last_input > self->idle_ms * 1000) {
            fprintf (stderr, "gridcall-bench: intake: nothing arrived for %lld ms; aborting "
                     "(%zu sent, %zu ok, %zu errors)\n", self->idle_ms, sent, ok, errors);
            goto cleanup;
        }
    }
    double seconds = (s_now_us () - start) / 1e6;
    double rate = seconds > 0 ? ok / seconds : 0;
    printf ("intake       %.0f reports/s (%zu reports in %.2f s, %zu sockets x %zu window); "
            "errors %zu, duplicates %zu\n", rate, ok, seconds, nsocks, window, errors, duplicates);
    s_result (self, "rate", rate);
    s_result (self, "reports", (double) ok);
    s_result (self, "errors", (double) errors);
    s_result (self, "seconds", seconds);
    s_result_cpu (self);
    rc = ok == self->count && !duplicates ? 0 : -1;
cleanup:
    zpoller_destroy (&poller);
    for (size_t i = 0; i < nsocks; i++)
        zsock_destroy (&socks [i]);
    return rc;
}

//  ---------------------------------------------------------------------
//  Phase "lifecycle": the bench plays every unit and every grid worker.

typedef struct {
    bench_t *bench;             //  borrowed
    bench_unit_t *units;        //  one per directory unit
    size_t unit_count;          //  entries in units
    zsock_t *reporters [64];    //  DEALERs to intake
    size_t reporter_count;      //  entries in reporters
    size_t next_reporter;       //  round robin for reports and verifies
    zmq_pollitem_t *items;      //  reporters, busy units, then idle units
    bench_unit_t **item_units;  //  the unit of each item, NULL for a reporter
    size_t item_count;          //  entries in items
    size_t busy_count;          //  items polled every turn: reporters and busy units
    long long idle_poll_ms;     //  when the idle units are polled next
    zhash_t *cases;             //  case id -> "open" or "closed"
    zhash_t *offered;           //  "case unit" pairs offered so far
    double *latency_ms;         //  report-to-offer, one per first offer
    size_t latencies;           //  entries in latency_ms
    size_t welcomed;            //  units dispatch has welcomed
    size_t registered;          //  report.ok, not duplicate
    size_t offers;              //  distinct (case, unit) offers
    size_t reoffers;            //  offers of a case to a second unit
    size_t duplicate_offers;    //  an offer for a (case, unit) pair seen before
    size_t accepted;
    size_t resolved;
    size_t closed;
    size_t errors;              //  error replies and failed sends
    long long last_input_us;    //  when anything last arrived, for the idle abort
} life_t;

//  Count an error reply or an undecodable message, and show the first few.
static void
s_life_error (life_t *self, const char *where, codec_msg_t *msg)
{
    self->errors++;
    const char *what = msg->body && strcmp (msg->type, "error") == 0
                     ? ((Gridcall__V1__Error *) msg->body)->message
                     : msg->body ? msg->type : msg->reason;
    s_show_error (self->bench, where, what);
}

//  Send as a unit; a refused send counts as an error.
static void
s_unit_send (life_t *self, bench_unit_t *unit, const char *type, const ProtobufCMessage *body)
{
    if (codec_send (unit->sock, NULL, type, body))
        self->errors++;
    unit->sent_ms = s_now_us () / 1000;
}

//  One message from dispatch to a unit: answer offers at once, resolve
//  what was accepted, hand what was resolved to the grid worker.
static void
s_unit_input (life_t *self, bench_unit_t *unit, codec_msg_t *msg)
{
    if (!msg->body || strcmp (msg->type, "error") == 0) {
        s_life_error (self, unit->id, msg);
        return;
    }
    if (strcmp (msg->type, "welcome") == 0) {
        Gridcall__V1__Welcome *welcome = (Gridcall__V1__Welcome *) msg->body;
        if (!unit->welcomed)
            self->welcomed++;
        unit->welcomed = true;
        unit->heartbeat_ms = welcome->heartbeat_ms ? (int) welcome->heartbeat_ms : 1000;
    }
    else
    if (strcmp (msg->type, "offer") == 0) {
        Gridcall__V1__Offer *offer = (Gridcall__V1__Offer *) msg->body;
        char pair [160];
        snprintf (pair, sizeof pair, "%.64s %.64s", offer->case_id, unit->id);
        if (zhash_insert (self->offered, pair, "offered")) {
            self->duplicate_offers++;
            return;             //  answered already; a second answer proves nothing
        }
        self->offers++;
        unit->offers++;
        const char *stamp = strstr (offer->text, "t=");
        char *state = zhash_lookup (self->cases, offer->case_id);
        if (state && strcmp (state, "offered") == 0)
            self->reoffers++;
        else
        if (stamp && self->latencies < self->bench->count) {
            long long sent_us = strtoll (stamp + 2, NULL, 10);
            self->latency_ms [self->latencies++] = (s_now_us () - sent_us) / 1000.0;
        }
        //  the offer may overtake report.ok: remember the case either way
        zhash_update (self->cases, offer->case_id, "offered");
        Gridcall__V1__Accept accept = GRIDCALL__V1__ACCEPT__INIT;
        accept.offer_id = offer->offer_id;
        accept.case_id = offer->case_id;
        s_unit_send (self, unit, "accept", &accept.base);
    }
    else
    if (strcmp (msg->type, "ok") == 0) {
        Gridcall__V1__UnitAck *ack = (Gridcall__V1__UnitAck *) msg->body;
        if (ack->duplicate)
            return;
        if (ack->state == GRIDCALL__V1__CASE_STATE__STATE_ACCEPTED) {
            self->accepted++;
            Gridcall__V1__Resolve resolve = GRIDCALL__V1__RESOLVE__INIT;
            resolve.offer_id = ack->offer_id;
            resolve.case_id = ack->case_id;
            resolve.summary = "bench: done";
            s_unit_send (self, unit, "resolve", &resolve.base);
        }
        else
        if (ack->state == GRIDCALL__V1__CASE_STATE__STATE_RESOLVED) {
            self->resolved++;
            Gridcall__V1__Verify verify = GRIDCALL__V1__VERIFY__INIT;
            verify.case_id = ack->case_id;
            verify.pass = 1;
            verify.note = "bench: checked";
            verify.verifier = "bench-worker";
            zsock_t *sock = self->reporters [self->next_reporter++ % self->reporter_count];
            if (codec_send (sock, NULL, "verify", &verify.base))
                self->errors++;
        }
    }
    //  heartbeats need no answer: our own go out on a timer
}

//  One message from intake to a reporter or grid worker.
static void
s_reporter_input (life_t *self, codec_msg_t *msg)
{
    if (!msg->body || strcmp (msg->type, "error") == 0) {
        s_life_error (self, "intake", msg);
        return;
    }
    if (strcmp (msg->type, "report.ok") == 0) {
        Gridcall__V1__ReportReply *reply = (Gridcall__V1__ReportReply *) msg->body;
        if (reply->duplicate)
            return;
        self->registered++;
        if (!zhash_lookup (self->cases, reply->case_id))
            zhash_insert (self->cases, reply->case_id, "registered");
    }
    else
    if (strcmp (msg->type, "ack") == 0) {
        Gridcall__V1__Ack *ack = (Gridcall__V1__Ack *) msg->body;
        if (ack->state == GRIDCALL__V1__CASE_STATE__STATE_CLOSED && !ack->duplicate) {
            self->closed++;
            zhash_update (self->cases, ack->case_id, "closed");
        }
    }
}

//  Read everything the sockets that polled ready hold (items from..to).
static void
s_life_drain (life_t *self, size_t from, size_t to)
{
    for (size_t i = from; i < to; i++) {
        if (!(self->items [i].revents & ZMQ_POLLIN))
            continue;
        bench_unit_t *unit = self->item_units [i];
        zsock_t *sock = unit ? unit->sock : self->reporters [i];
        while (zsock_events (sock) & ZMQ_POLLIN) {
            codec_msg_t msg;
            if (codec_recv (sock, false, unit ? codec_unit : codec_reporter, 1 << 20, &msg))
                break;
            self->last_input_us = s_now_us ();
            if (unit)
                s_unit_input (self, unit, &msg);
            else
                s_reporter_input (self, &msg);
            codec_msg_reset (&msg);
        }
    }
}

//  Heartbeat every welcomed unit that has been quiet for its interval.
//  Returns ms until the next heartbeat falls due.
static int
s_life_heartbeat (life_t *self)
{
    long long now = s_now_us () / 1000;
    long long next = now + 1000;
    Gridcall__V1__Heartbeat beat = GRIDCALL__V1__HEARTBEAT__INIT;
    for (size_t i = 0; i < self->unit_count; i++) {
        bench_unit_t *unit = &self->units [i];
        if (!unit->welcomed)
            continue;
        if (now - unit->sent_ms >= unit->heartbeat_ms)
            s_unit_send (self, unit, "heartbeat", &beat.base);
        if (unit->sent_ms + unit->heartbeat_ms < next)
            next = unit->sent_ms + unit->heartbeat_ms;
    }
    return next > now ? (int) (next - now) : 1;
}

//  Wait for input once, then read it and heartbeat. zmq_poll costs a
//  system call per socket, so units that never get offers (wrong category)
//  are polled only every IDLE_POLL_MS, and all of them until every unit is
//  welcomed. Returns -1 when the phase must stop (interrupted, or nothing
//  arrived for idle_timeout_ms).
static int
s_life_turn (life_t *self, const char *waiting_for, int max_wait_ms)
{
    int timeout = s_life_heartbeat (self);
    if (timeout > max_wait_ms)
        timeout = max_wait_ms;
    long long now = s_now_us () / 1000;
    bool all = self->welcomed < self->unit_count || now >= self->idle_poll_ms;
    size_t polled = all ? self->item_count : self->busy_count;
    if (!all && self->idle_poll_ms - now < timeout)
        timeout = (int) (self->idle_poll_ms - now);
    int ready = zmq_poll (self->items, (int) polled, timeout < 200 ? timeout : 200);
    if (zsys_interrupted || (ready < 0 && zmq_errno () != EINTR))
        return -1;
    if (all)
        self->idle_poll_ms = now + IDLE_POLL_MS;
    if (ready > 0)
        s_life_drain (self, 0, polled);
    if (s_now_us () - self->last_input_us > self->bench->idle_ms * 1000) {
        fprintf (stderr, "gridcall-bench: lifecycle: nothing arrived for %lld ms waiting for "
                 "%s; aborting (units welcomed %zu, registered %zu, offers %zu, accepted %zu, "
                 "resolved %zu, closed %zu, errors %zu)\n", self->bench->idle_ms, waiting_for,
                 self->welcomed, self->registered, self->offers, self->accepted, self->resolved,
                 self->closed, self->errors);
        return -1;
    }
    return 0;
}

//  qsort order for latencies.
static int
s_compare_double (const void *a, const void *b)
{
    double x = *(const double *) a, y = *(const double *) b;
    return x < y ? -1 : x > y;
}

//  The value below which fraction q of the sorted values lie.
static double
s_percentile (const double *sorted, size_t count, double q)
{
    if (count == 0)
        return 0;
    size_t index = (size_t) ceil (q * count);
    return sorted [index ? index - 1 : 0];
}

//  Print the phase's figures and checks, and record them for bench.sh.
static void
s_life_report (life_t *self, double seconds, size_t window)
{
    bench_t *bench = self->bench;
    qsort (self->latency_ms, self->latencies, sizeof (double), s_compare_double);
    double p50 = s_percentile (self->latency_ms, self->latencies, 0.50);
    double p99 = s_percentile (self->latency_ms, self->latencies, 0.99);
    double max = self->latencies ? self->latency_ms [self->latencies - 1] : 0;
    double rate = seconds > 0 ? self->closed / seconds : 0;
    size_t open = 0, units_used = 0;
    for (void *state = zhash_first (self->cases); state; state = zhash_next (self->cases))
        open += strcmp ((char *) state, "closed") != 0;
    for (size_t i = 0; i < self->unit_count; i++)
        units_used += self->units [i].offers > 0;
    printf ("lifecycle    %.0f closed cases/s (%zu cases in %.2f s, window %zu, %zu units, "
            "%zu of them offered work)\n", rate, self->closed, seconds, window,
            self->unit_count, units_used);
    printf ("             report->offer p50 %.2f ms p99 %.2f ms max %.2f ms (%zu offers)\n",
            p50, p99, max, self->latencies);
    printf ("             check: %zu registered, %zu closed, %zu not closed, %zu re-offers, "
            "%zu duplicate offers, %zu errors\n", self->registered, self->closed, open,
            self->reoffers, self->duplicate_offers, self->errors);
    s_result (bench, "rate", rate);
    s_result (bench, "closed", (double) self->closed);
    s_result (bench, "seconds", seconds);
    s_result (bench, "not_closed", (double) open);
    s_result (bench, "duplicate_offers", (double) self->duplicate_offers);
    s_result (bench, "errors", (double) self->errors);
    s_result (bench, "p50_ms", p50);
    s_result (bench, "p99_ms", p99);
    s_result (bench, "max_ms", max);
    s_result_cpu (bench);
}

//  The "lifecycle" phase: every directory unit says hello; then count
//  reports with at most window cases open, each carried to CLOSED.
//  Returns 0 when every case closed, with no duplicate offer and no error.
static int
s_phase_lifecycle (bench_t *bench)
{
    const config_t *config = bench->config;
    size_t window = (size_t) config_int (config, "window");
    int rc = -1;
    life_t life = { .bench = bench, .last_input_us = s_now_us () };
    life_t *self = &life;
    self->unit_count = directory_unit_count (bench->directory);
    self->reporter_count = (size_t) config_int (config, "sockets");
    self->units = calloc (self->unit_count, sizeof (bench_unit_t));
    self->latency_ms = calloc (bench->count, sizeof (double));
    self->cases = zhash_new ();
    self->offered = zhash_new ();
    self->items = calloc (self->reporter_count + self->unit_count, sizeof (zmq_pollitem_t));
    self->item_units = calloc (self->reporter_count + self->unit_count, sizeof (bench_unit_t *));
    if (!self->units || !self->latency_ms || !self->cases || !self->offered || !self->items
    ||  !self->item_units)
        goto cleanup;
    for (size_t i = 0; i < self->reporter_count; i++) {
        if (!(self->reporters [i] = s_dealer (config_str (config, "intake_endpoint"),
                                                     config_str (config, "client_cert"),
                                                     config_str (config, "intake_key"))))
            goto cleanup;
        self->items [self->item_count++] = (zmq_pollitem_t) {
            .socket = zsock_resolve (self->reporters [i]), .events = ZMQ_POLLIN };
    }
    //  every unit of the street says hello; wait for every welcome
    Gridcall__V1__Hello hello = GRIDCALL__V1__HELLO__INIT;
    hello.protocol = 1;
    for (size_t i = 0; i < self->unit_count; i++) {
        bench_unit_t *unit = &self->units [i];
        const dir_unit_t *record = directory_unit (bench->directory, i);
        unit->id = record->id;
        for (size_t g = 0; g < bench->grid_count && !unit->busy; g++)
            unit->busy = dir_unit_fits (record, bench->category->start_tier, bench->grids [g],
                                        bench->category->code);
        //  each unit with its own key, as dispatch requires with CURVE on
        char cert [PATH_MAX];
        const char *keys = config_str (config, "unit_keys");
        snprintf (cert, sizeof cert, "%s/%s.key_secret", keys, unit->id);
        unit->sock = s_dealer (config_str (config, "dispatch_endpoint"), *keys ? cert : "",
                               config_str (config, "dispatch_key"));
        if (!unit->sock)
            goto cleanup;
        hello.unit_id = (char *) unit->id;
        s_unit_send (self, unit, "hello", &hello.base);
    }
    //  poll items: reporters, then the units that may get offers, then the rest
    for (int busy = 1; busy >= 0; busy--) {
        for (size_t i = 0; i < self->unit_count; i++)
            if (self->units [i].busy == busy) {
                self->item_units [self->item_count] = &self->units [i];
                self->items [self->item_count++] = (zmq_pollitem_t) {
                    .socket = zsock_resolve (self->units [i].sock), .events = ZMQ_POLLIN };
            }
        if (busy)
            self->busy_count = self->item_count;
    }
    while (self->welcomed < self->unit_count && self->errors == 0)
        if (s_life_turn (self, "welcomes", 200))
            goto cleanup;
    if (self->errors)
        goto cleanup;
    //  the units' hellos are a connection's cost, not a case's: the caller
    //  measures from here (the units heartbeat meanwhile)
    const char *ready_file = config_str (config, "ready_file");
    if (*ready_file) {
        FILE *mark = fopen (ready_file, "w");
        if (mark)
            fclose (mark);
        long long until = s_now_us () + 10000000;
        while (mark && access (ready_file, F_OK) == 0 && s_now_us () < until)
            if (s_life_turn (self, "the caller's mark", 20))
                goto cleanup;
    }
    //  file reports while fewer than window cases are open, and at a fixed
    //  rate when one is set (each report when its time comes)
    long long rate = config_int (config, "rate");
    long long start = s_now_us ();
    size_t sent = 0;
    while (self->closed < bench->count) {
        size_t due = bench->count;
        if (rate > 0)
            due = (size_t) ((s_now_us () - start) * rate / 1000000) + 1;
        while (sent < bench->count && sent < due && sent < self->closed + self->errors + window) {
            zsock_t *sock = self->reporters [self->next_reporter++ % self->reporter_count];
            if (s_send_report (bench, sock, "l", sent))
                self->errors++;
            sent++;
        }
        if (sent == bench->count && self->closed + self->errors >= bench->count)
            break;              //  every case closed or failed with a reply
        if (s_life_turn (self, "cases to close", rate > 0 ? 1 : 200))
            break;
    }
    double seconds = (s_now_us () - start) / 1e6;
    s_life_report (self, seconds, window);
    rc = self->closed == bench->count && self->duplicate_offers == 0 && self->errors == 0 ? 0 : -1;
cleanup:
    if (rc && self->errors)
        fprintf (stderr, "gridcall-bench: lifecycle: %zu errors\n", self->errors);
    for (size_t i = 0; self->units && i < self->unit_count; i++) {
        if (self->units [i].welcomed) {
            Gridcall__V1__Heartbeat bye = GRIDCALL__V1__HEARTBEAT__INIT;
            codec_send (self->units [i].sock, NULL, "bye", &bye.base);
        }
        zsock_destroy (&self->units [i].sock);
    }
    for (size_t i = 0; i < self->reporter_count; i++)
        zsock_destroy (&self->reporters [i]);
    free (self->item_units);
    free (self->items);
    zhash_destroy (&self->offered);
    zhash_destroy (&self->cases);
    free (self->latency_ms);
    free (self->units);
    return rc;
}

int
main (int argc, char **argv)
{
    config_t *config = config_new (s_options);
    if (!config)
        return EXIT_FAILURE;
    int rc = gc_daemon_init (argc, argv, "gridcall-bench", config);
    if (rc) {
        config_destroy (&config);
        return rc > 0 ? EXIT_SUCCESS : EXIT_FAILURE;
    }
    bench_t *bench = s_bench_new (config);
    const char *phase = config_str (config, "phase");
    if (!bench)
        rc = -1;
    else
    if (strcmp (phase, "register") == 0)
        rc = s_phase_register (bench);
    else
    if (strcmp (phase, "intake") == 0)
        rc = s_phase_intake (bench);
    else
    if (strcmp (phase, "lifecycle") == 0)
        rc = s_phase_lifecycle (bench);
    else
    if (strcmp (phase, "http") == 0)
        rc = s_phase_http (bench);
    else {
        fprintf (stderr, "gridcall-bench: phase \"%s\" is not register, intake, http or "
                 "lifecycle\n", phase);
        rc = -1;
    }
    fflush (stdout);
    s_bench_destroy (&bench);
    config_destroy (&config);
    return rc ? EXIT_FAILURE : EXIT_SUCCESS;
}
