/*  config.c — table-driven configuration: defaults from the table, values
    from a "name value" file and from --set overrides, each checked against
    its type and bounds when set. Secrets also come from NAME_file PATH or
    the environment, never from --set, and are never printed. */
#include "config.h"

#include <assert.h>
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#define CONFIG_LINE_MAX 4096
#define CONFIG_NAME_MAX 128         //  longest option name

static int s_find (const config_t *self, const char *name);

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
        //  a secret may come from the environment: GRIDCALL_REDIS_PASSWORD
        const char *env = NULL;
        char var [CONFIG_NAME_MAX + sizeof CONFIG_ENV_PREFIX];
        if (table [i].type == CFG_SECRET
        &&  strlen (table [i].name) < CONFIG_NAME_MAX) {
            char *v = var + snprintf (var, sizeof var, "%s%s", CONFIG_ENV_PREFIX, table [i].name);
            for (char *p = var + strlen (CONFIG_ENV_PREFIX); p < v; p++)
                *p = (char) toupper ((unsigned char) *p);
            env = getenv (var);
        }
        self->values [i] = strdup (env ? env : table [i].deflt);
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
    for (size_t i = 0; i < self->count && self->values; i++) {
        if (self->values [i] && self->table [i].type == CFG_SECRET)
            explicit_bzero (self->values [i], strlen (self->values [i]));
        free (self->values [i]);
    }
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
        case CFG_SECRET:
            //  it goes into headers and AUTH: no line breaks or other controls
            for (const char *p = value; *p; p++)
                if ((unsigned char) *p < 0x20 || *p == 0x7f) {
                    snprintf (err, errlen, "%s: the secret holds a control character", opt->name);
                    return -1;
                }
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

//  Read a secret file: at most CONFIG_SECRET_MAX bytes, one trailing line
//  break dropped. Returns the text (caller frees) or NULL with err filled;
//  err names the option and the path, never the content.
static char *
s_read_secret (const char *option, const char *path, char *err, size_t errlen)
{
    FILE *file = fopen (path, "r");
    if (!file) {
        snprintf (err, errlen, "%s_file: cannot open \"%s\": %s", option, path, strerror (errno));
        return NULL;
    }
    struct stat st;
    if (fstat (fileno (file), &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH))) {
        //  other users of the machine would read it (a group, as a
        //  mounted Kubernetes secret's, may)
        snprintf (err, errlen, "%s_file: \"%s\" can be read or written by other users (mode "
                  "%03o): chmod 600 it", option, path, (unsigned) (st.st_mode & 0777));
        fclose (file);
        return NULL;
    }
    char *text = calloc (1, CONFIG_SECRET_MAX + 2);
    size_t len = text ? fread (text, 1, CONFIG_SECRET_MAX + 1, file) : 0;
    bool failed = !text || ferror (file);
    fclose (file);
    if (failed) {
        snprintf (err, errlen, "%s_file: cannot read \"%s\"", option, path);
        free (text);
        return NULL;
    }
    if (len > CONFIG_SECRET_MAX) {
        snprintf (err, errlen, "%s_file: \"%s\" is longer than %d bytes", option, path,
                  CONFIG_SECRET_MAX);
        free (text);
        return NULL;
    }
    if (len > 0 && text [len - 1] == '\n')
        text [--len] = 0;
    if (len > 0 && text [len - 1] == '\r')
        text [--len] = 0;
    if (len == 0 || strlen (text) != len) {
        snprintf (err, errlen, "%s_file: \"%s\" %s", option, path,
                  len ? "holds a NUL byte" : "is empty");
        free (text);
        return NULL;
    }
    return text;
}

//  The secret option whose NAME_file form name is, or -1.
static int
s_find_secret_file (const config_t *self, const char *name)
{
    size_t len = strlen (name);
    char base [CONFIG_NAME_MAX];
    if (len <= 5 || len - 5 >= sizeof base || strcmp (name + len - 5, "_file") != 0)
        return -1;
    memcpy (base, name, len - 5);
    base [len - 5] = 0;
    int i = s_find (self, base);
    return i >= 0 && self->table [i].type == CFG_SECRET ? i : -1;
}

int
config_set (config_t *self, const char *name, const char *value, char *err, size_t errlen)
{
    int i = s_find (self, name);
    if (i < 0 && (i = s_find_secret_file (self, name)) >= 0) {
        //  NAME_file PATH: the secret is the file's content; "" unsets it
        char *secret = *value ? s_read_secret (self->table [i].name, value, err, errlen)
                              : strdup ("");
        if (!secret) {
            if (!*value)
                snprintf (err, errlen, "%s: out of memory", name);
            return -1;
        }
        int rc = s_check (&self->table [i], secret, err, errlen);
        if (rc)
            snprintf (err, errlen, "%s: \"%s\" holds a control character (one trailing "
                      "line break is all it may have)", name, value);
        if (rc == 0) {
            free (self->values [i]);
            self->values [i] = secret;
        }
        else {
            explicit_bzero (secret, strlen (secret));
            free (secret);
        }
        return rc;
    }
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
    if (config_is_secret (self, name)) {
        char upper [sizeof name];
        for (size_t k = 0; k <= n; k++)
            upper [k] = (char) toupper ((unsigned char) name [k]);
        snprintf (err, errlen, "%s is a secret and a command line shows in ps: give it as "
                  "--set %s_file=PATH (a file only you can read), as \"%s_file PATH\" in the "
                  "-c file, or in the environment as " CONFIG_ENV_PREFIX "%s", name, name, name,
                  upper);
        return -1;
    }
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
    struct stat st;
    bool open_to_others = fstat (fileno (file), &st) == 0 && (st.st_mode & (S_IROTH | S_IWOTH));
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
        if (open_to_others && config_is_secret (self, text)) {
            //  a secret written in the file makes the file a secret
            snprintf (err, errlen, "%s:%d: %s is a secret, and other users can read this file "
                      "(mode %03o): chmod 600 it, or give %s_file", path, lineno, text,
                      (unsigned) (st.st_mode & 0777), text);
            rc = -1;
            break;
        }
        if (config_set (self, text, value, problem, sizeof problem)) {
            snprintf (err, errlen, "%s:%d: %s", path, lineno, problem);
            rc = -1;
            break;
        }
    }
    //  a directory opens but does not read: not an empty file of defaults
    if (!rc && ferror (file)) {
        snprintf (err, errlen, "%s: cannot read: %s", path, strerror (errno));
        rc = -1;
    }
    fclose (file);
    return rc;
}

static const char *
s_value (const config_t *self, const char *name, cfg_type_t type)
{
    int i = s_find (self, name);
    assert (i >= 0 && (self->table [i].type == type
                   ||  (type == CFG_STRING && self->table [i].type == CFG_SECRET)));
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

bool
config_is_secret (const config_t *self, const char *name)
{
    int i = s_find (self, name);
    return i >= 0 && self->table [i].type == CFG_SECRET;
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
        bool secret = self->table [i].type == CFG_SECRET;
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
            "# over this file. Check a file with --check-config. A secret is given as\n"
            "# NAME_file PATH (a file only the daemon's user can read) or in the\n"
            "# environment as " CONFIG_ENV_PREFIX "NAME (upper case), never with --set.\n", title);
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
        if (o->type == CFG_SECRET)
            printf (". A secret: give the path of a file holding it\n%s_file \"\"\n", o->name);
        else
            printf ("\n%s %s\n", o->name, *o->deflt ? o->deflt : "\"\"");
    }
}
