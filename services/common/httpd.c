/*  httpd.c — the loopback test and the header-deadline watchdog shared by
    the HTTP servers (httpd.h). */
#include "httpd.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "log.h"

#define WATCH_TICK_MS 100           //  how often the watchdog looks
#define CUT_LOG_MS 10000            //  cuts are logged as a sum at most this often

//  A watched connection: in a list the watchdog walks.
typedef struct _watch_t watch_t;
struct _watch_t {
    int fd;                     //  the connection's socket
    long long deadline;         //  monotonic ms its headers are due; 0 = not waiting
    watch_t *prev;              //  the list
    watch_t *next;
};

struct _httpd_watch_t {
    char who [32];              //  the daemon, for log lines
    long long header_ms;        //  the header deadline
    pthread_mutex_t lock;       //  guards the list and stop
    pthread_cond_t wake;        //  wakes the watchdog to stop
    watch_t *watched;           //  connections open
    bool stop;                  //  asks the watchdog to end
    bool started;               //  the watchdog runs
    pthread_t thread;
    atomic_ulong cut;           //  connections cut
    metric_t *cut_metric;       //  the same, for /metrics
};

static long long
s_now_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

bool
httpd_loopback (const char *bind)
{
    struct in_addr in4;
    struct in6_addr in6;
    if (inet_pton (AF_INET, bind, &in4) == 1)
        return (ntohl (in4.s_addr) >> 24) == 127;
    if (inet_pton (AF_INET6, bind, &in6) == 1)
        return IN6_IS_ADDR_LOOPBACK (&in6)
            || (IN6_IS_ADDR_V4MAPPED (&in6) && in6.s6_addr [12] == 127);
    return false;
}

int
httpd_sockaddr (const char *bind, int port, struct sockaddr_storage *addr)
{
    memset (addr, 0, sizeof *addr);
    struct sockaddr_in *in4 = (struct sockaddr_in *) addr;
    struct sockaddr_in6 *in6 = (struct sockaddr_in6 *) addr;
    if (inet_pton (AF_INET, bind, &in4->sin_addr) == 1) {
        in4->sin_family = AF_INET;
        in4->sin_port = htons ((uint16_t) port);
        return 4;
    }
    if (inet_pton (AF_INET6, bind, &in6->sin6_addr) == 1) {
        in6->sin6_family = AF_INET6;
        in6->sin6_port = htons ((uint16_t) port);
        return 6;
    }
    return -1;
}

static void *
s_watchdog (void *arg)
{
    httpd_watch_t *self = arg;
    unsigned long logged = 0;
    long long logged_at = s_now_ms ();
    pthread_mutex_lock (&self->lock);
    while (!self->stop) {
        long long now = s_now_ms ();
        for (watch_t *w = self->watched; w; w = w->next)
            if (w->deadline && now >= w->deadline) {
                //  counted first: whoever sees the cut sees it counted
                atomic_fetch_add (&self->cut, 1);
                metric_inc (self->cut_metric);
                w->deadline = 0;
                //  the connection's thread then reads end-of-file and closes it
                shutdown (w->fd, SHUT_RDWR);
            }
        unsigned long cut = atomic_load (&self->cut);
        if (cut != logged && now - logged_at >= CUT_LOG_MS) {
            log_warning ("%s: cut %lu connection%s that did not send a request's headers "
                         "within %lld ms, or its body in time", self->who, cut - logged,
                         cut - logged == 1 ? "" : "s", self->header_ms);
            logged = cut;
            logged_at = now;
        }
        struct timespec until;
        clock_gettime (CLOCK_REALTIME, &until);
        until.tv_nsec += WATCH_TICK_MS * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait (&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock (&self->lock);
    return NULL;
}

void *
httpd_watch (httpd_watch_t *self, int fd)
{
    watch_t *w = calloc (1, sizeof *w);
    if (!w)
        return NULL;
    w->fd = fd;
    pthread_mutex_lock (&self->lock);
    w->deadline = s_now_ms () + self->header_ms;
    w->next = self->watched;
    if (self->watched)
        self->watched->prev = w;
    self->watched = w;
    pthread_mutex_unlock (&self->lock);
    return w;
}

void
httpd_arm (httpd_watch_t *self, void *handle)
{
    watch_t *w = handle;
    if (!w)
        return;
    pthread_mutex_lock (&self->lock);
    w->deadline = s_now_ms () + self->header_ms;
    pthread_mutex_unlock (&self->lock);
}

void
httpd_arm_for (httpd_watch_t *self, void *handle, long long ms)
{
    watch_t *w = handle;
    if (!w)
        return;
    pthread_mutex_lock (&self->lock);
    w->deadline = s_now_ms () + ms;
    pthread_mutex_unlock (&self->lock);
}

void
httpd_disarm (httpd_watch_t *self, void *handle)
{
    watch_t *w = handle;
    if (!w)
        return;
    pthread_mutex_lock (&self->lock);
    w->deadline = 0;
    pthread_mutex_unlock (&self->lock);
}

void
httpd_unwatch (httpd_watch_t *self, void *handle)
{
    watch_t *w = handle;
    if (!w)
        return;
    pthread_mutex_lock (&self->lock);
    if (w->prev)
        w->prev->next = w->next;
    else
        self->watched = w->next;
    if (w->next)
        w->next->prev = w->prev;
    pthread_mutex_unlock (&self->lock);
    free (w);
}

unsigned long
httpd_cut (const httpd_watch_t *self)
{
    return atomic_load (&((httpd_watch_t *) self)->cut);
}

httpd_watch_t *
httpd_watch_new (const char *who, long long header_ms, metrics_t *metrics)
{
    httpd_watch_t *self = calloc (1, sizeof *self);
    if (!self) {
        log_error ("%s: httpd_watch_new() failed: out of memory", who);
        return NULL;
    }
    snprintf (self->who, sizeof self->who, "%s", who);
    self->header_ms = header_ms;
    pthread_mutex_init (&self->lock, NULL);
    pthread_cond_init (&self->wake, NULL);
    atomic_init (&self->cut, 0);
    self->cut_metric = metrics ? metrics_counter (metrics, "header_timeouts_total",
                                   "connections cut for sending their headers too slowly")
                             : NULL;
    if (pthread_create (&self->thread, NULL, s_watchdog, self) != 0) {
        log_error ("%s: pthread_create() failed for the header watchdog", who);
        httpd_watch_destroy (&self);
        return NULL;
    }
    self->started = true;
    return self;
}

void
httpd_watch_destroy (httpd_watch_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    httpd_watch_t *self = *self_p;
    if (self->started) {
        pthread_mutex_lock (&self->lock);
        self->stop = true;
        pthread_cond_signal (&self->wake);
        pthread_mutex_unlock (&self->lock);
        pthread_join (self->thread, NULL);
    }
    while (self->watched)
        httpd_unwatch (self, self->watched);
    pthread_cond_destroy (&self->wake);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}
