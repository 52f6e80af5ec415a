/*  report_pool.h — a few Redis connections for the HTTP threads: a
    request borrows one (with the directory cache that goes with it) for
    its Redis calls and gives it back; no connection is ever shared. */
#ifndef REPORT_POOL_H
#define REPORT_POOL_H

#include "config.h"
#include "report_dir.h"
#include "store.h"

typedef struct _report_pool_t report_pool_t;

//  One borrowed connection and its directory cache.
typedef struct {
    store_t *store;             //  the connection, used by the borrower only
    report_dir_t *dir;          //  directory cache read through that store
} report_conn_t;

//  Create size connections (they connect lazily), their directory caches
//  reading through share (borrowed). NULL on failure (logged).
report_pool_t *report_pool_new (const config_t *config, int size, report_dir_share_t *share);
void report_pool_destroy (report_pool_t **self_p);

//  Borrow a connection, waiting up to timeout_ms for one to come back.
//  NULL when none did (the caller answers 503).
report_conn_t *report_pool_take (report_pool_t *self, int timeout_ms);
//  Give a connection back.
void report_pool_give (report_pool_t *self, report_conn_t *conn);

#endif
