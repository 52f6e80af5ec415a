/*  fake_redis.h — a stand-in Redis on a Unix socket for unit tests of
    classes that call the store: canned FCALL replies, calls recorded.
    Included by the tests that need it (its functions are static). */
#ifndef GC_TEST_FAKE_REDIS_H
#define GC_TEST_FAKE_REDIS_H

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "store.h"

//  ---------------------------------------------------------------------
//  A stand-in Redis: it accepts the store's setup commands, answers
//  gc_version with this build's library version, and answers each FCALL
//  (or FCALL_RO) with the next reply queued for that function (the last
//  one sticks until another is queued), remembering the function and last
//  argument of every call.

#define FAKE_MAX 16

typedef struct {
    char dir [64];              //  temporary folder
    char path [96];             //  socket path in it
    int listener;               //  listening socket
    pthread_t thread;           //  serves one connection at a time
    pthread_mutex_t lock;       //  guards everything below
    bool stop;                  //  ask the thread to end
    char *fn [FAKE_MAX];        //  queued replies: function ...
    char *reply [FAKE_MAX];     //  ... and its reply
    bool served [FAKE_MAX];     //  ... sent at least once
    int queued;                 //  entries in fn / reply
    char *called [FAKE_MAX];    //  functions called, in order
    char *arg [FAKE_MAX];       //  their last argument
    int calls;                  //  FCALLs seen
} fake_redis_t;

//  Parse one RESP command from buf; returns bytes used, 0 when incomplete.
static size_t
s_fake_parse (const char *buf, size_t len, char **argv, size_t *argl, int *argc)
{
    const char *end = buf + len;
    const char *p = buf;
    char *eol = memmem (p, len, "\r\n", 2);
    if (!eol || *p != '*')
        return 0;
    int n = atoi (p + 1);
    p = eol + 2;
    *argc = 0;
    for (int i = 0; i < n; i++) {
        eol = memmem (p, end - p, "\r\n", 2);
        if (!eol)
            return 0;
        size_t l = strtoul (p + 1, NULL, 10);
        p = eol + 2;
        if ((size_t) (end - p) < l + 2)
            return 0;
        if (i < 8) {
            argv [i] = (char *) p;
            argl [i] = l;
            *argc = i + 1;
        }
        p += l + 2;
    }
    return p - buf;
}

//  The answer to one command, as RESP text (caller frees).
static char *
s_fake_answer (fake_redis_t *self, char **argv, size_t *argl, int argc)
{
    char *out = NULL;
    if (argc >= 4 && argl [1] == 10 && strncmp (argv [1], "gc_version", 10) == 0)
        (void) !asprintf (&out, "$%zu\r\n{\"ok\":true,\"version\":\"%s\"}\r\n",
                          strlen (store_library_version ()) + 24, store_library_version ());
    else
    if (argc >= 4 && (argl [0] == 5 || argl [0] == 8) && strncasecmp (argv [0], "FCALL", 5) == 0) {
        char *fn = strndup (argv [1], argl [1]);
        pthread_mutex_lock (&self->lock);
        if (self->calls < FAKE_MAX) {
            self->called [self->calls] = strdup (fn);
            self->arg [self->calls] = strndup (argv [argc - 1], argl [argc - 1]);
        }
        self->calls++;
        const char *reply = "{\"ok\":false,\"code\":\"TEST\",\"message\":\"nothing queued\"}";
        for (int i = 0; i < self->queued; i++)
            if (strcmp (self->fn [i], fn) == 0) {
                reply = self->reply [i];
                self->served [i] = true;
                bool last = true;
                for (int k = i + 1; k < self->queued; k++)
                    last = last && strcmp (self->fn [k], fn) != 0;
                if (!last) {        //  used up: drop it from the queue
                    free (self->fn [i]);
                    self->fn [i] = strdup ("");
                }
                break;
            }
        if (reply [0] == '-')
            (void) !asprintf (&out, "%s\r\n", reply);
        else
            (void) !asprintf (&out, "$%zu\r\n%s\r\n", strlen (reply), reply);
        pthread_mutex_unlock (&self->lock);
        free (fn);
    }
    else
    if (argc >= 2 && strncasecmp (argv [0], "FUNCTION", 8) == 0)
        out = strdup (strncasecmp (argv [1], "LIST", 4) == 0 ? "*0\r\n" : "$8\r\ngridcall\r\n");
    else
    if (argc >= 1 && strncasecmp (argv [0], "CONFIG", 6) == 0)
        out = strdup ("*2\r\n$10\r\nappendonly\r\n$3\r\nyes\r\n");
    else
        out = strdup ("+OK\r\n");
    return out;
}

static void *
s_fake_thread (void *arg)
{
    fake_redis_t *self = arg;
    int client = -1;
    char *buf = NULL;
    size_t len = 0, size = 0;
    while (true) {
        pthread_mutex_lock (&self->lock);
        bool stop = self->stop;
        pthread_mutex_unlock (&self->lock);
        if (stop)
            break;
        struct pollfd pfd = { .fd = client >= 0 ? client : self->listener, .events = POLLIN };
        if (poll (&pfd, 1, 20) <= 0)
            continue;
        if (client < 0) {
            client = accept (self->listener, NULL, NULL);
            len = 0;
            continue;
        }
        if (size - len < 65536) {
            size = size * 2 + 65536;
            buf = realloc (buf, size);
        }
        ssize_t got = read (client, buf + len, size - len);
        if (got <= 0) {
            close (client);
            client = -1;
            continue;
        }
        len += (size_t) got;
        char *argv [8];
        size_t argl [8];
        int argc;
        size_t used;
        while ((used = s_fake_parse (buf, len, argv, argl, &argc)) > 0) {
            char *answer = s_fake_answer (self, argv, argl, argc);
            (void) !write (client, answer, strlen (answer));
            free (answer);
            memmove (buf, buf + used, len - used);
            len -= used;
        }
    }
    if (client >= 0)
        close (client);
    free (buf);
    return NULL;
}

static fake_redis_t *
fake_redis_new (void)
{
    fake_redis_t *self = calloc (1, sizeof *self);
    assert_non_null (self);
    strcpy (self->dir, "/tmp/gc-fake-redis-XXXXXX");
    assert_non_null (mkdtemp (self->dir));
    snprintf (self->path, sizeof self->path, "%s/redis.sock", self->dir);
    struct sockaddr_un addr = { .sun_family = AF_UNIX };
    snprintf (addr.sun_path, sizeof addr.sun_path, "%s", self->path);
    self->listener = socket (AF_UNIX, SOCK_STREAM, 0);
    assert_true (self->listener >= 0);
    assert_int_equal (bind (self->listener, (struct sockaddr *) &addr, sizeof addr), 0);
    assert_int_equal (listen (self->listener, 4), 0);
    pthread_mutex_init (&self->lock, NULL);
    assert_int_equal (pthread_create (&self->thread, NULL, s_fake_thread, self), 0);
    return self;
}

static void
fake_redis_destroy (fake_redis_t **self_p)
{
    fake_redis_t *self = *self_p;
    pthread_mutex_lock (&self->lock);
    self->stop = true;
    pthread_mutex_unlock (&self->lock);
    pthread_join (self->thread, NULL);
    close (self->listener);
    unlink (self->path);
    rmdir (self->dir);
    for (int i = 0; i < self->queued; i++) {
        free (self->fn [i]);
        free (self->reply [i]);
    }
    for (int i = 0; i < self->calls && i < FAKE_MAX; i++) {
        free (self->called [i]);
        free (self->arg [i]);
    }
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

//  Queue a reply for fn: single-quoted JSON, or "-ERR ..." for a Redis error.
static void
fake_redis_queue (fake_redis_t *self, const char *fn, const char *reply)
{
    pthread_mutex_lock (&self->lock);
    assert_true (self->queued < FAKE_MAX);
    //  a sticky reply already sent gives way to the new one
    for (int i = 0; i < self->queued; i++)
        if (strcmp (self->fn [i], fn) == 0 && self->served [i]) {
            free (self->fn [i]);
            self->fn [i] = strdup ("");
        }
    self->fn [self->queued] = strdup (fn);
    self->reply [self->queued] = s_quoted (reply);
    self->queued++;
    pthread_mutex_unlock (&self->lock);
}

#endif
