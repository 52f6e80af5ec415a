/*  metrics.c — Prometheus counters and gauges: a registry appended to
    under a mutex at start-up, values changed with C11 atomics from any
    thread, rendered to text on demand; plus a libmicrohttpd /metrics. */
#include "metrics.h"

#include <arpa/inet.h>
#include <dlfcn.h>
#include <inttypes.h>
#include <microhttpd.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "httpd.h"
#include "log.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"

struct _metric_t {
    char *name;                 //  full name with prefix, and labels if any
    size_t base_len;            //  length of the name before any '{'
    char *help;                 //  one line of help
    bool gauge;                 //  gauge, else counter
    _Atomic int64_t value;      //  the value
    metric_t *next;             //  registration order
};

struct _metrics_t {
    char *prefix;               //  prepended to every name
    pthread_mutex_t lock;       //  guards the list (not the values)
    metric_t *first;            //  first registered
    metric_t *last;             //  last registered
    char *labels;               //  'instance="a"' on every series, or NULL
};

struct _metrics_http_t {
    struct MHD_Daemon *daemon;  //  the server, on its own thread
    metrics_t *metrics;         //  borrowed
    httpd_watch_t *watch;       //  cuts a connection whose headers come too slowly
    int port;                   //  port bound
};

//  A connection's first scrape's headers are due within this (a scraper
//  keeping its connection between scrapes is left to the idle timeout, not
//  cut and logged each time); one address holds at most
//  METRICS_PER_IP connections: a few slow clients must not starve the
//  endpoint a liveness probe reads (deploy/k8s).
#define METRICS_HEADER_MS 10000
#define METRICS_PER_IP 8

metrics_t *
metrics_new (const char *prefix)
{
    metrics_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->prefix = strdup (prefix ? prefix : "");
    if (!self->prefix) {
        free (self);
        return NULL;
    }
    pthread_mutex_init (&self->lock, NULL);
    return self;
}

void
metrics_destroy (metrics_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_t *self = *self_p;
    metric_t *m = self->first;
    while (m) {
        metric_t *next = m->next;
        free (m->help);
        free (m->name);
        free (m);
        m = next;
    }
    pthread_mutex_destroy (&self->lock);
    free (self->labels);
    free (self->prefix);
    free (self);
    *self_p = NULL;
}

int
metrics_set_instance (metrics_t *self, const char *instance)
{
    //  a label value is quoted: keep it to characters that need no escape
    for (const char *c = instance; *c; c++)
        if (*c == '"' || *c == '\\' || *c < 0x20)
            return -1;
    char *labels = NULL;
    if (asprintf (&labels, "instance=\"%s\"", instance) < 0)
        return -1;
    pthread_mutex_lock (&self->lock);
    free (self->labels);
    self->labels = labels;
    pthread_mutex_unlock (&self->lock);
    return 0;
}

//  True when name is a valid metric name, optionally followed by one
//  {labels} group running to the end. Sets *base_len to the name's length.
static bool
s_name_valid (const char *name, size_t *base_len)
{
    size_t i = 0;
    for (; name [i] && name [i] != '{'; i++) {
        char c = name [i];
        bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_' || c == ':';
        if (!alpha && !(i > 0 && c >= '0' && c <= '9'))
            return false;
    }
    *base_len = i;
    if (i == 0)
        return false;
    if (name [i] == 0)
        return true;
    size_t len = strlen (name);
    return len > i + 2 && name [len - 1] == '}' && !strchr (name + i + 1, '\n');
}

static metric_t *
s_register (metrics_t *self, const char *name, const char *help, bool gauge)
{
    size_t base_len;
    if (!self || !name || !s_name_valid (name, &base_len)) {
        log_error ("metrics: metric name \"%s\" is not valid", name ? name : "(null)");
        return NULL;
    }
    size_t len = strlen (self->prefix) + strlen (name) + 1;
    char *full = malloc (len);
    if (!full)
        return NULL;
    snprintf (full, len, "%s%s", self->prefix, name);
    pthread_mutex_lock (&self->lock);
    for (metric_t *m = self->first; m; m = m->next) {
        if (strcmp (m->name, full) == 0) {
            pthread_mutex_unlock (&self->lock);
            free (full);
            return m;
        }
    }
    metric_t *m = calloc (1, sizeof *m);
    char *h = strdup (help ? help : "");
    if (!m || !h) {
        pthread_mutex_unlock (&self->lock);
        free (m);
        free (h);
        free (full);
        return NULL;
    }
    for (char *p = h; *p; p++)
        if (*p == '\n')
            *p = ' ';
    m->name = full;
    m->base_len = strlen (self->prefix) + base_len;
    m->help = h;
    m->gauge = gauge;
    atomic_init (&m->value, 0);
    if (self->last)
        self->last->next = m;
    else
        self->first = m;
    self->last = m;
    pthread_mutex_unlock (&self->lock);
    return m;
}

metric_t *
metrics_counter (metrics_t *self, const char *name, const char *help)
{
    return s_register (self, name, help, false);
}

metric_t *
metrics_gauge (metrics_t *self, const char *name, const char *help)
{
    return s_register (self, name, help, true);
}

void
metric_inc (metric_t *metric)
{
    if (metric)
        atomic_fetch_add (&metric->value, 1);
}

void
metric_add (metric_t *metric, int64_t delta)
{
    if (metric)
        atomic_fetch_add (&metric->value, delta);
}

void
metric_set (metric_t *metric, int64_t value)
{
    if (metric)
        atomic_store (&metric->value, value);
}

int64_t
metric_value (const metric_t *metric)
{
    return metric ? atomic_load (&((metric_t *) metric)->value) : 0;
}

//  True when a metric before m in the list has m's base name.
static bool
s_base_seen (const metrics_t *self, const metric_t *m)
{
    for (const metric_t *o = self->first; o != m; o = o->next)
        if (o->base_len == m->base_len && memcmp (o->name, m->name, m->base_len) == 0)
            return true;
    return false;
}

char *
metrics_render (metrics_t *self)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    pthread_mutex_lock (&self->lock);
    for (const metric_t *m = self->first; m; m = m->next) {
        //  group by base name: HELP and TYPE once, then every labelled series
        if (s_base_seen (self, m))
            continue;
        fprintf (out, "# HELP %.*s %s\n# TYPE %.*s %s\n", (int) m->base_len, m->name, m->help,
                 (int) m->base_len, m->name, m->gauge ? "gauge" : "counter");
        for (const metric_t *o = m; o; o = o->next) {
            if (o->base_len != m->base_len || memcmp (o->name, m->name, m->base_len) != 0)
                continue;
            const char *own = o->name [o->base_len] == '{' ? o->name + o->base_len + 1 : NULL;
            if (self->labels)       //  name{labels,own labels}
                fprintf (out, "%.*s{%s%s%s %" PRId64 "\n", (int) o->base_len, o->name,
                         self->labels, own ? "," : "}", own ? own : "", metric_value (o));
            else
                fprintf (out, "%s %" PRId64 "\n", o->name, metric_value (o));
        }
    }
    pthread_mutex_unlock (&self->lock);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

//  libmicrohttpd and the TLS stack it brings (GnuTLS, p11-kit, nettle, gmp...)
//  cost 2.4 MB of RSS once loaded, whether or not a server runs; dispatch,
//  escalate and notify need them only for /metrics, off by default
//  (metrics_port 0), so they are loaded when a server starts. Intake and
//  report link them for their own doors: dlopen finds them loaded.
#define MHD_SONAME "libmicrohttpd.so.12"     //  Debian's libmicrohttpd12 (libmicrohttpd-dev)

static struct {
    __typeof__ (MHD_start_daemon) *start_daemon;
    __typeof__ (MHD_stop_daemon) *stop_daemon;
    __typeof__ (MHD_get_daemon_info) *get_daemon_info;
    __typeof__ (MHD_create_response_from_buffer) *create_response_from_buffer;
    __typeof__ (MHD_add_response_header) *add_response_header;
    __typeof__ (MHD_queue_response) *queue_response;
    __typeof__ (MHD_destroy_response) *destroy_response;
    __typeof__ (MHD_get_connection_info) *get_connection_info;
} s_mhd;
static char s_mhd_error [256];
static pthread_once_t s_mhd_once = PTHREAD_ONCE_INIT;

static void
s_mhd_load (void)
{
    //  never closed: its server threads may outlive any one metrics_http_t
    void *lib = dlopen (MHD_SONAME, RTLD_NOW | RTLD_LOCAL);
    void **fn [] = {
        (void **) &s_mhd.start_daemon, (void **) &s_mhd.stop_daemon,
        (void **) &s_mhd.get_daemon_info, (void **) &s_mhd.create_response_from_buffer,
        (void **) &s_mhd.add_response_header, (void **) &s_mhd.queue_response,
        (void **) &s_mhd.destroy_response, (void **) &s_mhd.get_connection_info
    };
    static const char *const name [] = {
        "MHD_start_daemon", "MHD_stop_daemon", "MHD_get_daemon_info",
        "MHD_create_response_from_buffer", "MHD_add_response_header", "MHD_queue_response",
        "MHD_destroy_response", "MHD_get_connection_info"
    };
    for (size_t i = 0; lib && i < sizeof fn / sizeof fn [0]; i++)
        if (!(*fn [i] = dlsym (lib, name [i]))) {
            snprintf (s_mhd_error, sizeof s_mhd_error, "%s: no %s", MHD_SONAME, name [i]);
            s_mhd.start_daemon = NULL;
            return;
        }
    if (!lib)
        snprintf (s_mhd_error, sizeof s_mhd_error, "%s", dlerror ());
}

//  Answer GET /metrics with the registry, anything else with 404 or 405.
static enum MHD_Result
s_answer (void *cls, struct MHD_Connection *conn, const char *url, const char *method,
          const char *version, const char *upload_data, size_t *upload_data_size,
          void **con_cls)
{
    metrics_http_t *self = (metrics_http_t *) cls;
    (void) version;
    (void) upload_data;
    (void) upload_data_size;
    (void) con_cls;
    const union MHD_ConnectionInfo *info = s_mhd.get_connection_info (
        conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
    if (info)
        httpd_disarm (self->watch, info->socket_context);
    static char not_found [] = "not found: try /metrics\n";
    static char not_allowed [] = "use GET\n";
    char *body = NULL;
    unsigned int status = MHD_HTTP_OK;
    if (strcmp (url, "/metrics") != 0)
        status = MHD_HTTP_NOT_FOUND;
    else
    if (strcmp (method, "GET") != 0 && strcmp (method, "HEAD") != 0)
        status = MHD_HTTP_METHOD_NOT_ALLOWED;
    else
        body = metrics_render (self->metrics);
    if (status == MHD_HTTP_OK && !body)
        status = MHD_HTTP_INTERNAL_SERVER_ERROR;
    const char *text = body ? body : status == MHD_HTTP_METHOD_NOT_ALLOWED ? not_allowed
                                                                           : not_found;
    struct MHD_Response *response = s_mhd.create_response_from_buffer (
        strlen (text), (void *) text, body ? MHD_RESPMEM_MUST_FREE : MHD_RESPMEM_PERSISTENT);
    if (!response) {
        free (body);
        return MHD_NO;
    }
    s_mhd.add_response_header (response, MHD_HTTP_HEADER_CONTENT_TYPE, METRICS_TYPE);
    enum MHD_Result rc = s_mhd.queue_response (conn, status, response);
    s_mhd.destroy_response (response);
    return rc;
}

//  A connection opened (watched: its headers are due) or closed.
static void
s_connection (void *cls, struct MHD_Connection *conn, void **socket_context,
              enum MHD_ConnectionNotificationCode code)
{
    metrics_http_t *self = (metrics_http_t *) cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        const union MHD_ConnectionInfo *info = s_mhd.get_connection_info (
            conn, MHD_CONNECTION_INFO_CONNECTION_FD);
        *socket_context = info ? httpd_watch (self->watch, info->connect_fd) : NULL;
    }
    else {
        httpd_unwatch (self->watch, *socket_context);
        *socket_context = NULL;
    }
}

metrics_http_t *
metrics_http_start (metrics_t *metrics, const char *bind, int port)
{
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    if (!metrics || port < 0 || port > 65535
    ||  inet_pton (AF_INET, bind ? bind : "127.0.0.1", &addr.sin_addr) != 1) {
        log_error ("metrics: cannot serve on \"%s:%d\": not a numeric IPv4 address and port",
                   bind ? bind : "(null)", port);
        return NULL;
    }
    pthread_once (&s_mhd_once, s_mhd_load);
    if (!s_mhd.start_daemon) {
        log_error ("metrics: cannot load libmicrohttpd: %s", s_mhd_error);
        return NULL;
    }
    metrics_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = metrics;
    self->watch = httpd_watch_new ("metrics", METRICS_HEADER_MS, NULL);
    self->daemon = self->watch ? s_mhd.start_daemon (
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, (uint16_t) port, NULL, NULL,
        s_answer, self, MHD_OPTION_SOCK_ADDR, (struct sockaddr *) &addr,
        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_CONNECTION_TIMEOUT, 30u,
        MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned int) METRICS_PER_IP,
        MHD_OPTION_NOTIFY_CONNECTION, s_connection, self, MHD_OPTION_END) : NULL;
    if (!self->daemon) {
        log_error ("metrics: MHD_start_daemon() \"%s:%d\" failed", bind ? bind : "", port);
        httpd_watch_destroy (&self->watch);
        free (self);
        return NULL;
    }
    const union MHD_DaemonInfo *info = s_mhd.get_daemon_info (self->daemon,
                                                              MHD_DAEMON_INFO_BIND_PORT);
    self->port = info && info->port ? info->port : port;
    log_notice ("metrics: serving http://%s:%d/metrics", bind ? bind : "127.0.0.1", self->port);
    return self;
}

int
metrics_http_port (const metrics_http_t *self)
{
    return self ? self->port : 0;
}

void
metrics_http_stop (metrics_http_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    metrics_http_t *self = *self_p;
    if (self->daemon)
        s_mhd.stop_daemon (self->daemon);
    httpd_watch_destroy (&self->watch);
    free (self);
    *self_p = NULL;
}
