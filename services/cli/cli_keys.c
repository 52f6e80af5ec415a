/*  cli_keys.c — gridcall keys: make CurveZMQ certificates (czmq zcert)
    and bind their public keys to principals in a principals file
    (docs/security.md): new, show, bind, revoke, check; and API keys for
    intake's HTTP doors: api-key, api-revoke. */
#include "cli_keys.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <sodium.h>
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
        "       gridcall keys api-key --principals FILE \"PRINCIPAL\" [--key-file FILE]\n"
        "           make an API key for the HTTP doors: printed once (or written to FILE,\n"
        "           mode 0600); the principals file keeps only its SHA-256\n"
        "       gridcall keys api-revoke --principals FILE KEY_OR_SHA256...\n"
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

//  keys api-key --principals FILE "PRINCIPAL" [--key-file FILE]: 32 random
//  bytes as "gck_" and 64 hex digits; only its SHA-256 is kept.
static int
s_api_key (int argc, char **argv)
{
    const char *path = cli_opt (argc, argv, "--principals", NULL);
    const char *out = cli_opt (argc, argv, "--key-file", NULL);
    const char *text = cli_positional (argc, argv, 0, NULL);
    if (!path || !text || cli_positional (argc, argv, 1, NULL))
        return s_usage ();
    char err [400];
    auth_principal_t p;
    if (auth_principal_parse (text, &p, err, sizeof err)) {
        fprintf (stderr, "gridcall: keys: \"%s\": %s\n", text, err);
        return 2;
    }
    unsigned char raw [32];
    char key [4 + 2 * sizeof raw + 1], id [AUTH_API_ID_MAX];
    //  the key's random bytes from libsodium, as the daemons' are
    if (sodium_init () < 0) {
        fprintf (stderr, "gridcall: keys: libsodium cannot start\n");
        auth_principal_reset (&p);
        return 1;
    }
    randombytes_buf (raw, sizeof raw);
    memcpy (key, "gck_", 4);
    sodium_bin2hex (key + 4, sizeof key - 4, raw, sizeof raw);
    auth_api_key_id (key, id, sizeof id);
    json_t *root = s_file_read (path);
    int rc = root ? 0 : 1;
    if (rc == 0) {
        json_t *map = json_object_get (root, "api_keys");
        if (!map) {
            map = json_object ();
            json_object_set_new (root, "api_keys", map);
        }
        json_object_set_new (map, id + strlen (AUTH_API_PREFIX), json_string (text));
        rc = s_file_write (path, root);
    }
    if (rc == 0 && out) {
        int fd = open (out, O_WRONLY | O_CREAT | O_TRUNC, 0600);
        FILE *file = fd >= 0 ? fdopen (fd, "w") : NULL;
        if (!file || fprintf (file, "%s\n", key) < 0 || fclose (file)) {
            fprintf (stderr, "gridcall: keys: cannot write %s: %s\n", out, strerror (errno));
            rc = 1;
        }
        else
            printf ("API key of %s written to %s (%s)\n", p.label, out, id);
    }
    else
    if (rc == 0)
        printf ("%s\n# the API key of %s, shown once; the principals file keeps %s\n", key,
                p.label, id);
    explicit_bzero (key, sizeof key);
    json_decref (root);
    auth_principal_reset (&p);
    return rc;
}

//  keys api-revoke --principals FILE KEY_OR_SHA256...
static int
s_api_revoke (int argc, char **argv)
{
    const char *path = cli_opt (argc, argv, "--principals", NULL);
    if (!path || !cli_positional (argc, argv, 0, NULL))
        return s_usage ();
    json_t *root = s_file_read (path);
    if (!root)
        return 1;
    json_t *map = json_object_get (root, "api_keys");
    for (int i = 0; cli_positional (argc, argv, i, NULL); i++) {
        const char *which = cli_positional (argc, argv, i, NULL);
        char id [AUTH_API_ID_MAX];
        const char *hash = strncmp (which, AUTH_API_PREFIX, strlen (AUTH_API_PREFIX)) == 0
                         ? which + strlen (AUTH_API_PREFIX) : auth_api_hash_valid (which) ? which
                         : auth_api_key_id (which, id, sizeof id) == 0
                         ? id + strlen (AUTH_API_PREFIX) : "";
        if (map && *hash && json_object_del (map, hash) == 0)
            printf ("revoked API key sha256:%s\n", hash);
        else
            printf ("no API key %s%.16s... was bound\n", *hash ? "sha256:" : "", hash);
    }
    int rc = s_file_write (path, root);
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
    if (streq (verb, "api-key"))
        return s_api_key (argc - 1, argv + 1);
    if (streq (verb, "api-revoke"))
        return s_api_revoke (argc - 1, argv + 1);
    return s_usage ();
}
