/*  cli_args.h — what every gridcall command does with its words: options
    ("--name value"), flags ("--json"), positional words, and the store. */
#ifndef CLI_ARGS_H
#define CLI_ARGS_H

#include <stdbool.h>

#include "config.h"
#include "store.h"

//  The value after "--name", or fallback. Borrowed from argv.
const char *cli_opt (int argc, char **argv, const char *name, const char *fallback);
//  True when "--name" is among the words.
bool cli_flag (int argc, char **argv, const char *name);
//  The skip-th word that is neither an option nor an option's value; flags
//  (NULL-terminated) are the options that take no value. NULL when absent.
const char *cli_positional (int argc, char **argv, int skip, const char *const *flags);
//  text as a whole number in [min, max] into *out. A typo ("9O", "4x",
//  "abc", "") is refused with a line naming what, not read as a number:
//  returns 0, or -1 with the line printed.
int cli_number (const char *what, const char *text, long long min, long long max,
                long long *out);
//  A connected store, or NULL with the reason printed. The caller destroys it.
store_t *cli_store (const config_t *config);
//  Who the command acts as, for the audit chain: the Redis user it logs
//  in as and the Unix user running it ("redis:gc-operator unix:alice").
void cli_principal (const config_t *config, char *buf, size_t size);

#endif
