/*  daemon.h — what every gridcall daemon does the same way: command line
    (-c FILE, --set name=value, --check-config, --help), logging set-up,
    signal handling (SIGPIPE ignored, SIGHUP reloads), and waking the next
    stage after a commit. */
#ifndef GC_DAEMON_H
#define GC_DAEMON_H

#include <jansson.h>

#include "config.h"
#include "metrics.h"
#include "gridcall.pb-c.h"

//  Parse the command line into config and set up logging and signals:
//  SIGPIPE is ignored (a Redis that dies must not kill us), SIGINT and
//  SIGTERM set zsys_interrupted, SIGHUP is blocked in every thread and
//  taken by a thread of its own (see gc_daemon_reload_generation), so it
//  never interrupts a poller. Call before anything starts a thread.
//  Returns 0 to run, 1 to exit with success (--help, a valid
//  --check-config), -1 to exit with failure (the reason is printed).
//  With this form SIGHUP cannot re-read the options (no table): it only
//  bumps the reload generation; prefer gc_daemon_init_options.
int gc_daemon_init (int argc, char **argv, const char *name, config_t *config);
//  Same, knowing the daemon's option table (the one config was made from):
//  SIGHUP re-reads -c FILE and the --set overrides, applies log_level at
//  once, logs "reloaded ..." naming the changed options that need a
//  restart, then bumps the reload generation. argv must outlive the process.
int gc_daemon_init_options (int argc, char **argv, const char *name,
                            const cfg_option_t *options, config_t *config);

//  A daemon's check of its options taken together (a rule no single
//  option's bounds can say, like "a non-loopback bind needs a token").
//  Returns 0, or -1 with what to set in err.
typedef int (gc_config_check_fn) (const config_t *config, char *err, size_t errlen);
//  Register check before gc_daemon_main / gc_daemon_init_options: it then
//  runs after every load (start, --check-config, SIGHUP), and a failure
//  refuses the configuration like a bad value.
void gc_daemon_set_check (gc_config_check_fn *check);

//  How many SIGHUP reloads have completed. A server loop compares it with
//  the value it last saw and re-reads what a reload covers (the directory
//  from Redis) when it changed. Cheap (one atomic load); any thread.
unsigned gc_daemon_reload_generation (void);

//  A daemon's server object, as main sees it.
typedef struct {
    void *(*create) (const config_t *config);   //  NULL on failure (logged)
    int (*run) (void *server);                  //  until interrupted
    void (*destroy) (void *server);
} gc_server_ops_t;

//  The whole of a daemon's main: options, start-up, serve, clean stop.
//  Returns the process exit status.
int gc_daemon_main (int argc, char **argv, const char *name, const cfg_option_t *options,
                    const gc_server_ops_t *ops);

//  Serve the registry at GET /metrics on metrics_bind:metrics_port.
//  Returns the endpoint, or NULL when metrics_port is 0 or it failed (logged).
metrics_http_t *gc_metrics_serve (const config_t *config, metrics_t *metrics);

//  Monotonic milliseconds, for local waits only (due times come from Redis).
long long gc_mono_ms (void);

//  After a commit: push a "notify.job" JobRef for each id in reply.jobs.
//  Returns how many could not be queued (the sweep will find them).
int gc_wake_notify (void *push, const json_t *reply);
//  Fill offer from a committed offer as the transitions describe it (an
//  item of a reply's "offers": offer_id, case_id, ledger, grid, ...). The
//  strings are borrowed from item. Returns 0, or -1 when offer_id or
//  case_id is missing.
int gc_offer_from_json (const json_t *item, Gridcall__V1__Offer *offer);

//  Push a "case.dispatch" CaseRef for one case; reply, when not NULL, is
//  the committed transition's answer, whose version, state, tier, grid and
//  category spare dispatch a read. Returns 1 when it could not be queued.
int gc_wake_dispatch (void *push, const char *case_id, const json_t *reply);

//  Create a socket with the options every daemon socket has (linger; a
//  PUSH never blocks, deep PUSH and PULL queues). Returns it or NULL (logged).
void *gc_socket_new (int type, const char *who);
//  Create a socket and bind or connect it to endpoint. Returns the socket or
//  NULL with a log line. Linger is set so queued messages get a chance.
void *gc_socket_bind (int type, const char *endpoint, const char *who);
void *gc_socket_connect (int type, const char *endpoint, const char *who);

#endif
