/*  dispatch_units.c — connected unit sessions, by unit id and routing id. */
#include "dispatch_units.h"

#include <stdlib.h>
#include <string.h>

struct _dispatch_units_t {
    zhashx_t *by_unit;          //  unit id -> unit_session_t (owns sessions)
    zhashx_t *by_identity;      //  routing id hex -> unit_session_t (borrowed)
};

static void
s_strings_free (char ***list_p, size_t *count)
{
    for (size_t i = 0; *list_p && i < *count; i++)
        free ((*list_p) [i]);
    free (*list_p);
    *list_p = NULL;
    *count = 0;
}

//  A copy of count strings, or NULL (also for none).
static char **
s_strings_dup (char **list, size_t count)
{
    char **copy = count ? calloc (count, sizeof (char *)) : NULL;
    for (size_t i = 0; copy && i < count; i++)
        if (!(copy [i] = strdup (list [i]))) {
            s_strings_free (&copy, &i);
            return NULL;
        }
    return copy;
}

static bool
s_listed (char **list, size_t count, const char *item)
{
    if (count == 0)
        return true;
    for (size_t i = 0; i < count; i++)
        if (strcmp (list [i], item) == 0)
            return true;
    return false;
}

static void
s_session_destroy (void **item)
{
    unit_session_t *session = (unit_session_t *) *item;
    s_strings_free (&session->categories, &session->category_count);
    s_strings_free (&session->grids, &session->grid_count);
    zframe_destroy (&session->identity);
    free (session->identity_hex);
    free (session->unit_id);
    free (session);
    *item = NULL;
}

dispatch_units_t *
dispatch_units_new (void)
{
    dispatch_units_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->by_unit = zhashx_new ();
    self->by_identity = zhashx_new ();
    if (!self->by_unit || !self->by_identity) {
        dispatch_units_destroy (&self);
        return NULL;
    }
    zhashx_set_destructor (self->by_unit, s_session_destroy);
    return self;
}

void
dispatch_units_destroy (dispatch_units_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    dispatch_units_t *self = *self_p;
    zhashx_destroy (&self->by_identity);
    zhashx_destroy (&self->by_unit);
    free (self);
    *self_p = NULL;
}

void
dispatch_units_close (dispatch_units_t *self, const char *unit_id)
{
    unit_session_t *session = (unit_session_t *) zhashx_lookup (self->by_unit, unit_id);
    if (!session)
        return;
    zhashx_delete (self->by_identity, session->identity_hex);
    zhashx_delete (self->by_unit, unit_id);
}

unit_session_t *
dispatch_units_open (dispatch_units_t *self, const char *unit_id, zframe_t *identity,
                     long long now_ms)
{
    char *hex = zframe_strhex (identity);
    unit_session_t *other = (unit_session_t *) zhashx_lookup (self->by_identity, hex);
    //  one connection speaks for one unit: a new hello re-labels it
    if (other)
        dispatch_units_close (self, other->unit_id);
    dispatch_units_close (self, unit_id);
    unit_session_t *session = calloc (1, sizeof *session);
    if (!session) {
        free (hex);
        return NULL;
    }
    session->unit_id = strdup (unit_id);
    session->identity = zframe_dup (identity);
    session->identity_hex = hex;
    session->seen_ms = now_ms;
    session->sent_ms = now_ms;
    zhashx_insert (self->by_unit, unit_id, session);
    zhashx_insert (self->by_identity, hex, session);
    return session;
}

int
dispatch_units_claim (unit_session_t *session, char **categories, size_t category_count,
                      char **grids, size_t grid_count, unsigned capacity)
{
    s_strings_free (&session->categories, &session->category_count);
    s_strings_free (&session->grids, &session->grid_count);
    session->categories = s_strings_dup (categories, category_count);
    session->grids = s_strings_dup (grids, grid_count);
    session->category_count = session->categories ? category_count : 0;
    session->grid_count = session->grids ? grid_count : 0;
    session->capacity = capacity;
    return (category_count && !session->categories) || (grid_count && !session->grids) ? -1 : 0;
}

bool
dispatch_units_accepts (dispatch_units_t *self, const char *unit_id, const char *grid,
                        const char *category)
{
    unit_session_t *session = (unit_session_t *) zhashx_lookup (self->by_unit, unit_id);
    return session && s_listed (session->categories, session->category_count, category)
        && s_listed (session->grids, session->grid_count, grid);
}

unit_session_t *
dispatch_units_by_identity (dispatch_units_t *self, zframe_t *identity)
{
    char *hex = zframe_strhex (identity);
    unit_session_t *session = (unit_session_t *) zhashx_lookup (self->by_identity, hex);
    free (hex);
    return session;
}

unit_session_t *
dispatch_units_by_unit (dispatch_units_t *self, const char *unit_id)
{
    return (unit_session_t *) zhashx_lookup (self->by_unit, unit_id);
}

bool
dispatch_units_connected (dispatch_units_t *self, const char *unit_id)
{
    return zhashx_lookup (self->by_unit, unit_id) != NULL;
}

size_t
dispatch_units_size (dispatch_units_t *self)
{
    return zhashx_size (self->by_unit);
}

unit_session_t *
dispatch_units_first (dispatch_units_t *self)
{
    return (unit_session_t *) zhashx_first (self->by_unit);
}

unit_session_t *
dispatch_units_next (dispatch_units_t *self)
{
    return (unit_session_t *) zhashx_next (self->by_unit);
}
