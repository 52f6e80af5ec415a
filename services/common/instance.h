/*  instance.h — one running instance of a daemon as the cluster sees it:
    its name (the `instance` option, or host:pid) and the record it keeps
    in Redis every second for `gridcall status` (role, last sweep, RSS,
    open files, counters), lapsing a few seconds after the last beat. */
#ifndef GC_INSTANCE_H
#define GC_INSTANCE_H

#include <jansson.h>
#include <stdbool.h>

#include "config.h"
#include "store.h"

typedef struct _instance_t instance_t;

#define INSTANCE_BEAT_MS 1000   //  a record a second
#define INSTANCE_TTL_MS  5000   //  gone from status 5 s after the last

//  daemon is "dispatch", "intake", ...; beat_fn the library function that
//  keeps the record ("gc_instance_beat", named by each daemon so the ACL
//  generator sees which users call it). NULL on no memory.
instance_t *instance_new (const config_t *config, const char *daemon, const char *beat_fn);
void instance_destroy (instance_t **self_p);
//  The name config gives this process: the instance option, or
//  "<host>:<pid>"; spaces, slashes, quotes and backslashes become '_'.
void instance_name_of (const config_t *config, char *name, size_t size);
//  Our name: "<host>:<pid>" unless the instance option names us.
const char *instance_name (const instance_t *self);
//  True when a beat is due (once a second).
bool instance_due (instance_t *self, long long now_ms);
//  Write the record: fields (stolen; an object, may be NULL) plus daemon,
//  instance, host, pid, started_ms, rss_kb and fds. Failures are ignored:
//  the record lapses and status shows the instance as silent.
void instance_beat (instance_t *self, store_t *store, json_t *fields);
//  The process's resident set (kB) and open file descriptors, from /proc.
long instance_rss_kb (void);
long instance_fds (void);

#endif
