/*  store.h — the one class that talks to Redis. It connects (TCP or Unix
    socket, AUTH as the daemon's ACL user), checks on every connect that
    Redis holds this build's function library (loaded only by the admin
    step, store_setup: `gridcall redis setup`), and calls the functions,
    one at a time or pipelined. Every function returns JSON; transport
    errors drop the connection, which reconnects with back-off on the next
    call. */
#ifndef GC_STORE_H
#define GC_STORE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef struct _store_t store_t;

//  Create a store from the common options (redis_*, key_prefix). who names
//  the daemon in log lines. Connects lazily. Returns NULL on no memory.
store_t *store_new (const config_t *config, const char *who);
void store_destroy (store_t **self_p);

//  Connect now if not connected and the back-off allows. Returns 0 when
//  connected, -1 otherwise (the reason is logged once per outage).
int store_ensure (store_t *self);
//  A daemon's first connect: returns 0 when connected or Redis is not
//  reachable yet (logged; calls retry later), -1 when Redis answered and
//  refused: a wrong password, a user that may not call gc_version, no
//  library or another build's (logged as an error: the daemon must not
//  start).
int store_start (store_t *self);
//  Why Redis refused the last connect (see store_start), or NULL.
const char *store_refusal (const store_t *self);
//  This build's function library version (the SHA-1 of its source).
const char *store_library_version (void);
//  The admin step: load this build's function library (FUNCTION LOAD
//  REPLACE) and check the Redis settings gridcall relies on. Returns
//  {"ok":true,"version":...,"warnings":[...]} or {"ok":false,"message":...};
//  the caller decrefs. Needs a Redis user that may load functions.
json_t *store_setup (store_t *self);
const char *store_prefix (const store_t *self);
//  Redis failures seen so far (connects and calls), for metrics.
unsigned long long store_failures (const store_t *self);

//  Call function fn (e.g. "gc_register") with the prefix and argc arguments.
//  Returns the decoded JSON reply (the caller decrefs), or NULL when Redis
//  is unreachable. A Redis error comes back as {"ok":false,"code":
//  "UNAVAILABLE" (Redis full or read-only) or "INTERNAL", "message": a
//  sentence fit for a client, "detail": Redis's own text, which is logged}.
json_t *store_call (store_t *self, const char *fn, int argc, const char **argv,
                    const size_t *lens);
//  Same with NUL-terminated string arguments ending in NULL.
json_t *store_callv (store_t *self, const char *fn, ...);

//  Pipelining: append calls, then read as many replies, in order. A reply
//  is NULL when the connection failed; every later reply is NULL too.
int store_append (store_t *self, const char *fn, int argc, const char **argv,
                  const size_t *lens);
json_t *store_reply (store_t *self);
//  Send the appended calls now, so Redis works on them while the caller
//  does something else before reading their replies (which would send
//  them first anyway). A failed write shows in the next store_reply.
void store_flush (store_t *self);

//  Wait until the writes this connection made so far reached replicas
//  replicas (Redis WAIT), at most timeout_ms (below redis_timeout_ms).
//  advance first moves the connection's offset to Redis's latest write, for
//  a batch that wrote nothing itself. Call with no reply unread. Returns
//  how many replicas have the writes, or -1 when Redis is unreachable or
//  refuses (the caller cannot tell whether they have them).
int store_wait (store_t *self, int replicas, int timeout_ms, bool advance);

//  Fencing (several dispatches, docs/cluster.md): from now on every call
//  of a function in fns (NULL-terminated, borrowed) goes through the
//  library's wrapper ("gc_fenced") carrying epoch, and is refused unless
//  epoch is still the newest; fns NULL stops it. store_fenced says a call
//  was refused so since store_fence.
void store_fence (store_t *self, const char *wrapper, const char *const *fns,
                  const char *epoch);
bool store_fenced (const store_t *self);

//  Redis's replication as ROLE tells it, for `gridcall status`:
//  {"server": "host:port" or the socket, "role": "master"|"slave"|...,
//   "offset": N, "replicas": [{"addr", "offset", "lag_bytes"}]} on a
//  primary; a replica adds "primary", "state" and "offset". NULL when Redis
//  is unreachable or refuses ROLE.
json_t *store_replication (store_t *self);

//  Load the directory JSON (already validated by the directory class);
//  by names who loads it, for the audit chain.
json_t *store_directory_load (store_t *self, const char *json, const char *by);

#endif
