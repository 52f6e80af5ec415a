/*  notify_server.c — the gridcall-notify loop. A JobRef on the PULL or the
    sweep timer claims due jobs from pending:notify (gc_job_claim leases
    and reads them in one call), delivers each to the log, the PUB
    and the webhooks, and records the round with gc_job_done (pipelined):
    done, retry after a back-off, or dead after max_attempts. */
#include "notify_server.h"

#include <czmq.h>
#include <errno.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "curve.h"
#include "daemon.h"
#include "instance.h"
#include "log.h"
#include "metrics.h"
#include "notify_job.h"
#include "notify_webhook.h"
#include "store.h"

#define WAKE_BYTES_MAX  1024    //  a JobRef is a few bytes; more is malformed
#define RETRY_DUES_MAX  1024    //  retry times kept; beyond, the sweep finds them
#define WAKE_TURN_MAX   1000    //  wake-ups read per loop turn
#define DRAIN_MS        1000    //  grace for running transfers at shutdown
#define JOBS_GET_MAX    200     //  job ids per gc_jobs_get call (store argument limit)
#define DONE_BATCH      200     //  job ids per gc_jobs_done call (store argument limit)
#define LOG_FIRST       10      //  repeated warnings: log these, then every 1000th

struct _notify_server_t {
    store_t *store;             //  Redis access
    zsock_t *pull;              //  wake-ups: "notify.job" JobRef
    zsock_t *pub;               //  Notification per event, topic = event
    curve_t *curve;             //  CurveZMQ: keys, zauth, principals
    notify_webhook_t *webhook;  //  curl multi client
    char *urls [NOTIFY_TARGETS_MAX];    //  webhook targets, in config order
    char tokens [NOTIFY_TARGETS_MAX][NOTIFY_TOKEN_LEN + 1];    //  their mask tokens
    const char *token_of [NOTIFY_TARGETS_MAX];  //  pointers into tokens
    int targets;                //  number of webhook targets
    char *via [NOTIFY_TARGETS_MAX];     //  a gateway's target: the principal whose
                                        //  cases it hears of; NULL: every job
    zhashx_t *inflight;         //  job id -> notify_job_t, owned
    zlistx_t *finished;         //  jobs whose round ended; borrowed from inflight
    zmq_pollitem_t *items;      //  poll set: the PULL then curl's sockets
    size_t items_max;           //  entries allocated in items
    char lease [24];            //  lease_ms as text for gc_claim
    int64_t lease_ms;           //  the grace a new job waits for its wake-up
    char max_attempts [24];     //  max_attempts as text for gc_job_done
    long long retry_base_ms;    //  first retry delay
    long long retry_max_ms;     //  cap on the retry delay
    long long sweep_ms;         //  sweep interval
    size_t batch_max;           //  jobs claimed per call
    size_t inflight_max;        //  jobs delivered at once
    bool log_channel;           //  write one notice line per notification
    long long next_sweep;       //  monotonic ms of the next sweep
    //  the retries this instance scheduled (monotonic ms, sorted): each
    //  sweep is due at the earliest of them, not up to sweep_ms later
    long long dues [RETRY_DUES_MAX];
    size_t due_count;
    bool claim_now;             //  a full batch: claim again next turn
    bool started;               //  the job grace is written to Redis
    zlistx_t *woken;            //  ids of jobs woken this turn (owned strings)
    uint64_t rng;               //  xorshift state for the retry jitter
    uint64_t woken_n;           //  counters, logged at exit
    uint64_t woken_read;        //  wake-ups without their job, read from Redis
    uint64_t malformed;
    uint64_t published;
    uint64_t posts_ok;
    uint64_t posts_failed;
    uint64_t delivered;
    uint64_t retried;
    uint64_t dead;
    metrics_t *metrics;         //  counters for GET /metrics
    metrics_http_t *metrics_http;   //  the endpoint, when metrics_port is set
    metric_t *m [10];           //  see s_metrics_update
    instance_t *beat;           //  our record for gridcall status
    long long last_sweep;       //  wall ms of the last claim of due jobs
};

//  The next pseudo-random 32 bits (xorshift64*): jitter only, not secrets.
static uint32_t
s_random (notify_server_t *self)
{
    self->rng ^= self->rng >> 12;
    self->rng ^= self->rng << 25;
    self->rng ^= self->rng >> 27;
    return (uint32_t) ((self->rng * 2685821657736338717ULL) >> 32);
}

//  The "message" of a failed store reply, for the log; never NULL.
static const char *
s_reason (const json_t *reply)
{
    const char *message = json_string_value (json_object_get (reply, "message"));
    return message ? message : "no reason given";
}

//  Webhook callback: a transfer of a job ended. The job's round ends with
//  its last transfer.
static void
s_webhook_done (void *arg, void *tag, int target, bool ok, long status, const char *reason)
{
    (void) status;
    notify_server_t *self = arg;
    notify_job_t *job = tag;
    if (ok)
        self->posts_ok++;
    else {
        self->posts_failed++;
        log_warning ("notify: POST \"%s\" for job %s failed: %s (attempt %d)",
                     self->urls [target], notify_job_id (job), reason,
                     notify_job_attempts (job) + 1);
    }
    if (notify_job_end (job, target, ok) == 0)
        zlistx_add_end (self->finished, job);
}

//  gateway_webhooks: "gateway:NAME=URL, ..." into vias and urls (the
//  caller's, free()), at most max. Returns the count, or -1 with err.
static int
s_parse_gateways (const char *list, char **vias, char **urls, int max, char *err, size_t errlen)
{
    char *copy = strdup (list ? list : "");
    int count = 0;
    char *save = NULL;
    for (char *item = copy ? strtok_r (copy, ",", &save) : NULL; item;
         item = strtok_r (NULL, ",", &save)) {
        while (*item == ' ' || *item == '\t')
            item++;
        if (!*item)
            continue;
        char *eq = strchr (item, '=');
        char *url [1];
        if (!eq || strncmp (item, "gateway:", 8) != 0 || eq == item + 8
        ||  eq - item > AUTH_LABEL_MAX) {
            snprintf (err, errlen, "gateway_webhooks: \"%.80s\" is not gateway:NAME=URL "
                      "(NAME the gateway's name in the principals file)", item);
            goto fail;
        }
        *eq = 0;
        if (count >= max) {
            snprintf (err, errlen, "gateway_webhooks: more than %d targets", max);
            goto fail;
        }
        char detail [256];
        if (notify_webhook_parse_list (eq + 1, url, 1, detail, sizeof detail) != 1) {
            snprintf (err, errlen, "gateway_webhooks: %s: %s", item, detail);
            goto fail;
        }
        vias [count] = strdup (item);
        urls [count++] = url [0];
    }
    free (copy);
    return count;
fail:
    free (copy);
    for (int i = 0; i < count; i++) {
        free (vias [i]);
        free (urls [i]);
    }
    return -1;
}

int
notify_server_check_config (const config_t *config, char *err, size_t errlen)
{
    char *urls [NOTIFY_TARGETS_MAX], *vias [NOTIFY_TARGETS_MAX];
    int count = notify_webhook_parse_list (config_str (config, "webhooks"), urls,
                                           NOTIFY_TARGETS_MAX, err, errlen);
    if (count < 0)
        return -1;
    int gateways = s_parse_gateways (config_str (config, "gateway_webhooks"), vias, urls + count,
                                     NOTIFY_TARGETS_MAX - count, err, errlen);
    if (gateways < 0) {
        for (int i = 0; i < count; i++)
            free (urls [i]);
        return -1;
    }
    int rc = 0;
    bool signed_ = *config_str (config, "webhook_secret");
    for (int i = 0; i < count + gateways; i++) {
        //  case data leaving the machine must be signed, or anyone could forge it
        if (rc == 0 && !signed_ && !notify_webhook_local (urls [i])) {
            snprintf (err, errlen, "%s: \"%s\" is not on this machine and "
                      "webhook_secret is not set: set webhook_secret_file to a file holding "
                      "a random key (receivers verify X-Gridcall-Signature with it)",
                      i < count ? "webhooks" : "gateway_webhooks", urls [i]);
            rc = -1;
        }
        free (urls [i]);
        if (i >= count)
            free (vias [i - count]);
    }
    return rc;
}

notify_server_t *
notify_server_new (const config_t *config)
{
    notify_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char err [512];
    if (notify_server_check_config (config, err, sizeof err)) {
        log_error ("notify: %s", err);
        goto fail;
    }
    self->targets = notify_webhook_parse_list (config_str (config, "webhooks"), self->urls,
                                               NOTIFY_TARGETS_MAX, err, sizeof err);
    if (self->targets < 0) {
        log_error ("notify: %s", err);
        self->targets = 0;
        goto fail;
    }
    //  each gateway's own target after the common ones: it hears of the
    //  cases its principal reported (the job's via), signed the same way
    int gateways = s_parse_gateways (config_str (config, "gateway_webhooks"),
                                     self->via + self->targets, self->urls + self->targets,
                                     NOTIFY_TARGETS_MAX - self->targets, err, sizeof err);
    if (gateways < 0) {
        log_error ("notify: %s", err);
        goto fail;
    }
    self->targets += gateways;
    for (int i = 0; i < self->targets; i++) {
        //  a gateway's target is its own: two sharing a URL, or a gateway
        //  sharing one with webhooks, keep apart in the done mask
        char *named = NULL;
        if (self->via [i] && asprintf (&named, "%s %s", self->via [i], self->urls [i]) < 0)
            goto fail;
        notify_webhook_token (named ? named : self->urls [i], self->tokens [i],
                              sizeof self->tokens [i]);
        free (named);
        self->token_of [i] = self->tokens [i];
    }
    snprintf (self->lease, sizeof self->lease, "%lld", config_int (config, "lease_ms"));
    self->lease_ms = config_int (config, "lease_ms");
    self->woken = zlistx_new ();
    if (self->woken) {
        zlistx_set_destructor (self->woken, (zlistx_destructor_fn *) zstr_free);
        zlistx_set_duplicator (self->woken, (zlistx_duplicator_fn *) strdup);
    }
    snprintf (self->max_attempts, sizeof self->max_attempts, "%lld",
              config_int (config, "max_attempts"));
    self->retry_base_ms = config_int (config, "retry_base_ms");
    self->retry_max_ms = config_int (config, "retry_max_ms");
    self->sweep_ms = config_int (config, "sweep_ms");
    self->batch_max = (size_t) config_int (config, "batch_max");
    self->inflight_max = (size_t) config_int (config, "inflight_max");
    self->log_channel = config_bool (config, "log_channel");
    self->rng = ((uint64_t) gc_mono_ms () << 20) ^ (uint64_t) getpid () ^ (uintptr_t) self;
    if (self->rng == 0)
        self->rng = 88172645463325252ULL;
    long long timeout_ms = config_int (config, "webhook_timeout_ms");
    if (self->targets > 0 && config_int (config, "lease_ms") <= timeout_ms)
        log_warning ("notify: lease_ms %lld is not above webhook_timeout_ms %lld: "
                     "a slow receiver may get a job twice",
                     config_int (config, "lease_ms"), timeout_ms);
    if (self->retry_max_ms < self->retry_base_ms)
        log_warning ("notify: retry_max_ms %lld is below retry_base_ms %lld: every retry "
                     "waits about retry_max_ms", self->retry_max_ms, self->retry_base_ms);

    self->store = store_new (config, "notify");
    //  a Redis that refuses us is a start-up error; one not up yet is waited for
    if (self->store && store_start (self->store))
        goto fail;
    self->beat = instance_new (config, "notify", "gc_instance_beat");
    self->metrics = metrics_new ("gridcall_notify_");
    self->m [0] = metrics_counter (self->metrics, "delivered_total", "notification jobs delivered to every channel");
    self->m [1] = metrics_counter (self->metrics, "retried_total", "delivery rounds that will be retried");
    self->m [2] = metrics_counter (self->metrics, "dead_total", "jobs moved to dead letters");
    self->m [3] = metrics_counter (self->metrics, "published_total", "notifications published on the PUB socket");
    self->m [4] = metrics_counter (self->metrics, "webhook_posts_total{result=\"ok\"}", "webhook POSTs");
    self->m [5] = metrics_counter (self->metrics, "webhook_posts_total{result=\"failed\"}", "webhook POSTs");
    self->m [6] = metrics_counter (self->metrics, "malformed_total", "wake-up messages refused");
    self->m [7] = metrics_gauge (self->metrics, "inflight", "jobs being delivered now");
    self->m [8] = metrics_counter (self->metrics, "redis_failures_total", "Redis connection or call failures");
    self->m [9] = metrics_counter (self->metrics, "wakes_read_total",
                                   "wake-ups that named a job without its content, read from Redis");
    self->metrics_http = gc_metrics_serve (config, self->metrics);
    self->inflight = zhashx_new ();
    self->finished = zlistx_new ();
    self->webhook = notify_webhook_new (config_str (config, "webhook_secret"), (long) timeout_ms,
                                        s_webhook_done, self);
    if (!self->store || !self->inflight || !self->finished || !self->webhook)
        goto fail;
    zhashx_set_destructor (self->inflight, (zhashx_destructor_fn *) notify_job_destroy);
    self->curve = curve_new (config, "notify");
    if (!self->curve)
        goto fail;
    self->pull = curve_bind (self->curve, ZMQ_PULL, config_str (config, "work_bind"), CURVE_DAEMON,
                             WAKE_BYTES_MAX);
    //  subscribers send only subscriptions: a small bound
    self->pub = curve_bind (self->curve, ZMQ_PUB, config_str (config, "pub_bind"), CURVE_PARTY, 256);
    if (!self->pull || !self->pub)
        goto fail;
    log_info ("notify: wake-ups on \"%s\", events on \"%s\", %d webhook%s%s",
              config_str (config, "work_bind"), config_str (config, "pub_bind"),
              self->targets, self->targets == 1 ? "" : "s",
              self->targets && *config_str (config, "webhook_secret") ? ", signed" : "");
    return self;
fail:
    notify_server_destroy (&self);
    return NULL;
}

void
notify_server_destroy (notify_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notify_server_t *self = *self_p;
    metrics_http_stop (&self->metrics_http);
    metrics_destroy (&self->metrics);
    instance_destroy (&self->beat);
    //  the webhook goes first: its transfers point at jobs in inflight
    notify_webhook_destroy (&self->webhook);
    if (self->inflight && zhashx_size (self->inflight))
        log_notice ("notify: abandoned %zu job%s in flight; each is retried when its "
                    "lease expires", zhashx_size (self->inflight),
                    zhashx_size (self->inflight) == 1 ? "" : "s");
    zlistx_destroy (&self->finished);
    zlistx_destroy (&self->woken);
    zhashx_destroy (&self->inflight);
    curve_close (self->curve, &self->pub);
    curve_close (self->curve, &self->pull);
    curve_destroy (&self->curve);
    store_destroy (&self->store);
    for (int i = 0; i < self->targets; i++) {
        free (self->urls [i]);
        free (self->via [i]);
    }
    free (self->items);
    free (self);
    *self_p = NULL;
}

//  Send a job that can never be delivered straight to dead:notify.
static void
s_bury (notify_server_t *self, const char *id, const char *reason)
{
    log_warning ("notify: job %s is not deliverable: %s; moved to dead:notify", id, reason);
    json_t *reply = store_callv (self->store, "gc_job_done", id, "", "1", "1", NULL);
    if (json_is_true (json_object_get (reply, "dead")))
        self->dead++;
    json_decref (reply);
}

//  First round: log and publish once. Then POST to every target not yet
//  done. A job with nothing running goes to finished at once.
static void
s_deliver (notify_server_t *self, notify_job_t *job)
{
    if (!notify_job_published (job)) {
        if (self->log_channel)
            notify_job_log (job);
        Gridcall__V1__Notification msg = GRIDCALL__V1__NOTIFICATION__INIT;
        notify_job_notification (job, &msg);
        if (codec_send (self->pub, NULL, notify_job_event (job), &msg.base) == 0)
            self->published++;
        notify_job_set_published (job);
    }
    for (int i = 0; i < self->targets; i++) {
        if (notify_job_target_done (job, i))
            continue;
        if (self->via [i] && !notify_job_heard_by (job, self->via [i])) {
            notify_job_skip (job, i);
            continue;
        }
        if (notify_webhook_post (self->webhook, self->urls [i], notify_job_event (job),
                                 notify_job_id (job), notify_job_attempts (job) + 1,
                                 notify_job_body (job), notify_job_body_len (job), job, i) == 0)
            notify_job_begin (job);
        else
            self->posts_failed++;
    }
    if (notify_job_running (job) == 0)
        zlistx_add_end (self->finished, job);
}

//  Take one claimed job (shaped like a gc_job_get reply): drop a job that is gone, bury one that
//  cannot be delivered, start the rest.
static void
s_start (notify_server_t *self, const char *id, json_t *reply)
{
    if (!reply)
        return;                 //  store down: the lease expires, a sweep retries
    if (!json_is_true (json_object_get (reply, "ok"))) {
        const char *code = json_string_value (json_object_get (reply, "code"));
        if (code && strcmp (code, "UNKNOWN_JOB") == 0)
            log_debug ("notify: job %s is gone; dropped", id);
        else
            log_warning ("notify: gc_job_get() \"%s\" failed: %s", id, s_reason (reply));
        return;
    }
    char reason [160];
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    if (!job) {
        s_bury (self, id, reason);
        return;
    }
    if (strcmp (notify_job_id (job), id) != 0 || zhashx_lookup (self->inflight, id)) {
        notify_job_destroy (&job);
        return;
    }
    notify_job_load_mask (job, self->token_of, self->targets);
    if (zhashx_insert (self->inflight, id, job)) {
        notify_job_destroy (&job);
        return;
    }
    s_deliver (self, job);
}

//  Once Redis answers after a start: a new job waits our lease before a
//  sweep may claim it, the time its wake-up has to reach us.
static void
s_begin (notify_server_t *self)
{
    if (self->started)
        return;
    json_t *reply = store_callv (self->store, "gc_notify_grace", self->lease, NULL);
    self->started = json_is_true (json_object_get (reply, "ok"));
    json_decref (reply);
}

//  Start the jobs woken this turn: read them, JOBS_GET_MAX a call in one
//  pipeline, no lease (a job waits the grace before a sweep may claim it;
//  the in-flight set keeps this instance from starting one twice).
static void
s_start_woken (notify_server_t *self)
{
    size_t count = self->woken ? zlistx_size (self->woken) : 0;
    if (count == 0)
        return;
    s_begin (self);
    size_t room = self->inflight_max - zhashx_size (self->inflight);
    const char *ids [JOBS_GET_MAX];
    size_t n = 0, calls = 0, taken = 0;
    for (const char *id = zlistx_first (self->woken); id && taken < room;
         id = zlistx_next (self->woken)) {
        if (zhashx_lookup (self->inflight, id))
            continue;
        ids [n++] = id;
        taken++;
        if (n == JOBS_GET_MAX) {
            calls += store_append (self->store, "gc_jobs_get", (int) n, ids, NULL) == 0;
            n = 0;
        }
    }
    if (n)
        calls += store_append (self->store, "gc_jobs_get", (int) n, ids, NULL) == 0;
    for (size_t c = 0; c < calls; c++) {
        json_t *reply = store_reply (self->store);
        json_t *jobs = json_object_get (reply, "jobs");
        size_t k;
        json_t *job;
        if (json_is_array (jobs))
            json_array_foreach (jobs, k, job) {
                const char *id = json_string_value (json_object_get (job, "id"));
                if (id && *id && strlen (id) <= NOTIFY_JOB_ID_MAX && !zhashx_lookup (self->inflight, id))
                    s_start (self, id, job);
            }
        json_decref (reply);
    }
    //  woken jobs beyond the room left wait for a sweep, after the grace
    zlistx_purge (self->woken);
}

//  Keep a retry's due time (sorted; the latest dropped when full).
static void
s_due_add (notify_server_t *self, long long due)
{
    size_t i = self->due_count;
    if (i == RETRY_DUES_MAX) {
        if (due >= self->dues [i - 1])
            return;
        i--;
    }
    else
        self->due_count++;
    while (i > 0 && self->dues [i - 1] > due) {
        self->dues [i] = self->dues [i - 1];
        i--;
    }
    self->dues [i] = due;
}

//  Forget the retry times that came, and sweep at the next one if it comes
//  before next_sweep.
static void
s_due_next (notify_server_t *self)
{
    long long now = gc_mono_ms ();
    size_t past = 0;
    while (past < self->due_count && self->dues [past] <= now)
        past++;
    memmove (self->dues, self->dues + past, (self->due_count - past) * sizeof self->dues [0]);
    self->due_count -= past;
    if (self->due_count && self->dues [0] < self->next_sweep)
        self->next_sweep = self->dues [0];
}

//  Lease due jobs up to the room left in flight and start them; one
//  gc_job_claim call leases and reads the whole batch.
static void
s_claim (notify_server_t *self)
{
    self->claim_now = false;
    self->next_sweep = gc_mono_ms () + self->sweep_ms;
    s_due_next (self);
    self->last_sweep = zclock_time ();
    size_t room = self->inflight_max - zhashx_size (self->inflight);
    size_t max = room < self->batch_max ? room : self->batch_max;
    if (max == 0)
        return;
    s_begin (self);
    char max_text [24];
    snprintf (max_text, sizeof max_text, "%zu", max);
    json_t *claim = store_callv (self->store, "gc_job_claim", self->lease, max_text, NULL);
    json_t *jobs = json_object_get (claim, "jobs");
    //  cjson writes an empty list as {}: anything but an array is empty
    size_t count = json_is_array (jobs) ? json_array_size (jobs) : 0;
    if (claim && !json_is_true (json_object_get (claim, "ok")))
        log_warning ("notify: gc_job_claim() failed: %s", s_reason (claim));
    for (size_t i = 0; i < count; i++) {
        json_t *job = json_array_get (jobs, i);
        const char *id = json_string_value (json_object_get (job, "id"));
        if (!id || !*id || strlen (id) > NOTIFY_JOB_ID_MAX)
            continue;
        if (zhashx_lookup (self->inflight, id)) {
            log_debug ("notify: job %s is already in flight", id);
            continue;
        }
        s_start (self, id, job);
    }
    //  a full batch means more may be due: go again next turn
    if (count == max && count > 0)
        self->claim_now = true;
    json_decref (claim);
}

//  Record the finished rounds, then drop those jobs from the in-flight set:
//  jobs every target took go in gc_jobs_done calls of up to DONE_BATCH ids
//  (one call for a whole turn's deliveries), the others one gc_job_done
//  each (attempts, the targets done, the retry time); all one pipeline.
static void
s_flush (notify_server_t *self)
{
    size_t count = zlistx_size (self->finished);
    if (count == 0)
        return;
    notify_job_t **jobs = calloc (count, sizeof *jobs);
    bool *complete = calloc (count, sizeof *complete);
    long long *delays = calloc (count, sizeof *delays);
    const char **done = calloc (count, sizeof *done);
    if (!jobs || !complete || !delays || !done) {
        free (jobs);
        free (complete);
        free (delays);
        free (done);
        return;                 //  out of memory: try again next turn
    }
    char mask [NOTIFY_MASK_MAX];
    char retry [24];
    size_t n = 0, done_n = 0, appended = 0;
    for (notify_job_t *job = zlistx_first (self->finished); job && n < count;
         job = zlistx_next (self->finished), n++) {
        jobs [n] = job;
        complete [n] = notify_job_complete (job, self->targets);
        if (complete [n]) {
            done [done_n++] = notify_job_id (job);
            continue;
        }
        delays [n] = notify_backoff_ms (self->retry_base_ms, self->retry_max_ms,
                                        notify_job_attempts (job), s_random (self));
        if (notify_job_mask (job, self->token_of, self->targets, mask, sizeof mask))
            mask [0] = 0;       //  cannot happen with NOTIFY_MASK_MAX; redeliver all
        snprintf (retry, sizeof retry, "%lld", delays [n]);
        const char *argv [4] = { notify_job_id (job), mask, retry, self->max_attempts };
        if (store_append (self->store, "gc_job_done", 4, argv, NULL) == 0)
            appended++;
        else
            delays [n] = -1;    //  not recorded: its lease expires, a sweep retries
        //  the last round says so when its reply moves the job to the dead letters
        if (delays [n] >= 0 && notify_job_attempts (job) + 1 < atoll (self->max_attempts))
            log_info ("notify: job %s round %d incomplete; retry in %lld ms",
                      notify_job_id (job), notify_job_attempts (job) + 1, delays [n]);
    }
    size_t batches = 0;
    for (size_t at = 0; at < done_n; at += DONE_BATCH) {
        int argc = (int) (done_n - at < DONE_BATCH ? done_n - at : DONE_BATCH);
        if (store_append (self->store, "gc_jobs_done", argc, done + at, NULL) == 0)
            batches++;
    }
    zlistx_purge (self->finished);
    for (size_t i = 0; i < n && appended; i++) {
        if (complete [i] || delays [i] < 0)
            continue;
        appended--;
        json_t *reply = store_reply (self->store);
        const char *id = notify_job_id (jobs [i]);
        if (!reply)
            log_info ("notify: job %s: result not recorded (store down); it is redelivered "
                      "when its lease expires", id);
        else
        if (!json_is_true (json_object_get (reply, "ok")))
            log_warning ("notify: gc_job_done() \"%s\" failed: %s", id, s_reason (reply));
        else
        if (json_is_true (json_object_get (reply, "dead"))) {
            self->dead++;
            log_warning ("notify: job %s failed %lld times; moved to dead:notify", id,
                         (long long) json_integer_value (json_object_get (reply, "attempts")));
        }
        else
        if (json_is_true (json_object_get (reply, "retry"))) {
            self->retried++;
            //  sweep when the retry falls due rather than up to sweep_ms later
            long long due = gc_mono_ms () + delays [i];
            if (due < self->next_sweep)
                self->next_sweep = due;
            s_due_add (self, due);
        }
        json_decref (reply);
    }
    for (size_t b = 0; b < batches; b++) {
        json_t *reply = store_reply (self->store);
        if (!reply)
            log_info ("notify: %zu delivered jobs not recorded (store down); they are "
                      "redelivered when their leases expire", done_n);
        else
        if (!json_is_true (json_object_get (reply, "ok")))
            log_warning ("notify: gc_jobs_done() failed: %s", s_reason (reply));
        else
            self->delivered += (uint64_t) json_integer_value (json_object_get (reply, "done"));
        json_decref (reply);
    }
    for (size_t i = 0; i < n; i++)
        zhashx_delete (self->inflight, notify_job_id (jobs [i]));
    free (done);
    free (delays);
    free (complete);
    free (jobs);
}

//  Check a JobRef's id: 1 to 64 printable ASCII bytes.
static bool
s_valid_id (const char *id)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0 || len > NOTIFY_JOB_ID_MAX)
        return false;
    for (size_t i = 0; i < len; i++)
        if (id [i] <= ' ' || id [i] > '~')
            return false;
    return true;
}

//  A wake-up's job in the shape of a gc_job_get reply (a first round:
//  no attempts, no target done yet).
static json_t *
s_job_json (const Gridcall__V1__JobRef *ref)
{
    const Gridcall__V1__Notification *n = ref->job;
    return json_pack ("{s:b, s:s, s:s, s:s, s:s, s:s, s:s, s:i, s:s, s:s, s:I, s:s, s:s, s:i, s:s,"
                      " s:s, s:s}",
                      "ok", 1, "id", ref->job_id, "event", n->event, "case", n->case_id,
                      "ledger", n->ledger_no, "grid", n->grid, "category", n->category,
                      "tier", (int) n->tier, "state", codec_state_name (n->state),
                      "unit", n->unit, "at", (json_int_t) n->at_ms, "audience", n->audience,
                      "note", n->note, "attempts", 0, "done", "", "via", n->via,
                      "followers", n->followers);
}

//  Read the wake-ups waiting on the PULL. A valid one asks for a claim; the
//  claim leases the job, so a stale or repeated wake-up changes nothing.
static void
s_read_wakeups (notify_server_t *self)
{
    for (int turn = 0; turn < WAKE_TURN_MAX && (zsock_events (self->pull) & ZMQ_POLLIN); turn++) {
        codec_msg_t msg;
        if (codec_recv (self->pull, false, codec_work, WAKE_BYTES_MAX, &msg))
            break;
        const char *problem = msg.body ? NULL : msg.reason;
        const Gridcall__V1__JobRef *ref = NULL;
        char reason [256];
        //  over CURVE, only another daemon's key wakes us
        if (!problem && *msg.user_id && !auth_may (curve_principal (self->curve, msg.user_id),
                                                   AUTH_WORK, NULL, reason, sizeof reason))
            problem = reason;
        if (!problem && strcmp (msg.type, "notify.job") != 0)
            problem = "not a notify.job message";
        else
        if (!problem) {
            ref = (const Gridcall__V1__JobRef *) msg.body;
            if (!s_valid_id (ref->job_id))
                problem = "job_id is empty, too long or not printable";
        }
        if (problem) {
            self->malformed++;
            if (self->malformed <= LOG_FIRST || self->malformed % 1000 == 0)
                log_warning ("notify: wake-up \"%s\" dropped: %s (%" PRIu64 " so far)",
                             msg.type, problem, self->malformed);
        }
        else
        if (zhashx_lookup (self->inflight, ref->job_id))
            log_debug ("notify: wake-up for job %s, already in flight", ref->job_id);
        else
        if (ref->job && ref->job->event && *ref->job->event
        &&  zhashx_size (self->inflight) < self->inflight_max
        &&  (int64_t) zclock_time () - ref->job->at_ms < self->lease_ms / 2) {
            //  the wake-up carries the job as committed: deliver it now. A
            //  sweep cannot have claimed it yet (it waits the grace); an
            //  older one, queued while notify was down, is read from Redis
            //  below, and dropped there if a sweep delivered it meanwhile
            log_debug ("notify: wake-up with job %s", ref->job_id);
            self->woken_n++;
            json_t *job = s_job_json (ref);
            s_start (self, ref->job_id, job);
            json_decref (job);
        }
        else
        if (self->woken) {
            log_debug ("notify: wake-up for job %s", ref->job_id);
            self->woken_n++;
            if (!ref->job || !ref->job->event || !*ref->job->event)
                self->woken_read++;
            zlistx_add_end (self->woken, ref->job_id);
        }
        codec_msg_reset (&msg);
    }
}

//  Build the poll set: the PULL (unless with_pull is false) then curl's
//  sockets. Returns the number of items, or 0 when out of memory.
static size_t
s_poll_set (notify_server_t *self, bool with_pull)
{
    size_t need = 1 + notify_webhook_sockets (self->webhook);
    if (need > self->items_max) {
        zmq_pollitem_t *items = realloc (self->items, need * sizeof *items);
        if (!items)
            return 0;
        self->items = items;
        self->items_max = need;
    }
    self->items [0] = (zmq_pollitem_t) { zsock_resolve (self->pull), 0,
                                         with_pull ? ZMQ_POLLIN : 0, 0 };
    return 1 + notify_webhook_pollitems (self->webhook, self->items + 1, self->items_max - 1);
}

//  Milliseconds to wait: until the sweep (or now for a pending claim) when
//  there is room in flight, and no later than curl's timer.
static long
s_wait_ms (notify_server_t *self, long long now)
{
    long long wait = self->sweep_ms;
    if (zhashx_size (self->inflight) < self->inflight_max)
        wait = self->claim_now ? 0 : self->next_sweep - now;
    long curl = notify_webhook_timeout (self->webhook);
    if (curl >= 0 && curl < wait)
        wait = curl;
    return wait < 0 ? 0 : (long) wait;
}

//  Let running transfers finish for up to DRAIN_MS, recording each round.
static void
s_drain (notify_server_t *self)
{
    if (notify_webhook_running (self->webhook) == 0)
        return;
    log_info ("notify: stopping; waiting up to %d ms for %zu webhook transfer%s", DRAIN_MS,
              notify_webhook_running (self->webhook),
              notify_webhook_running (self->webhook) == 1 ? "" : "s");
    long long deadline = gc_mono_ms () + DRAIN_MS;
    while (notify_webhook_running (self->webhook) > 0) {
        long long now = gc_mono_ms ();
        if (now >= deadline)
            break;
        long wait = notify_webhook_timeout (self->webhook);
        if (wait < 0 || wait > deadline - now)
            wait = (long) (deadline - now);
        size_t count = s_poll_set (self, false);
        if (count == 0 || (zmq_poll (self->items, (int) count, wait) < 0 && errno != EINTR))
            break;
        notify_webhook_dispatch (self->webhook, self->items + 1, count - 1);
        s_flush (self);
    }
}

//  Copy the loop's counters into the metrics registry (cheap atomics).
static void
s_metrics_update (notify_server_t *self)
{
    metric_set (self->m [0], (int64_t) self->delivered);
    metric_set (self->m [1], (int64_t) self->retried);
    metric_set (self->m [2], (int64_t) self->dead);
    metric_set (self->m [3], (int64_t) self->published);
    metric_set (self->m [4], (int64_t) self->posts_ok);
    metric_set (self->m [5], (int64_t) self->posts_failed);
    metric_set (self->m [6], (int64_t) self->malformed);
    metric_set (self->m [7], (int64_t) (self->inflight ? zhashx_size (self->inflight) : 0));
    metric_set (self->m [8], (int64_t) store_failures (self->store));
    metric_set (self->m [9], (int64_t) self->woken_read);
}

int
notify_server_run (notify_server_t *self)
{
    int rc = 0;
    self->next_sweep = gc_mono_ms ();   //  sweep at start: work left by a crash
    while (!zsys_interrupted) {
        long long now = gc_mono_ms ();
        bool room = zhashx_size (self->inflight) < self->inflight_max;
        s_metrics_update (self);
        //  a revoked key's open subscription ends: every subscriber reconnects
        //  (the PUB ends a dropped session when it next looks at its commands)
        if (curve_tick (self->curve))
            curve_rebind (self->curve, self->pub);
        zsock_events (self->pub);
        if (room && (self->claim_now || now >= self->next_sweep))
            s_claim (self);
        s_flush (self);
        size_t count = s_poll_set (self, true);
        if (count == 0) {
            log_error ("notify: poll set: out of memory");
            rc = -1;
            break;
        }
        if (zmq_poll (self->items, (int) count, s_wait_ms (self, gc_mono_ms ())) < 0) {
            if (errno == EINTR)
                continue;
            log_error ("notify: zmq_poll() failed: %s", zmq_strerror (errno));
            rc = -1;
            break;
        }
        notify_webhook_dispatch (self->webhook, self->items + 1, count - 1);
        if (self->items [0].revents & ZMQ_POLLIN) {
            s_read_wakeups (self);
            s_start_woken (self);
        }
        s_flush (self);
        //  a synchronous call: after the turn's pipeline is read
        if (self->beat && instance_due (self->beat, gc_mono_ms ()))
            instance_beat (self->beat, self->store, json_pack ("{s:s, s:I, s:I, s:I}",
                "role", "active", "last_sweep_ms", (json_int_t) self->last_sweep,
                "delivered", (json_int_t) self->delivered,
                "inflight", (json_int_t) zhashx_size (self->inflight)));
    }
    s_drain (self);
    s_flush (self);
    log_info ("notify: %" PRIu64 " delivered, %" PRIu64 " retried, %" PRIu64 " dead, %"
              PRIu64 " published, %" PRIu64 " POSTs ok, %" PRIu64 " failed, %" PRIu64
              " wake-ups, %" PRIu64 " malformed", self->delivered, self->retried, self->dead,
              self->published, self->posts_ok, self->posts_failed, self->woken_n, self->malformed);
    return rc;
}
