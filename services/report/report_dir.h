/*  report_dir.h — the street directory as the report reads it: fetched
    from Redis (gc_dir_get) and parsed with the directory class, refetched
    when its version moves, so names, kinds and duty rotas are at hand. */
#ifndef REPORT_DIR_H
#define REPORT_DIR_H

#include "directory.h"
#include "store.h"
#include "street.h"

typedef struct _report_dir_t report_dir_t;
typedef struct _report_dir_share_t report_dir_share_t;

//  What the caches of one daemon share: the latest directory read, so a
//  version is fetched and parsed once, not once per Redis connection.
//  NULL on no memory. Destroy it after its caches.
report_dir_share_t *report_dir_share_new (void);
void report_dir_share_destroy (report_dir_share_t **self_p);

//  Create an empty cache, reading through share (borrowed; NULL: a cache
//  on its own). A cache is used by one thread at a time; caches of one
//  share may be on different threads. NULL on no memory.
report_dir_t *report_dir_new (report_dir_share_t *share);
void report_dir_destroy (report_dir_t **self_p);

//  The directory, refreshed through store when its version has moved (looked
//  at no more than once a second). NULL while none is loaded or Redis is
//  away and none was read before. Borrowed until the next call.
const directory_t *report_dir_get (report_dir_t *self, store_t *store);

//  Names for ids, or the id itself when unknown (dir may be NULL).
const char *report_dir_grid_name (const directory_t *dir, const char *id);
const char *report_dir_community_name (const directory_t *dir, const char *id);
const char *report_dir_category_name (const directory_t *dir, const char *code);
const char *report_dir_unit_name (const directory_t *dir, const char *id);

//  The street's local time for Unix ms at (street_local, the clock
//  dispatch reads): weekday 1..7 (Monday 1), minute of the day, and
//  "YYYY-MM-DD HH:MM:SS" into text (20 bytes); each may be NULL.
void report_dir_local (const directory_t *dir, long long at_ms, int *weekday, int *minute,
                       char *text);

//  True when unit id is on duty at local time at by the rules dispatch
//  applies (its rota, the calendar's holidays and make-up days:
//  street_on_duty). A unit the directory does not know (or no
//  directory) counts as on duty.
bool report_dir_on_duty (const directory_t *dir, const char *id, const street_time_t *at);

#endif
