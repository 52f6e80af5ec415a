/*  config.h — one table of options per daemon: name, type, bounds, default,
    help (Redis config.c). Files are "name value" lines with # comments;
    --set name=value overrides a file. Every value is checked on load. */
#ifndef GC_CONFIG_H
#define GC_CONFIG_H

#include <stdbool.h>
#include <stddef.h>

typedef enum { CFG_STRING, CFG_INT, CFG_BOOL, CFG_DOUBLE } cfg_type_t;

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
    { "redis_password", CFG_STRING, "", 0, 0, "Redis AUTH password (ACL user below)" }, \
    { "redis_user", CFG_STRING, "", 0, 0, "Redis ACL user name" }, \
    { "redis_timeout_ms", CFG_INT, "2000", 10, 60000, "timeout of one Redis call" }, \
    { "key_prefix", CFG_STRING, "gc:", 0, 0, "prefix of every Redis key" }, \
    { "log_level", CFG_STRING, "info", 0, 0, "debug, info, notice, warning or error" }, \
    { "time_scale", CFG_DOUBLE, "1", 0.001, 1000000, "case seconds per wall second (3600: an hour a second)" }, \
    { "metrics_bind", CFG_STRING, "127.0.0.1", 0, 0, "address of the GET /metrics endpoint" }, \
    { "metrics_port", CFG_INT, "0", 0, 65535, "port of the GET /metrics endpoint (Prometheus text); 0 = off" }

typedef struct _config_t config_t;

//  Create a config holding the table's defaults. The table is borrowed and
//  must outlive the config; it ends with an entry whose name is NULL.
config_t *config_new (const cfg_option_t *table);
void config_destroy (config_t **self_p);

//  Load a file over the current values. Returns 0, or -1 with a message
//  "file:line: problem" in err.
int config_load_file (config_t *self, const char *path, char *err, size_t errlen);
//  Set one option from text. Returns 0, or -1 with a message in err.
int config_set (config_t *self, const char *name, const char *value, char *err, size_t errlen);
//  Same, from "name=value".
int config_set_pair (config_t *self, const char *pair, char *err, size_t errlen);

//  True when the table has an option of this name.
bool config_has (const config_t *self, const char *name);
//  Typed getters; asking for an option not in the table is a programmer
//  error and asserts. Strings are borrowed.
const char *config_str (const config_t *self, const char *name);
long long config_int (const config_t *self, const char *name);
double config_double (const config_t *self, const char *name);
bool config_bool (const config_t *self, const char *name);

//  Print every option with its help and current value (for --help).
void config_print (const config_t *self);
//  Print a sample configuration file: every option, commented, at its default.
void config_print_sample (const config_t *self, const char *title);

#endif
