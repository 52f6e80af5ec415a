/*  metrics.c — Prometheus counters and gauges: a registry appended to
    under a mutex at start-up, values changed with C11 atomics from any
    thread, rendered to text on demand; plus a libmicrohttpd /metrics. */
#include "metrics.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "log.h"

#define METRICS_TYPE "text/plain; version=0.0.4; charset=utf-8"
#define METRICS_CLIENTS_MAX 32      //  scrapers read at once; more wait in the backlog
#define METRICS_REQUEST_MAX 4096    //  request line and headers, bytes
#define METRICS_REQUEST_MS  5000    //  a client has this long to send its request
#define METRICS_SEND_MS     5000    //  and to take the answer

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

//  ---------------------------------------------------------------------
//  GET /metrics on plain sockets, one thread polling the listener and its
//  clients. Each request is read whole (bounded, with a deadline), answered
//  and the connection closed.

//  A client being read; fd -1 when the slot is free.
typedef struct {
    int fd;
    int64_t deadline;           //  monotonic ms by which the request must be in
    size_t len;                 //  bytes of buf read
    char buf [METRICS_REQUEST_MAX + 1];
} http_client_t;

struct _metrics_http_t {
    metrics_t *metrics;         //  borrowed
    int port;                   //  port bound
    int listener;               //  the listening socket
    int wake [2];               //  a pipe: stop writes a byte to end the thread
    pthread_t thread;           //  the one thread serving
    http_client_t clients [METRICS_CLIENTS_MAX];
};

static int64_t
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (int64_t) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

//  Write all of data before the deadline; false when the peer stalls or goes.
static bool
s_send_all (int fd, const char *data, size_t len, int64_t deadline)
{
    while (len > 0) {
        ssize_t n = send (fd, data, len, MSG_NOSIGNAL);
        if (n > 0) {
            data += n;
            len -= (size_t) n;
            continue;
        }
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
            return false;
        int64_t left = deadline - s_mono_ms ();
        struct pollfd out = { .fd = fd, .events = POLLOUT };
        if (left <= 0 || poll (&out, 1, (int) left) < 0)
            return false;
    }
    return true;
}

//  Answer the request in client->buf: GET or HEAD /metrics with the
//  registry, anything else with 404, 405 or 400. Closes the connection.
static void
s_answer (metrics_http_t *self, http_client_t *client, bool complete)
{
    static const char not_found [] = "not found: try /metrics\n";
    static const char not_allowed [] = "use GET\n";
    static const char bad [] = "bad request\n";
    char *body = NULL;
    const char *text = not_found;
    int status = 404;
    //  "METHOD SP PATH[?QUERY] SP VERSION"
    char *method = client->buf;
    char *path = complete ? strchr (method, ' ') : NULL;
    char *path_end = path ? strpbrk (path + 1, " ?\r\n") : NULL;
    if (!path || !path_end || *path_end == '\r' || *path_end == '\n') {
        status = 400;
        text = bad;
    }
    else {
        *path++ = 0;
        *path_end = 0;
        bool head = strcmp (method, "HEAD") == 0;
        if (strcmp (path, "/metrics") != 0)
            status = 404;
        else
        if (strcmp (method, "GET") != 0 && !head) {
            status = 405;
            text = not_allowed;
        }
        else
        if ((body = metrics_render (self->metrics)) != NULL) {
            status = 200;
            text = body;
        }
        else
            status = 500;
        if (head)
            text = "";
    }
    const char *reason = status == 200 ? "OK" : status == 404 ? "Not Found"
                       : status == 405 ? "Method Not Allowed" : status == 400 ? "Bad Request"
                       : "Internal Server Error";
    char header [256];
    int hlen = snprintf (header, sizeof header,
                         "HTTP/1.1 %d %s\r\nContent-Type: " METRICS_TYPE "\r\n"
                         "Content-Length: %zu\r\n%sConnection: close\r\n\r\n",
                         status, reason, body ? strlen (body) : strlen (text),
                         status == 405 ? "Allow: GET, HEAD\r\n" : "");
    int64_t deadline = s_mono_ms () + METRICS_SEND_MS;
    if (s_send_all (client->fd, header, (size_t) hlen, deadline))
        s_send_all (client->fd, text, strlen (text), deadline);
    free (body);
    //  what the client sent past its request is read and dropped, so that
    //  closing sends a FIN, not a reset that could destroy the answer
    char sink [1024];
    for (int i = 0; i < 64 && recv (client->fd, sink, sizeof sink, MSG_DONTWAIT) > 0; i++)
        ;
    close (client->fd);
    client->fd = -1;
}

//  Read what the client sent; answer once the headers are in.
static void
s_client_read (metrics_http_t *self, http_client_t *client)
{
    ssize_t n = recv (client->fd, client->buf + client->len,
                      METRICS_REQUEST_MAX - client->len, 0);
    if (n <= 0) {
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
            return;
        close (client->fd);             //  gone before asking
        client->fd = -1;
        return;
    }
    client->len += (size_t) n;
    client->buf [client->len] = 0;
    if (strstr (client->buf, "\r\n\r\n") || strstr (client->buf, "\n\n"))
        s_answer (self, client, true);
    else
    if (client->len == METRICS_REQUEST_MAX)
        s_answer (self, client, false); //  headers past the bound
}

static void *
s_http_thread (void *args)
{
    metrics_http_t *self = (metrics_http_t *) args;
    struct pollfd fds [2 + METRICS_CLIENTS_MAX];
    http_client_t *polled [METRICS_CLIENTS_MAX];
    while (true) {
        int64_t now = s_mono_ms ();
        int timeout = -1;
        size_t n = 0;
        bool room = false;
        fds [n++] = (struct pollfd) { .fd = self->wake [0], .events = POLLIN };
        fds [n++] = (struct pollfd) { .fd = self->listener, .events = POLLIN };
        for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++) {
            http_client_t *client = &self->clients [i];
            if (client->fd >= 0 && client->deadline <= now) {
                close (client->fd);     //  too slow to ask: dropped
                client->fd = -1;
            }
            if (client->fd < 0) {
                room = true;
                continue;
            }
            int left = (int) (client->deadline - now);
            if (timeout < 0 || left < timeout)
                timeout = left;
            polled [n - 2] = client;
            fds [n++] = (struct pollfd) { .fd = client->fd, .events = POLLIN };
        }
        if (!room)
            fds [1].fd = -1;            //  all slots busy: the rest wait in the backlog
        if (poll (fds, (nfds_t) n, timeout) < 0) {
            if (errno == EINTR)
                continue;
            log_error ("metrics: poll() failed: %s", strerror (errno));
            break;
        }
        if (fds [0].revents)
            break;                      //  metrics_http_stop
        for (size_t i = 2; i < n; i++)
            if (fds [i].revents)
                s_client_read (self, polled [i - 2]);
        if (fds [1].revents & POLLIN) {
            int fd = accept4 (self->listener, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
            for (size_t i = 0; fd >= 0 && i < METRICS_CLIENTS_MAX; i++)
                if (self->clients [i].fd < 0) {
                    self->clients [i].fd = fd;
                    self->clients [i].len = 0;
                    self->clients [i].deadline = s_mono_ms () + METRICS_REQUEST_MS;
                    fd = -1;
                }
            if (fd >= 0)
                close (fd);
        }
    }
    return NULL;
}

metrics_http_t *
metrics_http_start (metrics_t *metrics, const char *address, int port)
{
    struct sockaddr_in addr;
    memset (&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons ((uint16_t) port);
    if (!metrics || port < 0 || port > 65535
    ||  inet_pton (AF_INET, address ? address : "127.0.0.1", &addr.sin_addr) != 1) {
        log_error ("metrics: cannot serve on \"%s:%d\": not a numeric IPv4 address and port",
                   address ? address : "(null)", port);
        return NULL;
    }
    metrics_http_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->metrics = metrics;
    self->wake [0] = self->wake [1] = -1;
    for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++)
        self->clients [i].fd = -1;
    int one = 1;
    socklen_t addrlen = sizeof addr;
    self->listener = socket (AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (self->listener < 0
    ||  setsockopt (self->listener, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one)
    ||  bind (self->listener, (struct sockaddr *) &addr, sizeof addr)
    ||  listen (self->listener, 64)
    ||  getsockname (self->listener, (struct sockaddr *) &addr, &addrlen)
    ||  pipe2 (self->wake, O_CLOEXEC)) {
        log_error ("metrics: cannot serve on \"%s:%d\": %s", address ? address : "", port,
                   strerror (errno));
        goto failed;
    }
    self->port = ntohs (addr.sin_port);
    if (pthread_create (&self->thread, NULL, s_http_thread, self)) {
        log_error ("metrics: cannot start its thread");
        goto failed;
    }
    log_notice ("metrics: serving http://%s:%d/metrics", address ? address : "127.0.0.1", self->port);
    return self;
failed:
    if (self->listener >= 0)
        close (self->listener);
    if (self->wake [0] >= 0) {
        close (self->wake [0]);
        close (self->wake [1]);
    }
    free (self);
    return NULL;
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
    if (write (self->wake [1], "", 1) == 1)
        pthread_join (self->thread, NULL);
    for (size_t i = 0; i < METRICS_CLIENTS_MAX; i++)
        if (self->clients [i].fd >= 0)
            close (self->clients [i].fd);
    close (self->listener);
    close (self->wake [0]);
    close (self->wake [1]);
    free (self);
    *self_p = NULL;
}
