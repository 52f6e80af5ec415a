/*  instance.c — see instance.h. */
#include "instance.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <unistd.h>

struct _instance_t {
    char name [64];
    char host [64];
    char daemon [16];
    const char *beat_fn;
    long long started_ms;       //  wall clock at start
    long long next_beat;        //  monotonic
    char ttl [16];
};

static long long
s_wall_ms (void)
{
    struct timeval tv;
    gettimeofday (&tv, NULL);
    return (long long) tv.tv_sec * 1000 + tv.tv_usec / 1000;
}

void
instance_name_of (const config_t *config, char *name, size_t size)
{
    char host [64] = "";
    if (gethostname (host, sizeof host - 1))
        snprintf (host, sizeof host, "localhost");
    const char *set = config_str (config, "instance");
    if (set && *set)
        snprintf (name, size, "%s", set);
    else
        snprintf (name, size, "%.40s:%d", host, (int) getpid ());
    //  the name goes into keys, the lease value and a metric label
    for (char *c = name; *c; c++)
        if (*c == ' ' || *c == '/' || *c == '"' || *c == '\\' || *c < 0x20)
            *c = '_';
}

instance_t *
instance_new (const config_t *config, const char *daemon, const char *beat_fn)
{
    instance_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    if (gethostname (self->host, sizeof self->host - 1))
        snprintf (self->host, sizeof self->host, "localhost");
    instance_name_of (config, self->name, sizeof self->name);
    snprintf (self->daemon, sizeof self->daemon, "%s", daemon);
    snprintf (self->ttl, sizeof self->ttl, "%d", INSTANCE_TTL_MS);
    self->beat_fn = beat_fn;
    self->started_ms = s_wall_ms ();
    return self;
}

void
instance_destroy (instance_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

const char *
instance_name (const instance_t *self)
{
    return self->name;
}

bool
instance_due (instance_t *self, long long now_ms)
{
    if (now_ms < self->next_beat)
        return false;
    self->next_beat = now_ms + INSTANCE_BEAT_MS;
    return true;
}

long
instance_rss_kb (void)
{
    FILE *f = fopen ("/proc/self/statm", "r");
    long pages = 0, rss = 0;
    if (f) {
        if (fscanf (f, "%ld %ld", &pages, &rss) != 2)
            rss = 0;
        fclose (f);
    }
    return rss * (sysconf (_SC_PAGESIZE) / 1024);
}

long
instance_fds (void)
{
    DIR *dir = opendir ("/proc/self/fd");
    long n = 0;
    if (!dir)
        return 0;
    for (struct dirent *e = readdir (dir); e; e = readdir (dir))
        if (e->d_name [0] != '.')
            n++;
    closedir (dir);
    return n - 1;               //  not the directory's own
}

void
instance_beat (instance_t *self, store_t *store, json_t *fields)
{
    json_t *record = json_is_object (fields) ? fields : json_object ();
    if (fields && record != fields)
        json_decref (fields);
    if (!record)
        return;
    json_object_set_new (record, "daemon", json_string (self->daemon));
    json_object_set_new (record, "instance", json_string (self->name));
    json_object_set_new (record, "host", json_string (self->host));
    json_object_set_new (record, "pid", json_integer (getpid ()));
    json_object_set_new (record, "started_ms", json_integer (self->started_ms));
    json_object_set_new (record, "at_ms", json_integer (s_wall_ms ()));
    json_object_set_new (record, "rss_kb", json_integer (instance_rss_kb ()));
    json_object_set_new (record, "fds", json_integer (instance_fds ()));
    char *text = json_dumps (record, JSON_COMPACT);
    json_decref (record);
    if (!text)
        return;
    json_decref (store_callv (store, self->beat_fn, self->daemon, self->name, self->ttl, text,
                              NULL));
    free (text);
}
