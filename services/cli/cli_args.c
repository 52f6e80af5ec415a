/*  cli_args.c — command words and the store for the gridcall commands. */
#include "cli_args.h"

#include <errno.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

const char *
cli_opt (int argc, char **argv, const char *name, const char *fallback)
{
    for (int i = 0; i < argc - 1; i++)
        if (strcmp (argv [i], name) == 0)
            return argv [i + 1];
    return fallback;
}

int
cli_number (const char *what, const char *text, long long min, long long max, long long *out)
{
    char *end = NULL;
    errno = 0;
    long long v = text && *text ? strtoll (text, &end, 10) : 0;
    if (!text || !*text || *end || errno || v < min || v > max) {
        fprintf (stderr, "gridcall: %s: \"%s\" is not a whole number in %lld..%lld\n", what,
                 text ? text : "", min, max);
        return -1;
    }
    *out = v;
    return 0;
}

bool
cli_flag (int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp (argv [i], name) == 0)
            return true;
    return false;
}

const char *
cli_positional (int argc, char **argv, int skip, const char *const *flags)
{
    for (int i = 0; i < argc; i++) {
        if (strncmp (argv [i], "--", 2) == 0) {
            bool flag = false;
            for (int k = 0; flags && flags [k] && !flag; k++)
                flag = strcmp (argv [i], flags [k]) == 0;
            if (!flag)
                i++;                //  skip the option's value
            continue;
        }
        if (skip-- == 0)
            return argv [i];
    }
    return NULL;
}

void
cli_principal (const config_t *config, char *buf, size_t size)
{
    //  the password database, not $USER, which the caller sets at will
    const struct passwd *pw = getpwuid (getuid ());
    const char *user = config_str (config, "redis_user");
    snprintf (buf, size, "redis:%s unix:%s", *user ? user : "default", pw ? pw->pw_name : "?");
}

store_t *
cli_store (const config_t *config)
{
    store_t *store = store_new (config, "gridcall");
    if (!store || store_ensure (store) == 0)
        return store;
    if (store_refusal (store))
        fprintf (stderr, "gridcall: %s\n", store_refusal (store));
    else
    if (*config_str (config, "redis_socket"))
        fprintf (stderr, "gridcall: cannot reach Redis at %s\n", config_str (config, "redis_socket"));
    else
        fprintf (stderr, "gridcall: cannot reach Redis at %s:%lld\n",
                 config_str (config, "redis_host"), config_int (config, "redis_port"));
    store_destroy (&store);
    return NULL;
}
