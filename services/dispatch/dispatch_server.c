/*  dispatch_server.c — offers cases to responder units and moves them on.
    Work arrives as "case.dispatch" wake-ups and from a sweep of
    pending:dispatch (so a lost wake-up or a crash only delays a case).
    A loop turn reads what the sockets hold; units' replies go to Redis in
    one pipeline (dispatch_reply), then the turn's offers in another
    (dispatch_round); answers and offers are sent after each commits.
    The conversation with each unit is the state table s_table below
    (docs/unit-protocol.md shows the same table).
    Several instances may run: one leads, holding a lease in Redis
    (gc_lead), and every write it makes carries the lease's epoch, checked
    by the library (gc_fenced) in the same atomic step; the others stand by,
    refusing hellos with UNAVAILABLE so units move on to the next endpoint
    of their list, and take the lease when it runs out (docs/cluster.md). */
#include "dispatch_server.h"

#include <czmq.h>
#include <malloc.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "auth.h"
#include "codec.h"
#include "curve.h"
#include "daemon.h"
#include "directory.h"
#include "dispatch_match.h"
#include "dispatch_reply.h"
#include "dispatch_round.h"
#include "dispatch_units.h"
#include "instance.h"
#include "log.h"
#include "metrics.h"
#include "store.h"

#define CANDIDATES_MAX 200      //  store calls carry at most 256 arguments
#define READY_KEYS_MAX 240       //  ready keys per gc_ready call (store argument limit)
#define SEEN_MAX 200            //  units per gc_units_seen call
#define ID_MAX CODEC_ID_MAX

struct _dispatch_server_t {
    const config_t *config;     //  borrowed
    store_t *store;
    curve_t *curve;             //  CurveZMQ: keys, zauth, principals
    zsock_t *router;            //  units
    zsock_t *work;              //  PULL: case.dispatch wake-ups
    zsock_t *notify;            //  PUSH: notify.job wake-ups
    zpoller_t *poller;
    dispatch_units_t *units;    //  connected sessions
    directory_t *directory;     //  the directory as Redis holds it
    long long dir_version;      //  its version, to notice reloads
    unsigned generation;        //  the reload generation last acted on (SIGHUP)
    bool started;               //  connected set reset and options written to Redis
    dispatch_round_t *round;    //  cases to offer this turn
    dispatch_reply_t *replies;  //  units' replies of this turn, pipelined
    bool withdraw_now;          //  look for withdrawn notices this turn
    zlist_t *gone;              //  "unit\treason" of sessions ended this turn (owned)
    size_t batch_max;
    size_t message_max;
    size_t text_max;
    int heartbeat_ms;
    int liveness;               //  silent intervals before a unit is gone
    long long sweep_ms;
    long long dir_poll_ms;
    long long rota_offset_ms;   //  added to the wall clock for rota decisions
    long long next_sweep;       //  monotonic deadlines
    long long next_heartbeat;
    long long next_dir_check;
    long long next_seen;        //  next refresh of units:connected
    char lease_ms [24];         //  arguments for gc_claim
    char answer_ms [24];        //  offer_timeout_ms, for offers made at registration
    char retry_ms [24];         //  retry_ms, for cases registration found no unit for
    char batch_text [24];
    char instance [64];         //  our name in the lease and gridcall status
    bool leader;                //  we hold the lease: sockets bound, writes fenced
    char epoch [24];            //  the lease's epoch while we lead
    long long lead_ms;          //  the lease's time to live
    long long next_lead;        //  next renewal (or try, as a standby)
    long long led_until;        //  monotonic end of the lease as last renewed
    char holder [80];           //  who leads, as a standby last saw it
    uint64_t fenced_count;      //  times our writes were refused by the fence
    uint64_t takeovers;         //  times we became leader
    uint64_t offers_sent;
    uint64_t refused;           //  messages refused here (the replies count their own)
    uint64_t gone_count;        //  sessions ended by bye, silence or unroutable
    metrics_t *metrics;         //  counters for GET /metrics
    metrics_http_t *metrics_http;   //  the endpoint, when metrics_port is set
    metric_t *m [7];            //  see s_metrics_update
    instance_t *beat;           //  our record for gridcall status
    long long last_sweep;       //  wall ms of the last sweep (status)
};

//  The transitions dispatch calls that write: while we lead, the store
//  sends them through gc_fenced with our epoch (90_cluster.lua lists the
//  same set). gc_lead, gc_resign and gc_instance_beat are not fenced.
static const char *s_fenced_fns [] = {
    "gc_offer", "gc_unit_reply", "gc_withdrawals", "gc_unit_hello", "gc_units_seen",
    "gc_units_reset", "gc_ready", "gc_unit_gone", "gc_case_brief", "gc_orders_autoplace",
    "gc_claim", "gc_extend_request", NULL
};

//  The events of the unit conversation and the peer's states.
typedef enum { PEER_UNKNOWN, PEER_KNOWN } peer_state_t;
typedef enum {
    EVENT_HELLO, EVENT_HEARTBEAT, EVENT_REPLY, EVENT_BYE, EVENT_MALFORMED,
    EVENT_EXPIRED, EVENT_UNROUTABLE, EVENT_OTHER
} peer_event_t;

typedef void (s_action_fn) (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg);

static s_action_fn s_do_hello, s_do_alive, s_do_reply, s_do_bye, s_do_expired,
                   s_do_unroutable, s_do_refuse, s_do_say_hello;
static void s_replies_flush (dispatch_server_t *self);

//  state × event → action. The action decides the next state (a refused
//  hello leaves the peer UNKNOWN); the last column says what it does.
static const struct {
    peer_state_t state;
    peer_event_t event;
    s_action_fn *action;
    const char *does;
} s_table [] = {
    { PEER_UNKNOWN, EVENT_HELLO,      s_do_hello,      "check claims; welcome, held cases, waiting offers → KNOWN" },
    { PEER_UNKNOWN, EVENT_MALFORMED,  s_do_refuse,     "error with the decoder's code → UNKNOWN" },
    { PEER_UNKNOWN, EVENT_OTHER,      s_do_say_hello,  "error PROTOCOL \"say hello first\" → UNKNOWN" },
    { PEER_KNOWN,   EVENT_HELLO,      s_do_hello,      "a fresh session, as above → KNOWN" },
    { PEER_KNOWN,   EVENT_HEARTBEAT,  s_do_alive,      "liveness only → KNOWN" },
    { PEER_KNOWN,   EVENT_REPLY,      s_do_reply,      "one transition; ok or error → KNOWN" },
    { PEER_KNOWN,   EVENT_BYE,        s_do_bye,        "close; waiting offers move on → UNKNOWN" },
    { PEER_KNOWN,   EVENT_EXPIRED,    s_do_expired,    "close; waiting offers move on → UNKNOWN" },
    { PEER_KNOWN,   EVENT_UNROUTABLE, s_do_unroutable, "close; waiting offers move on → UNKNOWN" },
    { PEER_KNOWN,   EVENT_MALFORMED,  s_do_refuse,     "error with the decoder's code → KNOWN" },
    { PEER_KNOWN,   EVENT_OTHER,      s_do_refuse,     "error PROTOCOL → KNOWN" },
};

dispatch_server_t *
dispatch_server_new (const config_t *config)
{
    dispatch_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->config = config;
    self->batch_max = (size_t) config_int (config, "batch_max");
    self->message_max = (size_t) config_int (config, "message_max");
    self->text_max = (size_t) config_int (config, "text_max");
    self->heartbeat_ms = (int) config_int (config, "heartbeat_ms");
    self->liveness = (int) config_int (config, "heartbeat_liveness");
    self->sweep_ms = config_int (config, "sweep_ms");
    self->dir_poll_ms = config_int (config, "directory_poll_ms");
    self->rota_offset_ms = config_int (config, "rota_clock_offset_ms");
    self->lead_ms = config_int (config, "leader_lease_ms");
    char scale [32];
    snprintf (self->answer_ms, sizeof self->answer_ms, "%lld", config_int (config, "offer_timeout_ms"));
    snprintf (self->retry_ms, sizeof self->retry_ms, "%lld", config_int (config, "retry_ms"));
    snprintf (scale, sizeof scale, "%.17g", config_double (config, "time_scale"));
    snprintf (self->lease_ms, sizeof self->lease_ms, "%lld", config_int (config, "lease_ms"));
    snprintf (self->batch_text, sizeof self->batch_text, "%zu", self->batch_max);
    //  a turn offers what it read: wake-ups, the sweep's batch, redispatches
    self->round = dispatch_round_new (self->batch_max * 3, self->answer_ms, self->retry_ms,
                                      self->rota_offset_ms);
    self->replies = dispatch_reply_new (self->batch_max, self->text_max, scale);
    self->gone = zlist_new ();
    if (self->gone)
        zlist_autofree (self->gone);
    self->units = dispatch_units_new ();
    self->store = store_new (config, "dispatch");
    //  a Redis that refuses us (no library, another build's, a wrong
    //  password) is a start-up error; one not up yet is waited for
    if (self->store && store_start (self->store)) {
        dispatch_server_destroy (&self);
        return NULL;
    }
    self->metrics = metrics_new ("gridcall_dispatch_");
    self->m [0] = metrics_gauge (self->metrics, "units_connected", "responder units connected now");
    self->m [1] = metrics_counter (self->metrics, "offers_sent_total", "offers sent to units");
    self->m [2] = metrics_counter (self->metrics, "unit_replies_total", "unit replies committed (accept, decline, progress, resolve)");
    self->m [3] = metrics_counter (self->metrics, "refused_total", "unit messages answered with an error");
    self->m [4] = metrics_counter (self->metrics, "redis_failures_total", "Redis connection or call failures");
    self->m [5] = metrics_gauge (self->metrics, "leader", "1 while this instance holds the dispatch lease");
    self->m [6] = metrics_counter (self->metrics, "fenced_total", "writes refused by the fence (another instance took the lease)");
    self->metrics_http = gc_metrics_serve (config, self->metrics);
    self->beat = instance_new (config, "dispatch", "gc_instance_beat");
    if (self->beat)
        snprintf (self->instance, sizeof self->instance, "%s", instance_name (self->beat));
    self->curve = curve_new (config, "dispatch");
    //  units reach every instance (a standby answers their hello with
    //  UNAVAILABLE); the work PULL is bound only while we lead (s_take_over)
    if (self->curve) {
        self->router = curve_bind (self->curve, ZMQ_ROUTER, config_str (config, "unit_bind"),
                                   CURVE_PARTY, self->message_max);
        self->notify = curve_connect (self->curve, ZMQ_PUSH, config_str (config, "notify_endpoint"),
                                      config_str (config, "notify_key"));
    }
    if (!self->round || !self->replies || !self->gone || !self->units || !self->store || !self->router
    ||  !self->notify || !self->beat) {
        dispatch_server_destroy (&self);
        return NULL;
    }
    //  an offer to a unit that went away must fail loudly, not vanish
    zsock_set_router_mandatory (self->router, 1);
    self->poller = zpoller_new (self->router, NULL);
    log_notice ("dispatch: units connect to %s; work arrives on %s while this instance (%s) "
                "leads", config_str (config, "unit_bind"), config_str (config, "work_bind"),
                self->instance);
    return self;
}

void
dispatch_server_destroy (dispatch_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_server_t *self = *self_p;
    metrics_http_stop (&self->metrics_http);
    instance_destroy (&self->beat);
    metrics_destroy (&self->metrics);
    dispatch_reply_destroy (&self->replies);
    dispatch_round_destroy (&self->round);
    zlist_destroy (&self->gone);
    zpoller_destroy (&self->poller);
    zsock_destroy (&self->notify);
    curve_close (self->curve, &self->work);
    curve_close (self->curve, &self->router);
    curve_destroy (&self->curve);
    store_destroy (&self->store);
    directory_destroy (&self->directory);
    dispatch_units_destroy (&self->units);
    free (self);
    *self_p = NULL;
}

//  Queue a case for this turn's offer round; the sweep finds what does
//  not fit (it stays in pending:dispatch).
static void
s_due_add (dispatch_server_t *self, const char *case_id)
{
    dispatch_round_add (self->round, case_id, NULL, 0, NULL, NULL);
}

//  Once Redis answers after a start: no unit is connected yet, and the
//  auto-placing list comes from our option.
static void
s_start (dispatch_server_t *self)
{
    json_t *reply = store_callv (self->store, "gc_units_reset", self->answer_ms, self->retry_ms, NULL);
    if (!reply)
        return;
    json_decref (reply);
    const char *argv [CANDIDATES_MAX];
    int argc = 0;
    char *list = strdup (config_str (self->config, "order_autoplace"));
    for (char *save = NULL, *item = list ? strtok_r (list, ", ", &save) : NULL;
         item && argc < CANDIDATES_MAX; item = strtok_r (NULL, ", ", &save))
        argv [argc++] = item;
    reply = store_call (self->store, "gc_orders_autoplace", argc, argv, NULL);
    json_decref (reply);
    free (list);
    self->started = true;
}

//  Publish which new cases this unit may be offered at registration: the
//  ready sets (gc_ready) hold every (grid, category) it fits now at the
//  category's starting tier (registration offers only there), by its
//  directory record, its hello claims and its rota (street_check, the test
//  dispatch_match makes). Redone on hello, when its duty changes and when
//  the directory changes, and written only when the keys differ from what
//  was last published; gc_unit_gone takes the unit out.
static void
s_ready_publish (dispatch_server_t *self, unit_session_t *session)
{
    const dir_unit_t *unit = self->directory
                           ? directory_unit_find (self->directory, session->unit_id) : NULL;
    street_time_t at;
    street_local (self->directory, zclock_time () + self->rota_offset_ms, &at);
    session->ready_on_duty = unit && street_on_duty (self->directory, unit, &at);
    const char *argv [READY_KEYS_MAX + 2] = { session->unit_id, "add" };
    char (*keys) [3 * ID_MAX] = calloc (READY_KEYS_MAX, sizeof *keys);
    if (!keys)
        return;
    //  the keys, and their hash (FNV-1a) to skip a publish that changes nothing
    uint64_t hash = 14695981039346656037ULL;
    size_t n = 0, total = 0;
    bool cleared = false;
    for (size_t c = 0; session->ready_on_duty && c < unit->category_count; c++) {
        const char *category = unit->categories [c];
        const dir_category_t *cat = directory_category_find (self->directory, category);
        for (size_t g = 0; cat && g < directory_grid_count (self->directory); g++) {
            const char *grid = directory_grid (self->directory, g)->id;
            if (street_check (self->directory, unit, cat->start_tier, grid, category, &at) != STREET_IN
            ||  !dispatch_units_accepts (self->units, session->unit_id, grid, category))
                continue;
            snprintf (keys [n], sizeof keys [n], "%d:%s:%s", cat->start_tier, grid, category);
            for (const char *k = keys [n]; *k; k++)
                hash = (hash ^ (unsigned char) *k) * 1099511628211ULL;
            argv [2 + n] = keys [n];
            total++;
            if (++n == READY_KEYS_MAX) {
                if (!cleared)
                    json_decref (store_callv (self->store, "gc_ready", session->unit_id, "clear", NULL));
                cleared = true;
                json_decref (store_call (self->store, "gc_ready", (int) (2 + n), argv, NULL));
                n = 0;
            }
        }
    }
    if (total == 0)
        hash = 1;               //  published: in no set
    if (hash != session->ready_hash || cleared) {
        if (!cleared)
            json_decref (store_callv (self->store, "gc_ready", session->unit_id, "clear", NULL));
        if (n)
            json_decref (store_call (self->store, "gc_ready", (int) (2 + n), argv, NULL));
        session->ready_hash = hash;
    }
    free (keys);
}

//  Republish the units whose duty changed (rotas turn by the minute), or
//  every unit when all is true (a new directory). The sessions are listed
//  first: a publish looks units up, which moves the table's cursor.
static void
s_ready_refresh (dispatch_server_t *self, bool all)
{
    size_t count = dispatch_units_size (self->units);
    if (!self->directory || count == 0)
        return;
    unit_session_t **list = calloc (count, sizeof *list);
    if (!list)
        return;
    size_t n = 0;
    for (unit_session_t *s = dispatch_units_first (self->units); s && n < count;
         s = dispatch_units_next (self->units))
        list [n++] = s;
    street_time_t at;
    street_local (self->directory, zclock_time () + self->rota_offset_ms, &at);
    for (size_t i = 0; i < n; i++) {
        const dir_unit_t *unit = directory_unit_find (self->directory, list [i]->unit_id);
        bool on_duty = unit && street_on_duty (self->directory, unit, &at);
        if (all || on_duty != list [i]->ready_on_duty)
            s_ready_publish (self, list [i]);
    }
    free (list);
}

//  Reload the directory when Redis holds a newer one.
static void
s_directory_check (dispatch_server_t *self)
{
    if (!self->started && self->leader)
        s_start (self);
    json_t *reply = store_callv (self->store, "gc_dir_version", NULL);
    long long version = json_integer_value (json_object_get (reply, "version"));
    json_decref (reply);
    if (!reply || (self->directory && version == self->dir_version))
        return;
    reply = store_callv (self->store, "gc_dir_get", NULL);
    const char *text = json_string_value (json_object_get (reply, "json"));
    char err [512];
    directory_t *directory = text ? directory_parse (text, "redis dir:json", err, sizeof err) : NULL;
    if (directory) {
        directory_shed (directory);         //  dispatch only looks up
        directory_destroy (&self->directory);
        self->directory = directory;
        self->dir_version = version;
        s_ready_refresh (self, true);
        log_notice ("dispatch: directory version %lld: %zu units, %zu grids", version,
                    directory_unit_count (directory), directory_grid_count (directory));
    }
    else
    if (reply)
        log_warning ("dispatch: directory not usable: %s",
                     text ? err : json_string_value (json_object_get (reply, "message")));
    json_decref (reply);
    //  the shed part and the old directory are free chunks among live
    //  ones, which glibc keeps mapped unless asked: give the pages back
    if (directory)
        malloc_trim (0);
}

//  End a session now; its Redis side (offers move on) follows at the end
//  of the turn, outside any pipeline (s_gone_flush).
static void
s_session_end (dispatch_server_t *self, const char *unit_id, const char *reason)
{
    char *entry = zsys_sprintf ("%s\t%s", unit_id, reason);
    if (entry) {
        zlist_append (self->gone, entry);
        zstr_free (&entry);
    }
    dispatch_units_close (self->units, unit_id);
    self->gone_count++;
}

//  Move the waiting offers of units that went away to other units.
static void
s_gone_flush (dispatch_server_t *self)
{
    char *entry;
    while ((entry = (char *) zlist_pop (self->gone))) {
        char *tab = strchr (entry, '\t');
        if (tab)
            *tab = 0;
        //  the unit may have said hello again in the same turn
        if (!dispatch_units_connected (self->units, entry)) {
            json_t *reply = store_callv (self->store, "gc_unit_gone", entry, tab ? tab + 1 : "gone", NULL);
            size_t index;
            json_t *item;
            json_array_foreach (json_object_get (reply, "moved"), index, item)
                s_due_add (self, json_string_value (item));
            if (json_array_size (json_object_get (reply, "moved")))
                log_info ("dispatch: %zu offers of \"%s\" move on",
                          json_array_size (json_object_get (reply, "moved")), entry);
            json_decref (reply);
        }
        free (entry);
    }
}

//  Send to a unit; an unroutable unit is gone (ROUTER_MANDATORY).
static int
s_send_unit (dispatch_server_t *self, unit_session_t *session, const char *type,
             const ProtobufCMessage *body)
{
    if (codec_send (self->router, session->identity, type, body)) {
        log_warning ("dispatch: send \"%s\" to unit \"%s\" failed: %s; unit is gone", type,
                     session->unit_id, zmq_strerror (zmq_errno ()));
        s_do_unroutable (self, session, NULL);
        return -1;
    }
    session->sent_ms = gc_mono_ms ();
    return 0;
}

static bool
s_accepts (void *arg, const char *unit_id, const char *grid, const char *category)
{
    return dispatch_units_accepts ((dispatch_units_t *) arg, unit_id, grid, category);
}

//  Send one offer a committed gc_offer reply (or gc_unit_cases) describes.
static void
s_send_offer_to (dispatch_server_t *self, const char *unit_id, Gridcall__V1__Offer *offer)
{
    unit_session_t *session = unit_id ? dispatch_units_by_unit (self->units, unit_id) : NULL;
    if (!session)
        return;                 //  it left meanwhile: the offer expires and moves on
    if (s_send_unit (self, session, "offer", &offer->base) == 0) {
        self->offers_sent++;
        log_debug ("dispatch: offered \"%s\" to \"%s\" as %s (offer %s)", offer->case_id,
                   unit_id, offer->role, offer->offer_id);
    }
}

static void
s_send_offer (dispatch_server_t *self, json_t *item, bool resent)
{
    Gridcall__V1__Offer offer;
    if (gc_offer_from_json (item, &offer))
        return;
    offer.resent = resent;
    s_send_offer_to (self, json_string_value (json_object_get (item, "unit")), &offer);
}

static void
s_send_offer_cb (void *arg, json_t *item)
{
    s_send_offer ((dispatch_server_t *) arg, item, false);
}

//  Offer this turn's cases (one pipeline), then send the offers.
static void
s_dispatch_due (dispatch_server_t *self)
{
    if (dispatch_round_size (self->round) == 0)
        return;
    if (!self->directory)
        s_directory_check (self);
    if (self->directory)
        dispatch_round_run (self->round, self->store, self->directory, s_accepts, self->units,
                            s_send_offer_cb, self);
}

//  Tell units about the cases taken back from them (climbs, parking,
//  reopening) since the last look: the transitions queued the notices.
static void
s_withdrawals (dispatch_server_t *self)
{
    json_t *reply = store_callv (self->store, "gc_withdrawals", "200", NULL);
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (reply, "withdrawn"), index, item) {
        const char *unit_id = json_string_value (json_object_get (item, "unit"));
        unit_session_t *session = unit_id ? dispatch_units_by_unit (self->units, unit_id) : NULL;
        if (!session)
            continue;           //  not connected: its next reply is refused
        char reason [48];
        snprintf (reason, sizeof reason, "WITHDRAW_%s",
                  json_string_value (json_object_get (item, "reason")) ? json_string_value (json_object_get (item, "reason")) : "UNSPECIFIED");
        const ProtobufCEnumValue *value = protobuf_c_enum_descriptor_get_value_by_name (
            &gridcall__v1__withdraw_reason__descriptor, reason);
        Gridcall__V1__Withdrawn out = GRIDCALL__V1__WITHDRAWN__INIT;
        out.case_id = (char *) json_string_value (json_object_get (item, "case_id"));
        out.offer_id = (char *) json_string_value (json_object_get (item, "offer_id"));
        out.note = (char *) json_string_value (json_object_get (item, "note"));
        out.reason = value ? value->value : GRIDCALL__V1__WITHDRAW_REASON__WITHDRAW_UNSPECIFIED;
        out.state = codec_state_parse (json_string_value (json_object_get (item, "state")));
        out.tier = (Gridcall__V1__Tier) json_integer_value (json_object_get (item, "tier"));
        if (!out.case_id || !out.offer_id)
            continue;
        if (!out.note)
            out.note = "";
        if (s_send_unit (self, session, "withdrawn", &out.base) == 0)
            log_info ("dispatch: told \"%s\" case \"%s\" is withdrawn (%s)", unit_id,
                      out.case_id, reason);
    }
    json_decref (reply);
}

//  Lease the cases whose time has come: new work whose wake-up was lost,
//  offers that expired, cases waiting for a unit.
static void
s_sweep (dispatch_server_t *self)
{
    s_withdrawals (self);
    json_t *reply = store_callv (self->store, "gc_claim", "dispatch", self->lease_ms,
                                 self->batch_text, NULL);
    size_t index;
    json_t *item;
    json_array_foreach (json_object_get (reply, "items"), index, item)
        s_due_add (self, json_string_value (item));
    if (json_is_true (json_object_get (reply, "ok")))
        self->last_sweep = json_integer_value (json_object_get (reply, "now"));
    json_decref (reply);
}

//  True when every string of claim is in record (count entries).
static const char *
s_beyond (char **claim, size_t claims, const char **record, size_t count)
{
    for (size_t i = 0; i < claims; i++) {
        bool known = false;
        for (size_t k = 0; k < count && !known; k++)
            known = strcmp (record [k], claim [i]) == 0;
        if (!known)
            return claim [i];
    }
    return NULL;
}

//  hello: the directory record is the ceiling of what a unit may claim.
static void
s_do_hello (dispatch_server_t *self, unit_session_t *known, codec_msg_t *msg)
{
    (void) known;
    s_replies_flush (self);
    Gridcall__V1__Hello *hello = (Gridcall__V1__Hello *) msg->body;
    const char *ref = hello->unit_id;
    //  ids are the directory's: anything else is refused before a look-up
    char problem [160];
    int code = codec_check_id ("unit_id", hello->unit_id, ID_MAX, problem, sizeof problem);
    for (size_t i = 0; !code && i < hello->n_categories; i++)
        code = codec_check_id ("categories", hello->categories [i], ID_MAX, problem, sizeof problem);
    for (size_t i = 0; !code && i < hello->n_grids; i++)
        code = codec_check_id ("grids", hello->grids [i], ID_MAX, problem, sizeof problem);
    if (code) {
        self->refused++;
        log_warning ("dispatch: hello refused: %s", problem);
        codec_send_error (self->router, msg->identity, code, "", "%s", problem);
        return;
    }
    if (!self->directory)
        s_directory_check (self);
    const dir_unit_t *unit = self->directory && strlen (ref) <= ID_MAX
                           ? directory_unit_find (self->directory, ref) : NULL;
    if (hello->protocol != 1) {
        self->refused++;
        log_warning ("dispatch: hello from \"%.64s\" refused: protocol %u, not 1", ref,
                     hello->protocol);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL,
                          "", "protocol %u is not supported; this dispatch speaks 1", hello->protocol);
        return;
    }
    //  a unit is who its key says, never who its hello says: only the key
    //  bound to X says hello as X (and so takes X's session over)
    char reason [256];
    auth_scope_t scope = { NULL, NULL, NULL, NULL, ref };
    if (!auth_may (curve_principal (self->curve, msg->user_id), AUTH_UNIT, &scope, reason,
                   sizeof reason)) {
        self->refused++;
        log_warning ("dispatch: hello as unit \"%.64s\" refused: NOT_PERMITTED: %s", ref, reason);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                          "", "hello as unit %.64s refused: %s", ref, reason);
        return;
    }
    if (!unit) {
        self->refused++;
        log_warning ("dispatch: hello from unknown unit refused");
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_UNIT,
                          "", "unit is not in the directory%s", self->directory ? "" : " (none loaded)");
        return;
    }
    const char *beyond = s_beyond (hello->categories, hello->n_categories, unit->categories,
                                   unit->category_count);
    if (beyond) {
        self->refused++;
        log_warning ("dispatch: hello from \"%s\" refused: category %.64s not registered", unit->id, beyond);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                          unit->id, "unit %s is not registered for category %.64s", unit->id, beyond);
        return;
    }
    beyond = s_beyond (hello->grids, hello->n_grids, unit->grids, unit->grid_count);
    if (beyond) {
        self->refused++;
        log_warning ("dispatch: hello from \"%s\" refused: grid %.64s not covered", unit->id, beyond);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                          unit->id, "unit %s does not cover grid %.64s", unit->id, beyond);
        return;
    }
    if (hello->capacity > (unsigned) unit->capacity) {
        self->refused++;
        log_warning ("dispatch: hello from \"%s\" refused: capacity %u over %d", unit->id,
                     hello->capacity, unit->capacity);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                          unit->id, "unit %s claims capacity %u; the directory allows %d", unit->id,
                          hello->capacity, unit->capacity);
        return;
    }
    char claim [16];
    snprintf (claim, sizeof claim, "%u", hello->capacity);
    json_t *noted = store_callv (self->store, "gc_unit_hello", unit->id, claim, NULL);
    json_t *held = noted ? store_callv (self->store, "gc_unit_cases", unit->id, NULL) : NULL;
    json_decref (noted);
    if (!held || !json_is_true (json_object_get (held, "ok"))) {
        json_decref (held);
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                          "", "the case store is unavailable; say hello again after a back-off");
        return;
    }
    unit_session_t *session = dispatch_units_open (self->units, unit->id, msg->identity, gc_mono_ms ());
    if (session)
        snprintf (session->key, sizeof session->key, "%s", msg->user_id);
    if (!session
    ||  dispatch_units_claim (session, hello->categories, hello->n_categories, hello->grids,
                              hello->n_grids, hello->capacity)) {
        json_decref (held);
        return;
    }
    //  ready for new cases before it hears welcome (commit, then send): a
    //  report filed after the unit's welcome can be offered to it at once
    s_ready_publish (self, session);
    json_t *list = json_object_get (held, "cases");
    json_t *offers = json_object_get (held, "offers");
    Gridcall__V1__Welcome welcome = GRIDCALL__V1__WELCOME__INIT;
    welcome.unit_id = (char *) unit->id;
    welcome.heartbeat_ms = (uint32_t) self->heartbeat_ms;
    welcome.n_held_cases = json_array_size (list);
    welcome.held_cases = welcome.n_held_cases ? calloc (welcome.n_held_cases, sizeof (char *)) : NULL;
    for (size_t i = 0; welcome.held_cases && i < welcome.n_held_cases; i++)
        welcome.held_cases [i] = (char *) json_string_value (
            json_object_get (json_array_get (list, i), "case_id"));
    if (!welcome.held_cases)
        welcome.n_held_cases = 0;
    log_info ("dispatch: unit \"%s\" connected, holding %zu cases, %zu offers waiting "
              "(%zu units connected)", unit->id, welcome.n_held_cases, json_array_size (offers),
              dispatch_units_size (self->units));
    int rc = s_send_unit (self, session, "welcome", &welcome.base);
    free (welcome.held_cases);
    //  the offer ids a unit needs to go on with its cases (accepting one
    //  again is answered as a repeat), then every offer still waiting
    size_t index;
    json_t *item;
    json_array_foreach (list, index, item)
        if (rc == 0 && dispatch_units_by_unit (self->units, unit->id))
            s_send_offer (self, item, true);
    json_array_foreach (offers, index, item)
        if (rc == 0 && dispatch_units_by_unit (self->units, unit->id))
            s_send_offer (self, item, true);
    json_decref (held);
    //  cases that waited for a unit may fit this one now
    self->next_sweep = 0;
    self->next_seen = 0;
}

static void
s_do_alive (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    (void) self;
    (void) msg;
    (void) session;             //  seen_ms was set on receipt
}

static void
s_do_bye (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    (void) msg;
    log_info ("dispatch: unit \"%s\" said bye", session->unit_id);
    s_session_end (self, session->unit_id, "bye");
}

static void
s_do_expired (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    (void) msg;
    log_warning ("dispatch: unit \"%s\" silent for %d heartbeats; session closed",
                 session->unit_id, self->liveness);
    s_session_end (self, session->unit_id, "silent");
}

static void
s_do_unroutable (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    (void) msg;
    s_session_end (self, session->unit_id, "unroutable");
}

static void
s_do_refuse (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    self->refused++;
    if (msg->body) {
        log_warning ("dispatch: \"%s\" from %s refused: not a unit's message", msg->type,
                     session ? session->unit_id : "an unknown peer");
        codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL,
                          "", "units do not send \"%s\"", msg->type);
    }
    else {
        log_warning ("dispatch: message from %s refused: %s",
                     session ? session->unit_id : "an unknown peer", msg->reason);
        codec_send_error (self->router, msg->identity, msg->error, "", "%s", msg->reason);
    }
}

static void
s_do_say_hello (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    (void) session;
    log_info ("dispatch: \"%s\" from a peer without a session refused: say hello first",
              msg->type);
    codec_send_error (self->router, msg->identity, GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL, "",
                      "say hello first (or again: your session expired)");
}

//  Look up the row for (state, event) and run it.
static void
s_fire (dispatch_server_t *self, unit_session_t *session, peer_event_t event, codec_msg_t *msg)
{
    peer_state_t state = session ? PEER_KNOWN : PEER_UNKNOWN;
    size_t rows = sizeof s_table / sizeof s_table [0];
    for (size_t i = 0; i < rows; i++)
        if (s_table [i].state == state && s_table [i].event == event) {
            s_table [i].action (self, session, msg);
            return;
        }
    //  no row of its own: the state's "anything else" row, for a message
    for (size_t i = 0; msg && i < rows; i++)
        if (s_table [i].state == state && s_table [i].event == EVENT_OTHER) {
            s_table [i].action (self, session, msg);
            return;
        }
}

//  accept / decline / progress / resolve / extend: checked and appended to
//  this turn's pipeline; answered when the turn flushes (s_replies_flush).
static void
s_do_reply (dispatch_server_t *self, unit_session_t *session, codec_msg_t *msg)
{
    dispatch_reply_append (self->replies, self->store, self->router, session->unit_id, msg);
}

//  After a committed reply: wake notify, offer the case again when it
//  moves on, end the session of a unit that cannot be reached.
static void
s_reply_done (void *arg, const char *unit_id, const char *case_id, const json_t *reply,
              bool answered)
{
    dispatch_server_t *self = (dispatch_server_t *) arg;
    gc_wake_notify (self->notify, reply);
    if (json_is_true (json_object_get (reply, "redispatch")))
        s_due_add (self, case_id);
    unit_session_t *session = dispatch_units_by_unit (self->units, unit_id);
    if (!answered && session)
        s_do_unroutable (self, session, NULL);
}

//  Answer the replies appended this turn; every synchronous store call
//  comes after this (a pipeline's replies are read in order).
static void
s_replies_flush (dispatch_server_t *self)
{
    if (dispatch_reply_pending (self->replies))
        dispatch_reply_flush (self->replies, self->store, self->router, s_reply_done, self);
}

//  What a received message is in the conversation.
static peer_event_t
s_event_of (const codec_msg_t *msg)
{
    if (!msg->body)
        return EVENT_MALFORMED;
    if (strcmp (msg->type, "hello") == 0)
        return EVENT_HELLO;
    if (strcmp (msg->type, "heartbeat") == 0)
        return EVENT_HEARTBEAT;
    if (strcmp (msg->type, "bye") == 0)
        return EVENT_BYE;
    if (strcmp (msg->type, "accept") == 0 || strcmp (msg->type, "decline") == 0
    ||  strcmp (msg->type, "progress") == 0 || strcmp (msg->type, "resolve") == 0
    ||  strcmp (msg->type, "extend") == 0)
        return EVENT_REPLY;
    return EVENT_OTHER;
}

static void
s_unit_message (dispatch_server_t *self)
{
    codec_msg_t msg;
    if (codec_recv (self->router, true, codec_unit, self->message_max, &msg))
        return;
    if (!self->leader) {
        //  a standby serves nobody: the unit's kit moves to its next endpoint
        codec_send_error (self->router, msg.identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                          "", "dispatch %s stands by (%s leads); connect to another dispatch",
                          self->instance, *self->holder ? self->holder : "nobody yet");
        codec_msg_reset (&msg);
        return;
    }
    unit_session_t *session = dispatch_units_by_identity (self->units, msg.identity);
    const auth_principal_t *principal = curve_principal (self->curve, msg.user_id);
    char reason [256];
    auth_scope_t scope = { NULL, NULL, NULL, NULL, session ? session->unit_id : NULL };
    if (session ? !auth_may (principal, AUTH_UNIT, &scope, reason, sizeof reason)
                : !principal && !auth_may (NULL, AUTH_UNIT, &scope, reason, sizeof reason)) {
        //  its key was revoked since its hello: the session ends here
        self->refused++;
        log_warning ("dispatch: \"%s\" from %s%s%s refused%s: NOT_PERMITTED: %s", msg.type,
                     session ? "unit \"" : "a peer without a principal",
                     session ? session->unit_id : "", session ? "\"" : "",
                     session ? ", session dropped" : "", reason);
        codec_send_error (self->router, msg.identity, GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED,
                          "", "%s", reason);
        if (session)
            s_session_end (self, session->unit_id, "revoked");
        codec_msg_reset (&msg);
        return;
    }
    if (session)
        session->seen_ms = gc_mono_ms ();
    s_fire (self, session, s_event_of (&msg), &msg);
    codec_msg_reset (&msg);
}

//  Heartbeat quiet units; expire the ones silent for liveness intervals
//  and the ones we cannot reach.
static void
s_heartbeat (dispatch_server_t *self)
{
    long long now = gc_mono_ms ();
    zlist_t *expired = zlist_new ();
    zlist_t *lost = zlist_new ();
    if (!expired || !lost) {
        zlist_destroy (&expired);
        zlist_destroy (&lost);
        return;
    }
    zlist_autofree (expired);
    zlist_autofree (lost);
    Gridcall__V1__Heartbeat beat = GRIDCALL__V1__HEARTBEAT__INIT;
    for (unit_session_t *s = dispatch_units_first (self->units); s; s = dispatch_units_next (self->units)) {
        if (now - s->seen_ms > (long long) self->heartbeat_ms * self->liveness)
            zlist_append (expired, s->unit_id);
        else
        if (now - s->sent_ms >= self->heartbeat_ms) {
            if (codec_send (self->router, s->identity, "heartbeat", &beat.base) == 0)
                s->sent_ms = now;
            else
                zlist_append (lost, s->unit_id);
        }
    }
    for (char *id = (char *) zlist_first (expired); id; id = (char *) zlist_next (expired)) {
        unit_session_t *session = dispatch_units_by_unit (self->units, id);
        if (session)
            s_fire (self, session, EVENT_EXPIRED, NULL);
    }
    for (char *id = (char *) zlist_first (lost); id; id = (char *) zlist_next (lost)) {
        unit_session_t *session = dispatch_units_by_unit (self->units, id);
        if (session) {
            log_warning ("dispatch: heartbeat to unit \"%s\" failed: %s; unit is gone", id,
                         zmq_strerror (zmq_errno ()));
            s_fire (self, session, EVENT_UNROUTABLE, NULL);
        }
    }
    zlist_destroy (&expired);
    zlist_destroy (&lost);
}

//  Tell Redis which units are connected now (for `gridcall route`).
static void
s_units_seen (dispatch_server_t *self)
{
    const char *argv [SEEN_MAX];
    int argc = 0;
    for (unit_session_t *s = dispatch_units_first (self->units); s; s = dispatch_units_next (self->units)) {
        argv [argc++] = s->unit_id;
        if (argc == SEEN_MAX) {
            json_decref (store_call (self->store, "gc_units_seen", argc, argv, NULL));
            argc = 0;
        }
    }
    if (argc)
        json_decref (store_call (self->store, "gc_units_seen", argc, argv, NULL));
}

static void
s_work_messages (dispatch_server_t *self)
{
    for (size_t n = 0; n < self->batch_max && (zsock_events (self->work) & ZMQ_POLLIN); n++) {
        codec_msg_t msg;
        if (codec_recv (self->work, false, codec_work, self->message_max, &msg))
            break;
        char reason [256];
        if (*msg.user_id && !auth_may (curve_principal (self->curve, msg.user_id), AUTH_WORK,
                                       NULL, reason, sizeof reason)) {
            log_warning ("dispatch: work message \"%s\" dropped: %s", msg.type, reason);
            codec_msg_reset (&msg);
            continue;
        }
        if (msg.body && strcmp (msg.type, "case.dispatch") == 0
        &&  !codec_id_valid (((Gridcall__V1__CaseRef *) msg.body)->case_id, ID_MAX))
            log_warning ("dispatch: work message \"%s\" dropped: case_id is not an id", msg.type);
        else
        if (msg.body && strcmp (msg.type, "case.dispatch") == 0) {
            Gridcall__V1__CaseRef *ref = (Gridcall__V1__CaseRef *) msg.body;
            //  offered at registration: send it; the sweep minds its expiry
            for (size_t i = 0; i < ref->n_offers && i < ref->n_offer_units; i++)
                s_send_offer_to (self, ref->offer_units [i], ref->offers [i]);
            if (ref->n_offers == 0)
                dispatch_round_add (self->round, ref->case_id, codec_state_name (ref->state),
                                    (int) ref->tier, ref->grid, ref->category);
            //  escalate's wake-ups carry no brief: a climb may have taken
            //  a case from a unit, so look for notices this turn
            if (!ref->grid || !*ref->grid)
                self->withdraw_now = true;
        }
        else
            log_warning ("dispatch: work message \"%s\" dropped: %s", msg.type,
                         msg.body ? "not for dispatch" : msg.reason);
        codec_msg_reset (&msg);
    }
}

//  After the principals changed: end the sessions whose key no longer
//  speaks for their unit (revoked, or bound to another principal).
static void
s_sessions_recheck (dispatch_server_t *self)
{
    zlist_t *revoked = zlist_new ();
    if (!revoked)
        return;
    zlist_autofree (revoked);
    char reason [256];
    for (unit_session_t *s = dispatch_units_first (self->units); s; s = dispatch_units_next (self->units)) {
        auth_scope_t scope = { NULL, NULL, NULL, NULL, s->unit_id };
        if (!auth_may (curve_principal (self->curve, s->key), AUTH_UNIT, &scope, reason, sizeof reason))
            zlist_append (revoked, s->unit_id);
    }
    for (char *id = (char *) zlist_first (revoked); id; id = (char *) zlist_next (revoked)) {
        log_warning ("dispatch: unit \"%s\" session dropped: its key was revoked", id);
        s_session_end (self, id, "revoked");
    }
    zlist_destroy (&revoked);
}

//  Copy the loop's counters into the metrics registry (cheap atomics).
static void
s_metrics_update (dispatch_server_t *self)
{
    metric_set (self->m [0], (int64_t) dispatch_units_size (self->units));
    metric_set (self->m [1], (int64_t) self->offers_sent);
    metric_set (self->m [2], (int64_t) dispatch_reply_committed (self->replies));
    metric_set (self->m [3], (int64_t) (self->refused + dispatch_reply_refused (self->replies)));
    metric_set (self->m [4], (int64_t) store_failures (self->store));
    metric_set (self->m [5], self->leader ? 1 : 0);
    metric_set (self->m [6], (int64_t) self->fenced_count);
}

//  We hold the lease at epoch: fence every write with it, bind the work
//  PULL, and start as a fresh dispatch (gc_units_reset: the previous
//  leader's sessions and ready sets are gone with it).
static void
s_take_over (dispatch_server_t *self, const char *epoch)
{
    snprintf (self->epoch, sizeof self->epoch, "%s", epoch);
    store_fence (self->store, "gc_fenced", s_fenced_fns, self->epoch);
    self->work = curve_bind (self->curve, ZMQ_PULL, config_str (self->config, "work_bind"),
                             CURVE_DAEMON, self->message_max);
    if (!self->work) {
        //  the port is not ours yet: let the lease go and try again later
        json_decref (store_callv (self->store, "gc_resign", self->instance, self->epoch, NULL));
        store_fence (self->store, NULL, NULL, NULL);
        return;
    }
    zpoller_add (self->poller, self->work);
    self->leader = true;
    self->started = false;
    self->takeovers++;
    self->next_dir_check = self->next_sweep = self->next_heartbeat = self->next_seen = 0;
    snprintf (self->holder, sizeof self->holder, "%s", self->instance);
    log_notice ("dispatch %s: leading (epoch %s)", self->instance, self->epoch);
}

//  We no longer lead (the fence refused us, another instance holds the
//  lease, or ours ran out while Redis was unreachable): tell our units to
//  go to another instance, forget them without writing (the new leader
//  reset the view), unbind the work PULL.
static void
s_step_down (dispatch_server_t *self, const char *why)
{
    log_warning ("dispatch %s: no longer leading (epoch %s): %s; standing by", self->instance,
                 self->epoch, why);
    s_replies_flush (self);
    zlist_t *ids = zlist_new ();
    if (ids) {
        zlist_autofree (ids);
        for (unit_session_t *s = dispatch_units_first (self->units); s; s = dispatch_units_next (self->units)) {
            codec_send_error (self->router, s->identity, GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE,
                              "", "dispatch %s no longer leads; connect to another dispatch",
                              self->instance);
            zlist_append (ids, s->unit_id);
        }
        for (char *id = (char *) zlist_first (ids); id; id = (char *) zlist_next (ids))
            dispatch_units_close (self->units, id);
        zlist_destroy (&ids);
    }
    zlist_purge (self->gone);
    if (self->work) {
        zpoller_remove (self->poller, self->work);
        curve_close (self->curve, &self->work);
    }
    store_fence (self->store, NULL, NULL, NULL);
    self->holder [0] = 0;       //  the next gc_lead names who leads
    self->leader = false;
    self->started = false;
    self->withdraw_now = false;
}

//  Renew the lease (leader) or try to take it (standby).
static void
s_lead (dispatch_server_t *self)
{
    long long sent = gc_mono_ms ();
    char ms [24];
    snprintf (ms, sizeof ms, "%lld", self->lead_ms);
    json_t *reply = store_callv (self->store, "gc_lead", self->instance, ms,
                                 self->leader ? self->epoch : "", NULL);
    if (!json_is_true (json_object_get (reply, "ok"))) {
        //  no answer: we cannot know; past the lease's end another may lead
        if (self->leader && sent >= self->led_until)
            s_step_down (self, "the lease ran out while Redis did not answer");
    }
    else
    if (json_is_true (json_object_get (reply, "leader"))) {
        const char *epoch = json_string_value (json_object_get (reply, "epoch"));
        //  a new epoch for us means another led between: start afresh
        if (self->leader && strcmp (epoch ? epoch : "", self->epoch) != 0)
            s_step_down (self, "the lease lapsed and another instance led meanwhile");
        if (!self->leader && epoch)
            s_take_over (self, epoch);
        self->led_until = sent + self->lead_ms;
    }
    else {
        const char *holder = json_string_value (json_object_get (reply, "holder"));
        snprintf (self->holder, sizeof self->holder, "%s", holder ? holder : "");
        if (self->leader)
            s_step_down (self, "another instance holds the lease");
    }
    json_decref (reply);
}

//  Our record for gridcall status.
static void
s_beat (dispatch_server_t *self)
{
    json_t *fields = json_pack ("{s:s, s:s, s:s, s:I, s:I, s:I, s:I, s:I}",
        "role", self->leader ? "leader" : "standby", "epoch", self->leader ? self->epoch : "",
        "leader", self->holder, "last_sweep_ms", (json_int_t) self->last_sweep,
        "units", (json_int_t) dispatch_units_size (self->units),
        "offers_sent", (json_int_t) self->offers_sent,
        "fenced", (json_int_t) self->fenced_count, "takeovers", (json_int_t) self->takeovers);
    instance_beat (self->beat, self->store, fields);
}

int
dispatch_server_run (dispatch_server_t *self)
{
    while (!zsys_interrupted) {
        long long now = gc_mono_ms ();
        long long wake = self->next_sweep < self->next_heartbeat ? self->next_sweep : self->next_heartbeat;
        if (!self->leader || self->next_lead < wake)
            wake = self->next_lead;
        int timeout = wake > now ? (int) (wake - now) : 0;
        zpoller_wait (self->poller, timeout > 1000 ? 1000 : timeout);
        if (zpoller_terminated (self->poller))
            break;
        for (size_t n = 0; n < self->batch_max && (zsock_events (self->router) & ZMQ_POLLIN); n++)
            s_unit_message (self);
        now = gc_mono_ms ();
        if (!self->leader) {
            if (now >= self->next_lead) {
                //  a standby tries twice as often as the leader renews
                s_lead (self);
                self->next_lead = now + self->lead_ms / 6;
            }
            if (!self->leader && instance_due (self->beat, now)) {
                s_metrics_update (self);
                s_beat (self);
            }
            if (curve_tick (self->curve))
                s_sessions_recheck (self);
            if (gc_daemon_reload_generation () != self->generation) {
                self->generation = gc_daemon_reload_generation ();
                self->dir_version = -1;
            }
            continue;
        }
        //  the units' replies go to Redis first; the offers intake
        //  committed with new cases go out while Redis works on them
        store_flush (self->store);
        s_work_messages (self);
        s_replies_flush (self);
        now = gc_mono_ms ();
        if (now >= self->next_heartbeat) {
            s_heartbeat (self);
            s_ready_refresh (self, false);
            s_metrics_update (self);
            self->next_heartbeat = now + self->heartbeat_ms / 2;
        }
        if (curve_tick (self->curve))
            s_sessions_recheck (self);
        if (gc_daemon_reload_generation () != self->generation) {
            //  SIGHUP: read the directory again now, whatever its version
            self->generation = gc_daemon_reload_generation ();
            self->dir_version = -1;
            self->next_dir_check = 0;
        }
        if (now >= self->next_dir_check) {
            s_directory_check (self);
            self->next_dir_check = now + self->dir_poll_ms;
        }
        s_gone_flush (self);
        if (now >= self->next_seen) {
            s_units_seen (self);
            self->next_seen = now + self->heartbeat_ms;
        }
        if (now >= self->next_sweep) {
            s_sweep (self);
            self->next_sweep = now + self->sweep_ms;
        }
        if (self->withdraw_now) {
            s_withdrawals (self);
            self->withdraw_now = false;
        }
        s_dispatch_due (self);
        s_gone_flush (self);
        //  renewed last in the turn: a leader that was paused does the
        //  turn's writes first, and the fence refuses them if it lost
        if (store_fenced (self->store)) {
            self->fenced_count++;
            s_step_down (self, "a write was refused by the fence: another instance leads");
        }
        else
        if (now >= self->next_lead) {
            s_lead (self);
            self->next_lead = now + self->lead_ms / 3;
        }
        if (instance_due (self->beat, now))
            s_beat (self);
    }
    //  a clean stop: no unit is ready through us any more, so new cases wait
    //  for the next dispatch instead of being offered where nobody sends;
    //  the lease goes at once, so a standby need not wait for it to run out
    if (self->leader && self->started)
        json_decref (store_callv (self->store, "gc_units_reset", self->answer_ms, self->retry_ms, NULL));
    if (self->leader)
        json_decref (store_callv (self->store, "gc_resign", self->instance, self->epoch, NULL));
    log_notice ("dispatch: stopping; %llu offers sent, %llu unit replies, %llu refused, "
                "%llu sessions ended", (unsigned long long) self->offers_sent,
                (unsigned long long) dispatch_reply_committed (self->replies),
                (unsigned long long) (self->refused + dispatch_reply_refused (self->replies)),
                (unsigned long long) self->gone_count);
    return 0;
}
