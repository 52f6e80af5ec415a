/*  store.c — Redis access: connection with back-off, function library
    loading, FCALL with JSON replies, pipelining. */
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
    int pending;                //  appended calls whose replies are unread
    unsigned long long failures;    //  connection and call failures so far
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
    if (!self->outage_logged && *self->socket)
        log_warning ("%s: redis \"%s\" failed: %s", self->who, self->socket, reason);
    else
    if (!self->outage_logged)
        log_warning ("%s: redis \"%s:%d\" failed: %s", self->who, self->host, self->port, reason);
    self->outage_logged = true;
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
        s_drop_reply (self, what, reply);
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    freeReplyObject (reply);
    return 0;
}

//  1 when Redis already holds exactly this build's function library, so
//  a connect neither rewrites it nor appends 30 KB to the AOF; 0 otherwise;
//  -1 with the connection dropped when Redis cannot answer (loading).
static int
s_library_current (store_t *self)
{
    redisReply *reply = redisCommand (self->redis, "FUNCTION LIST LIBRARYNAME gridcall WITHCODE");
    if (!reply || s_unavailable (reply)) {
        s_drop_reply (self, "FUNCTION LIST", reply);
        if (reply)
            freeReplyObject (reply);
        return -1;
    }
    int current = 0;
    if (reply && reply->type == REDIS_REPLY_ARRAY) {
        for (size_t i = 0; i < reply->elements && !current; i++) {
            redisReply *lib = reply->element [i];
            for (size_t k = 0; lib->type == REDIS_REPLY_ARRAY && k + 1 < lib->elements; k += 2)
                if (lib->element [k]->type == REDIS_REPLY_STRING
                &&  strcmp (lib->element [k]->str, "library_code") == 0
                &&  lib->element [k + 1]->type == REDIS_REPLY_STRING
                &&  strcmp (lib->element [k + 1]->str, gridcall_lua) == 0)
                    current = 1;
        }
    }
    freeReplyObject (reply);
    return current;
}

//  Warn when Redis would lose acknowledged reports on a crash.
static void
s_check_durability (store_t *self)
{
    redisReply *reply = redisCommand (self->redis, "CONFIG GET appendonly");
    if (reply && reply->type == REDIS_REPLY_ARRAY && reply->elements == 2
    &&  strcmp (reply->element [1]->str, "no") == 0)
        log_warning ("%s: redis has appendonly no: a Redis crash loses recent cases; "
                     "use deploy/redis.conf", self->who);
    if (reply)
        freeReplyObject (reply);
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

int
store_ensure (store_t *self)
{
    if (self->redis)
        return 0;
    if (s_mono_ms () < self->retry_at)
        return -1;
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
    int current = s_library_current (self);
    if (current < 0)
        return -1;
    if (current == 0) {
        const char *load [4] = { "FUNCTION", "LOAD", "REPLACE", gridcall_lua };
        if (s_setup (self, "FUNCTION LOAD", 4, load))
            return -1;
    }
    s_check_durability (self);
    if (self->outage_logged)
        log_notice ("%s: redis connection restored", self->who);
    self->outage_logged = false;
    self->backoff_ms = BACKOFF_MIN_MS;
    return 0;
}

int
store_append (store_t *self, const char *fn, int argc, const char **argv, const size_t *lens)
{
    char reason [128];
    if (!store_fn_check (fn, argc, reason, sizeof reason)) {
        log_error ("%s: store call refused: %s", self->who, reason);
        return -1;
    }
    if (argc + 4 > STORE_ARGS_MAX || store_ensure (self))
        return -1;
    const char *args [STORE_ARGS_MAX];
    size_t arglens [STORE_ARGS_MAX];
    args [0] = "FCALL";
    args [1] = fn;
    args [2] = "0";
    args [3] = self->prefix;
    for (int i = 0; i < 4; i++)
        arglens [i] = strlen (args [i]);
    for (int i = 0; i < argc; i++) {
        args [i + 4] = argv [i] ? argv [i] : "";
        arglens [i + 4] = lens ? lens [i] : strlen (args [i + 4]);
    }
    if (redisAppendCommandArgv (self->redis, argc + 4, args, arglens) != REDIS_OK) {
        s_drop (self, self->redis->errstr);
        return -1;
    }
    self->pending++;
    return 0;
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
        if (!json)
            json = json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "STORE",
                              "message", "reply is not JSON");
    }
    else {
        log_warning ("%s: FCALL failed: %s", self->who,
                     reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply type");
        json = json_pack ("{s:b, s:s, s:s}", "ok", 0, "code", "STORE", "message",
                          reply->type == REDIS_REPLY_ERROR ? reply->str : "unexpected reply");
    }
    freeReplyObject (reply);
    return json;
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
store_directory_load (store_t *self, const char *json)
{
    return store_callv (self, "gc_dir_load", json, NULL);
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
