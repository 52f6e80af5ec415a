/*  report_http.c — libmicrohttpd server for the report, a thread per
    connection. A JSON request borrows a Redis connection from the pool for
    its calls; the ledger CSV borrows one per page; a stream connection
    copies frames from the hub and blocks only its own thread. Every
    request passes the guard first (Host, header deadline, token roles);
    phone numbers are masked for every role but export. */
#include "report_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"
#include "report_api.h"
#include "report_guard.h"
#include "report_community.h"
#include "report_ledger.h"
#include "report_mask.h"
#include "report_page.h"
#include "report_screen.h"

#define HTTP_MEMORY_LIMIT (16 * 1024)   //  per-connection pool: request line and headers
#define POOL_WAIT_MS 2000               //  longest wait for a free Redis connection
#define ARG_MAX 256                     //  longest query argument value, decoded
#define ARGS_MAX 12                     //  query arguments one request may decode
#define FRESH_WAIT_MS 1500              //  longest wait for a fresh snapshot on connect
#define STREAM_BLOCK 65536              //  bytes handed to libmicrohttpd per call
#define STREAM_RETRY_S "10"             //  Retry-After of a stream refused for the cap
#define PEER_CHECK_MS 1000              //  a quiet stream looks for a gone screen this often
#define MHD_LOG_BURST 10                //  libmicrohttpd lines logged per window...
#define MHD_LOG_WINDOW_S 10             //  ...of this many seconds; the rest are counted
#define FDS_SPARE 128                   //  descriptors besides connections (Redis, files)
#define JSON_TYPE "application/json; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"
#define PAGE_CSP "default-src 'none'; script-src 'self'; style-src 'self' 'unsafe-inline'; " \
                 "img-src 'self' data:; connect-src 'self'"
#define OLD_PAGE_CSP "default-src 'none'; script-src 'unsafe-inline'; " \
                     "style-src 'unsafe-inline'; connect-src 'self'"

struct _report_http_t {
    struct MHD_Daemon *daemon;  //  the server and its threads
    report_pool_t *pool;        //  borrowed: Redis connections
    report_hub_t *hub;          //  borrowed: the live feed
    metrics_t *metrics;         //  borrowed: the registry /metrics renders
    report_guard_t *guard;      //  tokens, Host check, header deadline
    char *static_dir;           //  page files (index.html, screen.js, echarts.min.js, ...)
    char *media_dir;            //  photos the doors took (intake's media_dir)
    long long ledger_max_rows;  //  most rows one CSV export holds
    //  the screen's options as gc_report_screen takes them, as the stream's
    //  feed passes them: /api/snapshot is the same document
    char fraction [32], scale [32], list_max [16], sample [16];
    int stream_max;             //  most event streams at once
    atomic_int streams_open;    //  event streams now
    int keepalive_ms;           //  stream comment when nothing else was sent this long
    int port;                   //  port actually bound
    metric_t *requests;         //  requests answered
    metric_t *streams;          //  stream connections open
    metric_t *exports;          //  ledger exports started
    metric_t *refused_streams;  //  streams refused for the cap
    metric_t *refused_auth;     //  requests refused for their token or Host
    //  libmicrohttpd's lines under a flood ("reached connection limit" for
    //  every refused connection) are counted, not all written
    pthread_mutex_t log_lock;   //  guards the three below
    time_t log_window;          //  when the current window began
    unsigned log_lines;         //  lines written in it
    unsigned long log_dropped;  //  lines not written in it
};

//  What an admitted request may see (its *con_cls marker).
static char s_admitted_masked;      //  phone numbers masked
static char s_admitted_full;        //  the export role: phone numbers shown

//  libmicrohttpd's own messages go to our log as warnings.
static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    report_http_t *self = (report_http_t *) cls;
    char line [512];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = 0;
    pthread_mutex_lock (&self->log_lock);
    time_t now = time (NULL);
    unsigned long dropped = 0;
    if (now - self->log_window >= MHD_LOG_WINDOW_S) {
        dropped = self->log_dropped;
        self->log_dropped = 0;
        self->log_window = now;
        self->log_lines = 0;
    }
    bool write = self->log_lines++ < MHD_LOG_BURST;
    if (!write)
        self->log_dropped++;
    pthread_mutex_unlock (&self->log_lock);
    if (dropped)
        log_warning ("report: libmicrohttpd: %lu more lines in %d s not written", dropped,
                     MHD_LOG_WINDOW_S);
    if (write)
        log_warning ("report: libmicrohttpd: %s", line);
}

//  Leave URLs and arguments as sent: no route needs a %-escape, and
//  decoding would let "/api/cases/a%00b" reach the store as "a". Query
//  values are decoded by s_arg, which refuses %00.
static size_t
s_unescape_none (void *cls, struct MHD_Connection *conn, char *text)
{
    (void) cls;
    (void) conn;
    return strlen (text);
}

//  Add the common headers and queue response; destroys it.
static enum MHD_Result
s_queue (struct MHD_Connection *conn, int status, const char *type,
         struct MHD_Response *response, const char *csp)
{
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (csp)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, csp);
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned int) status, response);
    MHD_destroy_response (response);
    return rc;
}

//  Queue one response from memory. text is freed by libmicrohttpd when
//  must_free, else it must be static.
static enum MHD_Result
s_send (struct MHD_Connection *conn, int status, const char *type, char *text,
        size_t len, bool must_free, const char *csp)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        len, text, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        if (must_free)
            free (text);
        return MHD_NO;
    }
    return s_queue (conn, status, type, response, csp);
}

//  Send body as JSON and decref it. Out of memory becomes a 500.
static enum MHD_Result
s_send_json (struct MHD_Connection *conn, int status, json_t *body)
{
    static char oom [] = "{\"ok\":false,\"code\":\"INTERNAL\",\"message\":\"out of memory\"}";
    //  15 digits: a point filed as 39.8053 reads back so, not 39.805300000000003
    char *text = body ? json_dumps (body, JSON_COMPACT | JSON_REAL_PRECISION (15)) : NULL;
    json_decref (body);
    if (!text)
        return s_send (conn, MHD_HTTP_INTERNAL_SERVER_ERROR, JSON_TYPE, oom, strlen (oom), false,
                       NULL);
    return s_send (conn, status, JSON_TYPE, text, strlen (text), true, NULL);
}

//  True when the request announces a body (none of our routes takes one).
static bool
s_has_body (struct MHD_Connection *conn)
{
    const char *length = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                      MHD_HTTP_HEADER_CONTENT_LENGTH);
    const char *chunked = MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                       MHD_HTTP_HEADER_TRANSFER_ENCODING);
    return chunked || (length && strcmp (length, "0") != 0);
}

static int
s_hex (char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10
         : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

//  The ?token= argument %-decoded into buf (the page sends it through
//  encodeURIComponent; URLs are otherwise left as sent). NULL when absent;
//  "" (which matches no token) when too long or badly escaped.
static const char *
s_query_token (struct MHD_Connection *conn, char *buf, size_t size)
{
    const char *raw = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, "token");
    if (!raw)
        return NULL;
    size_t n = 0;
    for (const char *p = raw; *p; p++) {
        int c = (unsigned char) *p;
        if (c == '%') {
            int hi = s_hex (p [1]), lo = hi >= 0 ? s_hex (p [2]) : -1;
            if (lo < 0 || (hi == 0 && lo == 0))
                return "";
            c = hi * 16 + lo;
            p += 2;
        }
        if (n + 1 >= size)
            return "";
        buf [n++] = (char) c;
    }
    buf [n] = 0;
    return buf;
}

//  The photo a "/media/<64 hex>.<jpg|png>" URL names (intake's doors store
//  them by content SHA-256), or NULL.
static const char *
s_media_name (const char *url)
{
    if (strncmp (url, "/media/", 7) != 0)
        return NULL;
    const char *name = url + 7;
    if (strlen (name) != 68 || (strcmp (name + 64, ".jpg") != 0 && strcmp (name + 64, ".png") != 0))
        return NULL;
    for (int i = 0; i < 64; i++)
        if (!((name [i] >= '0' && name [i] <= '9') || (name [i] >= 'a' && name [i] <= 'f')))
            return NULL;
    return name;
}

//  The role a route needs; 0 for the page, its files and the health check,
//  which hold no data.
static int
s_role_needed (report_route_t route)
{
    switch (route) {
        case REPORT_ROUTE_PAGE:
        case REPORT_ROUTE_STATIC:
        case REPORT_ROUTE_HEALTH:
            return 0;
        case REPORT_ROUTE_METRICS:
            return REPORT_ROLE_METRICS;
        default:
            return REPORT_ROLE_SCREEN;
    }
}

//  Refuse a request from its request line and headers alone: a Host not
//  ours, an unknown path, a wrong method, an announced body or a missing
//  or wrong token. Returns the error body and sets *status, or NULL when
//  Add an argument's bytes as sent ("&key=value"; values are not
//  unescaped) to the query length at cls.
static enum MHD_Result
s_query_len (void *cls, enum MHD_ValueKind kind, const char *key, const char *value)
{
    (void) kind;
    *(size_t *) cls += 1 + strlen (key) + (value ? 1 + strlen (value) : 0);
    return MHD_YES;
}

//  the request is one we serve, with *roles the roles it holds.
static json_t *
s_refuse (report_http_t *self, struct MHD_Connection *conn, const char *url, const char *method,
          int *status, int *roles)
{
    const char *host = MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_HOST);
    if (!report_guard_host_ok (self->guard, host)) {
        //  a name we do not serve (DNS rebinding, a misrouted proxy)
        metric_inc (self->refused_auth);
        log_info ("report: refused Host \"%.80s\"", host);
        *status = 421;
        return report_api_error ("BAD_HOST", "this server does not answer for that Host "
                                 "(http_hosts)");
    }
    char id [REPORT_CASE_ID_MAX + 1];
    report_route_t route = s_media_name (url) ? REPORT_ROUTE_MEDIA : report_api_route (url, id);
    size_t query = 0;
    MHD_get_connection_values (conn, MHD_GET_ARGUMENT_KIND, s_query_len, &query);
    if (strlen (url) + query > REPORT_URL_MAX)
        route = REPORT_ROUTE_TOO_LONG;      //  the query counts: the whole URL is bounded
    if (route == REPORT_ROUTE_TOO_LONG) {
        *status = MHD_HTTP_URI_TOO_LONG;
        return report_api_error ("TOO_LARGE", "the URL is too long");
    }
    if (route == REPORT_ROUTE_NOT_FOUND) {
        *status = MHD_HTTP_NOT_FOUND;
        return report_api_error ("NOT_FOUND", "no such path; see docs/report-api.md");
    }
    if (!report_api_method_ok (method)) {
        *status = MHD_HTTP_METHOD_NOT_ALLOWED;
        return report_api_error ("METHOD_NOT_ALLOWED", "this API is read-only: use GET");
    }
    if (s_has_body (conn)) {
        *status = MHD_HTTP_CONTENT_TOO_LARGE;
        return report_api_error ("TOO_LARGE", "request bodies are not accepted");
    }
    char token [CONFIG_SECRET_MAX + 1];
    const char *query_token = s_query_token (conn, token, sizeof token);
    *roles = report_guard_roles (self->guard,
        MHD_lookup_connection_value (conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION),
        query_token);
    int needed = s_role_needed (route);
    if (*roles < 0 || (needed && !(*roles & needed))) {
        metric_inc (self->refused_auth);
        //  no token at all: 401; a token of another role: 403
        bool unknown = *roles < 0;
        bool none = !unknown && !MHD_lookup_connection_value (conn, MHD_HEADER_KIND,
                                                              MHD_HTTP_HEADER_AUTHORIZATION)
                 && !query_token;
        *status = unknown || none ? MHD_HTTP_UNAUTHORIZED : MHD_HTTP_FORBIDDEN;
        const char *message = unknown ? "the token matches no role"
            : needed == REPORT_ROLE_METRICS
            ? "/metrics needs the metrics token (Authorization: Bearer)"
            : "this needs the screen token (Authorization: Bearer, or ?token= for the page) "
              "or the export token";
        return report_api_error (*status == MHD_HTTP_FORBIDDEN ? "FORBIDDEN" : "UNAUTHORIZED",
                                 message);
    }
    return NULL;
}

//  Query arguments, decoded on demand into per-request buffers.
typedef struct {
    struct MHD_Connection *conn;        //  the request
    char values [ARGS_MAX][ARG_MAX];    //  decoded values handed out
    int used;                           //  values in use
    bool bad;                           //  an argument could not be decoded
} args_t;

//  The decoded value of query argument name, or NULL when absent. A value
//  too long or with a bad or NUL escape is taken as absent and marks bad.
static const char *
s_arg (void *ctx, const char *name)
{
    args_t *args = (args_t *) ctx;
    const char *raw = MHD_lookup_connection_value (args->conn, MHD_GET_ARGUMENT_KIND, name);
    if (!raw)
        return NULL;
    if (args->used >= ARGS_MAX
    ||  report_api_arg_decode (raw, args->values [args->used], ARG_MAX)) {
        args->bad = true;
        return NULL;
    }
    return args->values [args->used++];
}

//  Parse the filters of a request. Returns NULL, or a 400 body.
static json_t *
s_filters (struct MHD_Connection *conn, report_conn_t *rc, report_filter_t *filter)
{
    args_t *args = calloc (1, sizeof *args);
    if (!args)
        return report_api_error ("INTERNAL", "out of memory");
    args->conn = conn;
    const directory_t *dir = rc ? report_dir_get (rc->dir, rc->store) : NULL;
    char err [160];
    int offset = dir ? directory_utc_offset_minutes (dir) : 0;
    int parsed = report_api_filter_parse (filter, s_arg, args, offset, err, sizeof err);
    bool bad = args->bad;
    free (args);
    if (bad)
        return report_api_error ("BAD_VALUE", "a query argument is too long or badly escaped");
    if (parsed)
        return report_api_error ("BAD_VALUE", err);
    //  an id the directory does not hold is a mistake ("g01"), not an
    //  empty list; without a directory loaded yet, ids are taken as given
    bool community = !*filter->community || !dir;
    for (size_t i = 0; !community && i < directory_community_count (dir); i++)
        community = strcmp (directory_community (dir, i)->id, filter->community) == 0;
    const char *unknown = !community ? "community"
        : dir && *filter->grid && !directory_grid_find (dir, filter->grid) ? "grid"
        : dir && *filter->category && !directory_category_find (dir, filter->category) ? "category"
        : dir && *filter->unit && !directory_unit_find (dir, filter->unit) ? "unit" : NULL;
    if (unknown) {
        snprintf (err, sizeof err, "%s: not in the street's directory", unknown);
        return report_api_error ("BAD_VALUE", err);
    }
    return NULL;
}

//  The answer when Redis was not reachable or refused.
static json_t *
s_unavailable (int *status)
{
    *status = MHD_HTTP_SERVICE_UNAVAILABLE;
    return report_api_error ("UNAVAILABLE", "the store is unreachable; retry shortly");
}

//  A function reply that is {"ok":true,...}, else NULL with *status and *body set.
static bool
s_reply_ok (const json_t *reply, int *status, json_t **body)
{
    if (reply && json_is_true (json_object_get (reply, "ok")))
        return true;
    if (!reply)
        *body = s_unavailable (status);
    else {
        *status = MHD_HTTP_BAD_GATEWAY;
        *body = report_api_error ("STORE_ERROR", "the store answered with an error");
    }
    return false;
}

//  GET /api/cases: one page of cases.
static json_t *
s_cases (struct MHD_Connection *conn, report_conn_t *rc, int *status)
{
    report_filter_t filter;
    json_t *body = s_filters (conn, rc, &filter);
    if (body) {
        *status = MHD_HTTP_BAD_REQUEST;
        return body;
    }
    char *args = report_api_filter_json (&filter, filter.cursor, filter.limit);
    json_t *reply = args ? store_callv (rc->store, "gc_report_cases", args, NULL) : NULL;
    free (args);
    if (s_reply_ok (reply, status, &body)) {
        const directory_t *dir = report_dir_get (rc->dir, rc->store);
        json_t *items = json_array ();
        size_t i;
        json_t *row;
        json_array_foreach (json_object_get (reply, "items"), i, row)
            json_array_append_new (items, report_screen_row (row, dir));
        json_t *next = json_object_get (reply, "next");
        json_t *total = json_object_get (reply, "total");
        body = json_pack ("{s:o, s:O, s:O, s:I, s:I}", "items", items,
                          "next_cursor", json_is_string (next) ? next : json_null (),
                          "total", json_is_integer (total) ? total : json_null (),
                          "scanned", (json_int_t) json_integer_value (json_object_get (reply, "scanned")),
                          "at_ms", (json_int_t) json_integer_value (json_object_get (reply, "now")));
        *status = MHD_HTTP_OK;
    }
    json_decref (reply);
    return body;
}

//  Add the open cases created in [from, to) to by_state (which names the
//  states to count), a page of RANGE_OPEN_PAGE cases a call: each case's
//  state is read, and a range over many open cases would otherwise hold
//  Redis for as long as it takes (460 ms for 100,000). Returns true, or
//  false with *body and *status set.
#define RANGE_OPEN_PAGE "1000"
static bool
s_range_open (report_conn_t *rc, const char *from, const char *to, json_t *by_state,
              int *status, json_t **body)
{
    char after_score [32] = "", after_id [128] = "";
    while (true) {
        const char *argv [] = { from, to, after_score, after_id, RANGE_OPEN_PAGE };
        json_t *page = store_call (rc->store, "gc_report_range_open", 5, argv, NULL);
        if (!s_reply_ok (page, status, body)) {
            json_decref (page);
            return false;
        }
        const char *state;
        json_t *n;
        json_object_foreach (json_object_get (page, "state"), state, n) {
            json_t *have = json_object_get (by_state, state);
            if (json_is_integer (have))
                json_object_set_new (by_state, state,
                                     json_integer (json_integer_value (have) + json_integer_value (n)));
        }
        json_t *next = json_object_get (page, "next");
        bool more = json_is_array (next) && json_array_size (next) == 2
                 && json_is_string (json_array_get (next, 0))
                 && json_is_string (json_array_get (next, 1));
        if (more) {
            snprintf (after_score, sizeof after_score, "%s", json_string_value (json_array_get (next, 0)));
            snprintf (after_id, sizeof after_id, "%s", json_string_value (json_array_get (next, 1)));
        }
        json_decref (page);
        if (!more)
            return true;
    }
}

//  GET /api/stats: the live counters, or with from/to the cases created in
//  that range per state, grid, community, category and unit.
static json_t *
s_stats (struct MHD_Connection *conn, report_conn_t *rc, int *status)
{
    report_filter_t filter;
    json_t *body = s_filters (conn, rc, &filter);
    if (body) {
        *status = MHD_HTTP_BAD_REQUEST;
        return body;
    }
    if (!filter.has_from && !filter.has_to) {
        json_t *reply = store_callv (rc->store, "gc_stats", NULL);
        body = report_api_stats_answer (reply, status);
        json_decref (reply);
        return body;
    }
    char from [24] = "", to [24] = "";
    if (filter.has_from)
        snprintf (from, sizeof from, "%lld", filter.from_ms);
    if (filter.has_to)
        snprintf (to, sizeof to, "%lld", filter.to_ms);
    //  the states to count are the wire contract's, not a list in the Lua
    const char *argv [2 + REPORT_STATES_MAX] = { from, to };
    int argc = 2;
    for (size_t i = 0; argc < 2 + REPORT_STATES_MAX && report_api_state_name (i); i++)
        argv [argc++] = report_api_state_name (i);
    json_t *reply = store_call (rc->store, "gc_report_range", argc, argv, NULL);
    if (s_reply_ok (reply, status, &body)
    &&  s_range_open (rc, from, to, json_object_get (reply, "by_state"), status, &body)) {
        body = json_pack ("{s:I, s:o, s:o, s:I, s:O, s:O, s:O, s:O, s:O}",
            "at_ms", (json_int_t) json_integer_value (json_object_get (reply, "now")),
            "from_ms", filter.has_from ? json_integer (filter.from_ms) : json_null (),
            "to_ms", filter.has_to ? json_integer (filter.to_ms) : json_null (),
            "created", (json_int_t) json_integer_value (json_object_get (reply, "created")),
            "by_state", json_object_get (reply, "by_state"),
            "by_grid", json_object_get (reply, "by_grid"),
            "by_community", json_object_get (reply, "by_community"),
            "by_category", json_object_get (reply, "by_category"),
            "by_unit", json_object_get (reply, "by_unit"));
        *status = MHD_HTTP_OK;
    }
    json_decref (reply);
    return body;
}

//  GET /api/units: every unit, its load and whether it is on duty now.
static json_t *
s_units (report_conn_t *rc, int *status)
{
    json_t *body = NULL;
    json_t *reply = store_callv (rc->store, "gc_report_units", NULL);
    if (s_reply_ok (reply, status, &body)) {
        const directory_t *dir = report_dir_get (rc->dir, rc->store);
        long long now = json_integer_value (json_object_get (reply, "now"));
        street_time_t at;
        street_local (dir, now, &at);
        json_t *units = json_array ();
        size_t i;
        json_t *u;
        json_array_foreach (json_object_get (reply, "units"), i, u) {
            const char *id = json_string_value (json_object_get (u, "id"));
            const dir_unit_t *du = dir && id ? directory_unit_find (dir, id) : NULL;
            json_t *row = json_copy (u);
            json_object_set_new (row, "kind", json_string (du && du->kind ? du->kind : ""));
            json_object_set_new (row, "on_duty", json_boolean (report_dir_on_duty (dir, id, &at)));
            json_array_append_new (units, row);
        }
        body = json_pack ("{s:I, s:o}", "at_ms", (json_int_t) now, "units", units);
        *status = MHD_HTTP_OK;
    }
    json_decref (reply);
    return body;
}

//  A case that has not climbed carries no joint rule of its own: dispatch
//  applies its category's rule at its tier, and so does the answer.
static void
s_case_joint (json_t *body, const directory_t *dir)
{
    if (!json_is_null (json_object_get (body, "joint")) || !dir)
        return;
    const char *code = json_string_value (json_object_get (body, "category"));
    const dir_category_t *cat = code ? directory_category_find (dir, code) : NULL;
    int tier = dir_tier_parse (json_string_value (json_object_get (body, "tier")));
    if (cat && tier)
        json_object_set_new (body, "joint", json_integer (dir_category_joint_units (cat, tier)));
}

//  GET /api/snapshot: what the screen shows, read now.
static json_t *
s_snapshot (report_http_t *self, report_conn_t *rc, int *status)
{
    json_t *body = NULL;
    json_t *reply = store_callv (rc->store, "gc_report_screen", self->fraction, self->scale,
                                 self->list_max, self->sample, "30", NULL);
    if (s_reply_ok (reply, status, &body)) {
        body = report_screen_compose (reply, report_dir_get (rc->dir, rc->store));
        *status = body ? MHD_HTTP_OK : MHD_HTTP_INTERNAL_SERVER_ERROR;
        if (!body)
            body = report_api_error ("INTERNAL", "the snapshot could not be built");
    }
    json_decref (reply);
    return body;
}

//  A query argument of a community view: NULL when absent; "" (refused by
//  the store as unknown) when it is not 1..64 bytes of the id charset.
static const char *
s_community_arg (struct MHD_Connection *conn, const char *name)
{
    const char *v = MHD_lookup_connection_value (conn, MHD_GET_ARGUMENT_KIND, name);
    return !v || report_api_case_id_valid (v, strlen (v)) ? v : "";
}

//  GET /api/community/<view>?id=...&quarter=...
static json_t *
s_community_query (struct MHD_Connection *conn, const char *view, store_t *store, int *status)
{
    return report_community_json (store, view, s_community_arg (conn, "id"),
                                  s_community_arg (conn, "quarter"), status);
}

//  A request that needs Redis: borrow a connection, answer, give it back.
//  Phone numbers are masked unless full.
static json_t *
s_serve_json (report_http_t *self, struct MHD_Connection *conn, report_route_t route,
              const char *id, bool full, int *status)
{
    report_conn_t *rc = report_pool_take (self->pool, POOL_WAIT_MS);
    if (!rc)
        return s_unavailable (status);
    json_t *reply = NULL;
    json_t *body = NULL;
    switch (route) {
        case REPORT_ROUTE_STATS:
            body = s_stats (conn, rc, status);
            break;
        case REPORT_ROUTE_CASE:
            reply = store_callv (rc->store, "gc_case_get", id, NULL);
            body = report_api_case_answer (reply, status);
            if (*status == MHD_HTTP_OK)
                s_case_joint (body, report_dir_get (rc->dir, rc->store));
            break;
        case REPORT_ROUTE_HEALTH:
            reply = store_callv (rc->store, "gc_stats", NULL);
            body = report_api_health_answer (reply, status);
            break;
        case REPORT_ROUTE_CASES:
            body = s_cases (conn, rc, status);
            break;
        case REPORT_ROUTE_UNITS:
            body = s_units (rc, status);
            break;
        case REPORT_ROUTE_SNAPSHOT:
            body = s_snapshot (self, rc, status);
            break;
        case REPORT_ROUTE_COMMUNITY:
            body = s_community_query (conn, id, rc->store, status);
            break;
        case REPORT_ROUTE_MATTERS:
            //  the board, and meetings from two hours of case time ago on
            reply = store_callv (rc->store, "gc_matters", "200", "now", NULL);
            body = report_api_matters_answer (reply, status);
            break;
        case REPORT_ROUTE_MATTER:
            reply = store_callv (rc->store, "gc_matter_get", id, NULL);
            body = report_api_matter_answer (reply, status);
            break;
        default:
            *status = MHD_HTTP_NOT_FOUND;
            body = report_api_error ("NOT_FOUND", "no such path");
            break;
    }
    json_decref (reply);
    report_pool_give (self->pool, rc);
    if (body && !full && *status == MHD_HTTP_OK && report_mask_json (body)) {
        json_decref (body);
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        body = report_api_error ("INTERNAL", "out of memory");
    }
    return body;
}

//  ----------------------------------------------------------------------
//  Static files: the page and what it loads, from static_dir.

static const char *
s_type_of (const char *name)
{
    static const char *map [][2] = {
        { ".html", HTML_TYPE }, { ".js", "text/javascript; charset=utf-8" },
        { ".css", "text/css; charset=utf-8" }, { ".png", "image/png" }, { ".jpg", "image/jpeg" },
        { ".svg", "image/svg+xml" }, { ".json", JSON_TYPE }, { ".ico", "image/x-icon" }
    };
    const char *dot = strrchr (name, '.');
    for (size_t i = 0; dot && i < sizeof map / sizeof map [0]; i++)
        if (strcmp (dot, map [i][0]) == 0)
            return map [i][1];
    return "application/octet-stream";
}

//  Serve dir/name. Returns MHD_YES/NO, or -1 when there is no such file.
static int
s_file (const char *dir, struct MHD_Connection *conn, const char *name)
{
    char path [4096];
    if ((size_t) snprintf (path, sizeof path, "%s/%s", dir, name) >= sizeof path)
        return -1;
    int fd = open (path, O_RDONLY | O_CLOEXEC);
    if (fd < 0)
        return -1;
    struct stat info;
    if (fstat (fd, &info) != 0 || !S_ISREG (info.st_mode)) {
        close (fd);
        return -1;
    }
    struct MHD_Response *response = MHD_create_response_from_fd ((uint64_t) info.st_size, fd);
    if (!response) {
        close (fd);
        return MHD_NO;
    }
    bool html = strcmp (s_type_of (name), HTML_TYPE) == 0;
    return s_queue (conn, MHD_HTTP_OK, s_type_of (name), response, html ? PAGE_CSP : NULL);
}

static int
s_static (report_http_t *self, struct MHD_Connection *conn, const char *name)
{
    return s_file (self->static_dir, conn, name);
}

//  ----------------------------------------------------------------------
//  The event stream: a snapshot first, then frames as the hub gets them.

typedef struct {
    report_http_t *http;        //  the server
    int fd;                     //  the connection's socket, -1 when unknown
    uint64_t seq;               //  next frame wanted from the hub
    char *pending;              //  text not yet handed to libmicrohttpd
    size_t pending_len;         //  its length
    size_t pending_at;          //  bytes of it already handed over
} stream_t;

static void
s_stream_free (void *cls)
{
    stream_t *s = (stream_t *) cls;
    report_hub_detach (s->http->hub);
    metric_add (s->http->streams, -1);
    atomic_fetch_sub (&s->http->streams_open, 1);
    free (s->pending);
    free (s);
}

//  True when the screen hung up: a stream's client sends nothing after its
//  request, so end-of-file or an error on the socket means it is gone.
static bool
s_peer_gone (int fd)
{
    struct pollfd p = { fd, POLLRDHUP, 0 };
    return fd >= 0 && poll (&p, 1, 0) == 1 && (p.revents & (POLLRDHUP | POLLHUP | POLLERR));
}

static ssize_t
s_stream_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    stream_t *s = (stream_t *) cls;
    if (s->pending_at >= s->pending_len) {
        free (s->pending);
        s->pending = NULL;
        s->pending_len = s->pending_at = 0;
        bool lost = false;
        uint64_t next = s->seq;
        //  wait in slices: a screen that left frees its thread and its
        //  stream_max place within a slice, not at the next keepalive
        char *frames = NULL;
        for (int waited = 0; !frames && waited < s->http->keepalive_ms; waited += PEER_CHECK_MS) {
            int slice = s->http->keepalive_ms - waited < PEER_CHECK_MS
                      ? s->http->keepalive_ms - waited : PEER_CHECK_MS;
            frames = report_hub_wait (s->http->hub, s->seq, slice, &next, &lost);
            if (report_hub_closed (s->http->hub)) {
                free (frames);
                return MHD_CONTENT_READER_END_OF_STREAM;
            }
            if (!frames && s_peer_gone (s->fd))
                return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (lost)
            log_info ("report: a stream reader fell behind; it gets a fresh snapshot");
        s->pending = frames ? frames : strdup (": keepalive\n\n");
        if (!s->pending)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        s->seq = next;
        s->pending_len = strlen (s->pending);
    }
    size_t n = s->pending_len - s->pending_at;
    if (n > max)
        n = max;
    memcpy (buf, s->pending + s->pending_at, n);
    s->pending_at += n;
    return (ssize_t) n;
}

//  A stream beyond stream_max: 503 at once with Retry-After, so the
//  connection and its thread are free again (connections are kept for
//  the page and the API).
static enum MHD_Result
s_stream_busy (report_http_t *self, struct MHD_Connection *conn)
{
    metric_inc (self->refused_streams);
    json_t *body = report_api_error ("BUSY", "too many screens are streaming; retry later");
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    struct MHD_Response *response = text ? MHD_create_response_from_buffer (
        strlen (text), text, MHD_RESPMEM_MUST_FREE) : NULL;
    if (!response) {
        free (text);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_RETRY_AFTER, STREAM_RETRY_S);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONNECTION, "close");
    return s_queue (conn, MHD_HTTP_SERVICE_UNAVAILABLE, JSON_TYPE, response, NULL);
}

static enum MHD_Result
s_stream (report_http_t *self, struct MHD_Connection *conn)
{
    if (atomic_fetch_add (&self->streams_open, 1) >= self->stream_max) {
        atomic_fetch_sub (&self->streams_open, 1);
        return s_stream_busy (self, conn);
    }
    stream_t *s = calloc (1, sizeof *s);
    if (!s) {
        atomic_fetch_sub (&self->streams_open, 1);
        return MHD_NO;
    }
    s->http = self;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (
        conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    s->fd = info ? info->connect_fd : -1;
    char *snapshot = report_hub_start_fresh (self->hub, FRESH_WAIT_MS, &s->seq);
    if (asprintf (&s->pending, "retry: 2000\n\n%s", snapshot ? snapshot : "") < 0)
        s->pending = NULL;
    free (snapshot);
    if (!s->pending) {
        atomic_fetch_sub (&self->streams_open, 1);
        free (s);
        return MHD_NO;
    }
    s->pending_len = strlen (s->pending);
    report_hub_attach (self->hub);
    metric_inc (self->streams);
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, s_stream_read, s, s_stream_free);
    if (!response) {
        s_stream_free (s);
        return MHD_NO;
    }
    MHD_add_response_header (response, "X-Accel-Buffering", "no");
    return s_queue (conn, MHD_HTTP_OK, "text/event-stream; charset=utf-8", response, NULL);
}

//  ----------------------------------------------------------------------
//  The ledger CSV: pages of rows as the client reads them.

typedef struct {
    report_http_t *http;        //  the server
    report_ledger_t *ledger;    //  the export's cursor
    char *pending;              //  text not yet handed over
    size_t pending_len;
    size_t pending_at;
} export_t;

static void
s_export_free (void *cls)
{
    export_t *e = (export_t *) cls;
    report_ledger_destroy (&e->ledger);
    free (e->pending);
    free (e);
}

static ssize_t
s_export_read (void *cls, uint64_t pos, char *buf, size_t max)
{
    (void) pos;
    export_t *e = (export_t *) cls;
    if (e->pending_at >= e->pending_len) {
        free (e->pending);
        e->pending = NULL;
        e->pending_len = e->pending_at = 0;
        report_conn_t *rc = report_pool_take (e->http->pool, POOL_WAIT_MS);
        if (!rc)
            return MHD_CONTENT_READER_END_WITH_ERROR;
        bool failed = false;
        e->pending = report_ledger_next (e->ledger, rc->store, report_dir_get (rc->dir, rc->store),
                                         &failed);
        report_pool_give (e->http->pool, rc);
        if (failed) {
            log_warning ("report: ledger export cut short after %lld rows: the store failed",
                         report_ledger_rows (e->ledger));
            return MHD_CONTENT_READER_END_WITH_ERROR;
        }
        if (!e->pending)
            return MHD_CONTENT_READER_END_OF_STREAM;
        e->pending_len = strlen (e->pending);
    }
    size_t n = e->pending_len - e->pending_at;
    if (n > max)
        n = max;
    memcpy (buf, e->pending + e->pending_at, n);
    e->pending_at += n;
    return (ssize_t) n;
}

static enum MHD_Result
s_export (report_http_t *self, struct MHD_Connection *conn, bool full)
{
    report_filter_t filter;
    report_conn_t *rc = report_pool_take (self->pool, POOL_WAIT_MS);
    int status = MHD_HTTP_BAD_REQUEST;
    json_t *body = rc ? s_filters (conn, rc, &filter) : s_unavailable (&status);
    report_pool_give (self->pool, rc);
    if (body)
        return s_send_json (conn, status, body);
    export_t *e = calloc (1, sizeof *e);
    if (!e)
        return MHD_NO;
    e->http = self;
    e->ledger = report_ledger_new (&filter, self->ledger_max_rows);
    if (!e->ledger) {
        free (e);
        return MHD_NO;
    }
    if (!full)
        report_ledger_mask (e->ledger);
    metric_inc (self->exports);
    struct MHD_Response *response = MHD_create_response_from_callback (
        MHD_SIZE_UNKNOWN, STREAM_BLOCK, s_export_read, e, s_export_free);
    if (!response) {
        s_export_free (e);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_DISPOSITION,
                             "attachment; filename=\"ledger.csv\"");
    return s_queue (conn, MHD_HTTP_OK, "text/csv; charset=utf-8", response, NULL);
}

//  ----------------------------------------------------------------------

//  Answer an admitted request; full when it holds the export role.
static enum MHD_Result
s_serve (report_http_t *self, struct MHD_Connection *conn, const char *url, bool full)
{
    char id [REPORT_CASE_ID_MAX + 1];
    int status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    report_route_t route = s_media_name (url) ? REPORT_ROUTE_MEDIA : report_api_route (url, id);
    switch (route) {
        case REPORT_ROUTE_MEDIA: {
            int rc = s_file (self->media_dir, conn, s_media_name (url));
            if (rc >= 0)
                return (enum MHD_Result) rc;
            return s_send_json (conn, MHD_HTTP_NOT_FOUND,
                                report_api_error ("NOT_FOUND", "no such photo"));
        }
        case REPORT_ROUTE_BAD_ID:
            return s_send_json (conn, MHD_HTTP_BAD_REQUEST, report_api_error ("BAD_VALUE",
                                "a case id is 1 to 64 characters of A-Z a-z 0-9 . _ -"));
        case REPORT_ROUTE_PAGE: {
            int rc = s_static (self, conn, "index.html");
            if (rc >= 0)
                return (enum MHD_Result) rc;
            //  no built page (scripts/build-web.sh not run): the plain one
            return s_send (conn, MHD_HTTP_OK, HTML_TYPE, (char *) report_page_html,
                           strlen (report_page_html), false, OLD_PAGE_CSP);
        }
        case REPORT_ROUTE_STATIC: {
            int rc = s_static (self, conn, id);
            if (rc >= 0)
                return (enum MHD_Result) rc;
            return s_send_json (conn, MHD_HTTP_NOT_FOUND,
                                report_api_error ("NOT_FOUND", "no such file"));
        }
        case REPORT_ROUTE_METRICS: {
            char *text = metrics_render (self->metrics);
            if (!text)
                return MHD_NO;
            return s_send (conn, MHD_HTTP_OK, "text/plain; version=0.0.4; charset=utf-8", text,
                           strlen (text), true, NULL);
        }
        case REPORT_ROUTE_STREAM:
            return s_stream (self, conn);
        case REPORT_ROUTE_LEDGER:
            return s_export (self, conn, full);
        case REPORT_ROUTE_COMMUNITY_CSV: {
            report_conn_t *rc = report_pool_take (self->pool, POOL_WAIT_MS);
            if (!rc)
                return s_send_json (conn, MHD_HTTP_SERVICE_UNAVAILABLE, s_unavailable (&status));
            json_t *error = NULL;
            char *text = report_community_csv (rc->store, id, s_community_arg (conn, "quarter"),
                                               &status, &error);
            report_pool_give (self->pool, rc);
            if (!text)
                return s_send_json (conn, status, error);
            metric_inc (self->exports);
            return s_send (conn, MHD_HTTP_OK, "text/csv; charset=utf-8", text, strlen (text),
                           true, NULL);
        }
        default:
            return s_send_json (conn, status, s_serve_json (self, conn, route, id, full, &status));
    }
}

//  libmicrohttpd access handler. The first call sees the request line and
//  headers: a refusal is sent at once (libmicrohttpd then closes the
//  connection, leaving any body unread). A served request is answered on
//  the second call, once the (empty) request is complete.
static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    report_http_t *self = (report_http_t *) cls;
    (void) version;
    (void) upload_data;
    int status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    if (*con_cls == NULL) {
        //  the headers are complete: the header deadline is met
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        if (info)
            report_guard_disarm (self->guard, info->socket_context);
        int roles = 0;
        json_t *refusal = s_refuse (self, conn, url, method, &status, &roles);
        if (!refusal) {
            //  marks the request as admitted, and what it may see
            *con_cls = roles & REPORT_ROLE_EXPORT ? &s_admitted_full : &s_admitted_masked;
            return MHD_YES;
        }
        metric_inc (self->requests);
        log_debug ("report: %s \"%.80s\" %d", method, url, status);
        return s_send_json (conn, status, refusal);
    }
    //  a body nobody announced (we refuse announced ones): drop the client
    if (*upload_data_size != 0)
        return MHD_NO;
    metric_inc (self->requests);
    log_debug ("report: %s \"%.80s\"", method, url);
    return s_serve (self, conn, url, *con_cls == &s_admitted_full);
}

//  A connection opened (watched for its first request's headers) or
//  closed (no longer watched; libmicrohttpd closes its socket after this).
static void
s_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    report_http_t *self = (report_http_t *) cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = MHD_get_connection_info (
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = info ? report_guard_watch (self->guard, info->connect_fd) : NULL;
    }
    else {
        report_guard_unwatch (self->guard, *socket_context);
        *socket_context = NULL;
    }
}

//  A request ended: the next one on the connection has its headers due
//  within the deadline again.
static void
s_completed (void *cls, struct MHD_Connection *conn, void **con_cls,
             enum MHD_RequestTerminationCode toe)
{
    (void) con_cls;
    (void) toe;
    report_http_t *self = (report_http_t *) cls;
    const union MHD_ConnectionInfo *info = MHD_get_connection_info (
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info)
        report_guard_arm (self->guard, info->socket_context);
}

//  Each connection is a descriptor: raise the soft limit to cover
//  connection_limit when the hard one allows (like Redis's maxclients).
static void
s_raise_fd_limit (long long connections)
{
    struct rlimit limit;
    rlim_t want = (rlim_t) connections + FDS_SPARE;
    if (getrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur >= want)
        return;
    limit.rlim_cur = limit.rlim_max == RLIM_INFINITY || limit.rlim_max >= want ? want
                   : limit.rlim_max;
    if (setrlimit (RLIMIT_NOFILE, &limit) != 0 || limit.rlim_cur < want)
        log_warning ("report: open files are limited to %llu: fewer than connection_limit "
                     "%lld needs; raise the hard limit (ulimit -Hn, LimitNOFILE=)",
                     (unsigned long long) limit.rlim_cur, connections);
}

report_http_t *
report_http_new (const config_t *config, report_pool_t *pool, report_hub_t *hub,
                 metrics_t *metrics)
{
    const char *bind = config_str (config, "http_bind");
    int port = (int) config_int (config, "http_port");
    struct sockaddr_storage addr;
    unsigned int flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD
                       | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    int family = httpd_sockaddr (bind, port, &addr);
    bool v6 = family == 6;
    if (v6)
        flags |= MHD_USE_IPv6;
    if (family < 0) {
        log_error ("report: http_bind \"%s\" is not a numeric IPv4 or IPv6 address", bind);
        return NULL;
    }
    report_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("report: calloc() failed: out of memory");
        return NULL;
    }
    pthread_mutex_init (&self->log_lock, NULL);
    self->pool = pool;
    self->hub = hub;
    self->metrics = metrics;
    self->static_dir = strdup (config_str (config, "static_dir"));
    self->media_dir = strdup (config_str (config, "media_dir"));
    self->guard = report_guard_new (config, metrics);
    self->ledger_max_rows = config_int (config, "ledger_max_rows");
    snprintf (self->fraction, sizeof self->fraction, "%g", config_double (config, "yellow_fraction"));
    snprintf (self->scale, sizeof self->scale, "%g", config_double (config, "time_scale"));
    snprintf (self->list_max, sizeof self->list_max, "%lld", config_int (config, "list_max"));
    snprintf (self->sample, sizeof self->sample, "%lld", config_int (config, "perf_sample"));
    self->stream_max = (int) config_int (config, "stream_max");
    atomic_init (&self->streams_open, 0);
    int timeout_s = (int) config_int (config, "connection_timeout_s");
    self->keepalive_ms = timeout_s * 1000 / 2 < 15000 ? timeout_s * 1000 / 2 : 15000;
    self->requests = metrics_counter (metrics, "http_requests_total", "HTTP requests answered");
    self->streams = metrics_gauge (metrics, "stream_connections", "event-stream screens connected");
    self->exports = metrics_counter (metrics, "ledger_exports_total", "ledger CSV exports started");
    self->refused_streams = metrics_counter (metrics, "stream_refusals_total",
                                             "event streams refused: stream_max reached");
    self->refused_auth = metrics_counter (metrics, "auth_refusals_total",
                                          "requests refused for their token or Host");
    if (!self->static_dir || !self->media_dir || !self->guard) {
        report_guard_destroy (&self->guard);
        pthread_mutex_destroy (&self->log_lock);
        free (self->static_dir);
        free (self->media_dir);
        free (self);
        return NULL;
    }
    long long limit = config_int (config, "connection_limit");
    s_raise_fd_limit (limit);
    errno = 0;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_answer, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, self,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape_none, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) limit,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT,
            (unsigned int) config_int (config, "connection_limit_per_ip"),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) timeout_s,
        MHD_OPTION_NOTIFY_CONNECTION, s_connection, self,
        MHD_OPTION_NOTIFY_COMPLETED, s_completed, self,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_MEMORY_LIMIT,
        MHD_OPTION_THREAD_STACK_SIZE, (size_t) (256 * 1024),
        MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("report: MHD_start_daemon() \"%s%s%s:%d\" failed: %s", v6 ? "[" : "", bind,
                   v6 ? "]" : "", port, errno ? strerror (errno) : "see the lines above");
        report_guard_destroy (&self->guard);
        pthread_mutex_destroy (&self->log_lock);
        free (self->static_dir);
        free (self->media_dir);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = MHD_get_daemon_info (self->daemon,
                                                            MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : port;
    log_notice ("report: listening on http://%s%s%s:%d", v6 ? "[" : "", bind, v6 ? "]" : "",
                self->port);
    return self;
}

void
report_http_destroy (report_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_http_t *self = *self_p;
    if (self->daemon)
        MHD_stop_daemon (self->daemon);
    report_guard_destroy (&self->guard);
    pthread_mutex_destroy (&self->log_lock);
    free (self->static_dir);
    free (self->media_dir);
    free (self);
    *self_p = NULL;
}

int
report_http_port (const report_http_t *self)
{
    return self->port;
}

unsigned long
report_http_requests (const report_http_t *self)
{
    return (unsigned long) metric_value (self->requests);
}
