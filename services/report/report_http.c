/*  report_http.c — libmicrohttpd server for the report: one internal
    polling thread routes every request and answers it, so the store is
    used by that one thread only. No request here has a body. */
#include "report_http.h"

#include <arpa/inet.h>
#include <errno.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include "log.h"
#include "report_api.h"
#include "report_page.h"

#define HTTP_MEMORY_LIMIT (16 * 1024)   //  per-connection pool: request line and headers
#define JSON_TYPE "application/json; charset=utf-8"
#define HTML_TYPE "text/html; charset=utf-8"
#define PAGE_CSP "default-src 'none'; script-src 'unsafe-inline'; " \
                 "style-src 'unsafe-inline'; connect-src 'self'"

struct _report_http_t {
    struct MHD_Daemon *daemon;  //  the server, running its own thread
    store_t *store;             //  borrowed; used only from the server thread
    int port;                   //  port actually bound
    unsigned long requests;     //  requests answered (written by the server thread)
};

//  libmicrohttpd's own messages go to our log as warnings.
static void
s_mhd_log (void *cls, const char *fmt, va_list ap)
{
    (void) cls;
    char line [512];
    vsnprintf (line, sizeof line, fmt, ap);
    size_t len = strlen (line);
    while (len > 0 && (line [len - 1] == '\n' || line [len - 1] == '\r'))
        line [--len] = 0;
    log_warning ("report: libmicrohttpd: %s", line);
}

//  Leave URLs as sent: no route or case id needs a %-escape, and decoding
//  would let "/api/cases/a%00b" reach the store as "a". Returns the length.
static size_t
s_unescape_none (void *cls, struct MHD_Connection *conn, char *text)
{
    (void) cls;
    (void) conn;
    return strlen (text);
}

//  Queue one response with the common headers. text is freed by
//  libmicrohttpd when must_free, else it must be static.
static enum MHD_Result
s_send (struct MHD_Connection *conn, int status, const char *type, char *text,
        size_t len, bool must_free)
{
    struct MHD_Response *response = MHD_create_response_from_buffer (
        len, text, must_free ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        if (must_free)
            free (text);
        return MHD_NO;
    }
    MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header (response, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    MHD_add_response_header (response, MHD_HTTP_HEADER_X_CONTENT_TYPE_OPTIONS, "nosniff");
    if (status == MHD_HTTP_METHOD_NOT_ALLOWED)
        MHD_add_response_header (response, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
    if (strcmp (type, HTML_TYPE) == 0)
        MHD_add_response_header (response, MHD_HTTP_HEADER_CONTENT_SECURITY_POLICY, PAGE_CSP);
    enum MHD_Result rc = MHD_queue_response (conn, (unsigned int) status, response);
    MHD_destroy_response (response);
    return rc;
}

//  Send body as JSON and decref it. Out of memory becomes a 500.
static enum MHD_Result
s_send_json (struct MHD_Connection *conn, int status, json_t *body)
{
    static char oom [] = "{\"ok\":false,\"code\":\"INTERNAL\",\"message\":\"out of memory\"}";
    char *text = body ? json_dumps (body, JSON_COMPACT) : NULL;
    json_decref (body);
    if (!text)
        return s_send (conn, MHD_HTTP_INTERNAL_SERVER_ERROR, JSON_TYPE, oom, strlen (oom), false);
    return s_send (conn, status, JSON_TYPE, text, strlen (text), true);
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

//  Refuse a request from its request line and headers alone: an unknown
//  path, a wrong method or an announced body. Returns the error body and
//  sets *status, or NULL when the request is one we serve.
static json_t *
s_refuse (struct MHD_Connection *conn, const char *url, const char *method, int *status)
{
    char id [REPORT_CASE_ID_MAX + 1];
    report_route_t route = report_api_route (url, id);
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
    return NULL;
}

//  Serve a request s_refuse let through. Sets *status and returns the
//  JSON body, or sets *page for the dashboard. Only the store calls here
//  touch Redis; each is bounded by the store's timeout.
static json_t *
s_serve (report_http_t *self, const char *url, int *status, bool *page)
{
    char id [REPORT_CASE_ID_MAX + 1];
    json_t *reply = NULL;
    json_t *body = NULL;
    switch (report_api_route (url, id)) {
        case REPORT_ROUTE_BAD_ID:
            *status = MHD_HTTP_BAD_REQUEST;
            body = report_api_error ("BAD_VALUE",
                                     "a case id is 1 to 64 characters of A-Z a-z 0-9 . _ -");
            break;
        case REPORT_ROUTE_PAGE:
            *status = MHD_HTTP_OK;
            *page = true;
            break;
        case REPORT_ROUTE_STATS:
            reply = store_callv (self->store, "gc_stats", NULL);
            body = report_api_stats_answer (reply, status);
            break;
        case REPORT_ROUTE_CASE:
            reply = store_callv (self->store, "gc_case_get", id, NULL);
            body = report_api_case_answer (reply, status);
            break;
        case REPORT_ROUTE_HEALTH:
            reply = store_callv (self->store, "gc_stats", NULL);
            body = report_api_health_answer (reply, status);
            break;
        default:
            *status = MHD_HTTP_NOT_FOUND;
            body = report_api_error ("NOT_FOUND", "no such path");
            break;
    }
    json_decref (reply);
    return body;
}

//  libmicrohttpd access handler. The first call sees the request line and
//  headers: a refusal is sent at once (libmicrohttpd then closes the
//  connection, leaving any body unread). A served request is answered on
//  the second call, once the (empty) request is complete, so the
//  connection can be kept alive for the next poll.
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
        json_t *refusal = s_refuse (conn, url, method, &status);
        if (!refusal) {
            *con_cls = self;        //  marks the request as admitted
            return MHD_YES;
        }
        self->requests++;
        log_debug ("report: %s \"%.80s\" %d", method, url, status);
        return s_send_json (conn, status, refusal);
    }
    //  a body nobody announced (we refuse announced ones): drop the client
    if (*upload_data_size != 0)
        return MHD_NO;
    bool page = false;
    json_t *body = s_serve (self, url, &status, &page);
    self->requests++;
    log_debug ("report: %s \"%.80s\" %d", method, url, status);
    if (page)
        return s_send (conn, status, HTML_TYPE, (char *) report_page_html,
                       strlen (report_page_html), false);
    return s_send_json (conn, status, body);
}

int
report_http_check_bind (const char *bind)
{
    struct in6_addr addr;
    return inet_pton (AF_INET, bind, &addr) == 1 || inet_pton (AF_INET6, bind, &addr) == 1
         ? 0 : -1;
}

report_http_t *
report_http_new (const config_t *config, store_t *store)
{
    const char *bind = config_str (config, "http_bind");
    int port = (int) config_int (config, "http_port");
    struct sockaddr_storage addr;
    memset (&addr, 0, sizeof addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *) &addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) &addr;
    unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG;
    bool v6 = false;
    if (inet_pton (AF_INET, bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons ((uint16_t) port);
    }
    else
    if (inet_pton (AF_INET6, bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        flags |= MHD_USE_IPv6;
        v6 = true;
    }
    else {
        log_error ("report: http_bind \"%s\" is not a numeric IPv4 or IPv6 address", bind);
        return NULL;
    }
    report_http_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("report: calloc() failed: out of memory");
        return NULL;
    }
    self->store = store;
    errno = 0;
    self->daemon = MHD_start_daemon (
        flags, (uint16_t) port, NULL, NULL, s_answer, self,
        MHD_OPTION_EXTERNAL_LOGGER, s_mhd_log, NULL,
        MHD_OPTION_UNESCAPE_CALLBACK, s_unescape_none, NULL,
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int) config_int (config, "connection_limit"),
        MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int) config_int (config, "connection_timeout_s"),
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t) HTTP_MEMORY_LIMIT,
        MHD_OPTION_END);
    if (!self->daemon) {
        log_error ("report: MHD_start_daemon() \"%s%s%s:%d\" failed: %s", v6 ? "[" : "", bind,
                   v6 ? "]" : "", port, errno ? strerror (errno) : "see the lines above");
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
    return self->requests;
}
