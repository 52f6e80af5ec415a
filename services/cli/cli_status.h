/*  cli_status.h — gridcall status: every running instance of every daemon
    (the records they keep in Redis), its role, how long since it last
    spoke, its last sweep, each stage's lag and the Redis replication. */
#ifndef CLI_STATUS_H
#define CLI_STATUS_H

#include "config.h"

//  gridcall status [--json]. Returns 0, or 1 when Redis cannot be read.
int cli_status (const config_t *config, int argc, char **argv);

#endif
