/*  intake_server.h — the intake loop: a ROUTER for reporters, a batch of
    requests per loop turn pipelined to Redis, replies only after Redis has
    committed, then wake-ups to dispatch and notify. */
#ifndef INTAKE_SERVER_H
#define INTAKE_SERVER_H

#include "config.h"

typedef struct _intake_server_t intake_server_t;

//  Bind and connect the sockets named in config. Returns NULL on failure
//  (logged). The config is borrowed and must outlive the server.
intake_server_t *intake_server_new (const config_t *config);
void intake_server_destroy (intake_server_t **self_p);
//  Serve until interrupted. Returns 0.
int intake_server_run (intake_server_t *self);

#endif
