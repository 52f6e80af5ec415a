/*  auth.h — who a CurveZMQ key is, and what that principal may do.
    A principals file binds each public key (Z85) to one principal: a
    unit, a gateway (its reporting channels), a grid worker (their grids),
    a community or street operator, an admin or a daemon. The rules of who
    may make which request live here, in one table, for intake and
    dispatch to ask (docs/security.md). Pure functions: no sockets. */
#ifndef GC_AUTH_H
#define GC_AUTH_H

#include <stdbool.h>
#include <stddef.h>

#define AUTH_KEY_LEN 40             //  a Z85 public key
#define AUTH_NAME_MAX 64            //  bytes of a principal's name
#define AUTH_LABEL_MAX (AUTH_NAME_MAX + 16)

typedef enum {
    AUTH_ROLE_NONE = 0,             //  nobody: an unknown or revoked key
    AUTH_ROLE_UNIT,                 //  "unit U009"
    AUTH_ROLE_GATEWAY,              //  "gateway hotline channels HOTLINE"
    AUTH_ROLE_GRID_WORKER,          //  "grid-worker 白国晨 grids G01,G02"
    AUTH_ROLE_OPERATOR,             //  "operator 王主任 community C01" / "operator 李书记 street"
    AUTH_ROLE_ADMIN,                //  "admin ops"
    AUTH_ROLE_DAEMON,               //  "daemon intake": daemon-to-daemon work over TCP
    AUTH_ROLE_LOCAL                 //  an anonymous loopback peer with anonymous = all
} auth_role_t;

typedef struct {
    auth_role_t role;
    char name [AUTH_NAME_MAX + 1];  //  unit id, gateway, person or daemon name
    char label [AUTH_LABEL_MAX];    //  "unit:U009": the timeline's who
    char **scope;                   //  grids (grid worker) or channels (gateway)
    size_t scope_count;
    char *community;                //  operator of one community; NULL: street-wide
} auth_principal_t;

//  What a principal asks to do.
typedef enum {
    AUTH_REPORT,                    //  file a report (grid, channel)
    AUTH_VERIFY,                    //  verify a resolved case (its grid, community)
    AUTH_EVALUATE,                  //  a resident's evaluation (the case's channel, via)
    AUTH_DECIDE,                    //  extend, park, unpark, order decisions (community)
    AUTH_UNIT,                      //  speak for a unit (unit id)
    AUTH_WORK,                      //  daemon-to-daemon wake-ups
    //  the community's lists (docs/community.md); where in the street the
    //  sender may act is its area (auth_area), which the store checks
    AUTH_NEED,                      //  record a need found on a visit (grid)
    AUTH_ANSWER,                    //  answer a survey for a resident (grid)
    AUTH_PLAN,                      //  surveys, projects, cluster detection, venues, ratings
    AUTH_SERVE,                     //  log service hours, claim or leave a project
    //  matters (docs/matters.md)
    AUTH_PROPOSE,                   //  propose a matter (grid, channel): 75_matters.lua
    AUTH_MATTER,                    //  run a matter's meetings, decisions and tasks; its
                                    //  community is checked with the matter
                                    //  (auth_community_area)
    AUTH_MATTER_EVALUATE            //  a resident's evaluation of a matter (a gateway)
} auth_action_t;

//  What the request is about; fields an action does not look at may be NULL.
typedef struct {
    const char *grid;               //  the report's or the case's grid
    const char *community;          //  the case's community
    const char *channel;            //  the report's or case's channel ("HOTLINE")
    const char *via;                //  the label of the principal that reported the case
    const char *unit;               //  the unit spoken for
} auth_scope_t;

//  Parse a principal's text ("grid-worker 白国晨 grids G01,G02") into p.
//  Returns 0, or -1 with the reason in err. Free p with auth_principal_reset.
int auth_principal_parse (const char *text, auth_principal_t *p, char *err, size_t errlen);
void auth_principal_reset (auth_principal_t *p);
const char *auth_role_name (auth_role_t role);

//  True when p may do action on scope; else false with a sentence for the
//  sender in reason. A NULL p (no principal) may do nothing.
bool auth_may (const auth_principal_t *p, auth_action_t action, const auth_scope_t *scope,
               char *reason, size_t reasonlen);

//  Where p may act on the community's lists, as the store reads it: "*"
//  (admin, street operator, loopback), "community:C01", "grids:G01,G02",
//  "unit:U001" or "gateway:NAME"; "" for no principal. Returns buf.
const char *auth_area (const auth_principal_t *p, char *buf, size_t size);

//  The community p's requests are limited to ("" for street-wide roles),
//  for checks made where the object's community is known (a matter's, in
//  the store function): the same rule as s_area_holds.
const char *auth_community_area (const auth_principal_t *p);

//  The channels p speaks for, as the store reads them: "*" (admin,
//  loopback), a gateway's channels "HOTLINE,RESIDENT_APP", "" for every
//  other principal. Returns buf.
const char *auth_channels (const auth_principal_t *p, char *buf, size_t size);

//  True when text is a 40-character Z85 key.
bool auth_key_valid (const char *text);

//  API keys (the HTTP doors, intake's http_bind): a key is a secret
//  string; the principals file keeps only its SHA-256, and its principal
//  is found under "sha256:<hex digest>" beside the CURVE keys.
#define AUTH_API_HASH_LEN 64            //  hex SHA-256
#define AUTH_API_PREFIX "sha256:"
#define AUTH_API_ID_MAX (7 + AUTH_API_HASH_LEN + 1)
#define AUTH_API_KEY_MAX 128            //  longest API key accepted, bytes
//  The look-up id of an API key into id (AUTH_API_ID_MAX bytes). Returns
//  0, or -1 when the key is empty, too long or holds bytes outside
//  printable ASCII.
int auth_api_key_id (const char *key, char *id, size_t idlen);
//  True when text is 64 lower-case hex digits.
bool auth_api_hash_valid (const char *text);

//  The principals of one file: { "principals": { "<Z85 key>": "<principal>", ... },
//  "api_keys": { "<hex SHA-256 of the key>": "<principal>", ... } } (api_keys optional).
typedef struct _auth_principals_t auth_principals_t;

//  Load and check a principals file. Returns the table, or NULL with
//  "file: key ...: problem" in err.
auth_principals_t *auth_principals_load (const char *path, char *err, size_t errlen);
void auth_principals_destroy (auth_principals_t **self_p);
//  The principal of a key, or NULL. Borrowed from the table.
const auth_principal_t *auth_principals_find (const auth_principals_t *self, const char *key);
size_t auth_principals_size (const auth_principals_t *self);
//  Iterate the keys (first, then next until NULL).
const char *auth_principals_first (auth_principals_t *self);
const char *auth_principals_next (auth_principals_t *self);
//  How many keys of old are gone from, or bound to another principal in, new.
size_t auth_principals_revoked (auth_principals_t *old, const auth_principals_t *fresh);

#endif
