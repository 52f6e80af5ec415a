/*  dispatch_server.h — the dispatch loop: unit sessions on a ROUTER, work
    wake-ups on a PULL, a sweep of the pending set, offers committed in
    Redis before they are sent. */
#ifndef DISPATCH_SERVER_H
#define DISPATCH_SERVER_H

#include "config.h"

typedef struct _dispatch_server_t dispatch_server_t;

//  Bind and connect the sockets in config. Returns NULL on failure
//  (logged). The config is borrowed and must outlive the server.
dispatch_server_t *dispatch_server_new (const config_t *config);
void dispatch_server_destroy (dispatch_server_t **self_p);
//  Serve until interrupted. Returns 0.
int dispatch_server_run (dispatch_server_t *self);

#endif
