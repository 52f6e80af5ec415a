/*  report_dir.c — a cached copy of the directory Redis holds, keyed by its
    version (gc_dir_version is one GET; gc_dir_get only when it moved). */
#include "report_dir.h"

#include <malloc.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"

#define CHECK_MS 1000               //  how often the version is looked at

struct _report_dir_t {
    directory_t *dir;           //  parsed directory, or NULL
    long long version;          //  its version in Redis
    long long checked_at;       //  monotonic ms of the last version check
    unsigned generation;        //  the reload generation it was read in (SIGHUP)
};

report_dir_t *
report_dir_new (void)
{
    report_dir_t *self = calloc (1, sizeof *self);
    if (self)
        self->checked_at = -CHECK_MS;
    return self;
}

void
report_dir_destroy (report_dir_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_dir_t *self = *self_p;
    directory_destroy (&self->dir);
    free (self);
    *self_p = NULL;
}

//  Fetch and parse the directory; keeps the old one on failure.
static void
s_fetch (report_dir_t *self, store_t *store, long long version)
{
    json_t *reply = store_callv (store, "gc_dir_get", NULL);
    const char *text = json_string_value (json_object_get (reply, "json"));
    if (text) {
        char err [256];
        directory_t *dir = directory_parse (text, "redis dir:json", err, sizeof err);
        if (dir) {
            directory_shed (dir);           //  the report only looks up
            directory_destroy (&self->dir);
            self->dir = dir;
            self->version = version;
            log_info ("report: directory version %lld: %zu grids, %zu categories, %zu units",
                      version, directory_grid_count (dir), directory_category_count (dir),
                      directory_unit_count (dir));
        }
        else
            log_warning ("report: directory_parse() \"dir:json\" failed: %s", err);
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
    bool reload = gc_daemon_reload_generation () != self->generation;
    if (now - self->checked_at < CHECK_MS && !reload)
        return self->dir;
    self->checked_at = now;
    json_t *reply = store_callv (store, "gc_dir_version", NULL);
    json_t *v = json_object_get (reply, "version");
    if (reply)
        self->generation = gc_daemon_reload_generation ();
    if (json_is_integer (v) && (json_integer_value (v) != self->version || !self->dir || reload)
    &&  json_integer_value (v) > 0)
        s_fetch (self, store, json_integer_value (v));
    json_decref (reply);
    return self->dir;
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
