/*  cli_units.h — operator commands about responder units and service
    orders: a dry run of unit selection (route), placing service-card
    orders and the services delivered (order). */
#ifndef CLI_UNITS_H
#define CLI_UNITS_H

#include "config.h"

//  gridcall route --grid G --category C [--tier T] [--at TIME] [--json]
int cli_route (const config_t *config, int argc, char **argv);
//  gridcall order place ID [--who NAME] | order list [--json]
int cli_order (const config_t *config, int argc, char **argv);

#endif
