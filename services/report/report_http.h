/*  report_http.h — the report's HTTP server (libmicrohttpd, a thread per
    connection): the screen page and its static files, the JSON API, the
    server-sent-event stream, the ledger CSV, /metrics and the health
    check. Requests borrow Redis connections from a pool; stream
    connections only read the hub, so no screen waits for another. */
#ifndef REPORT_HTTP_H
#define REPORT_HTTP_H

#include "config.h"
#include "metrics.h"
#include "report_hub.h"
#include "report_pool.h"

typedef struct _report_http_t report_http_t;

//  Start serving on http_bind:http_port (0 picks a free port) and log
//  "listening on http://ADDR:PORT". pool, hub and metrics are borrowed and
//  must outlive the server. Returns NULL with a log line on failure.
report_http_t *report_http_new (const config_t *config, report_pool_t *pool, report_hub_t *hub,
                                metrics_t *metrics);

//  Stop serving (close the hub first so stream connections end), free,
//  set *self_p to NULL.
void report_http_destroy (report_http_t **self_p);

//  The port actually bound.
int report_http_port (const report_http_t *self);

//  Requests answered so far.
unsigned long report_http_requests (const report_http_t *self);

#endif
