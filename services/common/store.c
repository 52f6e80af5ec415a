/*  store.c — Redis access: connection with back-off, the function
    library's version check (and its loading, for the admin step), FCALL
    with JSON replies, pipelining. */
#include "store.h"
#include "store_fn.h"

#include <hiredis/hiredis.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gridcall_lua.h"
#include "log.h"
#include "sentinel.h"

#define STORE_ARGS_MAX 256
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 2000        //  a restarted Redis is back in use within 2 s
#define BACKOFF_SENTINEL_MAX_MS 500 //  a promoted replica within 0.5 s of Sentinel naming it

struct _store_t {
    redisContext *redis;        //  live connection, or NULL
    char *who;                  //  daemon name for log lines
    char *host;
    int port;
    char *socket;               //  Unix socket path, or empty
    sentinel_t *sentinel;       //  names the primary (host, port) when sentinels are set
    char *user;
    char *password;
    char *prefix;               //  key prefix passed to every function
    int timeout_ms;
    long long retry_at;         //  monotonic ms before which we do not reconnect
    int backoff_ms;
    bool outage_logged;         //  one log line per outage
    char refusal [320];         //  why Redis refused us (not an outage), or ""
    bool refusal_logged;        //  a refusal was logged during this outage
    int pending;                //  appended calls whose replies are unread
    unsigned long long failures;    //  connection and call failures so far
    const char *fence_fn;       //  the fence wrapper ("gc_fenced"), or NULL
    const char *const *fence_list;  //  the functions it wraps (NULL-terminated)
    char fence [24];            //  the epoch every write call carries
    bool fenced;                //  a call was refused by the fence
};

static long long
s_mono_ms (void)
{
    struct timespec ts;
    clock_gettime (CLOCK_MONOTONIC, &ts);
    return (long long) ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

store_t *
store_new (const config_t *config, const char *who)
{
    store_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->who = strdup (who);
    self->host = strdup (config_str (config, "redis_host"));
    self->port = (int) config_int (config, "redis_port");
    self->socket = strdup (config_str (config, "redis_socket"));
    self->user = strdup (config_str (config, "redis_user"));
    self->password = strdup (config_str (config, "redis_password"));
    self->prefix = strdup (config_str (config, "key_prefix"));
    self->timeout_ms = (int) config_int (config, "redis_timeout_ms");
    self->backoff_ms = BACKOFF_MIN_MS;
    if (!self->who || !self->host || !self->socket || !self->user || !self->password
    ||  !self->prefix)
        store_destroy (&self);
    else
    if (*config_str (config, "sentinels")) {
        //  the primary is wherever Sentinel says, over TCP: no socket
        *self->socket = 0;
        self->sentinel = sentinel_new (config_str (config, "sentinels"),
                                       config_str (config, "sentinel_master"), who,
                                       self->timeout_ms);
        if (!self->sentinel)
            store_destroy (&self);
    }
    return self;
}

void
store_destroy (store_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    store_t *self = *self_p;
    if (self->redis)
        redisFree (self->redis);
    sentinel_destroy (&self->sentinel);
    free (self->prefix);
    free (self->password);
    free (self->user);
    free (self->socket);
    free (self->host);
    free (self->who);
    free (self);
    *self_p = NULL;
}

const char *
store_prefix (const store_t *self)
{
    return self->prefix;
}

unsigned long long
store_failures (const store_t *self)
{
    return self->failures;
}

static void
s_drop (store_t *self, const char *reason)
{
    self->failures++;
    //  one line per outage, and one for a refusal that comes during it (a
    //  Redis back without our library says why it is still no use)
    bool refused = *self->refusal && !self->refusal_logged;
    if ((!self->outage_logged || refused) && *self->socket)
        log_warning ("%s: redis \"%s\" failed: %s", self->who, self->socket, reason);
    else
    if (!self->outage_logged || refused)
        log_warning ("%s: redis \"%s:%d\" failed: %s", self->who, self->host, self->port, reason);
    self->outage_logged = true;
    self->refusal_logged = self->refusal_logged || refused;
    if (self->redis)
        redisFree (self->redis);
    self->redis = NULL;
    self->pending = 0;
    self->retry_at = s_mono_ms () + self->backoff_ms;
    //  behind Sentinel a new primary appears within a failover (1-2 s) and
    //  asking a Sentinel is cheap: retry sooner, not to add 2 s to recovery
    int max = self->sentinel ? BACKOFF_SENTINEL_MAX_MS : BACKOFF_MAX_MS;
    self->backoff_ms = self->backoff_ms * 2 > max ? max : self->backoff_ms * 2;
}

//  True for an error reply that means "not now": Redis answers LOADING to
//  every command while it reads its AOF or RDB after a restart; a primary
//  demoted by a failover answers READONLY, one cut off from its replicas
//  MASTERDOWN: reconnect (and ask Sentinel again).
static bool
s_unavailable (const redisReply *reply)
{
    return reply->type == REDIS_REPLY_ERROR
        && (strncmp (reply->str, "LOADING", 7) == 0 || strncmp (reply->str, "READONLY", 8) == 0
        ||  strncmp (reply->str, "MASTERDOWN", 10) == 0);
}

//  Drop the connection for a failed setup command or call; a LOADING
//  answer is an outage like a refused connect, retried with back-off.
static void
s_drop_reply (store_t *self, const char *what, const redisReply *reply)
{
    char reason [256];
    if (reply && strncmp (reply->str, "LOADING", 7) == 0)
        snprintf (reason, sizeof reason, "%s: redis is still loading its data; retrying", what);
    else
        snprintf (reason, sizeof reason, "%s: %s", what, reply ? reply->str : self->redis->errstr);
    s_drop (self, reason);
}

//  Run one setup command; returns 0, or -1 with the connection dropped.
static int
s_setup (store_t *self, const char *what, int argc, const char **argv)
{
    redisReply *reply = redisCommandArgv (self->redis, argc, argv, NULL);
    if (!reply || reply->type == REDIS_REPLY_ERROR) {
        //  an answer other than LOADING (a wrong password, a user that may
        //  not do this) is a refusal: retrying will not change it
        if (reply && !s_unavailable (reply))
            snprintf (self->refusal, sizeof self->refusal, "%s refused: %s", what, reply->str);
        s_drop_reply (self, what, reply);
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    freeReplyObject (reply);
    return 0;
}

//  Check that Redis holds this build's function library: gc_version (a
//  function make generates from the library's SHA-1) answers this build's
//  GRIDCALL_LUA_VERSION. Daemons never load the library themselves (their
//  Redis users may not); `gridcall redis setup` does. Returns 0, or -1
//  with the connection dropped and, unless Redis was loading, the reason
//  in self->refusal.
static int
s_library_check (store_t *self)
{
    redisReply *reply = redisCommand (self->redis, "FCALL_RO gc_version 0 %s", self->prefix);
    if (!reply || s_unavailable (reply)) {
        s_drop_reply (self, "FCALL_RO gc_version", reply);
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    json_t *json = reply->type == REDIS_REPLY_STRING ? json_loadb (reply->str, reply->len, 0, NULL)
                                                     : NULL;
    const char *version = json_string_value (json_object_get (json, "version"));
    if (reply->type == REDIS_REPLY_ERROR && strstr (reply->str, "not found"))
        snprintf (self->refusal, sizeof self->refusal,
                  "Redis holds no gridcall function library; run gridcall redis setup");
    else
    if (reply->type == REDIS_REPLY_ERROR)
        snprintf (self->refusal, sizeof self->refusal, "FCALL_RO gc_version refused: %s "
                  "(check redis_user and deploy/redis-users.acl)", reply->str);
    else
    if (!version || strcmp (version, GRIDCALL_LUA_VERSION) != 0)
        snprintf (self->refusal, sizeof self->refusal,
                  "Redis holds gridcall function library %.12s, this build needs %.12s; "
                  "run gridcall redis setup from this build", version ? version : "(unknown)",
                  GRIDCALL_LUA_VERSION);
    json_decref (json);
    freeReplyObject (reply);
    if (*self->refusal) {
        s_drop (self, self->refusal);
        return -1;
    }
    return 0;
}

const char *
store_library_version (void)
{
    return GRIDCALL_LUA_VERSION;
}

//  Sentinel: where the primary is now (it becomes host:port). Returns 0,
//  or -1 with the connection's back-off running when no Sentinel knows.
static int
s_sentinel_lookup (store_t *self)
{
    char reason [512];
    char *host = NULL;
    if (sentinel_master (self->sentinel, &host, &self->port, reason, sizeof reason)) {
        s_drop (self, reason);
        return -1;
    }
    free (self->host);
    self->host = host;
    return 0;
}

//  Sentinel: the address it gave must be the primary still (its view lags
//  a failover by a moment). Returns 0, or -1 with the connection dropped.
static int
s_sentinel_role (store_t *self)
{
    char reason [256];
    if (sentinel_role_check (self->redis, reason, sizeof reason) == 0)
        return 0;
    s_drop (self, reason);
    return -1;
}

//  Connect and authenticate; with check, also check the library version.
//  Returns 0, or -1 (the reason logged once per outage; a refusal kept).
static int
s_connect (store_t *self, bool check)
{
    if (self->redis)
        return 0;
    if (s_mono_ms () < self->retry_at)
        return -1;
    *self->refusal = 0;
    if (self->sentinel && s_sentinel_lookup (self))
        return -1;
    struct timeval tv = { self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000 };
    self->redis = *self->socket ? redisConnectUnixWithTimeout (self->socket, tv)
                                : redisConnectWithTimeout (self->host, self->port, tv);
    if (!self->redis || self->redis->err) {
        s_drop (self, self->redis ? self->redis->errstr : "out of memory");
        return -1;
    }
    redisSetTimeout (self->redis, tv);
    if (*self->password) {
        const char *auth [3] = { "AUTH", self->user, self->password };
        if (*self->user ? s_setup (self, "AUTH", 3, auth)
                        : s_setup (self, "AUTH", 2, (const char *[]) { "AUTH", self->password }))
            return -1;
    }
    if (self->sentinel && s_sentinel_role (self))
        return -1;
    if (check && s_library_check (self))
        return -1;
    if (self->outage_logged)
        log_notice ("%s: redis connection restored", self->who);
    self->outage_logged = false;
    self->refusal_logged = false;
    self->backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

int
store_ensure (store_t *self)
{
    return s_connect (self, true);
}

int
store_start (store_t *self)
{
    if (store_ensure (self) == 0)
        return 0;
    if (*self->refusal) {
        log_error ("%s: %s", self->who, self->refusal);
        return -1;
    }
    log_warning ("%s: redis not reachable yet; requests get UNAVAILABLE until it is", self->who);
    return 0;
}

const char *
store_refusal (const store_t *self)
{
    return *self->refusal ? self->refusal : NULL;
}

//  Add a warning to report when option name of CONFIG GET is not as wanted.
static void
s_setting (store_t *self, json_t *warnings, const char *name, const char *want, bool equal,
           const char *why)
{
    redisReply *reply = redisCommand (self->redis, "CONFIG GET %s", name);
    const char *value = reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
                      ? reply->element [1]->str : NULL;
    if (!value)
        json_array_append_new (warnings, json_sprintf ("CONFIG GET %s failed", name));
    else
    if ((strcmp (value, want) == 0) != equal)
        json_array_append_new (warnings, json_sprintf ("%s is %s: %s", name, value, why));
    if (reply)
        freeReplyObject (reply);
}

json_t *
store_setup (store_t *self)
{
    if (s_connect (self, false))
        return json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "UNAVAILABLE", "message",
                          *self->refusal ? self->refusal : "cannot reach Redis");
    const char *load [4] = { "FUNCTION", "LOAD", "REPLACE", gridcall_lua };
    if (s_setup (self, "FUNCTION LOAD", 4, load))
        return json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "REFUSED", "message",
                          *self->refusal ? self->refusal : "FUNCTION LOAD failed");
    if (s_library_check (self))
        return json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "REFUSED", "message",
                          self->refusal);
    //  the settings gridcall relies on (deploy/redis.conf), checked once here
    json_t *warnings = json_array ();
    s_setting (self, warnings, "appendonly", "yes", true,
               "a Redis crash loses recent cases; use deploy/redis.conf");
    s_setting (self, warnings, "maxmemory-policy", "noeviction", true,
               "Redis may evict live cases; set noeviction");
    s_setting (self, warnings, "maxmemory", "0", false,
               "no memory limit: a full machine fails Redis as a whole; set maxmemory");
    //  the default user: nobody may log in as it (no nopass), and it must
    //  keep every command, as Redis 7.0 replays its AOF's transactions as it
    redisReply *acl = redisCommand (self->redis, "ACL GETUSER default");
    bool nopass = false, off = false, all = false;
    for (size_t i = 0; acl && acl->type == REDIS_REPLY_ARRAY && i + 1 < acl->elements; i += 2) {
        const redisReply *name = acl->element [i], *value = acl->element [i + 1];
        if (name->type != REDIS_REPLY_STRING)
            continue;
        for (size_t k = 0; strcmp (name->str, "flags") == 0 && k < value->elements; k++) {
            nopass = nopass || strcmp (value->element [k]->str, "nopass") == 0;
            off = off || strcmp (value->element [k]->str, "off") == 0;
        }
        if (strcmp (name->str, "commands") == 0 && value->type == REDIS_REPLY_STRING)
            all = strcmp (value->str, "+@all") == 0;
    }
    if (nopass && !off)
        json_array_append_new (warnings, json_string (
            "the default user needs no password: anyone who reaches Redis may do anything; "
            "use deploy/redis-users.acl"));
    if (off || !all)
        json_array_append_new (warnings, json_string (
            "the default user is off or limited: Redis 7.0 replays the transactions of its "
            "AOF as that user and drops them at a restart; use deploy/redis-users.acl"));
    if (acl)
        freeReplyObject (acl);
    return json_pack ("{s:b, s:s, s:o}", "ok", 1, "version", GRIDCALL_LUA_VERSION,
                      "warnings", warnings);
}

int
store_append (store_t *self, const char *fn, int argc, const char **argv, const size_t *lens)
{
    char reason [128];
    const store_fn_t *entry = store_fn_check (fn, argc, reason, sizeof reason);
    if (!entry) {
        log_error ("%s: store call refused: %s", self->who, reason);
        return -1;
    }
    //  a fenced store sends every write through the wrapper, with its epoch
    bool fence = false;
    for (const char *const *f = self->fence_fn ? self->fence_list : NULL; f && *f && !fence; f++)
        fence = strcmp (*f, fn) == 0;
    int head = fence ? 6 : 4;
    if (argc + head > STORE_ARGS_MAX || store_ensure (self))
        return -1;
    const char *args [STORE_ARGS_MAX];
    size_t arglens [STORE_ARGS_MAX];
    //  a function flagged no-writes goes by FCALL_RO: a read-only user may
    //  call it, and Redis serves it when full (maxmemory)
    args [0] = entry->readonly ? "FCALL_RO" : "FCALL";
    args [1] = fence ? self->fence_fn : fn;
    args [2] = "0";
    args [3] = self->prefix;
    args [4] = self->fence;
    args [5] = fn;
    for (int i = 0; i < head; i++)
        arglens [i] = strlen (args [i]);
    for (int i = 0; i < argc; i++) {
        args [i + head] = argv [i] ? argv [i] : "";
        arglens [i + head] = lens ? lens [i] : strlen (args [i + head]);
    }
    if (redisAppendCommandArgv (self->redis, argc + head, args, arglens) != REDIS_OK) {
        s_drop (self, self->redis->errstr);
        return -1;
    }
    self->pending++;
    return 0;
}

void
store_flush (store_t *self)
{
    if (!self->redis || self->pending == 0)
        return;
    int done = 0;
    while (!done)
        if (redisBufferWrite (self->redis, &done) != REDIS_OK)
            return;
}

//  The reply for a Redis error: the error itself stays in our log and in
//  "detail" (for the operator's CLI); a client sees a generic message.
//  A full Redis (OOM, noeviction) or one that may not write now is
//  UNAVAILABLE (retry later); anything else, a Lua error or a refused
//  command, is INTERNAL.
static json_t *
s_error_reply (store_t *self, const redisReply *reply)
{
    const char *text = reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply type";
    bool later = strncmp (text, "OOM", 3) == 0 || strncmp (text, "READONLY", 8) == 0
              || strncmp (text, "BUSY", 4) == 0 || strncmp (text, "MASTERDOWN", 10) == 0;
    log_warning ("%s: FCALL failed: %s", self->who, text);
    return json_pack ("{s:b, s:s, s:s, s:s}", "ok", 0,
                      "code", later ? "UNAVAILABLE" : "INTERNAL",
                      "message", later ? "the case store cannot take this now; retry later"
                                       : "the case store failed on this request",
                      "detail", text);
}

json_t *
store_reply (store_t *self)
{
    if (!self->redis || self->pending == 0)
        return NULL;
    self->pending--;
    redisReply *reply = NULL;
    if (redisGetReply (self->redis, (void **) &reply) != REDIS_OK) {
        s_drop (self, self->redis->errstr);
        return NULL;
    }
    if (s_unavailable (reply)) {
        //  not a failed call: Redis is back but not ready, so the caller
        //  retries later as if it were unreachable
        s_drop_reply (self, "FCALL", reply);
        freeReplyObject (reply);
        return NULL;
    }
    json_t *json = NULL;
    if (reply->type == REDIS_REPLY_STRING) {
        json_error_t error;
        json = json_loadb (reply->str, reply->len, 0, &error);
        if (!json) {
            log_warning ("%s: FCALL reply is not JSON: %.80s", self->who, reply->str);
            json = json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "INTERNAL",
                              "message", "the case store failed on this request");
        }
    }
    else
        json = s_error_reply (self, reply);
    freeReplyObject (reply);
    if (self->fence_fn && !json_is_true (json_object_get (json, "ok"))
    &&  json_is_string (json_object_get (json, "code"))
    &&  strcmp (json_string_value (json_object_get (json, "code")), "FENCED") == 0)
        self->fenced = true;
    return json;
}

void
store_fence (store_t *self, const char *wrapper, const char *const *fns, const char *epoch)
{
    self->fence_fn = fns ? wrapper : NULL;
    self->fence_list = fns;
    snprintf (self->fence, sizeof self->fence, "%s", epoch ? epoch : "");
    self->fenced = false;
}

bool
store_fenced (const store_t *self)
{
    return self->fenced;
}

json_t *
store_call (store_t *self, const char *fn, int argc, const char **argv, const size_t *lens)
{
    //  a synchronous call must not read a reply meant for earlier appends
    while (self->pending > 0) {
        json_t *stale = store_reply (self);
        json_decref (stale);
    }
    if (store_append (self, fn, argc, argv, lens))
        return NULL;
    return store_reply (self);
}

json_t *
store_callv (store_t *self, const char *fn, ...)
{
    const char *argv [STORE_ARGS_MAX];
    int argc = 0;
    va_list ap;
    va_start (ap, fn);
    const char *arg;
    while ((arg = va_arg (ap, const char *)) && argc < STORE_ARGS_MAX - 4)
        argv [argc++] = arg;
    va_end (ap);
    return store_call (self, fn, argc, argv, NULL);
}

json_t *
store_directory_load (store_t *self, const char *json, const char *by)
{
    return store_callv (self, "gc_dir_load", json, by, NULL);
}

int
store_wait (store_t *self, int replicas, int timeout_ms, bool advance)
{
    if (!self->redis || self->pending > 0)
        return -1;
    //  WAIT counts this connection's writes only: a batch that wrote
    //  nothing (a retry finding its case) first publishes to no one, which
    //  replicates and so moves this connection's offset past every write
    //  Redis made before, the case's registration among them
    int sent = 0;
    if (advance && redisAppendCommand (self->redis, "PUBLISH %swait 1", self->prefix) == REDIS_OK)
        sent++;
    if (redisAppendCommand (self->redis, "WAIT %d %d", replicas, timeout_ms) == REDIS_OK)
        sent++;
    long long acked = -1;
    bool refused = false;
    for (int i = 0; i < sent; i++) {
        redisReply *reply = NULL;
        if (redisGetReply (self->redis, (void **) &reply) != REDIS_OK) {
            s_drop (self, self->redis->errstr);
            return -1;
        }
        if (reply->type == REDIS_REPLY_ERROR) {
            //  not fatal for the connection; the caller answers "retry"
            log_warning ("%s: WAIT failed: %s", self->who, reply->str);
            refused = true;
        }
        else
        if (i == sent - 1 && reply->type == REDIS_REPLY_INTEGER)
            acked = reply->integer;
        freeReplyObject (reply);
    }
    return refused || acked < 0 ? -1 : (int) acked;
}

//  ROLE answers on a primary: "master", its offset, then [ip, port, offset]
//  per connected replica; on a replica: "slave", primary ip, port, link
//  state, offset. The lag is in bytes of the replication stream: what a
//  replica still lacks of the primary's writes (INFO's "lag" is only
//  seconds since its last ack, and INFO is beyond the operator's ACL).
json_t *
store_replication (store_t *self)
{
    if (store_ensure (self) != 0 || self->pending > 0)
        return NULL;
    redisReply *reply = redisCommand (self->redis, "ROLE");
    if (!reply) {
        s_drop (self, self->redis->errstr);
        return NULL;
    }
    json_t *out = NULL;
    if (reply->type == REDIS_REPLY_ARRAY && reply->elements >= 1
    &&  reply->element [0]->type == REDIS_REPLY_STRING) {
        char server [300];
        if (*self->socket)
            snprintf (server, sizeof server, "%s", self->socket);
        else
            snprintf (server, sizeof server, "%s:%d", self->host, self->port);
        const char *role = reply->element [0]->str;
        out = json_pack ("{s:s, s:s}", "server", server, "role", role);
        if (strcmp (role, "master") == 0 && reply->elements >= 3
        &&  reply->element [1]->type == REDIS_REPLY_INTEGER
        &&  reply->element [2]->type == REDIS_REPLY_ARRAY) {
            long long offset = reply->element [1]->integer;
            json_t *replicas = json_array ();
            for (size_t i = 0; i < reply->element [2]->elements; i++) {
                redisReply *r = reply->element [2]->element [i];
                if (r->type != REDIS_REPLY_ARRAY || r->elements < 3
                ||  r->element [0]->type != REDIS_REPLY_STRING
                ||  r->element [1]->type != REDIS_REPLY_STRING
                ||  r->element [2]->type != REDIS_REPLY_STRING)
                    continue;
                long long at = strtoll (r->element [2]->str, NULL, 10);
                char addr [300];
                snprintf (addr, sizeof addr, "%s:%s", r->element [0]->str, r->element [1]->str);
                json_array_append_new (replicas, json_pack ("{s:s, s:I, s:I}", "addr", addr,
                    "offset", (json_int_t) at, "lag_bytes",
                    (json_int_t) (offset > at ? offset - at : 0)));
            }
            json_object_set_new (out, "offset", json_integer (offset));
            json_object_set_new (out, "replicas", replicas);
        }
        else
        if (strcmp (role, "slave") == 0 && reply->elements >= 5
        &&  reply->element [1]->type == REDIS_REPLY_STRING
        &&  reply->element [2]->type == REDIS_REPLY_INTEGER
        &&  reply->element [3]->type == REDIS_REPLY_STRING
        &&  reply->element [4]->type == REDIS_REPLY_INTEGER) {
            char primary [300];
            snprintf (primary, sizeof primary, "%s:%lld", reply->element [1]->str,
                      reply->element [2]->integer);
            json_object_set_new (out, "primary", json_string (primary));
            json_object_set_new (out, "state", json_string (reply->element [3]->str));
            json_object_set_new (out, "offset", json_integer (reply->element [4]->integer));
        }
    }
    else
    if (reply->type == REDIS_REPLY_ERROR)
        log_warning ("%s: ROLE refused: %s", self->who, reply->str);
    freeReplyObject (reply);
    return out;
}
