/*  sentinel.c — asks Redis Sentinel where the primary is (the "Guidelines
    for Redis clients with support for Redis Sentinel": try each Sentinel,
    the one that answered goes first next time, verify with ROLE). */
#include "sentinel.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define SENTINEL_MAX 16             //  more Sentinels than a quorum ever needs
#define SENTINEL_HOST_MAX 256

typedef struct {
    char host [SENTINEL_HOST_MAX];  //  host name or address, or a Unix socket path
    int port;                       //  0 for a Unix socket
} s_addr_t;

struct _sentinel_t {
    s_addr_t addrs [SENTINEL_MAX];  //  the configured Sentinels, in list order
    int count;
    int first;                      //  index of the Sentinel that answered last
    char *master;                   //  the name the Sentinels monitor
    char *who;                      //  daemon name for log lines
    int timeout_ms;                 //  connect and reply timeout per Sentinel
    char current [SENTINEL_HOST_MAX + 8];   //  "host:port" last answered, or ""
};

//  Parse one entry of length len into addr. Returns 0 or -1.
static int
s_parse (const char *entry, size_t len, s_addr_t *addr)
{
    if (len == 0 || len >= SENTINEL_HOST_MAX)
        return -1;
    if (*entry == '/') {
        memcpy (addr->host, entry, len);
        addr->host [len] = 0;
        addr->port = 0;
        return 0;
    }
    //  host:port, or [v6 address]:port
    const char *colon = NULL;
    const char *host = entry;
    size_t hostlen;
    if (*entry == '[') {
        const char *close = memchr (entry, ']', len);
        if (!close || close + 1 >= entry + len || close [1] != ':')
            return -1;
        host = entry + 1;
        hostlen = (size_t) (close - host);
        colon = close + 1;
    }
    else {
        for (size_t i = 0; i < len; i++)
            if (entry [i] == ':')
                colon = entry + i;
        if (!colon)
            return -1;
        hostlen = (size_t) (colon - entry);
    }
    if (hostlen == 0)
        return -1;
    int port = 0;
    const char *p = colon + 1;
    if (p >= entry + len)
        return -1;
    for (; p < entry + len; p++) {
        if (!isdigit ((unsigned char) *p) || port > 65535)
            return -1;
        port = port * 10 + (*p - '0');
    }
    if (port < 1 || port > 65535)
        return -1;
    memcpy (addr->host, host, hostlen);
    addr->host [hostlen] = 0;
    addr->port = port;
    return 0;
}

//  Walk the list; fill addrs (up to SENTINEL_MAX) when not NULL. Returns
//  the count or -1 with err filled.
static int
s_walk (const char *list, s_addr_t *addrs, char *err, size_t errlen)
{
    int count = 0;
    const char *p = list;
    while (*p) {
        while (*p == ',' || isspace ((unsigned char) *p))
            p++;
        if (!*p)
            break;
        const char *start = p;
        while (*p && *p != ',' && !isspace ((unsigned char) *p))
            p++;
        s_addr_t addr;
        if (s_parse (start, (size_t) (p - start), &addr)) {
            snprintf (err, errlen, "sentinels: \"%.*s\" is not host:port or a socket path",
                      (int) (p - start) > 80 ? 80 : (int) (p - start), start);
            return -1;
        }
        if (count == SENTINEL_MAX) {
            snprintf (err, errlen, "sentinels: more than %d", SENTINEL_MAX);
            return -1;
        }
        if (addrs)
            addrs [count] = addr;
        count++;
    }
    return count;
}

int
sentinel_list_check (const char *list, char *err, size_t errlen)
{
    return s_walk (list, NULL, err, errlen);
}

sentinel_t *
sentinel_new (const char *list, const char *master, const char *who, int timeout_ms)
{
    sentinel_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    char err [256];
    self->count = s_walk (list, self->addrs, err, sizeof err);
    self->master = strdup (master);
    self->who = strdup (who);
    self->timeout_ms = timeout_ms;
    if (self->count <= 0 || !self->master || !self->who) {
        if (self->count < 0)
            log_error ("%s: %s", who, err);
        sentinel_destroy (&self);
    }
    return self;
}

void
sentinel_destroy (sentinel_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    sentinel_t *self = *self_p;
    free (self->who);
    free (self->master);
    free (self);
    *self_p = NULL;
}

//  Ask one Sentinel. Returns 0 with *host (caller frees) and *port, or -1
//  with why in reason.
static int
s_ask (sentinel_t *self, const s_addr_t *addr, char **host, int *port, char *reason,
       size_t reasonlen)
{
    struct timeval tv = { self->timeout_ms / 1000, (self->timeout_ms % 1000) * 1000 };
    redisContext *redis = addr->port ? redisConnectWithTimeout (addr->host, addr->port, tv)
                                     : redisConnectUnixWithTimeout (addr->host, tv);
    if (!redis || redis->err) {
        snprintf (reason, reasonlen, "%s", redis ? redis->errstr : "out of memory");
        redisFree (redis);
        return -1;
    }
    redisSetTimeout (redis, tv);
    int rc = -1;
    redisReply *reply = redisCommand (redis, "SENTINEL get-master-addr-by-name %s", self->master);
    if (!reply)
        snprintf (reason, reasonlen, "%s", redis->errstr);
    else
    if (reply->type == REDIS_REPLY_ERROR)
        snprintf (reason, reasonlen, "%s", reply->str);
    else
    if (reply->type == REDIS_REPLY_NIL)
        snprintf (reason, reasonlen, "does not monitor a master named \"%s\"", self->master);
    else
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements != 2
    ||  reply->element [0]->type != REDIS_REPLY_STRING
    ||  reply->element [1]->type != REDIS_REPLY_STRING
    ||  atoi (reply->element [1]->str) < 1 || atoi (reply->element [1]->str) > 65535)
        snprintf (reason, reasonlen, "unexpected answer to SENTINEL get-master-addr-by-name");
    else {
        *host = strdup (reply->element [0]->str);
        *port = atoi (reply->element [1]->str);
        rc = *host ? 0 : -1;
        if (rc)
            snprintf (reason, reasonlen, "out of memory");
    }
    if (reply)
        freeReplyObject (reply);
    redisFree (redis);
    return rc;
}

int
sentinel_master (sentinel_t *self, char **host, int *port, char *reason, size_t reasonlen)
{
    char why [256] = "";
    size_t used = 0;
    reason [0] = 0;
    for (int n = 0; n < self->count; n++) {
        int i = (self->first + n) % self->count;
        const s_addr_t *addr = &self->addrs [i];
        if (s_ask (self, addr, host, port, why, sizeof why) == 0) {
            self->first = i;
            char now [sizeof self->current];
            snprintf (now, sizeof now, "%s:%d", *host, *port);
            if (strcmp (now, self->current) != 0) {
                if (*self->current)
                    log_notice ("%s: redis primary \"%s\" is now at %s (was %s), said sentinel "
                                "%s:%d", self->who, self->master, now, self->current,
                                addr->host, addr->port);
                else
                    log_notice ("%s: redis primary \"%s\" is at %s, said sentinel %s:%d",
                                self->who, self->master, now, addr->host, addr->port);
                snprintf (self->current, sizeof self->current, "%s", now);
            }
            return 0;
        }
        //  every Sentinel's reason, for the one outage line the store logs
        if (used < reasonlen) {
            int w = snprintf (reason + used, reasonlen - used, "%ssentinel %s:%d: %s",
                              used ? "; " : "", addr->host, addr->port, why);
            used += w > 0 ? (size_t) w : 0;
        }
    }
    return -1;
}

int
sentinel_role_check (redisContext *redis, char *reason, size_t reasonlen)
{
    redisReply *reply = redisCommand (redis, "ROLE");
    int rc = -1;
    if (!reply)
        snprintf (reason, reasonlen, "ROLE: %s", redis->errstr);
    else
    if (reply->type == REDIS_REPLY_ERROR)
        snprintf (reason, reasonlen, "ROLE: %s", reply->str);
    else
    if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 1
    ||  reply->element [0]->type != REDIS_REPLY_STRING)
        snprintf (reason, reasonlen, "ROLE: unexpected answer");
    else
    if (strcmp (reply->element [0]->str, "master") != 0)
        snprintf (reason, reasonlen, "the address Sentinel gave is a %s, not the primary; "
                  "asking again", reply->element [0]->str);
    else
        rc = 0;
    if (reply)
        freeReplyObject (reply);
    return rc;
}
