/*  auth.c — principals and the rules of who may do what. */
#include "auth.h"

#include <ctype.h>
#include <czmq.h>
#include <jansson.h>
#include <sodium.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "codec.h"

static const char *s_role_names [] = {
    "none", "unit", "gateway", "grid-worker", "operator", "admin", "daemon", "local"
};

const char *
auth_role_name (auth_role_t role)
{
    return role <= AUTH_ROLE_LOCAL ? s_role_names [role] : "?";
}

int
auth_api_key_id (const char *key, char *id, size_t idlen)
{
    size_t len = key ? strlen (key) : 0;
    if (len == 0 || len > AUTH_API_KEY_MAX || idlen < AUTH_API_ID_MAX)
        return -1;
    for (size_t i = 0; i < len; i++)
        if (key [i] <= ' ' || key [i] > '~')
            return -1;
    unsigned char md [32];
    crypto_hash_sha256 (md, (const unsigned char *) key, len);
    int at = snprintf (id, idlen, "%s", AUTH_API_PREFIX);
    sodium_bin2hex (id + at, idlen - (size_t) at, md, sizeof md);
    return 0;
}

bool
auth_api_hash_valid (const char *text)
{
    if (!text || strlen (text) != AUTH_API_HASH_LEN)
        return false;
    for (const char *c = text; *c; c++)
        if (!((*c >= '0' && *c <= '9') || (*c >= 'a' && *c <= 'f')))
            return false;
    return true;
}

bool
auth_key_valid (const char *text)
{
    static const char z85 [] = "0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ"
                               ".-:+=^!/*?&<>()[]{}@%$#";
    if (!text || strlen (text) != AUTH_KEY_LEN)
        return false;
    for (const char *c = text; *c; c++)
        if (!strchr (z85, *c))
            return false;
    uint8_t bin [32];
    return zmq_z85_decode (bin, text) != NULL;
}

void
auth_principal_reset (auth_principal_t *p)
{
    for (size_t i = 0; p->scope && i < p->scope_count; i++)
        free (p->scope [i]);
    free (p->scope);
    free (p->community);
    memset (p, 0, sizeof *p);
}

//  A name: 1..AUTH_NAME_MAX bytes of UTF-8 without control characters,
//  spaces, ':' (the label's separator) or ',' (the lists').
static bool
s_name_valid (const char *name)
{
    size_t len = strlen (name);
    if (len == 0 || len > AUTH_NAME_MAX || !codec_utf8_valid (name, len))
        return false;
    for (const unsigned char *c = (const unsigned char *) name; *c; c++)
        if (*c < 0x21 || *c == 0x7F || *c == ':' || *c == ',')
            return false;
    return true;
}

//  A directory id as the lists hold them: letters, digits, '.', '_', '-'.
static bool
s_id_valid (const char *id)
{
    size_t len = strlen (id);
    if (len == 0 || len > AUTH_NAME_MAX)
        return false;
    for (const char *c = id; *c; c++)
        if (!(isalnum ((unsigned char) *c) || *c == '.' || *c == '_' || *c == '-'))
            return false;
    return true;
}

//  Split "A,B,C" into p->scope; channels are checked against the proto's
//  names and stored upper-case. Returns 0 or -1 with err.
static int
s_list (auth_principal_t *p, const char *list, bool channels, char *err, size_t errlen)
{
    char *copy = strdup (list);
    if (!copy) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    size_t n = 1;
    for (const char *c = list; *c; c++)
        n += *c == ',';
    p->scope = calloc (n, sizeof (char *));
    int rc = p->scope ? 0 : -1;
    char *rest = copy;
    //  strsep, not strtok: "G01,,G02" has an empty item, which is an error
    for (char *item = strsep (&rest, ","); rc == 0 && item; item = strsep (&rest, ",")) {
        if (channels)
            for (char *c = item; *c; c++)
                *c = (char) toupper ((unsigned char) *c);
        if (channels ? codec_channel_parse (item) <= 0 : !s_id_valid (item)) {
            snprintf (err, errlen, "\"%.64s\" is not a %s", item,
                      channels ? "channel (GRID_WORKER, RESIDENT_APP, HOTLINE, SERVICE_CARD, "
                                 "OPEN311, OPERATOR)" : "grid id");
            rc = -1;
        }
        else
        if (!(p->scope [p->scope_count++] = strdup (item)))
            rc = -1;
    }
    free (copy);
    if (rc == 0 && p->scope_count == 0) {
        snprintf (err, errlen, "the %s list is empty", channels ? "channels" : "grids");
        rc = -1;
    }
    return rc;
}

int
auth_principal_parse (const char *text, auth_principal_t *p, char *err, size_t errlen)
{
    memset (p, 0, sizeof *p);
    char *copy = strdup (text ? text : "");
    if (!copy) {
        snprintf (err, errlen, "out of memory");
        return -1;
    }
    char *words [5] = { NULL };
    size_t count = 0;
    char *save = NULL;
    for (char *w = strtok_r (copy, " \t", &save); w; w = strtok_r (NULL, " \t", &save))
        if (count < 5)
            words [count++] = w;
        else
            count = 6;
    int rc = -1;
    const char *role = words [0] ? words [0] : "";
    for (int r = AUTH_ROLE_UNIT; r < AUTH_ROLE_LOCAL; r++)
        if (strcmp (role, s_role_names [r]) == 0)
            p->role = (auth_role_t) r;
    if (p->role == AUTH_ROLE_NONE)
        snprintf (err, errlen, "\"%.32s\" is not a role (unit, gateway, grid-worker, operator, "
                  "admin, daemon)", role);
    else
    if (count < 2 || !s_name_valid (words [1]))
        snprintf (err, errlen, "%s needs a name: 1 to %d bytes of UTF-8 without spaces, "
                  "':' or ','", role, AUTH_NAME_MAX);
    else
    if (p->role == AUTH_ROLE_GATEWAY
    &&  (count != 4 || strcmp (words [2], "channels") != 0))
        snprintf (err, errlen, "write a gateway as \"gateway NAME channels HOTLINE,...\"");
    else
    if (p->role == AUTH_ROLE_GRID_WORKER
    &&  (count != 4 || strcmp (words [2], "grids") != 0))
        snprintf (err, errlen, "write a grid worker as \"grid-worker NAME grids G01,...\"");
    else
    if (p->role == AUTH_ROLE_OPERATOR
    &&  !(count == 3 && strcmp (words [2], "street") == 0)
    &&  !(count == 4 && strcmp (words [2], "community") == 0 && s_id_valid (words [3])))
        snprintf (err, errlen, "write an operator as \"operator NAME community C01\" or "
                  "\"operator NAME street\"");
    else
    if ((p->role == AUTH_ROLE_UNIT || p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_DAEMON)
    &&  count != 2)
        snprintf (err, errlen, "write a %s as \"%s NAME\", nothing after the name", role, role);
    else
    if (p->role == AUTH_ROLE_UNIT && !s_id_valid (words [1]))
        snprintf (err, errlen, "\"%.64s\" is not a unit id", words [1]);
    else {
        snprintf (p->name, sizeof p->name, "%s", words [1]);
        snprintf (p->label, sizeof p->label, "%s:%s", role, words [1]);
        rc = 0;
        if (p->role == AUTH_ROLE_GATEWAY || p->role == AUTH_ROLE_GRID_WORKER)
            rc = s_list (p, words [3], p->role == AUTH_ROLE_GATEWAY, err, errlen);
        else
        if (p->role == AUTH_ROLE_OPERATOR && count == 4 && !(p->community = strdup (words [3])))
            rc = -1;
    }
    free (copy);
    if (rc)
        auth_principal_reset (p);
    return rc;
}

static bool
s_in (char **list, size_t count, const char *item)
{
    for (size_t i = 0; item && i < count; i++)
        if (strcmp (list [i], item) == 0)
            return true;
    return false;
}

//  A gateway acts through the channels its principal names: true when the
//  scope's channel is one, else false with the reason (what it may not do).
static bool
s_gateway_channel (const auth_principal_t *p, const auth_scope_t *scope, const char *verb,
                   char *reason, size_t reasonlen)
{
    if (s_in (p->scope, p->scope_count, scope->channel))
        return true;
    snprintf (reason, reasonlen, "%s may not %s through channel %s",
              p->label, verb, scope->channel ? scope->channel : "(none)");
    return false;
}

//  True when an operator's area holds a case of this community.
static bool
s_area_holds (const auth_principal_t *p, const auth_scope_t *scope)
{
    return !p->community || (scope->community && strcmp (p->community, scope->community) == 0);
}

const char *
auth_community_area (const auth_principal_t *p)
{
    return p && p->role == AUTH_ROLE_OPERATOR && p->community ? p->community : "";
}

bool
auth_may (const auth_principal_t *p, auth_action_t action, const auth_scope_t *scope,
          char *reason, size_t reasonlen)
{
    static const auth_scope_t none = { NULL, NULL, NULL, NULL, NULL };
    if (!scope)
        scope = &none;
    if (!p || p->role == AUTH_ROLE_NONE) {
        snprintf (reason, reasonlen, "no principal: the key is not in the principals file "
                  "(or was revoked), or the connection has no key");
        return false;
    }
    if (p->role == AUTH_ROLE_LOCAL)
        return true;
    const char *who = p->label;
    switch (action) {
        case AUTH_REPORT:
            if (p->role == AUTH_ROLE_ADMIN)
                return true;
            if (p->role == AUTH_ROLE_GATEWAY)
                return s_gateway_channel (p, scope, "report", reason, reasonlen);
            if (p->role == AUTH_ROLE_GRID_WORKER) {
                if (!scope->channel || strcmp (scope->channel, "GRID_WORKER") != 0)
                    snprintf (reason, reasonlen, "%s reports through channel GRID_WORKER, not %s",
                              who, scope->channel ? scope->channel : "(none)");
                else
                if (!scope->grid || !*scope->grid)
                    snprintf (reason, reasonlen, "%s names the grid of a report (a place alone "
                              "is for gateways)", who);
                else
                if (!s_in (p->scope, p->scope_count, scope->grid))
                    snprintf (reason, reasonlen, "grid %.64s is not one of %s's grids",
                              scope->grid ? scope->grid : "", who);
                else
                    return true;
                return false;
            }
            snprintf (reason, reasonlen, "%s may not file reports: reports come from gateways "
                      "and grid workers", who);
            return false;
        case AUTH_VERIFY:
            if (p->role == AUTH_ROLE_ADMIN
            ||  (p->role == AUTH_ROLE_GRID_WORKER && s_in (p->scope, p->scope_count, scope->grid))
            ||  (p->role == AUTH_ROLE_OPERATOR && s_area_holds (p, scope)))
                return true;
            if (p->role == AUTH_ROLE_GRID_WORKER || p->role == AUTH_ROLE_OPERATOR)
                snprintf (reason, reasonlen, "the case is in grid %.64s (community %.64s), "
                          "outside %s's area", scope->grid ? scope->grid : "?",
                          scope->community ? scope->community : "?", who);
            else
                snprintf (reason, reasonlen, "%s may not verify: the grid's worker or an "
                          "operator above it verifies", who);
            return false;
        case AUTH_EVALUATE:
            if (p->role != AUTH_ROLE_GATEWAY) {
                snprintf (reason, reasonlen, "%s may not evaluate: evaluations come from the "
                          "gateway the case was reported through", who);
                return false;
            }
            if ((scope->via && *scope->via) ? strcmp (scope->via, p->label) == 0
                                            : s_in (p->scope, p->scope_count, scope->channel))
                return true;
            //  naming the other gateway would tell one gateway of another's cases
            snprintf (reason, reasonlen, "the case was not reported through %s", who);
            return false;
        case AUTH_DECIDE:
            if (p->role == AUTH_ROLE_ADMIN || (p->role == AUTH_ROLE_OPERATOR && s_area_holds (p, scope)))
                return true;
            if (p->role == AUTH_ROLE_OPERATOR)
                snprintf (reason, reasonlen, "the case is in community %.64s, outside %s's area",
                          scope->community ? scope->community : "?", who);
            else
                snprintf (reason, reasonlen, "%s may not decide on a case's clock or order: "
                          "operators of its community or street decide", who);
            return false;
        case AUTH_UNIT:
            if (p->role == AUTH_ROLE_UNIT && scope->unit && strcmp (p->name, scope->unit) == 0)
                return true;
            if (p->role == AUTH_ROLE_UNIT)
                snprintf (reason, reasonlen, "the key of %s may not speak for unit %.64s", who,
                          scope->unit ? scope->unit : "?");
            else
                snprintf (reason, reasonlen, "%s is not a unit's key", who);
            return false;
        case AUTH_PROPOSE:
            //  residents and party members propose through their gateway,
            //  grid workers in their grids, co-building units, operators
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_UNIT
            ||  p->role == AUTH_ROLE_OPERATOR)
                return true;
            if (p->role == AUTH_ROLE_GATEWAY)
                return s_gateway_channel (p, scope, "propose", reason, reasonlen);
            if (p->role == AUTH_ROLE_GRID_WORKER) {
                if (s_in (p->scope, p->scope_count, scope->grid))
                    return true;
                snprintf (reason, reasonlen, "grid %.64s is not one of %s's grids",
                          scope->grid ? scope->grid : "", who);
                return false;
            }
            snprintf (reason, reasonlen, "%s may not propose matters", who);
            return false;
        case AUTH_MATTER:
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_OPERATOR)
                return true;
            snprintf (reason, reasonlen, "%s may not run meetings, decisions or tasks of a "
                      "matter: operators of its community or street do", who);
            return false;
        case AUTH_MATTER_EVALUATE:
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_GATEWAY)
                return true;
            snprintf (reason, reasonlen, "%s may not evaluate a matter: residents evaluate "
                      "through a gateway", who);
            return false;
        case AUTH_WORK:
            if (p->role == AUTH_ROLE_DAEMON)
                return true;
            snprintf (reason, reasonlen, "%s is not a daemon's key", who);
            return false;
        case AUTH_NEED:
        case AUTH_ANSWER:
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_OPERATOR
            ||  (action == AUTH_ANSWER && p->role == AUTH_ROLE_GATEWAY))
                return true;
            if (p->role == AUTH_ROLE_GRID_WORKER) {
                if (s_in (p->scope, p->scope_count, scope->grid))
                    return true;
                snprintf (reason, reasonlen, "grid %.64s is not one of %s's grids",
                          scope->grid ? scope->grid : "", who);
                return false;
            }
            snprintf (reason, reasonlen, action == AUTH_NEED
                      ? "%s may not record needs: grid workers and operators record them"
                      : "%s may not answer surveys: residents answer through gateways, grid "
                        "workers and operators", who);
            return false;
        case AUTH_PLAN:
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_OPERATOR)
                return true;
            snprintf (reason, reasonlen, "%s may not plan: surveys, projects, venues and "
                      "ratings are the community's and street's operators'", who);
            return false;
        case AUTH_SERVE:
            if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_OPERATOR
            ||  p->role == AUTH_ROLE_GRID_WORKER || p->role == AUTH_ROLE_UNIT)
                return true;
            snprintf (reason, reasonlen, "%s may not log service or claim projects: units "
                      "speak for themselves, grid workers and operators for their people", who);
            return false;
    }
    snprintf (reason, reasonlen, "unknown action");
    return false;
}

const char *
auth_area (const auth_principal_t *p, char *buf, size_t size)
{
    if (!p || p->role == AUTH_ROLE_NONE)
        snprintf (buf, size, "%s", "");
    else
    if (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_LOCAL
    ||  (p->role == AUTH_ROLE_OPERATOR && !p->community))
        snprintf (buf, size, "*");
    else
    if (p->role == AUTH_ROLE_OPERATOR)
        snprintf (buf, size, "community:%s", p->community);
    else
    if (p->role == AUTH_ROLE_GRID_WORKER) {
        size_t used = (size_t) snprintf (buf, size, "grids:");
        for (size_t i = 0; i < p->scope_count && used < size; i++)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", i ? "," : "", p->scope [i]);
    }
    else
        snprintf (buf, size, "%s:%s", auth_role_name (p->role), p->name);
    return buf;
}

const char *
auth_channels (const auth_principal_t *p, char *buf, size_t size)
{
    size_t used = 0;
    buf [0] = 0;
    if (p && (p->role == AUTH_ROLE_ADMIN || p->role == AUTH_ROLE_LOCAL))
        snprintf (buf, size, "*");
    else
    if (p && p->role == AUTH_ROLE_GATEWAY)
        for (size_t i = 0; i < p->scope_count && used < size; i++)
            used += (size_t) snprintf (buf + used, size - used, "%s%s", i ? "," : "", p->scope [i]);
    return buf;
}

//  ---------------------------------------------------------------------
//  The principals file

struct _auth_principals_t {
    zhashx_t *keys;             //  Z85 key -> auth_principal_t (owned)
};

static void
s_principal_free (void **item)
{
    auth_principal_t *p = (auth_principal_t *) *item;
    if (p) {
        auth_principal_reset (p);
        free (p);
        *item = NULL;
    }
}

//  Bind each key of map (CURVE keys, or API key hashes when api) to its
//  principal. Returns 0, or -1 with the first problem in err.
static int
s_bind_all (auth_principals_t *self, const char *path, json_t *map, bool api,
            char *err, size_t errlen)
{
    const char *key;
    json_t *value;
    json_object_foreach (map, key, value) {
        char problem [256], id [AUTH_API_ID_MAX];
        auth_principal_t *p = calloc (1, sizeof *p);
        if (api ? !auth_api_hash_valid (key) : !auth_key_valid (key))
            snprintf (problem, sizeof problem, api ? "not the 64 lower-case hex digits of a SHA-256"
                                                   : "not a 40-character Z85 public key");
        else
        if (!json_is_string (value))
            snprintf (problem, sizeof problem, "the principal must be a string");
        else
        if (p && auth_principal_parse (json_string_value (value), p, problem, sizeof problem) == 0) {
            //  an API key is found by its "sha256:" id, beside the CURVE keys
            snprintf (id, sizeof id, "%s%s", api ? AUTH_API_PREFIX : "", key);
            zhashx_insert (self->keys, id, p);
            continue;
        }
        free (p);
        snprintf (err, errlen, "%s: %s \"%.64s\": %s", path, api ? "api key" : "key", key, problem);
        return -1;
    }
    return 0;
}

auth_principals_t *
auth_principals_load (const char *path, char *err, size_t errlen)
{
    //  who holds which role: a file anyone may write would let anyone
    //  bind a key of theirs as admin
    struct stat st;
    if (path && stat (path, &st) == 0 && (st.st_mode & S_IWOTH)) {
        snprintf (err, errlen, "%s: other users can write it (mode %03o): chmod 644 or 600 it",
                  path, (unsigned) (st.st_mode & 0777));
        return NULL;
    }
    json_error_t jerr;
    json_t *root = json_load_file (path, JSON_REJECT_DUPLICATES, &jerr);
    if (!root) {
        snprintf (err, errlen, "%s:%d: %s", path, jerr.line, jerr.text);
        return NULL;
    }
    auth_principals_t *self = calloc (1, sizeof *self);
    json_t *map = json_object_get (root, "principals");
    int rc = self && (self->keys = zhashx_new ()) ? 0 : -1;
    if (rc)
        snprintf (err, errlen, "out of memory");
    else
    if (!json_is_object (map)) {
        snprintf (err, errlen, "%s: expected {\"principals\": {\"<public key>\": "
                  "\"<principal>\", ...}}", path);
        rc = -1;
    }
    else
        zhashx_set_destructor (self->keys, s_principal_free);
    if (rc == 0)
        rc = s_bind_all (self, path, map, false, err, errlen);
    json_t *api = json_object_get (root, "api_keys");
    if (rc == 0 && api && !json_is_object (api)) {
        snprintf (err, errlen, "%s: \"api_keys\" must be an object {\"<hex SHA-256 of the key>\": "
                  "\"<principal>\", ...}", path);
        rc = -1;
    }
    if (rc == 0 && api)
        rc = s_bind_all (self, path, api, true, err, errlen);
    json_decref (root);
    if (rc)
        auth_principals_destroy (&self);
    return self;
}

void
auth_principals_destroy (auth_principals_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    zhashx_destroy (&(*self_p)->keys);
    free (*self_p);
    *self_p = NULL;
}

const auth_principal_t *
auth_principals_find (const auth_principals_t *self, const char *key)
{
    if (!self || !key || !*key)
        return NULL;
    return (const auth_principal_t *) zhashx_lookup (self->keys, key);
}

size_t
auth_principals_size (const auth_principals_t *self)
{
    return self ? zhashx_size (self->keys) : 0;
}

const char *
auth_principals_first (auth_principals_t *self)
{
    return self && zhashx_first (self->keys) ? (const char *) zhashx_cursor (self->keys) : NULL;
}

const char *
auth_principals_next (auth_principals_t *self)
{
    return self && zhashx_next (self->keys) ? (const char *) zhashx_cursor (self->keys) : NULL;
}

//  True when a and b grant the same.
static bool
s_same (const auth_principal_t *a, const auth_principal_t *b)
{
    if (a->role != b->role || strcmp (a->label, b->label) != 0
    ||  (!a->community != !b->community)
    ||  (a->community && strcmp (a->community, b->community) != 0)
    ||  a->scope_count != b->scope_count)
        return false;
    for (size_t i = 0; i < a->scope_count; i++)
        if (strcmp (a->scope [i], b->scope [i]) != 0)
            return false;
    return true;
}

size_t
auth_principals_revoked (auth_principals_t *old, const auth_principals_t *fresh)
{
    size_t revoked = 0;
    //  the keys first: a look-up moves a table's cursor (old may be fresh)
    zlistx_t *keys = old ? zhashx_keys (old->keys) : NULL;
    for (const char *key = keys ? zlistx_first (keys) : NULL; key; key = zlistx_next (keys)) {
        const auth_principal_t *was = auth_principals_find (old, key);
        const auth_principal_t *now = auth_principals_find (fresh, key);
        if (!now || !s_same (was, now))
            revoked++;
    }
    zlistx_destroy (&keys);
    return revoked;
}
