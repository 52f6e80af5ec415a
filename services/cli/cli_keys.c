/*  cli_keys.c — gridcall keys: make CurveZMQ certificates (czmq zcert)
    and bind their public keys to principals in a principals file
    (docs/security.md): new, show, bind, revoke, check. */
#include "cli_keys.h"

#include <czmq.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "auth.h"
#include "cli_args.h"
#include "curve.h"

static int
s_usage (void)
{
    fprintf (stderr,
        "usage: gridcall keys new NAME... [--dir DIR] [--force]\n"
        "           make DIR/NAME.key (public) and DIR/NAME.key_secret (mode 0600)\n"
        "       gridcall keys show FILE             print a certificate's public key\n"
        "       gridcall keys bind --principals FILE CERT_OR_KEY \"PRINCIPAL\" [...]\n"
        "           bind keys to principals (\"unit U009\", \"gateway hotline channels HOTLINE\",\n"
        "           \"grid-worker NAME grids G01,G02\", \"operator NAME community C01\",\n"
        "           \"operator NAME street\", \"admin NAME\", \"daemon NAME\")\n"
        "       gridcall keys revoke --principals FILE CERT_OR_KEY...\n"
        "       gridcall keys check --principals FILE   validate and list\n");
    return 2;
}

//  A certificate name is a file name: letters, digits, '.', '_', '-'.
static bool
s_name_valid (const char *name)
{
    if (!*name || strlen (name) > 64 || *name == '.')
        return false;
    for (const char *c = name; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '.' || *c == '_' || *c == '-'))
            return false;
    return true;
}

//  keys new NAME... [--dir DIR] [--force]
static int
s_new (int argc, char **argv)
{
    static const char *const flags [] = { "--force", NULL };
    const char *dir = cli_opt (argc, argv, "--dir", ".");
    bool force = cli_flag (argc, argv, "--force");
    if (!cli_positional (argc, argv, 0, flags))
        return s_usage ();
    if (zsys_dir_create ("%s", dir)) {
        fprintf (stderr, "gridcall: keys: cannot create %s: %s\n", dir, strerror (errno));
        return 1;
    }
    for (int i = 0; cli_positional (argc, argv, i, flags); i++) {
        const char *name = cli_positional (argc, argv, i, flags);
        char path [PATH_MAX], secret [PATH_MAX + 8];
        if (!s_name_valid (name)) {
            fprintf (stderr, "gridcall: keys: \"%s\" is not a certificate name (letters, digits, "
                     ". _ -)\n", name);
            return 2;
        }
        snprintf (path, sizeof path, "%s/%s.key", dir, name);
        snprintf (secret, sizeof secret, "%s_secret", path);
        if (!force && access (secret, F_OK) == 0) {
            zcert_t *cert = zcert_load (path);
            printf ("%s %s (kept)\n", cert ? zcert_public_txt (cert) : "?", path);
            zcert_destroy (&cert);
            continue;
        }
        zcert_t *cert = zcert_new ();
        if (!cert) {
            fprintf (stderr, "gridcall: keys: zcert_new() failed (no CURVE in libzmq?)\n");
            return 1;
        }
        zcert_set_meta (cert, "name", "%s", name);
        //  the secret file is made private by zcert (0600); say so explicitly
        int rc = zcert_save (cert, path);
        if (rc == 0)
            rc = chmod (secret, 0600);
        if (rc) {
            fprintf (stderr, "gridcall: keys: cannot write %s: %s\n", path, strerror (errno));
            zcert_destroy (&cert);
            return 1;
        }
        printf ("%s %s\n", zcert_public_txt (cert), path);
        zcert_destroy (&cert);
    }
    return 0;
}

//  keys show FILE
static int
s_show (int argc, char **argv)
{
    const char *file = cli_positional (argc, argv, 0, NULL);
    char z85 [AUTH_KEY_LEN + 1], err [400];
    if (!file)
        return s_usage ();
    if (curve_public_load (file, z85, err, sizeof err)) {
        fprintf (stderr, "gridcall: keys: %s\n", err);
        return 1;
    }
    printf ("%s\n", z85);
    return 0;
}

//  The principals file as JSON: { "principals": { key: principal } }; a
//  missing file is an empty one. NULL with the reason printed.
static json_t *
s_file_read (const char *path)
{
    if (access (path, F_OK) != 0)
        return json_pack ("{s:{}}", "principals");
    json_error_t jerr;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root || !json_is_object (json_object_get (root, "principals"))) {
        fprintf (stderr, "gridcall: keys: %s:%d: %s\n", path, root ? 0 : jerr.line,
                 root ? "no \"principals\" object" : jerr.text);
        json_decref (root);
        return NULL;
    }
    return root;
}

//  Write the file whole, then rename it into place: a daemon watching it
//  never reads half a file. Returns 0 or 1.
static int
s_file_write (const char *path, json_t *root)
{
    char tmp [PATH_MAX];
    snprintf (tmp, sizeof tmp, "%s.tmp.%d", path, (int) getpid ());
    if (json_dump_file (root, tmp, JSON_INDENT (2)) || rename (tmp, path)) {
        fprintf (stderr, "gridcall: keys: cannot write %s: %s\n", path, strerror (errno));
        unlink (tmp);
        return 1;
    }
    return 0;
}

//  keys bind|revoke --principals FILE ...
static int
s_edit (int argc, char **argv, bool bind)
{
    const char *path = cli_opt (argc, argv, "--principals", NULL);
    if (!path || !cli_positional (argc, argv, 0, NULL))
        return s_usage ();
    json_t *root = s_file_read (path);
    if (!root)
        return 1;
    json_t *map = json_object_get (root, "principals");
    int rc = 0;
    for (int i = 0; rc == 0 && cli_positional (argc, argv, i, NULL); i += bind ? 2 : 1) {
        const char *which = cli_positional (argc, argv, i, NULL);
        char z85 [AUTH_KEY_LEN + 1], err [400];
        if (curve_public_load (which, z85, err, sizeof err)) {
            fprintf (stderr, "gridcall: keys: %s\n", err);
            rc = 1;
            break;
        }
        if (!bind) {
            if (json_object_del (map, z85) == 0)
                printf ("revoked %s\n", z85);
            else
                printf ("%s was not bound\n", z85);
            continue;
        }
        const char *text = cli_positional (argc, argv, i + 1, NULL);
        auth_principal_t p;
        if (!text)
            rc = s_usage ();
        else
        if (auth_principal_parse (text, &p, err, sizeof err)) {
            fprintf (stderr, "gridcall: keys: \"%s\": %s\n", text, err);
            rc = 2;
        }
        else {
            json_object_set_new (map, z85, json_string (text));
            printf ("%s is %s\n", z85, p.label);
            auth_principal_reset (&p);
        }
    }
    if (rc == 0)
        rc = s_file_write (path, root);
    json_decref (root);
    return rc;
}

//  keys check --principals FILE
static int
s_check (int argc, char **argv)
{
    const char *path = cli_opt (argc, argv, "--principals", NULL);
    if (!path)
        return s_usage ();
    char err [512];
    auth_principals_t *principals = auth_principals_load (path, err, sizeof err);
    if (!principals) {
        fprintf (stderr, "gridcall: keys: %s\n", err);
        return 1;
    }
    for (const char *key = auth_principals_first (principals); key;
         key = auth_principals_next (principals))
        printf ("%s %s\n", key, auth_principals_find (principals, key)->label);
    printf ("%s: %zu keys\n", path, auth_principals_size (principals));
    auth_principals_destroy (&principals);
    return 0;
}

int
cli_keys (const config_t *config, int argc, char **argv)
{
    (void) config;
    const char *verb = argc > 0 ? argv [0] : "";
    if (streq (verb, "new"))
        return s_new (argc - 1, argv + 1);
    if (streq (verb, "show"))
        return s_show (argc - 1, argv + 1);
    if (streq (verb, "bind"))
        return s_edit (argc - 1, argv + 1, true);
    if (streq (verb, "revoke"))
        return s_edit (argc - 1, argv + 1, false);
    if (streq (verb, "check"))
        return s_check (argc - 1, argv + 1);
    return s_usage ();
}
