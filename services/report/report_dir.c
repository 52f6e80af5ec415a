/*  report_dir.c — a cached copy of the directory Redis holds, keyed by its
    version (gc_dir_version is one GET; gc_dir_get only when it moved).
    Caches made on one share hold one parsed copy of a version between
    them (1.2 MB for the demo street), counted by its readers. */
#include "report_dir.h"

#include <malloc.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define CHECK_MS 1000               //  how often the version is looked at

//  One parsed directory and the caches (and share) that hold it.
typedef struct {
    directory_t *dir;           //  the parsed directory
    long long version;          //  its version in Redis
    unsigned generation;        //  the reload generation it was read in (SIGHUP)
    int holders;                //  references; freed at 0
} dir_copy_t;

struct _report_dir_share_t {
    pthread_mutex_t lock;       //  guards latest and every copy's holders
    pthread_mutex_t fetching;   //  one cache reads a new version, the others wait for it
    dir_copy_t *latest;         //  the newest copy read, or NULL
};

struct _report_dir_t {
    report_dir_share_t *share;  //  borrowed: where copies are shared, or NULL
    dir_copy_t *copy;           //  the copy in use, or NULL
    long long checked_at;       //  monotonic ms of the last version check
    unsigned generation;        //  the reload generation it was read in (SIGHUP)
};

//  Drop one reference to copy (NULL is fine); the last frees it.
static void
s_release (report_dir_share_t *share, dir_copy_t *copy)
{
    if (!copy)
        return;
    if (share)
        pthread_mutex_lock (&share->lock);
    bool last = --copy->holders == 0;
    if (share)
        pthread_mutex_unlock (&share->lock);
    if (last) {
        directory_destroy (&copy->dir);
        free (copy);
    }
}

report_dir_share_t *
report_dir_share_new (void)
{
    report_dir_share_t *self = calloc (1, sizeof *self);
    if (self) {
        pthread_mutex_init (&self->lock, NULL);
        pthread_mutex_init (&self->fetching, NULL);
    }
    return self;
}

void
report_dir_share_destroy (report_dir_share_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_dir_share_t *self = *self_p;
    s_release (self, self->latest);
    pthread_mutex_destroy (&self->fetching);
    pthread_mutex_destroy (&self->lock);
    free (self);
    *self_p = NULL;
}

report_dir_t *
report_dir_new (report_dir_share_t *share)
{
    report_dir_t *self = calloc (1, sizeof *self);
    if (self) {
        self->share = share;
        self->checked_at = -CHECK_MS;
    }
    return self;
}

void
report_dir_destroy (report_dir_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_dir_t *self = *self_p;
    s_release (self->share, self->copy);
    free (self);
    *self_p = NULL;
}

//  Use copy (a reference already taken for us) instead of the one before.
static void
s_hold (report_dir_t *self, dir_copy_t *copy)
{
    s_release (self->share, self->copy);
    self->copy = copy;
}

//  Whether copy (NULL is fine) is version as read in reload generation.
static bool
s_is (const dir_copy_t *copy, long long version, unsigned generation)
{
    return copy && copy->version == version && copy->generation == generation;
}

//  The share's copy of version read in this reload generation, with a
//  reference taken for the caller; NULL when it has none.
static dir_copy_t *
s_share_take (report_dir_share_t *share, long long version, unsigned generation)
{
    pthread_mutex_lock (&share->lock);
    dir_copy_t *copy = s_is (share->latest, version, generation) ? share->latest : NULL;
    if (copy)
        copy->holders++;
    pthread_mutex_unlock (&share->lock);
    return copy;
}

//  Hand a copy just read to the other caches of the share from now on,
//  unless it holds that version of this generation already. The latest
//  read wins: a version that went back (a flushed Redis loaded again) too.
static void
s_share_put (report_dir_share_t *share, dir_copy_t *copy)
{
    dir_copy_t *old = NULL;
    pthread_mutex_lock (&share->lock);
    if (!s_is (share->latest, copy->version, copy->generation)) {
        old = share->latest;
        share->latest = copy;
        copy->holders++;
    }
    pthread_mutex_unlock (&share->lock);
    s_release (share, old);
}

//  Fetch and parse the directory; keeps the old one on failure.
static void
s_fetch (report_dir_t *self, store_t *store, long long version)
{
    json_t *reply = store_callv (store, "gc_dir_get", NULL);
    const char *text = json_string_value (json_object_get (reply, "json"));
    dir_copy_t *copy = text ? calloc (1, sizeof *copy) : NULL;
    if (copy) {
        char err [256];
        copy->dir = directory_parse (text, "redis dir:json", err, sizeof err);
        if (copy->dir) {
            directory_shed (copy->dir);     //  the report only looks up
            copy->version = version;
            copy->generation = self->generation;
            copy->holders = 1;
            log_info ("report: directory version %lld: %zu grids, %zu categories, %zu units",
                      version, directory_grid_count (copy->dir),
                      directory_category_count (copy->dir), directory_unit_count (copy->dir));
            s_hold (self, copy);
            if (self->share)
                s_share_put (self->share, copy);
        }
        else {
            log_warning ("report: directory_parse() \"dir:json\" failed: %s", err);
            free (copy);
        }
    }
    json_decref (reply);
    //  the shed sections and the old directory lie among live chunks,
    //  which glibc keeps mapped unless asked
    if (text)
        malloc_trim (0);
}

const directory_t *
report_dir_get (report_dir_t *self, store_t *store)
{
    long long now = gc_mono_ms ();
    //  SIGHUP: read the directory again now, whatever its version says
    unsigned generation = gc_daemon_reload_generation ();
    bool reload = generation != self->generation;
    if (now - self->checked_at < CHECK_MS && !reload)
        return self->copy ? self->copy->dir : NULL;
    self->checked_at = now;
    json_t *reply = store_callv (store, "gc_dir_version", NULL);
    json_t *v = json_object_get (reply, "version");
    if (reply)
        self->generation = generation;
    long long version = json_is_integer (v) ? json_integer_value (v) : 0;
    if (version > 0 && (!self->copy || self->copy->version != version || reload)) {
        if (self->share) {
            //  another cache may have read it this generation, or be
            //  reading it now: wait for that (at most redis_timeout_ms and
            //  a parse) rather than parse it twice
            pthread_mutex_lock (&self->share->fetching);
            dir_copy_t *copy = s_share_take (self->share, version, self->generation);
            if (copy)
                s_hold (self, copy);
            else
                s_fetch (self, store, version);
            pthread_mutex_unlock (&self->share->fetching);
        }
        else
            s_fetch (self, store, version);
    }
    json_decref (reply);
    return self->copy ? self->copy->dir : NULL;
}

const char *
report_dir_grid_name (const directory_t *dir, const char *id)
{
    const dir_grid_t *g = dir && id ? directory_grid_find (dir, id) : NULL;
    return g ? g->name : id ? id : "";
}

const char *
report_dir_community_name (const directory_t *dir, const char *id)
{
    for (size_t i = 0; dir && id && i < directory_community_count (dir); i++) {
        const dir_community_t *c = directory_community (dir, i);
        if (strcmp (c->id, id) == 0)
            return c->name;
    }
    return id ? id : "";
}

const char *
report_dir_category_name (const directory_t *dir, const char *code)
{
    const dir_category_t *c = dir && code ? directory_category_find (dir, code) : NULL;
    return c ? c->name : code ? code : "";
}

const char *
report_dir_unit_name (const directory_t *dir, const char *id)
{
    const dir_unit_t *u = dir && id && *id ? directory_unit_find (dir, id) : NULL;
    return u ? u->name : id ? id : "";
}

void
report_dir_local (const directory_t *dir, long long at_ms, int *weekday, int *minute,
                  char *text)
{
    street_time_t at;
    street_local (dir, at_ms, &at);
    if (weekday)
        *weekday = at.weekday;
    if (minute)
        *minute = at.minute;
    if (text) {
        char full [64];
        int n = snprintf (full, sizeof full, "%04d-%02d-%02d %02d:%02d:%02d", at.year, at.month,
                          at.day, at.minute / 60, at.minute % 60,
                          (int) (((at_ms % 60000) + 60000) % 60000 / 1000));
        //  a year past 9999 does not fit the ledger's format: leave it empty
        if (n == 19)
            memcpy (text, full, 20);
        else
            text [0] = 0;
    }
}

bool
report_dir_on_duty (const directory_t *dir, const char *id, const street_time_t *at)
{
    const dir_unit_t *unit = dir && id ? directory_unit_find (dir, id) : NULL;
    return unit ? street_on_duty (dir, unit, at) : true;
}
