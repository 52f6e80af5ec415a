/*  cli_keys.h — gridcall keys: CurveZMQ certificates and the principals
    file (docs/security.md). */
#ifndef CLI_KEYS_H
#define CLI_KEYS_H

#include "config.h"

int cli_keys (const config_t *config, int argc, char **argv);

#endif
