/*  report_pool.c — a fixed set of store connections handed out under a
    mutex; a borrower waits on a condition variable when all are out. */
#include "report_pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdbool.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

struct _report_pool_t {
    pthread_mutex_t lock;       //  guards free_count and free_list
    pthread_cond_t returned;    //  signalled when a connection comes back
    report_conn_t *conns;       //  every connection
    int size;                   //  how many
    report_conn_t **free_list;  //  connections not borrowed
    int free_count;             //  entries in free_list
};

report_pool_t *
report_pool_new (const config_t *config, int size, report_dir_share_t *share)
{
    report_pool_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->conns = calloc ((size_t) size, sizeof *self->conns);
    self->free_list = calloc ((size_t) size, sizeof *self->free_list);
    self->size = size;
    pthread_mutex_init (&self->lock, NULL);
    pthread_condattr_t attr;
    pthread_condattr_init (&attr);
    pthread_condattr_setclock (&attr, CLOCK_MONOTONIC);
    pthread_cond_init (&self->returned, &attr);
    pthread_condattr_destroy (&attr);
    if (!self->conns || !self->free_list) {
        report_pool_destroy (&self);
        return NULL;
    }
    for (int i = 0; i < size; i++) {
        self->conns [i].store = store_new (config, "report");
        self->conns [i].dir = report_dir_new (share);
        if (!self->conns [i].store || !self->conns [i].dir) {
            log_error ("report: store_new() failed: out of memory");
            report_pool_destroy (&self);
            return NULL;
        }
        self->free_list [self->free_count++] = &self->conns [i];
    }
    return self;
}

void
report_pool_destroy (report_pool_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_pool_t *self = *self_p;
    for (int i = 0; self->conns && i < self->size; i++) {
        report_dir_destroy (&self->conns [i].dir);
        store_destroy (&self->conns [i].store);
    }
    free (self->conns);
    free (self->free_list);
    pthread_cond_destroy (&self->returned);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

report_conn_t *
report_pool_take (report_pool_t *self, int timeout_ms)
{
    struct timespec until;
    clock_gettime (CLOCK_MONOTONIC, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long) (timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    report_conn_t *conn = NULL;
    pthread_mutex_lock (&self->lock);
    while (self->free_count == 0)
        if (pthread_cond_timedwait (&self->returned, &self->lock, &until) == ETIMEDOUT)
            break;
    if (self->free_count > 0)
        conn = self->free_list [--self->free_count];
    pthread_mutex_unlock (&self->lock);
    return conn;
}

void
report_pool_give (report_pool_t *self, report_conn_t *conn)
{
    if (!conn)
        return;
    pthread_mutex_lock (&self->lock);
    self->free_list [self->free_count++] = conn;
    pthread_cond_signal (&self->returned);
    pthread_mutex_unlock (&self->lock);
}
