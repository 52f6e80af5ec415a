/*  report_server.h — the report daemon: the Redis connection pool, the
    live feed thread and its hub, the HTTP server, the metrics registry,
    and the wait for a stop signal. */
#ifndef REPORT_SERVER_H
#define REPORT_SERVER_H

#include "config.h"

typedef struct _report_server_t report_server_t;

//  Create the parts from config and start the feed and HTTP threads.
//  Returns NULL on failure (logged). The config is borrowed and must
//  outlive the server.
report_server_t *report_server_new (const config_t *config);
//  Stop HTTP and the feed, then free the rest; set *self_p to NULL.
void report_server_destroy (report_server_t **self_p);
//  Serve until interrupted (SIGTERM, SIGINT). Returns 0.
int report_server_run (report_server_t *self);

#endif
