/*  cli_commands.h — the gridcall operator commands. Each takes the parsed
    configuration and the words after the command name, prints its result
    and returns the process exit status. */
#ifndef CLI_COMMANDS_H
#define CLI_COMMANDS_H

#include "config.h"

int cli_directory (const config_t *config, int argc, char **argv);
int cli_report (const config_t *config, int argc, char **argv);
int cli_case (const config_t *config, int argc, char **argv);
int cli_stats (const config_t *config, int argc, char **argv);
int cli_verify (const config_t *config, int argc, char **argv);
int cli_evaluate (const config_t *config, int argc, char **argv);
//  The simulated street: reporters filing, grid workers verifying,
//  residents evaluating (cli_sim.c).
int cli_simulate (const config_t *config, int argc, char **argv);

#endif
