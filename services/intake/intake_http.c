/*  intake_http.c — intake's HTTP doors: the libmicrohttpd server (a thread
    per connection, bounded bodies, the header deadline of httpd.h, a cap
    per client address), API keys, the rate limit, and the native JSON API
    (/api/v1). Each write becomes the wire's protobuf request and goes to
    the intake loop over an inproc DEALER of its connection's thread, with
    the "sha256:<hex>" id of its API key as a last frame; the loop answers
    it like a ZeroMQ reporter (report.ok, ack or error). */
#include "intake_http.h"

#include <arpa/inet.h>
#include <czmq.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <sodium.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "httpd.h"
#include "intake_media.h"
#include "intake_open311.h"
#include "log.h"
#include "store.h"

#define HTTP_MEMORY_LIMIT (32 * 1024)   //  per-connection pool: request line and headers
#define FORM_FIELDS_MAX 64              //  form fields one request may send
#define FORM_VALUE_MAX 8192             //  bytes of one form value
#define BODY_RATE_MIN 16384             //  bytes/s a body's deadline allows beyond its base
#define PRINCIPALS_CHECK_MS 1000        //  the principals file is looked at this often
#define JSON_TYPE "application/json; charset=utf-8"
#define LEASE_MAX 32                    //  requests of a key's window taken from Redis at once
#define LEASES_MAX 10000                //  keys whose taken requests are kept
#define CALL_SLICE_MS 100               //  a call's wait, in slices that notice a stop
#define DRAIN_MS 1000                   //  longest wait for the requests in hand at a stop

struct _intake_http_t {
    struct MHD_Daemon *daemon;
    httpd_watch_t *watch;       //  the header deadline
    char *endpoint;             //  the loop's inproc ROUTER
    size_t body_max;
    long long body_ms;          //  a body is due this long after its headers
    size_t media_max;
    char *media_dir;
    char *media_base;
    char rate_limit [24];
    char rate_window_ms [24];
    int lease;                  //  requests taken from the window per Redis call
    zhashx_t *leases;           //  key id -> s_lease_t
    int port;
    pthread_mutex_t lock;       //  guards store, the principals and the directory cache
    store_t *store;             //  reads and the rate limit
    char *principals_path;      //  "" without a principals file
    auth_principals_t *principals;
    struct timespec principals_mtime;
    int64_t principals_checked;
    json_t *directory;          //  the directory as loaded, and its version
    long long directory_version;
    int64_t directory_checked;
    metric_t *requests;
    metric_t *refused;
    atomic_bool stopping;       //  intake's loop stopped: nothing more is taken
    atomic_int active;          //  requests begun and not yet answered to the end
};

//  Requests of one key's rate-limit window taken from Redis ahead.
typedef struct {
    int left;                   //  not spent yet
    int64_t until;              //  monotonic ms its window ends
} s_lease_t;

//  A connection: its header watch and, once it made a call, its DEALER.
typedef struct {
    void *watch;
    zsock_t *dealer;
} s_conn_t;

//  A request while its body arrives.
typedef struct {
    intake_door_req_t req;
    struct MHD_PostProcessor *pp;
    char *body;
    size_t len, cap, max;
    size_t read;                //  body bytes that arrived, form bodies included
    char *file;                 //  a multipart file part
    size_t file_len, file_cap;
    int refuse;                 //  an HTTP status found while the body arrived, or 0
    const char *refuse_code;
    char refuse_message [160];
} s_request_t;

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  ---------------------------------------------------------------------
//  Answers

int
intake_http_status (int code)
{
    switch (code) {
        case GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_CASE:
            return MHD_HTTP_NOT_FOUND;
        case GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED:
            return MHD_HTTP_FORBIDDEN;
        case GRIDCALL__V1__ERROR_CODE__ERROR_WRONG_STATE:
        case GRIDCALL__V1__ERROR_CODE__ERROR_STALE:
        case GRIDCALL__V1__ERROR_CODE__ERROR_CONFLICT:
            return MHD_HTTP_CONFLICT;
        case GRIDCALL__V1__ERROR_CODE__ERROR_TOO_LARGE:
            return MHD_HTTP_CONTENT_TOO_LARGE;
        case GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE:
            return MHD_HTTP_SERVICE_UNAVAILABLE;
        case GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL:
            return MHD_HTTP_INTERNAL_SERVER_ERROR;
        default:
            return MHD_HTTP_BAD_REQUEST;
    }
}

//  Set req's answer to body as JSON (decref'd).
static void
s_json (intake_door_req_t *req, int status, json_t *body)
{
    //  15 digits: a point filed as 39.805358 reads back so, not 39.805357999999998
    char *text = body ? json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (15)) : NULL;
    json_decref (body);
    free (req->answer);
    req->answer = text;
    req->answer_len = text ? strlen (text) : 0;
    req->answer_type = JSON_TYPE;
    req->status = text ? status : MHD_HTTP_INTERNAL_SERVER_ERROR;
}

//  An error of the JSON API: {"ok":false,"code":CODE,"message":...}.
static void
s_error (intake_door_req_t *req, int status, const char *code, const char *fmt, ...)
{
    char message [512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (message, sizeof message, fmt, ap);
    va_end (ap);
    s_json (req, status, json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", code, "message", message));
}

void
intake_http_random_key (char *key, size_t keylen)
{
    unsigned char raw [16];
    char hex [2 * sizeof raw + 1];
    randombytes_buf (raw, sizeof raw);
    sodium_bin2hex (hex, sizeof hex, raw, sizeof raw);
    snprintf (key, keylen, "http-%s", hex);
}

//  ---------------------------------------------------------------------
//  Principals, the rate limit, reads

static void
s_lease_free (void **item)
{
    free (*item);
    *item = NULL;
}

//  Reload the principals file when it changed (under lock).
static void
s_principals_tick (intake_http_t *self)
{
    if (!*self->principals_path)
        return;
    int64_t now = s_mono_ms ();
    if (self->principals && now - self->principals_checked < PRINCIPALS_CHECK_MS)
        return;
    self->principals_checked = now;
    struct stat st;
    if (stat (self->principals_path, &st))
        return;                 //  the keys in force stay (intake's loop logs it)
    if (self->principals && st.st_mtim.tv_sec == self->principals_mtime.tv_sec
    &&  st.st_mtim.tv_nsec == self->principals_mtime.tv_nsec)
        return;
    char err [512];
    auth_principals_t *fresh = auth_principals_load (self->principals_path, err, sizeof err);
    if (!fresh)
        return;                 //  the loop logs a bad file; the keys in force stay
    auth_principals_destroy (&self->principals);
    self->principals = fresh;
    self->principals_mtime = st.st_mtim;
}

//  Fill req's key and principal from its API key (Authorization: Bearer,
//  X-Api-Key, or the api_key argument Open311 clients send).
static void
s_identify (intake_http_t *self, intake_door_req_t *req, const char *key)
{
    req->key_known = false;
    *req->key_id = 0;
    if (!key || auth_api_key_id (key, req->key_id, sizeof req->key_id))
        return;
    pthread_mutex_lock (&self->lock);
    s_principals_tick (self);
    const auth_principal_t *p = auth_principals_find (self->principals, req->key_id);
    if (p) {
        req->key_known = true;
        req->role = p->role;
        snprintf (req->label, sizeof req->label, "%s", p->label);
        req->channel = p->role == AUTH_ROLE_GATEWAY && p->scope_count
                     ? codec_channel_parse (p->scope [0]) : 0;
    }
    pthread_mutex_unlock (&self->lock);
}

bool
intake_http_may (intake_http_t *self, intake_door_req_t *req, auth_action_t action,
                 const auth_scope_t *scope, char *reason, size_t reasonlen)
{
    pthread_mutex_lock (&self->lock);
    s_principals_tick (self);
    bool may = auth_may (auth_principals_find (self->principals, req->key_id), action, scope,
                         reason, reasonlen);
    pthread_mutex_unlock (&self->lock);
    return may;
}

int
intake_http_rate (intake_http_t *self, intake_door_req_t *req)
{
    const char *id = req->key_id + strlen (AUTH_API_PREFIX);
    pthread_mutex_lock (&self->lock);
    //  requests of this key's window taken from Redis and not spent yet
    s_lease_t *lease = zhashx_lookup (self->leases, id);
    int64_t now = s_mono_ms ();
    if (lease && lease->left > 0 && now < lease->until) {
        lease->left--;
        pthread_mutex_unlock (&self->lock);
        return 0;
    }
    char want [16];
    snprintf (want, sizeof want, "%d", self->lease);
    json_t *reply = store_callv (self->store, "gc_rate_take", id, self->rate_limit,
                                 self->rate_window_ms, want, NULL);
    int status = 0;
    if (!json_is_true (json_object_get (reply, "ok"))) {
        snprintf (req->retry_after, sizeof req->retry_after, "1");
        status = MHD_HTTP_SERVICE_UNAVAILABLE;
    }
    else
    if (!json_is_true (json_object_get (reply, "allowed"))) {
        json_int_t ms = json_integer_value (json_object_get (reply, "retry_after_ms"));
        snprintf (req->retry_after, sizeof req->retry_after, "%lld", (long long) (ms + 999) / 1000);
        status = MHD_HTTP_TOO_MANY_REQUESTS;
    }
    else {
        //  one spent now, the rest kept until the window ends
        if (!lease && zhashx_size (self->leases) < LEASES_MAX) {
            lease = calloc (1, sizeof *lease);
            if (lease)
                zhashx_insert (self->leases, id, lease);
        }
        if (lease) {
            lease->left = (int) json_integer_value (json_object_get (reply, "granted")) - 1;
            lease->until = now + json_integer_value (json_object_get (reply, "window_left_ms"));
        }
    }
    pthread_mutex_unlock (&self->lock);
    json_decref (reply);
    return status;
}

json_t *
intake_http_read (intake_http_t *self, const char *fn, int argc, const char **argv)
{
    pthread_mutex_lock (&self->lock);
    json_t *reply = store_call (self->store, fn, argc, argv, NULL);
    pthread_mutex_unlock (&self->lock);
    return reply;
}

json_t *
intake_http_cases (intake_http_t *self, json_t *filters)
{
    char *text = filters ? json_dumps (filters, JSON_COMPACT) : NULL;
    json_decref (filters);
    const char *argv [] = { text };
    json_t *reply = text ? intake_http_read (self, "gc_door_cases", 1, argv) : NULL;
    free (text);
    return reply;
}

json_t *
intake_http_directory (intake_http_t *self)
{
    pthread_mutex_lock (&self->lock);
    int64_t now = s_mono_ms ();
    if (!self->directory || now - self->directory_checked >= 1000) {
        self->directory_checked = now;
        json_t *v = store_callv (self->store, "gc_dir_version", NULL);
        long long version = json_integer_value (json_object_get (v, "version"));
        json_decref (v);
        if (!self->directory || version != self->directory_version) {
            json_t *got = store_callv (self->store, "gc_dir_get", NULL);
            const char *text = json_string_value (json_object_get (got, "json"));
            json_t *dir = text ? json_loads (text, 0, NULL) : NULL;
            if (dir) {
                json_decref (self->directory);
                self->directory = dir;
                self->directory_version = version;
            }
            json_decref (got);
        }
    }
    json_t *dir = json_incref (self->directory);
    pthread_mutex_unlock (&self->lock);
    return dir;
}

const char *
intake_http_media_dir (const intake_http_t *self)
{
    return self->media_dir;
}

const char *
intake_http_media_base (const intake_http_t *self)
{
    return self->media_base;
}

//  ---------------------------------------------------------------------
//  The loop

//  The connection of req (its DEALER is made on its first call).
static s_conn_t *
s_conn_of (struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    return info ? (s_conn_t *) info->socket_context : NULL;
}

int
intake_http_call (intake_http_t *self, intake_door_req_t *req, const char *type,
                  const ProtobufCMessage *body, codec_msg_t *reply)
{
    s_conn_t *c = s_conn_of (req->conn);
    if (!c)
        return -1;
    if (!c->dealer) {
        c->dealer = zsock_new_dealer (self->endpoint);
        if (!c->dealer)
            return -1;
        zsock_set_linger (c->dealer, 0);
    }
    size_t size = protobuf_c_message_get_packed_size (body);
    zmsg_t *msg = zmsg_new ();
    zmsg_addstr (msg, type);
    zframe_t *frame = zframe_new (NULL, size);
    protobuf_c_message_pack (body, zframe_data (frame));
    zmsg_append (msg, &frame);
    zmsg_addstr (msg, req->key_id);
    if (zmsg_send (&msg, c->dealer)) {
        zmsg_destroy (&msg);
        return -1;
    }
    int rc = -1;
    int64_t until = s_mono_ms () + INTAKE_HTTP_CALL_MS;
    while (true) {
        //  read before the wait: the doors stop after the loop did, which
        //  answered every request it took, so what is not here then never
        //  comes (and the request was not committed)
        bool stopping = atomic_load (&self->stopping);
        int64_t left = until - s_mono_ms ();
        zmq_pollitem_t item = { zsock_resolve (c->dealer), 0, ZMQ_POLLIN, 0 };
        int n = zmq_poll (&item, 1, stopping ? 50 : left < CALL_SLICE_MS ? left : CALL_SLICE_MS);
        if (n > 0) {
            if (codec_recv (c->dealer, false, codec_reporter, 1 << 20, reply) == 0)
                return 0;
            break;
        }
        if (stopping) {
            rc = INTAKE_HTTP_STOPPING;
            break;
        }
        if ((n < 0 && errno != EINTR) || left <= 0)
            break;
    }
    //  no answer: a late one must not answer the next request
    zsock_destroy (&c->dealer);
    return rc;
}

//  ---------------------------------------------------------------------
//  The native JSON API

//  A string member of a JSON body: "" when absent; NULL (with the error
//  answered) when present but not a string.
static const char *
s_str (intake_door_req_t *req, json_t *body, const char *name)
{
    json_t *v = json_object_get (body, name);
    if (!v || json_is_null (v))
        return "";
    if (json_is_string (v))
        return json_string_value (v);
    s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "%s must be a string", name);
    return NULL;
}

//  The answer of the loop to a call: the reply's fields as JSON, or its
//  error with the HTTP status of its code. what names the call for 504.
static void
s_answer_reply (intake_door_req_t *req, int rc, codec_msg_t *reply, json_t *extra)
{
    if (rc) {
        s_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", "%s",
                 rc == INTAKE_HTTP_STOPPING ? INTAKE_HTTP_STOPPING_TEXT
                 : "intake did not answer in time; retry with the same Idempotency-Key");
        snprintf (req->retry_after, sizeof req->retry_after, "1");
        json_decref (extra);
        return;
    }
    if (!reply->body) {
        s_error (req, intake_http_status (reply->error), codec_error_name (reply->error), "%s",
                 reply->reason);
        json_decref (extra);
        return;
    }
    json_t *out = extra ? extra : json_object ();
    json_object_set_new (out, "ok", json_true ());
    if (streq (reply->type, "error")) {
        const Gridcall__V1__Error *e = (const Gridcall__V1__Error *) reply->body;
        json_decref (out);
        int status = intake_http_status (e->code);
        s_error (req, status, codec_error_name (e->code), "%s", e->message);
        if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
            snprintf (req->retry_after, sizeof req->retry_after, "1");
        return;
    }
    if (streq (reply->type, "report.ok")) {
        const Gridcall__V1__ReportReply *r = (const Gridcall__V1__ReportReply *) reply->body;
        json_t *dups = json_array ();
        for (size_t i = 0; i < r->n_possible_duplicates; i++)
            json_array_append_new (dups, json_string (r->possible_duplicates [i]));
        json_object_set_new (out, "case_id", json_string (r->case_id));
        json_object_set_new (out, "ledger", json_string (r->ledger_no));
        json_object_set_new (out, "idempotency_key", json_string (r->idempotency_key));
        json_object_set_new (out, "duplicate", json_boolean (r->duplicate));
        json_object_set_new (out, "state", json_string (codec_state_name (r->state)));
        json_object_set_new (out, "tier", json_string (codec_tier_name (r->tier)));
        json_object_set_new (out, "resolve_by", json_integer (r->resolve_by_ms));
        if (*r->grid)
            json_object_set_new (out, "grid", json_string (r->grid));
        if (*r->building)
            json_object_set_new (out, "building", json_string (r->building));
        json_object_set_new (out, "possible_duplicates", dups);
        s_json (req, r->duplicate ? MHD_HTTP_OK : MHD_HTTP_CREATED, out);
        return;
    }
    const Gridcall__V1__Ack *a = (const Gridcall__V1__Ack *) reply->body;
    json_object_set_new (out, "case_id", json_string (a->case_id));
    json_object_set_new (out, "state", json_string (codec_state_name (a->state)));
    json_object_set_new (out, "duplicate", json_boolean (a->duplicate));
    s_json (req, MHD_HTTP_OK, out);
}

//  Call the loop with body and answer the request with what it says.
static void
s_call (intake_http_t *self, intake_door_req_t *req, const char *type,
        const ProtobufCMessage *body)
{
    codec_msg_t reply;
    memset (&reply, 0, sizeof reply);
    int rc = intake_http_call (self, req, type, body, &reply);
    s_answer_reply (req, rc, &reply, NULL);
    if (rc == 0)
        codec_msg_reset (&reply);
}

//  POST /api/v1/reports
static void
s_api_report (intake_http_t *self, intake_door_req_t *req, json_t *body)
{
    Gridcall__V1__Report r = GRIDCALL__V1__REPORT__INIT;
    char key [CODEC_KEY_MAX + 1];
    const char *given = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (given)
        snprintf (key, sizeof key, "%s", given);
    else
        intake_http_random_key (key, sizeof key);
    if (given && strlen (given) > CODEC_KEY_MAX) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "Idempotency-Key is longer than %d bytes",
                 CODEC_KEY_MAX);
        return;
    }
    r.idempotency_key = key;
    const char **fields [] = { (const char **) &r.grid, (const char **) &r.category,
        (const char **) &r.text, (const char **) &r.reporter, (const char **) &r.building,
        (const char **) &r.location, (const char **) &r.address_id,
        (const char **) &r.address_string };
    const char *names [] = { "grid", "category", "text", "reporter", "building", "location",
                             "address_id", "address_string" };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (!(*fields [i] = s_str (req, body, names [i])))
            return;
    const char *channel = s_str (req, body, "channel");
    if (!channel)
        return;
    r.channel = *channel ? codec_channel_parse (channel) : req->channel;
    if (*channel && r.channel <= 0) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "channel \"%.32s\" is not a channel "
                 "(GRID_WORKER, RESIDENT_APP, HOTLINE, SERVICE_CARD, OPEN311, OPERATOR)", channel);
        return;
    }
    if (!*channel && req->role == AUTH_ROLE_GRID_WORKER)
        r.channel = GRIDCALL__V1__CHANNEL__CHANNEL_GRID_WORKER;
    json_t *lat = json_object_get (body, "lat"), *lon = json_object_get (body, "lon");
    if ((lat && !json_is_number (lat)) || (lon && !json_is_number (lon))) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "lat and lon must be numbers");
        return;
    }
    if ((lat != NULL) != (lon != NULL)) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "lat and lon go together");
        return;
    }
    Gridcall__V1__GeoPoint point = GRIDCALL__V1__GEO_POINT__INIT;
    if (lat) {
        point.lat = json_number_value (lat);
        point.lon = json_number_value (lon);
        r.point = &point;
    }
    json_t *media = json_object_get (body, "media_urls");
    char *urls [INTAKE_MEDIA_URLS_MAX];
    if (media && (!json_is_array (media) || json_array_size (media) > INTAKE_MEDIA_URLS_MAX)) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "media_urls must be an array of at most "
                 "%d URLs", INTAKE_MEDIA_URLS_MAX);
        return;
    }
    for (size_t i = 0; media && i < json_array_size (media); i++) {
        urls [i] = (char *) json_string_value (json_array_get (media, i));
        if (!urls [i]) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "media_urls must hold strings");
            return;
        }
        r.n_media_urls = i + 1;
    }
    r.media_urls = urls;
    s_call (self, req, "report", &r.base);
}

//  The case id of a path "reports/{id}[/verb]" into id; returns the verb
//  ("" for none), or NULL when the path is not one.
static const char *
s_case_path (const char *path, char *id, size_t idlen)
{
    if (strncmp (path, "reports/", 8) != 0)
        return NULL;
    const char *start = path + 8, *slash = strchr (start, '/');
    size_t len = slash ? (size_t) (slash - start) : strlen (start);
    if (len == 0 || len >= idlen)
        return NULL;
    memcpy (id, start, len);
    id [len] = 0;
    if (!codec_id_valid (id, CODEC_ID_MAX))
        return NULL;
    return slash ? slash + 1 : "";
}

//  POST /api/v1/reports/{id}/{verify|evaluate|extend|park|unpark}
static void
s_api_case_verb (intake_http_t *self, intake_door_req_t *req, const char *id, const char *verb,
                 json_t *body)
{
    const char *note = s_str (req, body, "note");
    const char *reason = note ? s_str (req, body, "reason") : NULL;
    const char *by = reason ? s_str (req, body, "by") : NULL;
    if (!by)
        return;
    if (!*by)
        by = req->label;        //  the person acting: the key's principal unless named
    if (streq (verb, "verify")) {
        Gridcall__V1__Verify v = GRIDCALL__V1__VERIFY__INIT;
        json_t *pass = json_object_get (body, "pass");
        if (!json_is_boolean (pass)) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "MISSING_FIELD",
                     "pass (true or false) is required");
            return;
        }
        v.case_id = (char *) id;
        v.pass = json_is_true (pass);
        v.note = (char *) note;
        v.verifier = (char *) by;
        s_call (self, req, "verify", &v.base);
    }
    else
    if (streq (verb, "evaluate")) {
        Gridcall__V1__Evaluate e = GRIDCALL__V1__EVALUATE__INIT;
        json_t *score = json_object_get (body, "score");
        const char *comment = s_str (req, body, "comment");
        if (!comment)
            return;
        if (!json_is_integer (score) || json_integer_value (score) < 0
        ||  json_integer_value (score) > 1000) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "score (an integer) is required");
            return;
        }
        //  another gateway's case answers as a missing one, as reads do
        json_t *row = intake_http_case (self, req, id, false);
        if (!row)
            return;
        json_decref (row);
        e.case_id = (char *) id;
        e.score = (uint32_t) json_integer_value (score);
        e.comment = (char *) comment;
        e.resident = (char *) by;
        s_call (self, req, "evaluate", &e.base);
    }
    else
    if (streq (verb, "extend")) {
        Gridcall__V1__ExtendDecision d = GRIDCALL__V1__EXTEND_DECISION__INIT;
        const char *decision = s_str (req, body, "decision");
        json_t *until = json_object_get (body, "until_ms");
        if (!decision)
            return;
        d.verb = streq (decision, "approve") ? 1 : streq (decision, "refuse") ? 2
               : streq (decision, "extend") ? 3 : 0;
        if (!d.verb) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE",
                     "decision must be approve, refuse or extend");
            return;
        }
        if (until && !json_is_integer (until)) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "BAD_VALUE", "until_ms must be an integer");
            return;
        }
        d.case_id = (char *) id;
        d.until_ms = until ? json_integer_value (until) : 0;
        d.reason = (char *) reason;
        d.operator_ = (char *) by;
        s_call (self, req, "extend.decide", &d.base);
    }
    else
    if (streq (verb, "park")) {
        Gridcall__V1__Park k = GRIDCALL__V1__PARK__INIT;
        json_t *review = json_object_get (body, "review_ms");
        if (!json_is_integer (review)) {
            s_error (req, MHD_HTTP_BAD_REQUEST, "MISSING_FIELD",
                     "review_ms (the review date, Unix ms) is required");
            return;
        }
        k.case_id = (char *) id;
        k.review_ms = json_integer_value (review);
        k.reason = (char *) reason;
        k.operator_ = (char *) by;
        s_call (self, req, "park", &k.base);
    }
    else
    if (streq (verb, "unpark")) {
        Gridcall__V1__Unpark u = GRIDCALL__V1__UNPARK__INIT;
        u.case_id = (char *) id;
        u.reason = (char *) reason;
        u.operator_ = (char *) by;
        s_call (self, req, "unpark", &u.base);
    }
    else
    if (streq (verb, "merge")) {
        //  the case of the path is kept; the duplicate closes as MERGED into it
        Gridcall__V1__Merge m = GRIDCALL__V1__MERGE__INIT;
        const char *duplicate = s_str (req, body, "duplicate");
        if (!duplicate)
            return;
        m.keep_case_id = (char *) id;
        m.duplicate_case_id = (char *) duplicate;
        m.note = (char *) note;
        m.operator_ = (char *) by;
        s_call (self, req, "merge", &m.base);
    }
    else
        s_error (req, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no route POST /api/v1/reports/{id}/%.32s",
                 verb);
}

//  A case row of gc_door_cases as the JSON API shows it to its reporter.
static json_t *
s_public_case (json_t *row)
{
    json_t *out = json_pack ("{s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O, s:O}",
        "case_id", json_object_get (row, "id"), "state", json_object_get (row, "state"),
        "category", json_object_get (row, "category"), "grid", json_object_get (row, "grid"),
        "created", json_object_get (row, "created"), "updated", json_object_get (row, "updated"),
        "resolve_by", json_object_get (row, "resolve_by"),
        "closed", json_object_get (row, "closed"), "open", json_object_get (row, "open"),
        "media", json_object_get (row, "media"));
    if (out && !json_is_array (json_object_get (out, "media")))
        json_object_set_new (out, "media", json_array ());    //  Lua writes {} for []
    const char *optional [] = { "building", "unit", "responsible", "merged_into", "last_what",
                                "last_note" };
    for (size_t i = 0; out && i < sizeof optional / sizeof optional [0]; i++) {
        const char *v = json_string_value (json_object_get (row, optional [i]));
        if (v && *v)
            json_object_set_new (out, optional [i], json_string (v));
    }
    //  the map point the report was filed with, when it had one
    const char *lat = json_string_value (json_object_get (row, "lat"));
    const char *lon = json_string_value (json_object_get (row, "lon"));
    if (out && lat && *lat && lon && *lon) {
        json_object_set_new (out, "lat", json_real (atof (lat)));
        json_object_set_new (out, "lon", json_real (atof (lon)));
    }
    return out;
}

//  Read one case for req: the row, or NULL with the error answered. Its
//  reporter (the principal it came through) may read it, and whoever may
//  verify or decide on it.
json_t *
intake_http_case (intake_http_t *self, intake_door_req_t *req, const char *id, bool open311)
{
    json_t *reply = intake_http_cases (self, json_pack ("{s:[s]}", "ids", id));
    json_t *row = json_array_get (json_object_get (reply, "items"), 0);
    char reason [256] = "";
    if (!json_is_true (json_object_get (reply, "ok"))) {
        open311 ? intake_open311_error (req, MHD_HTTP_SERVICE_UNAVAILABLE,
                                        "the case store is unavailable; retry")
                : s_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE",
                           "the case store is unavailable; retry");
        row = NULL;
    }
    else
    if (!row) {
        open311 ? intake_open311_error (req, MHD_HTTP_NOT_FOUND, "service_request_id not found")
                : s_error (req, MHD_HTTP_NOT_FOUND, "UNKNOWN_CASE", "no case with this id "
                           "reported through %s", req->label);
    }
    else {
        auth_scope_t scope = { json_string_value (json_object_get (row, "grid")),
            json_string_value (json_object_get (row, "community")),
            json_string_value (json_object_get (row, "channel")),
            json_string_value (json_object_get (row, "via")), NULL };
        bool mine = scope.via && streq (scope.via, req->label);
        //  (a case from before cases named their gateway: the gateways of
        //  its channel, as they may evaluate it)
        if (!mine && !intake_http_may (self, req, AUTH_VERIFY, &scope, reason, sizeof reason)
        &&  !intake_http_may (self, req, AUTH_DECIDE, &scope, reason, sizeof reason)
        &&  !intake_http_may (self, req, AUTH_EVALUATE, &scope, reason, sizeof reason)) {
            //  another gateway's case: as if it did not exist
            open311 ? intake_open311_error (req, MHD_HTTP_NOT_FOUND, "service_request_id not found")
                    : s_error (req, MHD_HTTP_NOT_FOUND, "UNKNOWN_CASE", "no case with this id "
                               "reported through %s", req->label);
            row = NULL;
        }
    }
    json_incref (row);
    json_decref (reply);
    return row;
}

//  POST /api/v1/reports/{id}/media: a photo (multipart field "photo" or
//  any file part) stored by its content hash and recorded on the case.
static void
s_api_media (intake_http_t *self, intake_door_req_t *req, const char *id)
{
    if (!req->file) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "MISSING_FIELD",
                 "send the photo as a multipart/form-data file part");
        return;
    }
    const char *ext = intake_media_type (req->file, req->file_len);
    if (!ext) {
        s_error (req, MHD_HTTP_UNSUPPORTED_MEDIA_TYPE, "UNSUPPORTED_MEDIA_TYPE",
                 "a photo must be JPEG or PNG (checked by its first bytes)");
        return;
    }
    //  the case first: a photo of a case the key may not touch is not stored
    json_t *row = intake_http_case (self, req, id, false);
    if (!row)
        return;
    bool mine = streq (json_string_value (json_object_get (row, "via")), req->label);
    json_decref (row);
    if (!mine) {
        s_error (req, MHD_HTTP_FORBIDDEN, "NOT_PERMITTED", "photos are added by the gateway the "
                 "case was reported through");
        return;
    }
    char name [INTAKE_MEDIA_NAME_MAX];
    if (intake_media_store (self->media_dir, req->file, req->file_len, ext, name, sizeof name)) {
        s_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL", "the photo could not be stored");
        return;
    }
    char url [INTAKE_MEDIA_NAME_MAX + 8];
    snprintf (url, sizeof url, "media:%s", name);
    const char *argv [] = { id, req->label, url };
    json_t *reply = intake_http_read (self, "gc_case_media", 3, argv);
    if (json_is_true (json_object_get (reply, "ok")))
        s_json (req, MHD_HTTP_CREATED, json_pack ("{s:b, s:s, s:s, s:O}", "ok", 1, "case_id", id,
                                                  "media", url, "media_urls",
                                                  json_object_get (reply, "media")));
    else {
        const char *code = json_string_value (json_object_get (reply, "code"));
        int error = code ? codec_error_parse (code) : 0;
        s_error (req, reply ? intake_http_status (error) : MHD_HTTP_SERVICE_UNAVAILABLE,
                 code ? code : "UNAVAILABLE", "%s", reply
                 ? json_string_value (json_object_get (reply, "message")) : "the case store is "
                   "unavailable; retry");
    }
    json_decref (reply);
}

//  The JSON API: path is the url after "/api/v1/".
static void
s_api (intake_http_t *self, intake_door_req_t *req)
{
    char id [CODEC_ID_MAX + 1];
    const char *verb = s_case_path (req->path, id, sizeof id);
    bool post = streq (req->method, "POST");
    if (streq (req->method, "GET") && verb && !*verb) {
        json_t *row = intake_http_case (self, req, id, false);
        if (row) {
            json_t *out = s_public_case (row);
            json_object_set_new (out, "ok", json_true ());
            s_json (req, MHD_HTTP_OK, out);
        }
        json_decref (row);
        return;
    }
    if (!post || (!streq (req->path, "reports") && !(verb && *verb))) {
        bool found = post || streq (req->method, "GET");
        s_error (req, found ? MHD_HTTP_NOT_FOUND : MHD_HTTP_METHOD_NOT_ALLOWED,
                 found ? "NOT_FOUND" : "METHOD_NOT_ALLOWED",
                 "no route %.8s /api/v1/%.64s (docs/http-api.md)", req->method, req->path);
        return;
    }
    if (verb && streq (verb, "media")) {
        s_api_media (self, req, id);
        return;
    }
    json_error_t jerr;
    json_t *body = json_loadb (req->body, req->body_len, JSON_REJECT_DUPLICATES, &jerr);
    if (!json_is_object (body)) {
        s_error (req, MHD_HTTP_BAD_REQUEST, "MALFORMED", body ? "the body must be a JSON object"
                 : "the body is not JSON: %s at byte %d", jerr.text, jerr.position);
        json_decref (body);
        return;
    }
    if (verb)
        s_api_case_verb (self, req, id, verb, body);
    else
        s_api_report (self, req, body);
    json_decref (body);
}

//  ---------------------------------------------------------------------
//  The server

//  Form fields (and query arguments) into req->form; a file part into
//  the request's file buffer, bounded by media_max.
static enum MHD_Result
s_post_field (void *cls, enum MHD_ValueKind kind, const char *key, const char *filename,
              const char *content_type, const char *transfer_encoding, const char *data,
              uint64_t off, size_t size)
{
    (void) kind;
    (void) content_type;
    (void) transfer_encoding;
    s_request_t *r = cls;
    if (filename) {
        if (r->file_len + size > r->max) {
            r->refuse = MHD_HTTP_CONTENT_TOO_LARGE;
            r->refuse_code = "TOO_LARGE";
            snprintf (r->refuse_message, sizeof r->refuse_message, "the photo is larger than %zu "
                      "bytes", r->max);
            return MHD_NO;
        }
        if (r->file_len + size > r->file_cap) {
            size_t cap = r->file_cap ? r->file_cap * 2 : 65536;
            while (cap < r->file_len + size)
                cap *= 2;
            char *grown = realloc (r->file, cap);
            if (!grown)
                return MHD_NO;
            r->file = grown;
            r->file_cap = cap;
        }
        memcpy (r->file + r->file_len, data, size);
        r->file_len += size;
        return MHD_YES;
    }
    json_t *was = json_object_get (r->req.form, key);
    if (!was && json_object_size (r->req.form) >= FORM_FIELDS_MAX) {
        r->refuse = MHD_HTTP_BAD_REQUEST;
        r->refuse_code = "TOO_MANY_FIELDS";
        snprintf (r->refuse_message, sizeof r->refuse_message, "more than %d form fields",
                  FORM_FIELDS_MAX);
        return MHD_NO;
    }
    if (memchr (data, 0, size)) {
        //  refused, not cut short at the NUL (docs/security.md)
        r->refuse = MHD_HTTP_BAD_REQUEST;
        r->refuse_code = "BAD_VALUE";
        snprintf (r->refuse_message, sizeof r->refuse_message, "form field %.40s holds a NUL "
                  "byte", codec_id_valid (key, 40) ? key : "(unnamed)");
        return MHD_NO;
    }
    //  a value may come in pieces: append to what came
    const char *prev = was && off > 0 ? json_string_value (was) : "";
    size_t prev_len = prev ? strlen (prev) : 0;
    if (prev_len + size > FORM_VALUE_MAX) {
        r->refuse = MHD_HTTP_BAD_REQUEST;
        r->refuse_code = "BAD_VALUE";
        snprintf (r->refuse_message, sizeof r->refuse_message, "form field %.40s is longer than "
                  "%d bytes", codec_id_valid (key, 40) ? key : "(unnamed)", FORM_VALUE_MAX);
        return MHD_NO;
    }
    char *value = malloc (prev_len + size + 1);
    if (!value)
        return MHD_NO;
    memcpy (value, prev, prev_len);
    memcpy (value + prev_len, data, size);
    value [prev_len + size] = 0;
    json_t *s = json_stringn_nocheck (value, prev_len + size);
    free (value);
    json_object_set_new (r->req.form, key, s);
    return MHD_YES;
}

static enum MHD_Result
s_query_arg (void *cls, enum MHD_ValueKind kind, const char *key, size_t key_size,
             const char *value, size_t value_size)
{
    (void) kind;
    (void) key_size;
    s_request_t *r = cls;
    if (value && memchr (value, 0, value_size) && !r->refuse) {
        r->refuse = MHD_HTTP_BAD_REQUEST;
        r->refuse_code = "BAD_VALUE";
        snprintf (r->refuse_message, sizeof r->refuse_message, "argument %.40s holds a NUL "
                  "byte", codec_id_valid (key, 40) ? key : "(unnamed)");
        return MHD_NO;
    }
    //  a field of the body wins over an argument of the same name
    json_t *form = r->req.form;
    if (json_object_size (form) < FORM_FIELDS_MAX && value && value_size <= FORM_VALUE_MAX
    &&  !json_object_get (form, key))
        json_object_set_new (form, key, json_stringn_nocheck (value, value_size));
    return MHD_YES;
}

//  Queue req's answer.
static enum MHD_Result
s_queue (intake_http_t *self, intake_door_req_t *req)
{
    metric_inc (self->requests);
    if (req->status >= 400)
        metric_inc (self->refused);
    if (!req->answer)
        s_error (req, MHD_HTTP_INTERNAL_SERVER_ERROR, "INTERNAL", "out of memory");
    struct MHD_Response *response = MHD_create_response_from_buffer (
        req->answer_len, req->answer, MHD_RESPMEM_MUST_FREE);
    if (!response)
        return MHD_NO;
    req->answer = NULL;
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, req->answer_type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    if (*req->retry_after)
        MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, req->retry_after);
    if (req->status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, POST");
    if (atomic_load (&self->stopping))
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONNECTION, "close");
    log_debug ("intake: http %s \"%.80s\" %d", req->method, req->url, req->status);
    enum MHD_Result rc = MHD_queue_response (req->conn, (unsigned int) req->status, response);
    MHD_destroy_response (response);
    return rc;
}

//  The API key a request presents: Authorization: Bearer, X-Api-Key, or
//  (Open311 only, as its clients send it) the api_key field or argument.
static const char *
s_api_key (intake_door_req_t *req)
{
    const char *auth = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND,
                                                    MHD_HTTP_HEADER_AUTHORIZATION);
    if (auth && strncasecmp (auth, "Bearer ", 7) == 0)
        return auth + 7;
    const char *header = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "X-Api-Key");
    if (header)
        return header;
    return strncmp (req->url, "/open311/", 9) == 0
         ? json_string_value (json_object_get (req->form, "api_key")) : NULL;
}

//  Serve a request whose body has all arrived.
static void
s_serve (intake_http_t *self, s_request_t *r)
{
    intake_door_req_t *req = &r->req;
    req->body = r->body ? r->body : "";
    req->body_len = r->len;
    req->file = r->file;
    req->file_len = r->file_len;
    MHD_get_connection_values_n (req->conn, MHD_GET_ARGUMENT_KIND, s_query_arg, r);
    if (r->refuse) {
        strncmp (req->url, "/open311/", 9) == 0
            ? intake_open311_error (req, r->refuse, r->refuse_message)
            : s_error (req, r->refuse, r->refuse_code, "%s", r->refuse_message);
        return;
    }
    if (atomic_load (&self->stopping)) {
        //  the loop takes nothing more: a prompt answer, retried elsewhere
        snprintf (req->retry_after, sizeof req->retry_after, "1");
        strncmp (req->url, "/open311/", 9) == 0
            ? intake_open311_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, INTAKE_HTTP_STOPPING_TEXT)
            : s_error (req, MHD_HTTP_SERVICE_UNAVAILABLE, "UNAVAILABLE", INTAKE_HTTP_STOPPING_TEXT);
        return;
    }
    if (streq (req->url, "/health")) {
        s_json (req, MHD_HTTP_OK, json_pack ("{s:b}", "ok", 1));
        return;
    }
    bool open311 = strncmp (req->url, "/open311/v2/", 12) == 0;
    if (!open311 && strncmp (req->url, "/api/v1/", 8) != 0) {
        s_error (req, MHD_HTTP_NOT_FOUND, "NOT_FOUND", "no route %.80s: the doors are /api/v1/ "
                 "(docs/http-api.md) and /open311/v2/ (docs/open311.md)", req->url);
        return;
    }
    req->path = req->url + (open311 ? 12 : 8);
    s_identify (self, req, s_api_key (req));
    //  Open311's discovery and services are public, as the spec has them
    if (open311 && intake_open311_public (req)) {
        intake_open311_serve (self, req);
        return;
    }
    if (!*req->key_id || !req->key_known) {
        const char *what = *req->key_id ? "invalid api_key: not known (revoked or mistyped)"
                         : s_api_key (req) ? "invalid api_key: malformed"
                         : open311 ? "api_key is required" : "an API key is required "
                                     "(Authorization: Bearer KEY)";
        int status = open311 || *req->key_id || s_api_key (req) ? MHD_HTTP_FORBIDDEN
                   : MHD_HTTP_UNAUTHORIZED;
        open311 ? intake_open311_error (req, status, what)
                : s_error (req, status, status == MHD_HTTP_FORBIDDEN ? "NOT_PERMITTED"
                           : "UNAUTHENTICATED", "%s", what);
        return;
    }
    int limited = intake_http_rate (self, req);
    if (limited) {
        const char *what = limited == MHD_HTTP_TOO_MANY_REQUESTS
                         ? "this API key made too many requests; retry after Retry-After seconds"
                         : "the rate limit store is unavailable; retry";
        open311 ? intake_open311_error (req, limited, what)
                : s_error (req, limited, limited == MHD_HTTP_TOO_MANY_REQUESTS ? "RATE_LIMITED"
                           : "UNAVAILABLE", "%s", what);
        return;
    }
    if (open311)
        intake_open311_serve (self, req);
    else
        s_api (self, req);
}

static void
s_request_free (s_request_t *r)
{
    if (!r)
        return;
    if (r->pp)
        MHD_destroy_post_processor (r->pp);
    json_decref (r->req.form);
    free (r->req.answer);
    free (r->body);
    free (r->file);
    free (r);
}

//  libmicrohttpd's access handler: the first call sees the headers, the
//  next ones the body in pieces, the last one (no data) answers.
static enum MHD_Result
s_access (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size, void **con_cls)
{
    (void) version;
    intake_http_t *self = cls;
    s_request_t *r = *con_cls;
    if (!r) {
        s_conn_t *c = s_conn_of (conn);
        r = calloc (1, sizeof *r);
        if (!r)
            return MHD_NO;
        *con_cls = r;
        atomic_fetch_add (&self->active, 1);
        r->req.conn = conn;
        r->req.method = method;
        r->req.url = url;
        r->req.form = json_object ();
        bool media = strstr (url, "/media") != NULL;
        r->max = media ? self->media_max : self->body_max;
        const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                          MHD_HTTP_HEADER_CONTENT_LENGTH);
        //  the headers are in; a body, if one comes, is due in full within
        //  http_body_timeout_s, plus a second for each BODY_RATE_MIN bytes
        //  announced (or, chunked, allowed): a photo over a slow link gets
        //  through, a body sent a byte now and then does not hold the door
        //  (a key in it, Open311's api_key, is only checked at its end)
        unsigned long long size = length ? strtoull (length, NULL, 10) : r->max;
        if (size > r->max)
            size = r->max;
        if (c)
            httpd_arm_for (self->watch, c->watch,
                           self->body_ms + (long long) (size * 1000 / BODY_RATE_MIN));
        //  an announced body over the limit is refused before it is read
        //  (libmicrohttpd then closes the connection)
        if (length && strtoull (length, NULL, 10) > r->max + (media ? 65536 : 0)) {
            s_error (&r->req, MHD_HTTP_CONTENT_TOO_LARGE, "TOO_LARGE", "a body of %s bytes is "
                     "over the limit of %zu", length, r->max);
            if (strncmp (url, "/open311/", 9) == 0)
                intake_open311_error (&r->req, MHD_HTTP_CONTENT_TOO_LARGE,
                                      "the request body is too large");
            return s_queue (self, &r->req);
        }
        const char *type = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                        MHD_HTTP_HEADER_CONTENT_TYPE);
        if (type && (strncasecmp (type, MHD_HTTP_POST_ENCODING_FORM_URLENCODED, 33) == 0
                 ||  strncasecmp (type, MHD_HTTP_POST_ENCODING_MULTIPART_FORMDATA, 19) == 0))
            r->pp = MHD_create_post_processor (conn, 16 * 1024, s_post_field, r);
        return MHD_YES;
    }
    if (*upload_data_size) {
        size_t size = *upload_data_size;
        *upload_data_size = 0;
        r->read += size;
        if (r->refuse)
            //  read and dropped: the answer is the refusal; a sender that
            //  goes on far past the limit is cut off
            return r->read > 4 * r->max + (1 << 20) ? MHD_NO : MHD_YES;
        if (r->pp && r->read > r->max + (r->max == self->media_max ? 65536 : 0)) {
            r->refuse = MHD_HTTP_CONTENT_TOO_LARGE;
            r->refuse_code = "TOO_LARGE";
            snprintf (r->refuse_message, sizeof r->refuse_message, "the body is over the limit "
                      "of %zu bytes", r->max);
            return MHD_YES;
        }
        if (r->pp) {
            if (MHD_post_process (r->pp, upload_data, size) != MHD_YES && !r->refuse) {
                r->refuse = MHD_HTTP_BAD_REQUEST;
                r->refuse_code = "MALFORMED";
                snprintf (r->refuse_message, sizeof r->refuse_message,
                          "the form body could not be parsed");
            }
            return MHD_YES;
        }
        if (r->len + size > r->max) {
            r->refuse = MHD_HTTP_CONTENT_TOO_LARGE;
            r->refuse_code = "TOO_LARGE";
            snprintf (r->refuse_message, sizeof r->refuse_message, "the body is over the limit "
                      "of %zu bytes", r->max);
            return MHD_YES;
        }
        if (r->len + size + 1 > r->cap) {
            size_t cap = r->cap ? r->cap * 2 : 4096;
            while (cap < r->len + size + 1)
                cap *= 2;
            char *grown = realloc (r->body, cap);
            if (!grown)
                return MHD_NO;
            r->body = grown;
            r->cap = cap;
        }
        memcpy (r->body + r->len, upload_data, size);
        r->len += size;
        r->body [r->len] = 0;
        return MHD_YES;
    }
    //  the request is all in: answering it has no deadline of the watchdog
    s_conn_t *c = s_conn_of (conn);
    if (c)
        httpd_disarm (self->watch, c->watch);
    s_serve (self, r);
    return s_queue (self, &r->req);
}

static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) toe;
    intake_http_t *self = cls;
    if (*con_cls)
        atomic_fetch_sub (&self->active, 1);
    s_request_free (*con_cls);
    *con_cls = NULL;
    s_conn_t *c = s_conn_of (conn);
    if (c)
        httpd_arm (self->watch, c->watch);
}

static void
s_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    intake_http_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        s_conn_t *c = calloc (1, sizeof *c);
        if (c && info)
            c->watch = httpd_watch (self->watch, info->connect_fd);
        *socket_context = c;
    }
    else {
        s_conn_t *c = *socket_context;
        if (c) {
            httpd_unwatch (self->watch, c->watch);
            zsock_destroy (&c->dealer);
            free (c);
        }
        *socket_context = NULL;
    }
}

static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line [512];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = 0;
    log_info ("intake: libmicrohttpd: %s", line);
}

int
intake_http_check_config (const config_t *config, char *err, size_t errlen)
{
    const char *bind = config_str (config, "http_bind");
    struct in6_addr addr;
    if (!*bind)
        return 0;
    if (inet_pton (AF_INET, bind, &addr) != 1 && inet_pton (AF_INET6, bind, &addr) != 1) {
        snprintf (err, errlen, "http_bind \"%s\" is not a numeric IPv4 or IPv6 address", bind);
        return -1;
    }
    if (!httpd_loopback (bind) && !*config_str (config, "principals")) {
        snprintf (err, errlen, "http_bind %s is reachable from other hosts: set principals "
                  "(a principals file with API keys: gridcall keys api-key)", bind);
        return -1;
    }
    return 0;
}

intake_http_t *
intake_http_new (const config_t *config, const char *endpoint, metrics_t *metrics)
{
    char err [256];
    if (intake_http_check_config (config, err, sizeof err)) {
        log_error ("intake: %s", err);
        return NULL;
    }
    const char *bind = config_str (config, "http_bind");
    int port = (int) config_int (config, "http_port");
    struct sockaddr_storage addr;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                       | MHD_USE_AUTO | MHD_USE_ERROR_LOG | MHD_USE_ITC;
    bool v6 = httpd_sockaddr (bind, port, &addr) == 6;     //  checked numeric above
    if (v6)
        flags |= MHD_USE_IPv6;
    intake_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    pthread_mutex_init (&self->lock, NULL);
    self->endpoint = strdup (endpoint);
    self->media_dir = strdup (config_str (config, "media_dir"));
    self->media_base = strdup (config_str (config, "media_url_base"));
    self->principals_path = strdup (config_str (config, "principals"));
    self->body_max = (size_t) config_int (config, "http_body_max");
    self->body_ms = config_int (config, "http_body_timeout_s") * 1000;
    self->media_max = (size_t) config_int (config, "media_max");
    snprintf (self->rate_limit, sizeof self->rate_limit, "%lld",
              config_int (config, "http_rate_limit"));
    snprintf (self->rate_window_ms, sizeof self->rate_window_ms, "%lld",
              config_int (config, "http_rate_window_s") * 1000);
    //  a key may overshoot its limit by the requests a door took ahead and
    //  a restart forgot: a twentieth of the limit at most
    long long limit = config_int (config, "http_rate_limit");
    self->lease = (int) (limit / 20 < 1 ? 1 : limit / 20 > LEASE_MAX ? LEASE_MAX : limit / 20);
    self->leases = zhashx_new ();
    if (self->leases)
        zhashx_set_destructor (self->leases, s_lease_free);
    self->store = store_new (config, "intake-http");
    self->watch = httpd_watch_new ("intake", config_int (config, "http_header_timeout_s") * 1000,
                                   metrics);
    self->requests = metrics_counter (metrics, "http_requests_total",
                                      "HTTP door requests answered");
    self->refused = metrics_counter (metrics, "http_refused_total",
                                     "HTTP door requests answered with an error");
    if (!self->endpoint || !self->media_dir || !self->media_base || !self->principals_path
    ||  !self->leases || !self->store
    ||  !self->watch) {
        intake_http_destroy (&self);
        return NULL;
    }
    errno = 0;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_access, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) config_int (config, "http_connection_limit"),
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned int) config_int (config, "http_connection_limit_per_ip"),
        MHD_OPTION_CONNECTION_TIMEOUT,
            (unsigned int) config_int (config, "http_connection_timeout_s"),
        MHD_OPTION_NOTIFY_CONNECTION, s_connection, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_MEMORY_LIMIT,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) (512 * 1024),
        MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("intake: MHD_start_daemon() \"%s%s%s:%d\" failed: %s", v6 ? "[" : "", bind,
                   v6 ? "]" : "", port, errno ? strerror (errno) : "see the lines above");
        intake_http_destroy (&self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : port;
    log_notice ("intake: HTTP doors listening on http://%s%s%s:%d (/api/v1, /open311/v2)",
                v6 ? "[" : "", bind, v6 ? "]" : "", self->port);
    return self;
}

void
intake_http_destroy (intake_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    intake_http_t *self = *self_p;
    if (self->daemon) {
        //  the loop has stopped: the requests in hand are answered (a 503
        //  for those it did not take) before the connections are cut
        atomic_store (&self->stopping, true);
        //  no new connections; the open ones close after their answer
        MHD_socket listener = MHD_quiesce_daemon (self->daemon);
        int64_t until = s_mono_ms () + DRAIN_MS;
        while (atomic_load (&self->active) > 0 && s_mono_ms () < until)
            usleep (10 * 1000);
        if (atomic_load (&self->active) > 0)
            log_notice ("intake: HTTP doors stopping with %d requests unanswered (bodies still "
                        "arriving)", atomic_load (&self->active));
        MHD_stop_daemon (self->daemon);
        if (listener != MHD_INVALID_SOCKET)
            close (listener);
    }
    httpd_watch_destroy (&self->watch);
    store_destroy (&self->store);
    zhashx_destroy (&self->leases);
    auth_principals_destroy (&self->principals);
    json_decref (self->directory);
    pthread_mutex_destroy (&self->lock);
    free (self->endpoint);
    free (self->media_dir);
    free (self->media_base);
    free (self->principals_path);
    free (self);
    *self_p = NULL;
}

int
intake_http_port (const intake_http_t *self)
{
    return self->port;
}
