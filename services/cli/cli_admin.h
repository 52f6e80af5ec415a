/*  cli_admin.h — the administrator's commands on Redis itself: load the
    function library (the one step that may), and read and check the
    hash-chained audit of operator actions. */
#ifndef CLI_ADMIN_H
#define CLI_ADMIN_H

#include "config.h"

//  gridcall redis setup: load this build's function library, check the
//  settings gridcall relies on, record the load in the audit chain.
int cli_redis (const config_t *config, int argc, char **argv);
//  gridcall audit verify: walk the chain; exit 1 naming the first broken
//  link. gridcall audit tail [N] [--json]: the last N entries.
int cli_audit (const config_t *config, int argc, char **argv);

#endif
