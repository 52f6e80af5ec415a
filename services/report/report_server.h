/*  report_server.h — the report daemon: the store, the HTTP server that
    reads through it on its own thread, and the wait for a stop signal. */
#ifndef REPORT_SERVER_H
#define REPORT_SERVER_H

#include "config.h"

typedef struct _report_server_t report_server_t;

//  Create the store and start the HTTP server from config. Returns NULL on
//  failure (logged). The config is borrowed and must outlive the server.
report_server_t *report_server_new (const config_t *config);
//  Stop the HTTP server, then drop the store; free and set *self_p to NULL.
void report_server_destroy (report_server_t **self_p);
//  Serve until interrupted (SIGTERM, SIGINT). Returns 0.
int report_server_run (report_server_t *self);

#endif
