/*  report_guard.h — who may ask the report what, and how long a client
    may take to ask: bearer tokens per role (screen, export, metrics), the
    Host check, the deadline for a request's headers (a watchdog thread
    that cuts connections sending them too slowly), and the check that a
    configuration is secure before the daemon starts. */
#ifndef REPORT_GUARD_H
#define REPORT_GUARD_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"
#include "metrics.h"

#define REPORT_TOKEN_MIN 16         //  shortest token accepted, in bytes
#define REPORT_SLOTS_KEPT 32        //  connections streams may never take

//  Roles a request can hold (bits).
typedef enum {
    REPORT_ROLE_SCREEN = 1,         //  the page's data, phone numbers masked
    REPORT_ROLE_EXPORT = 2,         //  the same with phone numbers (the ledger)
    REPORT_ROLE_METRICS = 4         //  GET /metrics
} report_role_t;

typedef struct _report_guard_t report_guard_t;

//  True when bind is a loopback address (127.0.0.0/8, ::1, ::ffff:127.x).
bool report_guard_loopback (const char *bind);

//  Check the report's options taken together: a numeric http_bind; on a
//  bind that is not loopback a screen token; tokens long enough and
//  distinct; stream_max leaving REPORT_SLOTS_KEPT connections; http_hosts
//  well formed. Returns 0, or -1 with what to set in err.
int report_guard_check_config (const config_t *config, char *err, size_t errlen);

//  Create the guard from the options and start its watchdog thread.
//  metrics is borrowed. Returns NULL with a log line on failure.
report_guard_t *report_guard_new (const config_t *config, metrics_t *metrics);
//  Stop the watchdog and free; call after the HTTP server stopped.
void report_guard_destroy (report_guard_t **self_p);

//  True when a request's Host header names this server (host may be
//  NULL: HTTP/1.0 without Host). The port is ignored.
bool report_guard_host_ok (const report_guard_t *self, const char *host);

//  The roles a request holds: from its Authorization header (Bearer, any
//  token) or its ?token= argument (the screen token only: a URL ends up in
//  logs and histories), plus the roles left open (an empty token on a
//  loopback bind). Returns the role bits, or -1 when the request presents
//  a token that matches no role.
int report_guard_roles (const report_guard_t *self, const char *authorization,
                        const char *query_token);

//  The header deadline. A connection that opened (watch) or finished a
//  request (arm) must complete its next request's headers within
//  header_timeout_s or the watchdog shuts its socket down; disarm when
//  they are complete; unwatch when the connection is closed, before its
//  socket is. watch returns a handle for the others, NULL on no memory
//  (the connection is then not watched).
void *report_guard_watch (report_guard_t *self, int fd);
void report_guard_arm (report_guard_t *self, void *handle);
void report_guard_disarm (report_guard_t *self, void *handle);
void report_guard_unwatch (report_guard_t *self, void *handle);

//  Connections cut for sending their headers too slowly, so far.
unsigned long report_guard_cut (const report_guard_t *self);

#endif
