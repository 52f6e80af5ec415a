/*  cli_matters.h — `gridcall matter ...`: matters and their meetings. */
#ifndef CLI_MATTERS_H
#define CLI_MATTERS_H

#include "config.h"

int cli_matter (const config_t *config, int argc, char **argv);

#endif
