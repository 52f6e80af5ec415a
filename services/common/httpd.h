/*  httpd.h — what the HTTP servers of the cluster (report's screen API,
    intake's front doors; both libmicrohttpd, a thread per connection)
    share: the loopback test of a bind address, and the header deadline.
    libmicrohttpd's connection timeout only counts idle time, so a client
    sending a header byte every few seconds would hold its connection for
    ever; a watchdog thread shuts such a socket down (shutdown, not close:
    the fd stays the connection's until libmicrohttpd closes it, after
    telling us through unwatch). */
#ifndef GC_HTTPD_H
#define GC_HTTPD_H

#include <stdbool.h>
#include <sys/socket.h>

#include "metrics.h"

//  True when bind is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x).
bool httpd_loopback (const char *bind);
//  The socket address of a numeric bind address and port into addr.
//  Returns 4 or 6 (its family), or -1 when bind is not a numeric address.
int httpd_sockaddr (const char *bind, int port, struct sockaddr_storage *addr);

typedef struct _httpd_watch_t httpd_watch_t;

//  Start the watchdog: a connection's headers are due within header_ms.
//  who names the daemon in log lines; metrics (may be NULL) gains
//  header_timeouts_total. NULL with a log line on failure.
httpd_watch_t *httpd_watch_new (const char *who, long long header_ms, metrics_t *metrics);
//  Stop the watchdog and free; call after the HTTP server stopped.
void httpd_watch_destroy (httpd_watch_t **self_p);

//  A connection that opened (watch) or finished a request (arm) must
//  complete its next request's headers within the deadline or the
//  watchdog shuts its socket down; disarm when they are complete; unwatch
//  when the connection is closed, before its socket is. watch returns a
//  handle for the others, NULL on no memory (the connection is then not
//  watched).
void *httpd_watch (httpd_watch_t *self, int fd);
void httpd_arm (httpd_watch_t *self, void *handle);
void httpd_disarm (httpd_watch_t *self, void *handle);
//  Once the headers are in: the rest of the request (its body) is due
//  within ms, else the socket is shut down as for late headers (a client
//  sending a body byte now and then holds its connection too).
void httpd_arm_for (httpd_watch_t *self, void *handle, long long ms);
void httpd_unwatch (httpd_watch_t *self, void *handle);
//  Connections cut so far.
unsigned long httpd_cut (const httpd_watch_t *self);

#endif
