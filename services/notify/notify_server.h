/*  notify_server.h — the gridcall-notify loop: wake-ups on a PULL, a sweep
    of pending:notify, delivery of each job to the log, the PUB socket and
    the webhooks, and the result back to Redis with gc_job_done. */
#ifndef NOTIFY_SERVER_H
#define NOTIFY_SERVER_H

#include "config.h"

#include <stddef.h>

typedef struct _notify_server_t notify_server_t;

//  Check the options taken together: the webhooks list parses, and an
//  unsigned webhook (webhook_secret unset) goes to this machine only.
//  Returns 0, or -1 with what to set in err.
int notify_server_check_config (const config_t *config, char *err, size_t errlen);

//  Bind the sockets and set up the store and webhook client from config
//  (borrowed for the call only). Returns NULL on a bad webhook list or a
//  failed bind (logged).
notify_server_t *notify_server_new (const config_t *config);
//  Abandon running transfers (their jobs' leases expire and they are
//  retried) and free everything.
void notify_server_destroy (notify_server_t **self_p);

//  Run until zsys_interrupted, then give running transfers a short grace
//  and record what finished. Returns 0, or -1 when polling failed.
int notify_server_run (notify_server_t *self);

#endif
