/*  unitkit.c — the unit side of the unit protocol as a small state machine:
    DISCONNECTED -> HELLO (hello sent) -> READY (welcomed), back to
    DISCONNECTED when dispatch goes silent, refuses us or forgets us.
    Replies live in an outbox until dispatch acknowledges them. */
#include "unitkit.h"

#include <signal.h>
#include <stdarg.h>
#include <string.h>

#include "unitkit_wire.h"

#define UNITKIT_MSG_MAX (256 * 1024)    //  largest message we accept
#define UNITKIT_DRAIN_MAX 100           //  messages handled per unitkit_handle

typedef enum { S_DISCONNECTED, S_HELLO, S_READY } s_state_t;
typedef enum { R_ACCEPT, R_DECLINE, R_PROGRESS, R_RESOLVE, R_EXTEND } s_kind_t;
static const char *s_kind_names [] = { "accept", "decline", "progress", "resolve", "extend" };

//  One reply waiting for dispatch's acknowledgement.
typedef struct {
    s_kind_t kind;              //  which reply
    char *offer_id;             //  the offer it answers
    char *case_id;              //  the case of that offer
    int reason;                 //  decline reason
    int64_t until_ms;           //  extend: the deadline asked for
    char *text;                 //  decline or progress note, resolve summary, extend reason
    bool sent;                  //  sent in this session, ack not yet seen
    int64_t send_at;            //  earliest time to send it (retry after UNAVAILABLE)
} s_reply_t;

struct _unitkit_t {
    char *endpoint;             //  dispatch's unit ROUTER, or a comma-separated list
    char **endpoints;           //  the list: one leads, the others refuse hello
    size_t endpoint_count;
    size_t cursor;              //  the one this session uses
    char *unit_id;              //  our id in the directory
    zsock_t *sock;              //  DEALER, or NULL while disconnected
    bool sock_changed;          //  sock replaced since the caller last asked
    bool handling;              //  inside unitkit_handle: a callback's tick does not re-enter
    s_state_t state;            //  where the conversation is
    int heartbeat_ms;           //  interval, from Welcome
    int backoff_ms;             //  next reconnect delay
    int64_t reconnect_at;       //  when to connect again (DISCONNECTED)
    int64_t last_recv;          //  last message from dispatch (or hello sent)
    int64_t last_send;          //  last message to dispatch
    zlistx_t *outbox;           //  s_reply_t, oldest first
    unitkit_offer_fn *offer_fn; //  offer callback
    void *offer_arg;            //  its argument
    unitkit_event_fn *event_fn; //  event callback
    void *event_arg;            //  its argument
    char **claim_categories;    //  hello claims (NULL: the directory record's)
    size_t claim_category_count;
    char **claim_grids;
    size_t claim_grid_count;
    unsigned claim_capacity;    //  0: the directory's capacity
    unitkit_log_fn *log_fn;     //  log hook, or NULL to drop lines
    void *log_arg;              //  its argument
    unitkit_log_level_t log_level;  //  lines below it are not even formatted
    zcert_t *cert;              //  our certificate, or NULL: no CURVE
    char server_key [41];       //  dispatch's public key (Z85)
};

//  Check the level before formatting, like the cluster's log macros.
#define s_log(self, lvl, ...) \
    do { if ((self)->log_fn && (lvl) >= (self)->log_level) \
             s_log_write (self, lvl, __VA_ARGS__); } while (0)

static void s_log_write (const unitkit_t *self, unitkit_log_level_t level, const char *fmt, ...)
    __attribute__ ((format (printf, 3, 4)));

static void
s_log_write (const unitkit_t *self, unitkit_log_level_t level, const char *fmt, ...)
{
    char line [1024];
    int n = snprintf (line, sizeof line, "unitkit %s: ", self->unit_id);
    if (n < 0 || (size_t) n >= sizeof line)
        n = (int) sizeof line - 1;      //  the prefix filled the line
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (line + n, sizeof line - n, fmt, ap);
    va_end (ap);
    self->log_fn (self, level, line, self->log_arg);
}

//  The default hook: one line on stderr.
static void
s_log_stderr (const unitkit_t *unit, unitkit_log_level_t level, const char *line, void *arg)
{
    (void) unit;
    (void) arg;
    static const char *names [] = { "DEBUG", "INFO", "NOTICE", "WARNING", "ERROR" };
    fprintf (stderr, "%s %s\n", names [level], line);
}

static void
s_strings_free (char ***list_p, size_t *count)
{
    for (size_t i = 0; *list_p && i < *count; i++)
        free ((*list_p) [i]);
    free (*list_p);
    *list_p = NULL;
    *count = 0;
}

//  Copy a NULL-terminated list; count set. Returns 0 or -1.
static int
s_strings_set (char ***list_p, size_t *count, const char **list)
{
    s_strings_free (list_p, count);
    size_t n = 0;
    while (list && list [n])
        n++;
    if (n == 0)
        return 0;
    *list_p = calloc (n, sizeof (char *));
    if (!*list_p)
        return -1;
    for (size_t i = 0; i < n; i++)
        if (!((*list_p) [i] = strdup (list [i]))) {
            *count = i;
            s_strings_free (list_p, count);
            return -1;
        }
    *count = n;
    return 0;
}

static void
s_reply_destroy (void **item_p)
{
    s_reply_t *reply = (s_reply_t *) *item_p;
    if (reply) {
        free (reply->offer_id);
        free (reply->case_id);
        free (reply->text);
        free (reply);
        *item_p = NULL;
    }
}

static void
s_emit (unitkit_t *self, unitkit_event_t *event)
{
    if (self->event_fn)
        self->event_fn (self, event, self->event_arg);
}

//  Open a new DEALER, connect it and say hello. Returns 0 or -1.
static int
s_connect (unitkit_t *self)
{
    self->sock = zsock_new (ZMQ_DEALER);
    self->sock_changed = true;
    if (!self->sock)
        return -1;
    //  never block the loop on a full or unconnected pipe
    zsock_set_sndtimeo (self->sock, 0);
    zsock_set_linger (self->sock, 0);
    zsock_set_maxmsgsize (self->sock, UNITKIT_MSG_MAX + 1024);
    zsock_set_heartbeat_ivl (self->sock, self->heartbeat_ms);
    zsock_set_heartbeat_timeout (self->sock, self->heartbeat_ms * UNITKIT_LIVENESS);
    if (self->cert) {
        zcert_apply (self->cert, self->sock);
        zsock_set_curve_serverkey (self->sock, self->server_key);
    }
    const char *endpoint = self->endpoints [self->cursor];
    if (zsock_connect (self->sock, "%s", endpoint) < 0) {
        s_log (self, UNITKIT_LOG_ERROR, "connect() \"%s\" failed: %s", endpoint,
                   zmq_strerror (zmq_errno ()));
        zsock_destroy (&self->sock);
        return -1;
    }
    Gridcall__V1__Hello hello = GRIDCALL__V1__HELLO__INIT;
    hello.unit_id = self->unit_id;
    hello.protocol = UNITKIT_PROTOCOL;
    hello.categories = self->claim_categories;
    hello.n_categories = self->claim_category_count;
    hello.grids = self->claim_grids;
    hello.n_grids = self->claim_grid_count;
    hello.capacity = self->claim_capacity;
    unitkit_wire_send (self->sock, "hello", &hello.base);
    self->state = S_HELLO;
    self->last_recv = self->last_send = zclock_mono ();
    s_log (self, UNITKIT_LOG_DEBUG, "hello to %s", endpoint);
    return 0;
}

//  Drop the socket and schedule a reconnect after the back-off.
static void
s_disconnect (unitkit_t *self)
{
    zsock_destroy (&self->sock);
    self->sock_changed = true;
    self->state = S_DISCONNECTED;
    //  up to a quarter more, so a hundred units do not all come back at once
    self->reconnect_at = zclock_mono () + self->backoff_ms + randof (self->backoff_ms / 4 + 1);
    //  the next endpoint of the list; the delay doubles once the list is round
    self->cursor = (self->cursor + 1) % self->endpoint_count;
    s_log (self, UNITKIT_LOG_DEBUG, "reconnect to %s in %d ms", self->endpoints [self->cursor],
           self->backoff_ms);
    if (self->cursor == 0)
        self->backoff_ms = self->backoff_ms * 2 > UNITKIT_BACKOFF_MAX_MS
                         ? UNITKIT_BACKOFF_MAX_MS : self->backoff_ms * 2;
    //  whatever was in flight is resent in the next session
    for (s_reply_t *r = zlistx_first (self->outbox); r; r = zlistx_next (self->outbox)) {
        r->sent = false;
        r->send_at = 0;
    }
}

//  Load dispatch's public key (Z85 text or a certificate file) and our
//  secret certificate. Returns 0, or -1 with the reason on stderr.
static int
s_keys_load (unitkit_t *self, const char *server_key, const char *cert_file)
{
    static const uint8_t zero [32] = { 0 };
    zcert_t *server = NULL;
    if (server_key && strlen (server_key) == 40) {
        uint8_t bin [32];
        if (zmq_z85_decode (bin, server_key))
            snprintf (self->server_key, sizeof self->server_key, "%s", server_key);
    }
    else
    if (server_key && *server_key && (server = zcert_load (server_key)))
        snprintf (self->server_key, sizeof self->server_key, "%s", zcert_public_txt (server));
    zcert_destroy (&server);
    if (!*self->server_key) {
        fprintf (stderr, "unitkit %s: server key \"%s\" is neither a Z85 key nor a certificate "
                 "file\n", self->unit_id, server_key ? server_key : "");
        return -1;
    }
    self->cert = cert_file && *cert_file ? zcert_load (cert_file) : NULL;
    if (!self->cert || memcmp (zcert_secret_key (self->cert), zero, 32) == 0) {
        fprintf (stderr, "unitkit %s: %s is not a secret certificate (gridcall keys new %s)\n",
                 self->unit_id, cert_file ? cert_file : "(none)", self->unit_id);
        zcert_destroy (&self->cert);
        return -1;
    }
    return 0;
}

//  Split the endpoint option at commas (in place: the list points into
//  self->endpoint). Returns 0, or -1 out of memory or on an empty list.
static int
s_endpoints_split (unitkit_t *self)
{
    size_t count = 1;
    for (const char *c = self->endpoint; *c; c++)
        count += *c == ',';
    self->endpoints = calloc (count, sizeof (char *));
    if (!self->endpoints)
        return -1;
    char *save = NULL;
    for (char *one = strtok_r (self->endpoint, ",", &save); one; one = strtok_r (NULL, ",", &save))
        self->endpoints [self->endpoint_count++] = one;
    return self->endpoint_count ? 0 : -1;
}

//  Both constructors: keys when server_key is given, then connect.
static unitkit_t *
s_new (const char *endpoint, const char *unit_id, const char *server_key, const char *cert_file)
{
    //  dispatch takes ids of at most UNITKIT_ID_MAX bytes
    if (!endpoint || !*endpoint || !unit_id || !*unit_id || strlen (unit_id) > UNITKIT_ID_MAX)
        return NULL;
    //  a peer that goes away must not kill the unit's process with SIGPIPE
    signal (SIGPIPE, SIG_IGN);
    unitkit_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->unit_id = strdup (unit_id);
    if (self->endpoint && s_endpoints_split (self)) {
        unitkit_destroy (&self);
        return NULL;
    }
    self->outbox = zlistx_new ();
    self->heartbeat_ms = UNITKIT_HEARTBEAT_MS;
    self->backoff_ms = UNITKIT_BACKOFF_MIN_MS;
    self->log_fn = s_log_stderr;
    self->log_level = UNITKIT_LOG_WARNING;
    if (self->outbox)
        zlistx_set_destructor (self->outbox, s_reply_destroy);
    if (!self->endpoint || !self->unit_id || !self->outbox
    ||  (server_key && s_keys_load (self, server_key, cert_file)) || s_connect (self)) {
        unitkit_destroy (&self);
        return NULL;
    }
    return self;
}

unitkit_t *
unitkit_new (const char *endpoint, const char *unit_id)
{
    return s_new (endpoint, unit_id, NULL, NULL);
}

unitkit_t *
unitkit_new_curve (const char *endpoint, const char *unit_id, const char *server_key,
                   const char *cert_file)
{
    return s_new (endpoint, unit_id, server_key ? server_key : "", cert_file);
}

void
unitkit_destroy (unitkit_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    unitkit_t *self = *self_p;
    if (self->sock && self->state == S_READY) {
        Gridcall__V1__Heartbeat bye = GRIDCALL__V1__HEARTBEAT__INIT;
        zsock_set_linger (self->sock, 500);
        unitkit_wire_send (self->sock, "bye", &bye.base);
    }
    zsock_destroy (&self->sock);
    zcert_destroy (&self->cert);
    zlistx_destroy (&self->outbox);
    s_strings_free (&self->claim_categories, &self->claim_category_count);
    s_strings_free (&self->claim_grids, &self->claim_grid_count);
    free (self->unit_id);
    free (self->endpoints);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

int
unitkit_set_claims (unitkit_t *self, const char **categories, const char **grids,
                    unsigned capacity)
{
    if (!self)
        return -1;
    self->claim_capacity = capacity;
    if (s_strings_set (&self->claim_categories, &self->claim_category_count, categories)
    ||  s_strings_set (&self->claim_grids, &self->claim_grid_count, grids))
        return -1;
    return 0;
}

void
unitkit_set_offer_handler (unitkit_t *self, unitkit_offer_fn *fn, void *arg)
{
    if (!self)
        return;
    self->offer_fn = fn;
    self->offer_arg = arg;
}

void
unitkit_set_event_handler (unitkit_t *self, unitkit_event_fn *fn, void *arg)
{
    if (!self)
        return;
    self->event_fn = fn;
    self->event_arg = arg;
}

void
unitkit_set_log_handler (unitkit_t *self, unitkit_log_level_t level, unitkit_log_fn *fn,
                         void *arg)
{
    if (!self)
        return;
    self->log_fn = fn;
    self->log_arg = arg;
    self->log_level = level;
}

void
unitkit_set_heartbeat (unitkit_t *self, int heartbeat_ms)
{
    if (self && heartbeat_ms > 0)
        self->heartbeat_ms = heartbeat_ms;
}

//  Put one reply on the wire. Returns 0, or -1 when the socket refused it.
static int
s_reply_send (unitkit_t *self, s_reply_t *r)
{
    int rc;
    if (r->kind == R_ACCEPT) {
        Gridcall__V1__Accept m = GRIDCALL__V1__ACCEPT__INIT;
        m.offer_id = r->offer_id;
        m.case_id = r->case_id;
        rc = unitkit_wire_send (self->sock, "accept", &m.base);
    }
    else
    if (r->kind == R_DECLINE) {
        Gridcall__V1__Decline m = GRIDCALL__V1__DECLINE__INIT;
        m.offer_id = r->offer_id;
        m.case_id = r->case_id;
        m.reason = r->reason;
        m.note = r->text;
        rc = unitkit_wire_send (self->sock, "decline", &m.base);
    }
    else
    if (r->kind == R_PROGRESS) {
        Gridcall__V1__Progress m = GRIDCALL__V1__PROGRESS__INIT;
        m.offer_id = r->offer_id;
        m.case_id = r->case_id;
        m.note = r->text;
        rc = unitkit_wire_send (self->sock, "progress", &m.base);
    }
    else
    if (r->kind == R_RESOLVE) {
        Gridcall__V1__Resolve m = GRIDCALL__V1__RESOLVE__INIT;
        m.offer_id = r->offer_id;
        m.case_id = r->case_id;
        m.summary = r->text;
        rc = unitkit_wire_send (self->sock, "resolve", &m.base);
    }
    else {
        Gridcall__V1__ExtendRequest m = GRIDCALL__V1__EXTEND_REQUEST__INIT;
        m.offer_id = r->offer_id;
        m.case_id = r->case_id;
        m.until_ms = r->until_ms;
        m.reason = r->text;
        rc = unitkit_wire_send (self->sock, "extend", &m.base);
    }
    int64_t now = zclock_mono ();
    if (rc == 0) {
        r->sent = true;
        self->last_send = now;
        s_log (self, UNITKIT_LOG_DEBUG, "-> %s %s (case %s)", s_kind_names [r->kind], r->offer_id,
               r->case_id);
    }
    else
        r->send_at = now + self->heartbeat_ms;
    return rc;
}

//  Send every unsent reply that is due, oldest first. A reply waits while an
//  older reply to the same offer waits, so one offer's replies keep their order.
static void
s_outbox_flush (unitkit_t *self)
{
    if (self->state != S_READY || zlistx_size (self->outbox) == 0)
        return;
    int64_t now = zclock_mono ();
    zlistx_t *waiting = zlistx_new ();      //  offer ids held back, borrowed
    for (s_reply_t *r = zlistx_first (self->outbox); r; r = zlistx_next (self->outbox)) {
        if (r->sent)
            continue;
        bool blocked = r->send_at > now;
        for (char *id = zlistx_first (waiting); id && !blocked; id = zlistx_next (waiting))
            blocked = streq (id, r->offer_id);
        if (blocked || s_reply_send (self, r))
            zlistx_add_end (waiting, r->offer_id);
    }
    zlistx_destroy (&waiting);
}

//  Queue a reply and send it now if we can. Returns 0 or -1.
static int
s_reply (unitkit_t *self, s_kind_t kind, const char *offer_id, const char *case_id,
         int reason, int64_t until_ms, const char *text)
{
    if (!self)
        return -1;
    const char *why = !offer_id || !*offer_id || !case_id || !*case_id ? "empty offer or case id"
                    : strlen (offer_id) > UNITKIT_ID_MAX || strlen (case_id) > UNITKIT_ID_MAX
                    ? "offer or case id too long"
                    : text && strlen (text) > UNITKIT_NOTE_MAX ? "note too long"
                    : kind == R_EXTEND && (until_ms <= 0 || !text || !*text)
                    ? "an extension needs a deadline and a reason" : NULL;
    if (why) {
        s_log (self, UNITKIT_LOG_WARNING, "%s() refused: %s", s_kind_names [kind], why);
        return -1;
    }
    if (zlistx_size (self->outbox) >= UNITKIT_OUTBOX_MAX) {
        s_log (self, UNITKIT_LOG_WARNING, "%s() refused: outbox full", s_kind_names [kind]);
        return -1;
    }
    s_reply_t *r = calloc (1, sizeof *r);
    if (!r)
        return -1;
    r->kind = kind;
    r->reason = reason;
    r->until_ms = until_ms;
    r->offer_id = strdup (offer_id);
    r->case_id = strdup (case_id);
    r->text = strdup (text ? text : "");
    if (!r->offer_id || !r->case_id || !r->text || !zlistx_add_end (self->outbox, r)) {
        s_reply_destroy ((void **) &r);
        return -1;
    }
    s_outbox_flush (self);
    return 0;
}

int
unitkit_accept (unitkit_t *self, const char *offer_id, const char *case_id)
{
    return s_reply (self, R_ACCEPT, offer_id, case_id, 0, 0, NULL);
}

int
unitkit_decline (unitkit_t *self, const char *offer_id, const char *case_id,
                 int reason, const char *note)
{
    return s_reply (self, R_DECLINE, offer_id, case_id, reason, 0, note);
}

int
unitkit_progress (unitkit_t *self, const char *offer_id, const char *case_id, const char *note)
{
    return s_reply (self, R_PROGRESS, offer_id, case_id, 0, 0, note);
}

int
unitkit_resolve (unitkit_t *self, const char *offer_id, const char *case_id, const char *summary)
{
    return s_reply (self, R_RESOLVE, offer_id, case_id, 0, 0, summary);
}

int
unitkit_extend (unitkit_t *self, const char *offer_id, const char *case_id, int64_t until_ms,
                const char *reason)
{
    return s_reply (self, R_EXTEND, offer_id, case_id, 0, until_ms, reason);
}

//  The oldest reply in flight for this offer id, or for any offer when the
//  id is empty. Dispatch answers one connection's messages in order, so that
//  is the one being answered.
static s_reply_t *
s_outbox_match (unitkit_t *self, const char *offer_id)
{
    for (s_reply_t *r = zlistx_first (self->outbox); r; r = zlistx_next (self->outbox))
        if (r->sent && (!*offer_id || streq (r->offer_id, offer_id)))
            return r;
    return NULL;
}

//  "ok": dispatch committed the oldest reply in flight for this offer.
static void
s_on_ack (unitkit_t *self, const Gridcall__V1__UnitAck *ack)
{
    s_reply_t *r = s_outbox_match (self, ack->offer_id);
    if (!r) {
        s_log (self, UNITKIT_LOG_DEBUG, "ok for offer \"%s\" matches no reply", ack->offer_id);
        return;
    }
    void *handle = zlistx_cursor (self->outbox);
    unitkit_event_t event = { .type = UNITKIT_ACKED, .kind = s_kind_names [r->kind],
        .offer_id = r->offer_id, .case_id = r->case_id, .state = ack->state,
        .duplicate = ack->duplicate, .role = ack->role, .waiting_for = ack->waiting_for };
    s_emit (self, &event);
    zlistx_delete (self->outbox, handle);
}

//  "error" in READY: without a ref, PROTOCOL or UNKNOWN_UNIT means dispatch
//  does not know this connection (it restarted, or expired us): hello again.
//  Anything else refuses the oldest reply in flight for ref's offer.
static void
s_on_error (unitkit_t *self, const Gridcall__V1__Error *error)
{
    //  UNAVAILABLE without a ref: this dispatch stopped leading (another
    //  instance took the lease); the next endpoint of the list may lead
    if (!*error->ref && (error->code == GRIDCALL__V1__ERROR_CODE__ERROR_PROTOCOL
                     ||  error->code == GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_UNIT
                     ||  error->code == GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE)) {
        s_log (self, UNITKIT_LOG_NOTICE, "dispatch lost our session: %s, reconnecting",
               error->message);
        unitkit_event_t event = { .type = UNITKIT_LOST, .code = error->code,
                                  .message = error->message };
        s_disconnect (self);
        s_emit (self, &event);
        return;
    }
    s_reply_t *r = s_outbox_match (self, error->ref);
    if (!r) {
        s_log (self, UNITKIT_LOG_WARNING, "dispatch error %s for \"%s\": %s",
               unitkit_wire_error_name (error->code), error->ref, error->message);
        return;
    }
    if (error->code == GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE) {
        //  dispatch could not commit it now: same reply again in a while
        s_log (self, UNITKIT_LOG_NOTICE, "%s offer %s: dispatch unavailable, retrying",
               s_kind_names [r->kind], r->offer_id);
        r->sent = false;
        r->send_at = zclock_mono () + self->heartbeat_ms;
        return;
    }
    s_log (self, UNITKIT_LOG_WARNING, "%s offer %s case %s refused: %s: %s",
           s_kind_names [r->kind], r->offer_id, r->case_id,
           unitkit_wire_error_name (error->code), error->message);
    void *handle = zlistx_cursor (self->outbox);
    unitkit_event_t event = { .type = UNITKIT_REFUSED, .kind = s_kind_names [r->kind],
        .offer_id = r->offer_id, .case_id = r->case_id, .code = error->code,
        .message = error->message };
    s_emit (self, &event);
    zlistx_delete (self->outbox, handle);
}

static void
s_on_offer (unitkit_t *self, const Gridcall__V1__Offer *offer)
{
    if (!*offer->offer_id || !*offer->case_id) {
        s_log (self, UNITKIT_LOG_WARNING, "offer without offer_id or case_id ignored");
        return;
    }
    if (self->offer_fn)
        self->offer_fn (self, offer, self->offer_arg);
    else
        unitkit_decline (self, offer->offer_id, offer->case_id,
                         GRIDCALL__V1__DECLINE_REASON__DECLINE_OTHER, "no offer handler");
}

//  "withdrawn": the case is no longer ours. Replies to its offer not yet
//  sent are dropped (dispatch would refuse them); one in flight gets its
//  answer as usual.
static void
s_on_withdrawn (unitkit_t *self, const Gridcall__V1__Withdrawn *withdrawn)
{
    if (!*withdrawn->offer_id || !*withdrawn->case_id) {
        s_log (self, UNITKIT_LOG_WARNING, "withdrawn without offer_id or case_id ignored");
        return;
    }
    s_reply_t *r = zlistx_first (self->outbox);
    while (r) {
        void *handle = zlistx_cursor (self->outbox);
        s_reply_t *next = zlistx_next (self->outbox);
        if (!r->sent && streq (r->offer_id, withdrawn->offer_id))
            zlistx_delete (self->outbox, handle);
        r = next;
    }
    s_log (self, UNITKIT_LOG_INFO, "case %s (offer %s) withdrawn: %s", withdrawn->case_id,
           withdrawn->offer_id, withdrawn->note);
    unitkit_event_t event = { .type = UNITKIT_WITHDRAWN, .offer_id = withdrawn->offer_id,
        .case_id = withdrawn->case_id, .reason = withdrawn->reason, .state = withdrawn->state,
        .tier = withdrawn->tier, .message = withdrawn->note };
    s_emit (self, &event);
}

//  One message from dispatch: the unit side of the state table.
static void
s_on_message (unitkit_t *self, unitkit_wire_msg_t *msg)
{
    self->last_recv = zclock_mono ();
    if (!msg->body) {
        s_log (self, UNITKIT_LOG_WARNING, "bad message \"%s\" from dispatch: %s", msg->type,
               msg->reason);
        return;
    }
    const char *type = msg->type;
    if (!streq (type, "heartbeat"))
        s_log (self, UNITKIT_LOG_DEBUG, "<- %s", type);
    if (self->state == S_HELLO && streq (type, "welcome")) {
        Gridcall__V1__Welcome *welcome = (Gridcall__V1__Welcome *) msg->body;
        self->state = S_READY;
        self->backoff_ms = UNITKIT_BACKOFF_MIN_MS;
        if (welcome->heartbeat_ms >= 10 && welcome->heartbeat_ms <= 60000)
            self->heartbeat_ms = (int) welcome->heartbeat_ms;
        s_log (self, UNITKIT_LOG_INFO, "welcome, heartbeat %d ms, %zu held cases, %zu replies to resend",
               self->heartbeat_ms, welcome->n_held_cases, zlistx_size (self->outbox));
        unitkit_event_t event = { .type = UNITKIT_WELCOME,
            .held_cases = welcome->held_cases, .held_count = welcome->n_held_cases };
        s_emit (self, &event);
        s_outbox_flush (self);
    }
    else
    if (self->state == S_HELLO && streq (type, "error")) {
        Gridcall__V1__Error *error = (Gridcall__V1__Error *) msg->body;
        s_log (self, UNITKIT_LOG_WARNING, "hello refused: %s: %s",
               unitkit_wire_error_name (error->code), error->message);
        unitkit_event_t event = { .type = UNITKIT_REJECTED, .code = error->code,
                                  .message = error->message };
        s_disconnect (self);
        s_emit (self, &event);
    }
    else
    if (streq (type, "heartbeat"))
        ;                       //  liveness only
    else
    if (self->state == S_READY && streq (type, "offer"))
        s_on_offer (self, (Gridcall__V1__Offer *) msg->body);
    else
    if (self->state == S_READY && streq (type, "withdrawn"))
        s_on_withdrawn (self, (Gridcall__V1__Withdrawn *) msg->body);
    else
    if (self->state == S_READY && streq (type, "ok"))
        s_on_ack (self, (Gridcall__V1__UnitAck *) msg->body);
    else
    if (self->state == S_READY && streq (type, "error"))
        s_on_error (self, (Gridcall__V1__Error *) msg->body);
    else
        s_log (self, UNITKIT_LOG_WARNING, "\"%s\" out of turn ignored", type);
}

int
unitkit_handle (unitkit_t *self)
{
    if (!self)
        return -1;
    if (self->handling)
        return 0;               //  called from a callback: the outer call reads on
    self->handling = true;
    for (int i = 0; i < UNITKIT_DRAIN_MAX && self->sock
                    && (zsock_events (self->sock) & ZMQ_POLLIN); i++) {
        unitkit_wire_msg_t msg;
        zsock_t *sock = self->sock;
        if (unitkit_wire_recv (sock, UNITKIT_MSG_MAX, &msg) == 0)
            s_on_message (self, &msg);
        unitkit_wire_msg_reset (&msg);
        if (self->sock != sock)
            break;              //  the session ended inside the handler
    }
    self->handling = false;
    return 0;
}

int
unitkit_tick (unitkit_t *self)
{
    if (!self)
        return -1;
    //  what waits in the socket counts before silence is declared: an
    //  application busy for a while has answers waiting, not a dead peer
    if (self->sock && (zsock_events (self->sock) & ZMQ_POLLIN))
        unitkit_handle (self);
    int64_t now = zclock_mono ();
    if (self->state == S_DISCONNECTED) {
        if (now >= self->reconnect_at && s_connect (self))
            s_disconnect (self);
        if (self->state == S_DISCONNECTED)
            return (int) (self->reconnect_at - now);
    }
    int64_t expires = self->last_recv + (int64_t) self->heartbeat_ms * UNITKIT_LIVENESS;
    if (now >= expires) {
        unitkit_event_t event = { .type = UNITKIT_LOST,
            .message = self->state == S_READY ? "dispatch went silent" : "no answer to hello" };
        s_log (self, UNITKIT_LOG_NOTICE, "%s, reconnecting", event.message);
        s_disconnect (self);
        s_emit (self, &event);
        return (int) (self->reconnect_at - now);
    }
    int64_t next = expires;
    if (self->state == S_READY) {
        if (now - self->last_send >= self->heartbeat_ms) {
            Gridcall__V1__Heartbeat heartbeat = GRIDCALL__V1__HEARTBEAT__INIT;
            unitkit_wire_send (self->sock, "heartbeat", &heartbeat.base);
            self->last_send = now;
        }
        if (self->last_send + self->heartbeat_ms < next)
            next = self->last_send + self->heartbeat_ms;
        s_outbox_flush (self);
        for (s_reply_t *r = zlistx_first (self->outbox); r; r = zlistx_next (self->outbox))
            if (!r->sent && r->send_at > now && r->send_at < next)
                next = r->send_at;
    }
    return next > now ? (int) (next - now) : 0;
}

int
unitkit_poll (unitkit_t *self, int timeout_ms)
{
    if (!self)
        return -1;
    int wait = unitkit_tick (self);
    if (timeout_ms >= 0 && timeout_ms < wait)
        wait = timeout_ms;
    zmq_pollitem_t item = { self->sock ? zsock_resolve (self->sock) : NULL, 0, ZMQ_POLLIN, 0 };
    int rc = zmq_poll (&item, self->sock ? 1 : 0, wait);
    if (rc < 0 || zsys_interrupted)
        return -1;
    unitkit_handle (self);
    unitkit_tick (self);
    return 0;
}

zsock_t *
unitkit_socket (unitkit_t *self)
{
    return self ? self->sock : NULL;
}

bool
unitkit_socket_changed (unitkit_t *self)
{
    if (!self)
        return false;
    bool changed = self->sock_changed;
    self->sock_changed = false;
    return changed;
}

bool
unitkit_connected (const unitkit_t *self)
{
    return self && self->state == S_READY;
}

const char *
unitkit_id (const unitkit_t *self)
{
    return self ? self->unit_id : NULL;
}

size_t
unitkit_outbox_size (const unitkit_t *self)
{
    return self ? zlistx_size (self->outbox) : 0;
}
