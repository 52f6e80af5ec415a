/*  sentinel.h — finds the Redis primary through Redis Sentinel. The store
    asks on every connect: each Sentinel of the list in turn answers
    SENTINEL get-master-addr-by-name, the first answer wins, and a new
    address is logged as a switch. ROLE then confirms the address is a
    primary (a Sentinel can answer with a stale view during a failover). */
#ifndef GC_SENTINEL_H
#define GC_SENTINEL_H

#include <hiredis/hiredis.h>
#include <stddef.h>

typedef struct _sentinel_t sentinel_t;

//  Check a Sentinel list: "host:port" or a Unix socket path, separated by
//  commas or blanks; "" (no Sentinel) is valid. Returns the number of
//  Sentinels, or -1 with the bad entry named in err.
int sentinel_list_check (const char *list, char *err, size_t errlen);

//  Create from a list sentinel_list_check accepts (at least one entry) and
//  the name the Sentinels monitor the primary under. who names the daemon
//  in log lines. Returns NULL on a bad list (logged) or no memory.
sentinel_t *sentinel_new (const char *list, const char *master, const char *who,
                          int timeout_ms);
void sentinel_destroy (sentinel_t **self_p);

//  Ask the Sentinels for the primary's address: the one that answered last
//  first, then the others in list order. Returns 0 with *host (the
//  caller's, free it) and *port, or -1 with reason filled when no Sentinel
//  knows the primary. Logs a switch when the address changed.
int sentinel_master (sentinel_t *self, char **host, int *port, char *reason, size_t reasonlen);

//  Confirm that redis is connected to a primary (ROLE says "master").
//  Returns 0, or -1 with reason filled (a replica, an error, no answer).
int sentinel_role_check (redisContext *redis, char *reason, size_t reasonlen);

#endif
