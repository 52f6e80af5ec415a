/*  config.c — table-driven configuration: defaults from the table, values
    from a "name value" file and from --set overrides, each checked against
    its type and bounds when set. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#define CONFIG_LINE_MAX 4096

struct _config_t {
    const cfg_option_t *table;  //  borrowed option table
    size_t count;               //  entries in the table
    char **values;              //  current value text per option
};

config_t *
config_new (const cfg_option_t *table)
{
    config_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->table = table;
    while (table [self->count].name)
        self->count++;
    self->values = calloc (self->count, sizeof (char *));
    if (!self->values) {
        free (self);
        return NULL;
    }
    for (size_t i = 0; i < self->count; i++) {
        self->values [i] = strdup (table [i].deflt);
        if (!self->values [i]) {
            config_destroy (&self);
            return NULL;
        }
    }
    return self;
}

void
config_destroy (config_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    config_t *self = *self_p;
    for (size_t i = 0; i < self->count && self->values; i++)
        free (self->values [i]);
    free (self->values);
    free (self);
    *self_p = NULL;
}

static int
s_find (const config_t *self, const char *name)
{
    for (size_t i = 0; i < self->count; i++)
        if (strcmp (self->table [i].name, name) == 0)
            return (int) i;
    return -1;
}

//  Check value against the option's type and bounds. Returns 0 or -1.
static int
s_check (const cfg_option_t *opt, const char *value, char *err, size_t errlen)
{
    char *end = NULL;
    errno = 0;
    switch (opt->type) {
        case CFG_STRING:
            return 0;
        case CFG_BOOL:
            if (strcasecmp (value, "yes") == 0 || strcasecmp (value, "no") == 0
            ||  strcmp (value, "1") == 0 || strcmp (value, "0") == 0
            ||  strcasecmp (value, "true") == 0 || strcasecmp (value, "false") == 0)
                return 0;
            snprintf (err, errlen, "%s: \"%s\" is not yes or no", opt->name, value);
            return -1;
        case CFG_INT: {
            long long v = strtoll (value, &end, 10);
            if (errno || end == value || *end) {
                snprintf (err, errlen, "%s: \"%s\" is not an integer", opt->name, value);
                return -1;
            }
            if (v < opt->min || v > opt->max) {
                snprintf (err, errlen, "%s: %lld is outside %.0f..%.0f",
                          opt->name, v, opt->min, opt->max);
                return -1;
            }
            return 0;
        }
        case CFG_DOUBLE: {
            double v = strtod (value, &end);
            if (errno || end == value || *end || !isfinite (v)) {
                snprintf (err, errlen, "%s: \"%s\" is not a number", opt->name, value);
                return -1;
            }
            if (v < opt->min || v > opt->max) {
                snprintf (err, errlen, "%s: %g is outside %g..%g", opt->name, v, opt->min, opt->max);
                return -1;
            }
            return 0;
        }
    }
    return -1;
}

int
config_set (config_t *self, const char *name, const char *value, char *err, size_t errlen)
{
    int i = s_find (self, name);
    if (i < 0) {
        snprintf (err, errlen, "unknown option \"%s\"", name);
        return -1;
    }
    if (s_check (&self->table [i], value, err, errlen))
        return -1;
    char *copy = strdup (value);
    if (!copy) {
        snprintf (err, errlen, "%s: out of memory", name);
        return -1;
    }
    free (self->values [i]);
    self->values [i] = copy;
    return 0;
}

int
config_set_pair (config_t *self, const char *pair, char *err, size_t errlen)
{
    const char *eq = strchr (pair, '=');
    if (!eq || eq == pair) {
        snprintf (err, errlen, "\"%s\" is not name=value", pair);
        return -1;
    }
    char name [128];
    size_t n = (size_t) (eq - pair);
    if (n >= sizeof name) {
        snprintf (err, errlen, "option name too long in \"%.40s...\"", pair);
        return -1;
    }
    memcpy (name, pair, n);
    name [n] = 0;
    return config_set (self, name, eq + 1, err, errlen);
}

//  Strip surrounding blanks and one level of double quotes, in place.
static char *
s_trim (char *s)
{
    while (isspace ((unsigned char) *s))
        s++;
    char *end = s + strlen (s);
    while (end > s && isspace ((unsigned char) end [-1]))
        *--end = 0;
    if (end - s >= 2 && *s == '"' && end [-1] == '"') {
        end [-1] = 0;
        s++;
    }
    return s;
}

int
config_load_file (config_t *self, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "%s: cannot open: %s", path, strerror (errno));
        return -1;
    }
    char line [CONFIG_LINE_MAX];
    char problem [512];
    int lineno = 0;
    int rc = 0;
    while (fgets (line, sizeof line, file)) {
        lineno++;
        if (!strchr (line, '\n') && !feof (file)) {
            snprintf (err, errlen, "%s:%d: line longer than %d bytes", path, lineno,
                      CONFIG_LINE_MAX - 2);
            rc = -1;
            break;
        }
        char *hash = strchr (line, '#');
        if (hash)
            *hash = 0;
        char *text = s_trim (line);
        if (!*text)
            continue;
        char *value = text;
        while (*value && !isspace ((unsigned char) *value))
            value++;
        if (*value)
            *value++ = 0;
        value = s_trim (value);
        if (config_set (self, text, value, problem, sizeof problem)) {
            snprintf (err, errlen, "%s:%d: %s", path, lineno, problem);
            rc = -1;
            break;
        }
    }
    fclose (file);
    return rc;
}

static const char *
s_value (const config_t *self, const char *name, cfg_type_t type)
{
    int i = s_find (self, name);
    assert (i >= 0 && self->table [i].type == type);
    return self->values [i];
}

bool
config_has (const config_t *self, const char *name)
{
    return s_find (self, name) >= 0;
}

const char *
config_str (const config_t *self, const char *name)
{
    return s_value (self, name, CFG_STRING);
}

long long
config_int (const config_t *self, const char *name)
{
    return strtoll (s_value (self, name, CFG_INT), NULL, 10);
}

double
config_double (const config_t *self, const char *name)
{
    return strtod (s_value (self, name, CFG_DOUBLE), NULL);
}

bool
config_bool (const config_t *self, const char *name)
{
    const char *v = s_value (self, name, CFG_BOOL);
    return strcasecmp (v, "yes") == 0 || strcmp (v, "1") == 0 || strcasecmp (v, "true") == 0;
}

void
config_print (const config_t *self)
{
    for (size_t i = 0; i < self->count; i++) {
        //  secrets are not printed, only whether they are set
        const char *name = self->table [i].name;
        bool secret = strstr (name, "secret") || strstr (name, "password");
        printf ("  %-22s %-14s %s\n", name,
                secret ? (*self->values [i] ? "(set)" : "(unset)") : self->values [i],
                self->table [i].help);
    }
}

void
config_print_sample (const config_t *self, const char *title)
{
    printf ("# %s\n#\n# Every option with its default. Lines are \"name value\"; # starts a\n"
            "# comment. Any option can also be given as --set name=value, which wins\n"
            "# over this file. Check a file with --check-config.\n", title);
    for (size_t i = 0; i < self->count; i++) {
        const cfg_option_t *o = &self->table [i];
        printf ("\n# %s", o->help);
        if (o->type == CFG_INT)
            printf (" (%.0f..%.0f)", o->min, o->max);
        else
        if (o->type == CFG_DOUBLE)
            printf (" (%g..%g)", o->min, o->max);
        else
        if (o->type == CFG_BOOL)
            printf (" (yes or no)");
        printf ("\n%s %s\n", o->name, *o->deflt ? o->deflt : "\"\"");
    }
}
