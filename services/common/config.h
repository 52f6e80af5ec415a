/*  config.h — one table of options per daemon: name, type, bounds, default,
    help (Redis config.c). Files are "name value" lines with # comments;
    --set name=value overrides a file. Every value is checked on load.
    A secret (CFG_SECRET) comes from a file (NAME_file PATH), the
    environment (GRIDCALL_NAME) or a config file line, never from --set,
    and is never printed. */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

//  CFG_SECRET is a string that is never shown (passwords, tokens, keys).
typedef enum { CFG_STRING, CFG_INT, CFG_BOOL, CFG_DOUBLE, CFG_SECRET } cfg_type_t;

#define CONFIG_SECRET_MAX 4096      //  longest secret file, in bytes
#define CONFIG_ENV_PREFIX "GRIDCALL_"   //  GRIDCALL_REDIS_PASSWORD sets redis_password

typedef struct {
    const char *name;           //  option name in the file
    cfg_type_t type;
    const char *deflt;          //  default, as it would be written in the file
    double min;                 //  bounds for numbers (inclusive)
    double max;
    const char *help;           //  one line, shown by --help
} cfg_option_t;

//  Options every daemon has: Redis connection, key prefix, logging, time scale.
#define CONFIG_COMMON_OPTIONS \
    { "redis_host", CFG_STRING, "127.0.0.1", 0, 0, "Redis host (ignored when redis_socket is set)" }, \
    { "redis_port", CFG_INT, "6379", 1, 65535, "Redis TCP port" }, \
    { "redis_socket", CFG_STRING, "", 0, 0, "Redis Unix socket path; preferred when set" }, \
    { "redis_password", CFG_SECRET, "", 0, 0, "Redis AUTH password (ACL user below)" }, \
    { "redis_user", CFG_STRING, "", 0, 0, "Redis ACL user name" }, \
    { "redis_timeout_ms", CFG_INT, "2000", 10, 60000, "timeout of one Redis call" }, \
    { "sentinels", CFG_STRING, "", 0, 0, "Redis Sentinels (host:port, comma-separated) that name the primary; redis_host, redis_port and redis_socket are then ignored" }, \
    { "sentinel_master", CFG_STRING, "gridcall", 0, 0, "the name the Sentinels monitor the primary under" }, \
    { "key_prefix", CFG_STRING, "gc:", 0, 0, "prefix of every Redis key" }, \
    { "log_level", CFG_STRING, "info", 0, 0, "debug, info, notice, warning or error" }, \
    { "time_scale", CFG_DOUBLE, "1", 0.001, 1000000, "case seconds per wall second (3600: an hour a second)" }, \
    { "metrics_bind", CFG_STRING, "127.0.0.1", 0, 0, "address of the GET /metrics endpoint" }, \
    { "metrics_port", CFG_INT, "0", 0, 65535, "port of the GET /metrics endpoint (Prometheus text); 0 = off" }, \
    { "instance", CFG_STRING, "", 0, 0, "this instance's name in gridcall status, the instance label of /metrics and the dispatch lease; empty: <host>:<pid>" }

typedef struct _config_t config_t;

//  Create a config holding the table's defaults, then the secrets the
//  environment holds (GRIDCALL_<NAME>, upper case). The table is borrowed
//  and must outlive the config; it ends with an entry whose name is NULL.
config_t *config_new (const cfg_option_t *table);
void config_destroy (config_t **self_p);

//  Load a file over the current values. Returns 0, or -1 with a message
//  "file:line: problem" in err.
int config_load_file (config_t *self, const char *path, char *err, size_t errlen);
//  Set one option from text. For a secret NAME, "NAME_file" sets it from
//  the file value names (one trailing line break dropped; "" unsets it).
//  Returns 0, or -1 with a message in err (never the secret itself).
int config_set (config_t *self, const char *name, const char *value, char *err, size_t errlen);
//  Same, from "name=value" on a command line: a secret itself is refused
//  (ps would show it); its NAME_file=PATH form is taken.
int config_set_pair (config_t *self, const char *pair, char *err, size_t errlen);

//  True when the table has an option of this name.
bool config_has (const config_t *self, const char *name);
//  Typed getters; asking for an option not in the table is a programmer
//  error and asserts. Strings are borrowed; config_str reads secrets too.
const char *config_str (const config_t *self, const char *name);
//  True when name is an option of type CFG_SECRET.
bool config_is_secret (const config_t *self, const char *name);
long long config_int (const config_t *self, const char *name);
double config_double (const config_t *self, const char *name);
bool config_bool (const config_t *self, const char *name);

//  Print every option with its help and current value (for --help);
//  a secret shows only "(set)" or "(unset)".
void config_print (const config_t *self);
//  Print a sample configuration file: every option, commented, at its default.
void config_print_sample (const config_t *self, const char *title);

#endif
