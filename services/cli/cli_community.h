/*  cli_community.h — `gridcall community ...`: the three lists, hours,
    venues, projects and ratings (docs/community.md). */
#ifndef CLI_COMMUNITY_H
#define CLI_COMMUNITY_H

#include "config.h"

int cli_community (const config_t *config, int argc, char **argv);

#endif
