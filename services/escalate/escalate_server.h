/*  escalate_server.h — the escalate loop: fires due timers from Redis in
    due order, one atomic claim-and-act per batch, then wakes dispatch and
    notify. Several instances may run; a timer fires once. */
#ifndef ESCALATE_SERVER_H
#define ESCALATE_SERVER_H

#include "config.h"

typedef struct _escalate_server_t escalate_server_t;

//  Connect the sockets in config. Returns NULL on failure (logged). The
//  config is borrowed and must outlive the server.
escalate_server_t *escalate_server_new (const config_t *config);
void escalate_server_destroy (escalate_server_t **self_p);
//  Serve until interrupted. Returns 0.
int escalate_server_run (escalate_server_t *self);

#endif
