/*  cli_timers.h — the operator's hand on case clocks: extend a deadline
    (approve or refuse a unit's request, or extend directly), park a case
    until a review date and bring it back (requests to intake), show or
    set the case clock. */
#ifndef CLI_TIMERS_H
#define CLI_TIMERS_H

#include "config.h"

//  gridcall extend ID --until TIME --reason TEXT [--by WHO]
//  gridcall extend ID --approve [--until TIME] --reason TEXT [--by WHO]
//  gridcall extend ID --refuse --reason TEXT [--by WHO]
int cli_extend (const config_t *config, int argc, char **argv);
//  gridcall park ID --until DATE --reason TEXT [--by WHO]
int cli_park (const config_t *config, int argc, char **argv);
//  gridcall unpark ID [--reason TEXT] [--by WHO]
int cli_unpark (const config_t *config, int argc, char **argv);
int cli_merge (const config_t *config, int argc, char **argv);
//  gridcall clock [--set TIME] [--json]
int cli_clock (const config_t *config, int argc, char **argv);
//  gridcall case extend|park|unpark ID ...: the same, for cli_case to call
//  with the words after "case".
int cli_case_timers (const config_t *config, int argc, char **argv);

#endif
