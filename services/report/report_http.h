/*  report_http.h — the report's HTTP server (libmicrohttpd, one internal
    thread): routes GET requests to the dashboard page, the JSON API and
    the health check, reading Redis through the store on that thread. */
#ifndef REPORT_HTTP_H
#define REPORT_HTTP_H

#include "config.h"
#include "store.h"

typedef struct _report_http_t report_http_t;

//  Start serving on http_bind:http_port (0 picks a free port) and log
//  "listening on http://ADDR:PORT". The store is borrowed and used only from
//  the server's thread until destroy. Returns NULL with a log line on failure.
report_http_t *report_http_new (const config_t *config, store_t *store);

//  Stop serving (waits for the server thread), free, set *self_p to NULL.
void report_http_destroy (report_http_t **self_p);

//  The port actually bound.
int report_http_port (const report_http_t *self);

//  Requests answered so far; read it only after destroy's stop, or for logs.
unsigned long report_http_requests (const report_http_t *self);

//  Check that bind is a numeric IPv4 or IPv6 address. Returns 0 or -1.
int report_http_check_bind (const char *bind);

#endif
