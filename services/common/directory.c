/*  directory.c — the street as data. Reads the directory JSON with jansson,
    validates it section by section (every problem as "file: path: problem"),
    expands each unit's coverage into an explicit grid list and answers the
    look-ups the daemons make. The format is described in docs/directory.md. */

#include "directory.h"

#include <assert.h>
#include <errno.h>
#include <jansson.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"

#define DIR_MAX_BYTES   (16 * 1024 * 1024)  //  largest document accepted
#define DIR_VERSION     1                   //  the format this code reads
#define DIR_ID_MAX      CODEC_ID_MAX        //  ids and codes, in bytes (the wire's bound)
#define DIR_TEXT_MAX    256                 //  names, people, contacts, in bytes
#define DIR_LIMIT_MAX   (366 * 24 * 60)     //  longest time limit, minutes
#define DIR_CAPACITY_MAX 10000              //  most open cases of one unit
#define DIR_JOINT_MAX   10                  //  most units on one joint case
#define DIR_PATH_MAX    192                 //  longest path in a message
#define DIR_REMINDER_DEFAULT 0.75           //  reminder fraction when not given
#define DIR_VERIFY_DEFAULT 1440             //  minutes to verify a resolved case when not given
#define DIR_RING_MAX    2000                //  most points of one grid's polygon
#define DIR_NEAREST_MAX 5000                //  largest nearest-building bound, metres

struct _directory_t {
    json_t *root;                   //  normalised document; owns every string
    json_t *community_index;        //  community id -> index
    json_t *grid_index;             //  grid id -> index
    json_t *category_index;         //  category code -> index
    json_t *unit_index;             //  unit id -> index
    char *json;                     //  compact dump of root, on demand
    bool shed;                      //  root no longer whole (directory_shed)
    const char *street_id;          //  e.g. "tianjiao"
    const char *street_code;        //  e.g. "TJ"
    const char *street_name;        //  e.g. "天骄街道"
    int utc_offset_minutes;         //  local time = UTC + this
    dir_community_t *communities;   //  in document order
    size_t community_count;         //  at least one
    dir_grid_t *grids;              //  in document order
    size_t grid_count;              //  at least one
    dir_category_t *categories;     //  in document order
    size_t category_count;          //  at least one
    dir_unit_t *units;              //  each unit owns its three arrays
    size_t unit_count;              //  at least one
    dir_calendar_t calendar;        //  owns its three arrays
    bool has_calendar;              //  false: no "calendar" section
    size_t person_count;            //  people of the "people" section
};

//  Where the parser is, for messages; the first problem goes to err.
typedef struct {
    const char *name;               //  file name in messages
    char path [DIR_PATH_MAX];       //  like units[3].coverage.grids[0]
    size_t path_len;                //  bytes used in path
    char *err;                      //  caller's buffer, may be NULL
    size_t errlen;                  //  size of err
} parse_t;

//  What a string field holds: an id or code, or free text
typedef enum { STR_ID, STR_TEXT } str_kind_t;

static const char *const s_tier_names [DIR_TIERS + 1] = {
    NULL, "GRID", "COMMUNITY", "STREET", "DISTRICT"
};


//  ---------------------------------------------------------------------
//  Path tracking and errors

//  Append printf-style text to the path; returns the mark to pop back to.
static size_t __attribute__ ((format (printf, 2, 3)))
path_push (parse_t *p, const char *fmt, ...)
{
    size_t mark = p->path_len;
    va_list ap;
    va_start (ap, fmt);
    int n = vsnprintf (p->path + mark, sizeof p->path - mark, fmt, ap);
    va_end (ap);
    if (n > 0)
        p->path_len = mark + (size_t) n < sizeof p->path? mark + (size_t) n: sizeof p->path - 1;
    return mark;
}

//  Append ".key" (just "key" at the top) to the path; returns the mark.
static size_t
path_key (parse_t *p, const char *key)
{
    return path_push (p, p->path_len? ".%s": "%s", key);
}

//  Append "[index]" to the path; returns the mark.
static size_t
path_index (parse_t *p, size_t index)
{
    return path_push (p, "[%zu]", index);
}

//  Cut the path back to a mark from path_key or path_index.
static void
path_pop (parse_t *p, size_t mark)
{
    p->path_len = mark;
    p->path [mark] = 0;
}

//  Write "name: path: problem" to the caller's buffer. Always returns -1.
static int __attribute__ ((format (printf, 2, 3)))
fail (parse_t *p, const char *fmt, ...)
{
    if (!p->err || p->errlen == 0)
        return -1;
    int n = p->path_len? snprintf (p->err, p->errlen, "%s: %s: ", p->name, p->path)
                       : snprintf (p->err, p->errlen, "%s: ", p->name);
    if (n >= 0 && (size_t) n < p->errlen) {
        va_list ap;
        va_start (ap, fmt);
        vsnprintf (p->err + n, p->errlen - (size_t) n, fmt, ap);
        va_end (ap);
    }
    return -1;
}

//  "an object", "a string"... for messages about a value's type.
static const char *
type_label (json_type type)
{
    switch (type) {
        case JSON_OBJECT:  return "an object";
        case JSON_ARRAY:   return "an array";
        case JSON_STRING:  return "a string";
        case JSON_INTEGER: return "an integer";
        case JSON_REAL:    return "a real number";
        case JSON_TRUE:
        case JSON_FALSE:   return "a boolean";
        default:           return "null";
    }
}


//  ---------------------------------------------------------------------
//  Field readers: each checks presence, type and bounds

//  Refuse members not in allowed (NULL-terminated); keys that start with
//  "_" are comments and pass. Returns 0 or -1.
static int
check_keys (parse_t *p, json_t *object, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach (object, key, value) {
        bool known = key [0] == '_';
        for (size_t i = 0; allowed [i] && !known; i++)
            known = strcmp (key, allowed [i]) == 0;
        if (!known) {
            path_push (p, p->path_len? ".%.64s": "%.64s", key);
            return fail (p, "unknown field");
        }
    }
    return 0;
}

//  Point *out at member key of object after checking its type; an absent
//  optional member gives 0 with *out NULL. A required array must not be empty.
static int
get_member (parse_t *p, json_t *object, const char *key, json_type type,
            bool required, json_t **out)
{
    *out = NULL;
    json_t *value = json_object_get (object, key);
    if (!value && !required)
        return 0;
    size_t mark = path_key (p, key);
    if (!value)
        return fail (p, "required field missing");
    if (json_typeof (value) != type)
        return fail (p, "must be %s, not %s", type_label (type),
                     type_label (json_typeof (value)));
    if (required && type == JSON_ARRAY && json_array_size (value) == 0)
        return fail (p, "must not be empty");
    path_pop (p, mark);
    *out = value;
    return 0;
}

//  True for the bytes allowed in ids and codes: the wire's id charset
//  (codec.h), so every id the directory names can be sent and checked.
static bool
is_id_char (char c)
{
    return codec_id_char ((unsigned char) c);
}

//  Check that value (at the current path) is a string of this kind:
//  an id (1..64 bytes of [A-Za-z0-9._-]) or text (1..256 bytes, no controls).
static int
check_string (parse_t *p, json_t *value, str_kind_t kind, const char **out)
{
    if (!json_is_string (value))
        return fail (p, "must be a string, not %s", type_label (json_typeof (value)));
    const char *text = json_string_value (value);
    size_t length = json_string_length (value);
    if (length == 0)
        return fail (p, "must not be empty");
    size_t max = kind == STR_ID? DIR_ID_MAX: DIR_TEXT_MAX;
    if (length > max)
        return fail (p, "longer than %zu bytes", max);
    for (size_t i = 0; i < length; i++)
        if ((unsigned char) text [i] < 0x20 || text [i] == 0x7f)
            return fail (p, "contains a control character");
    for (size_t i = 0; kind == STR_ID && i < length; i++)
        if (!is_id_char (text [i]))
            return fail (p, "\"%s\" is not a valid id: use only A-Z a-z 0-9 . _ -", text);
    *out = text;
    return 0;
}

//  Read member key as a string of this kind; an absent optional one
//  leaves *out NULL. Returns 0 or -1.
static int
get_string (parse_t *p, json_t *object, const char *key, str_kind_t kind,
            bool required, const char **out)
{
    json_t *value;
    *out = NULL;
    if (get_member (p, object, key, JSON_STRING, required, &value))
        return -1;
    if (!value)
        return 0;
    size_t mark = path_key (p, key);
    if (check_string (p, value, kind, out))
        return -1;
    path_pop (p, mark);
    return 0;
}

//  Read member key as an integer in min..max; an absent optional one
//  leaves *out as it was (the default). Returns 0 or -1.
static int
get_int (parse_t *p, json_t *object, const char *key, long min, long max,
         bool required, int *out)
{
    json_t *value;
    if (get_member (p, object, key, JSON_INTEGER, required, &value))
        return -1;
    if (!value)
        return 0;
    json_int_t number = json_integer_value (value);
    if (number < min || number > max) {
        path_key (p, key);
        return fail (p, "%" JSON_INTEGER_FORMAT " is out of range %ld..%ld", number, min, max);
    }
    *out = (int) number;
    return 0;
}

//  Check that an array element (at the current path) is an object.
static int
check_object (parse_t *p, json_t *value)
{
    if (!json_is_object (value))
        return fail (p, "must be an object, not %s", type_label (json_typeof (value)));
    return 0;
}

//  Remember id (read from field) -> at in index; a second use of an id is
//  an error that names the first, section[at]. Without a section the index
//  only detects repeats, and keeps the first one's full path for the message.
static int
index_add (parse_t *p, json_t *index, const char *field, const char *id,
           size_t at, const char *section)
{
    json_t *first = json_object_get (index, id);
    size_t mark = path_key (p, field);
    if (first && json_is_string (first))
        return fail (p, "duplicate id \"%s\" (first at %s)", id, json_string_value (first));
    if (first)
        return fail (p, "duplicate id \"%s\" (first at %s[%" JSON_INTEGER_FORMAT "])",
                     id, section, json_integer_value (first));
    json_t *value = section? json_integer ((json_int_t) at): json_stringn (p->path, mark);
    if (json_object_set_new (index, id, value))
        return fail (p, "out of memory");
    path_pop (p, mark);
    return 0;
}

//  Index recorded for id, or -1 when there is none.
static long
index_find (const json_t *index, const char *id)
{
    json_t *at = id? json_object_get (index, id): NULL;
    return at? (long) json_integer_value (at): -1;
}

//  Parse "HH:MM" (00:00..23:59, or 24:00 when end_of_day is allowed) into
//  minutes after midnight; -1 when malformed.
static int
parse_clock (const char *text, bool end_of_day)
{
    if (strlen (text) != 5 || text [2] != ':')
        return -1;
    for (int i = 0; i < 5; i++)
        if (i != 2 && (text [i] < '0' || text [i] > '9'))
            return -1;
    int hours = (text [0] - '0') * 10 + (text [1] - '0');
    int minutes = (text [3] - '0') * 10 + (text [4] - '0');
    if (end_of_day && hours == 24 && minutes == 0)
        return 24 * 60;
    if (hours > 23 || minutes > 59)
        return -1;
    return hours * 60 + minutes;
}


//  Parse "YYYY-MM-DD" (a real date, years 1970..2199) into its parts;
//  -1 when malformed.
static int
parse_date (const char *text, int *year, int *month, int *day)
{
    static const int lengths [] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31 };
    if (strlen (text) != 10 || text [4] != '-' || text [7] != '-')
        return -1;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (text [i] < '0' || text [i] > '9'))
            return -1;
    *year = atoi (text);
    *month = atoi (text + 5);
    *day = atoi (text + 8);
    if (*year < 1970 || *year > 2199 || *month < 1 || *month > 12 || *day < 1)
        return -1;
    bool leap = (*year % 4 == 0 && *year % 100 != 0) || *year % 400 == 0;
    int length = lengths [*month - 1] + (*month == 2 && leap? 1: 0);
    return *day <= length? 0: -1;
}

//  Read the array member key of object as duty or working slots
//  ({"weekday", "from", "to"}) into *slots (the caller frees). An absent
//  or empty array gives no slots; required refuses that. Returns 0 or -1.
static int
parse_slots (parse_t *p, json_t *object, const char *key, bool required,
             dir_slot_t **slots, size_t *count)
{
    static const char *const keys [] = { "weekday", "from", "to", NULL };
    json_t *list, *slot_json;
    const char *from, *to;
    size_t i;
    if (get_member (p, object, key, JSON_ARRAY, required, &list))
        return -1;
    if (!list || json_array_size (list) == 0)
        return 0;
    *slots = calloc (json_array_size (list), sizeof (dir_slot_t));
    if (!*slots)
        return fail (p, "out of memory");
    size_t mark = path_key (p, key);
    json_array_foreach (list, i, slot_json) {
        dir_slot_t *slot = &(*slots) [i];
        size_t item_mark = path_index (p, i);
        if (check_object (p, slot_json)
        ||  check_keys (p, slot_json, keys)
        ||  get_int (p, slot_json, "weekday", 1, 7, true, &slot->weekday)
        ||  get_string (p, slot_json, "from", STR_TEXT, true, &from)
        ||  get_string (p, slot_json, "to", STR_TEXT, true, &to))
            return -1;
        size_t field_mark = path_key (p, "from");
        slot->from_minute = parse_clock (from, false);
        if (slot->from_minute < 0)
            return fail (p, "\"%s\" is not a time of day \"HH:MM\" (00:00..23:59)", from);
        path_pop (p, field_mark);
        path_key (p, "to");
        slot->to_minute = parse_clock (to, true);
        if (slot->to_minute < 0)
            return fail (p, "\"%s\" is not a time of day \"HH:MM\" (00:00..24:00)", to);
        if (slot->to_minute <= slot->from_minute)
            return fail (p, "\"%s\" is not after from \"%s\"", to, from);
        (*count)++;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  Read the optional array member key as unique dates "YYYY-MM-DD" into
//  *dates (the caller frees); seen catches a date listed twice here or in
//  an earlier list. Returns 0 or -1.
static int
parse_dates (parse_t *p, json_t *object, const char *key, json_t *seen,
             const char ***dates, size_t *count)
{
    json_t *list, *value;
    size_t i;
    int year, month, day;
    if (get_member (p, object, key, JSON_ARRAY, false, &list))
        return -1;
    if (!list || json_array_size (list) == 0)
        return 0;
    *dates = calloc (json_array_size (list), sizeof (char *));
    if (!*dates)
        return fail (p, "out of memory");
    size_t mark = path_key (p, key);
    json_array_foreach (list, i, value) {
        const char *text;
        size_t item_mark = path_index (p, i);
        if (check_string (p, value, STR_ID, &text))
            return -1;
        if (parse_date (text, &year, &month, &day))
            return fail (p, "\"%s\" is not a date \"YYYY-MM-DD\"", text);
        json_t *first = json_object_get (seen, text);
        if (first)
            return fail (p, "date \"%s\" listed twice (first at %s)", text,
                         json_string_value (first));
        if (json_object_set_new (seen, text, json_string (p->path)))
            return fail (p, "out of memory");
        path_pop (p, item_mark);
        (*dates) [(*count)++] = text;
    }
    path_pop (p, mark);
    return 0;
}


//  ---------------------------------------------------------------------
//  One validation function per section

//  The optional working calendar: working hours, holidays, make-up days.
static int
parse_calendar (parse_t *p, directory_t *self, json_t *root)
{
    static const char *const keys [] = {
        "working_hours", "holidays", "makeup_days", "makeup_weekday", NULL
    };
    json_t *calendar;
    if (get_member (p, root, "calendar", JSON_OBJECT, false, &calendar))
        return -1;
    if (!calendar)
        return 0;
    dir_calendar_t *cal = &self->calendar;
    self->has_calendar = true;
    cal->makeup_weekday = 1;
    json_t *seen = json_object ();
    if (!seen)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "calendar");
    int rc = -1;
    if (check_keys (p, calendar, keys)
    ||  parse_slots (p, calendar, "working_hours", true, &cal->hours, &cal->hour_count)
    ||  parse_dates (p, calendar, "holidays", seen, &cal->holidays, &cal->holiday_count)
    ||  parse_dates (p, calendar, "makeup_days", seen, &cal->makeup_days, &cal->makeup_count)
    ||  get_int (p, calendar, "makeup_weekday", 1, 7, false, &cal->makeup_weekday))
        goto cleanup;
    path_pop (p, mark);
    rc = 0;
cleanup:
    json_decref (seen);
    return rc;
}

//  The street: ids, names and its UTC offset.
static int
parse_street (parse_t *p, directory_t *self, json_t *root)
{
    static const char *const keys [] = {
        "id", "code", "name", "district", "city", "utc_offset_minutes", NULL
    };
    json_t *street;
    const char *optional;
    if (get_member (p, root, "street", JSON_OBJECT, true, &street))
        return -1;
    size_t mark = path_key (p, "street");
    if (check_keys (p, street, keys)
    ||  get_string (p, street, "id", STR_ID, true, &self->street_id)
    ||  get_string (p, street, "code", STR_ID, true, &self->street_code)
    ||  get_string (p, street, "name", STR_TEXT, true, &self->street_name)
    ||  get_string (p, street, "district", STR_TEXT, false, &optional)
    ||  get_string (p, street, "city", STR_TEXT, false, &optional)
    ||  get_int (p, street, "utc_offset_minutes", -720, 840, true,
                 &self->utc_offset_minutes))
        return -1;
    path_pop (p, mark);
    return 0;
}

//  The communities: unique ids and names.
static int
parse_communities (parse_t *p, directory_t *self, json_t *root)
{
    static const char *const keys [] = { "id", "name", NULL };
    json_t *list, *item;
    size_t i;
    if (get_member (p, root, "communities", JSON_ARRAY, true, &list))
        return -1;
    self->community_count = json_array_size (list);
    self->communities = calloc (self->community_count, sizeof (dir_community_t));
    if (!self->communities)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "communities");
    json_array_foreach (list, i, item) {
        dir_community_t *community = &self->communities [i];
        size_t item_mark = path_index (p, i);
        if (check_object (p, item)
        ||  check_keys (p, item, keys)
        ||  get_string (p, item, "id", STR_ID, true, &community->id)
        ||  get_string (p, item, "name", STR_TEXT, true, &community->name)
        ||  index_add (p, self->community_index, "id", community->id, i, "communities"))
            return -1;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  One grid's buildings: ids unique across the street (buildings index).
static int
parse_buildings (parse_t *p, json_t *grid, json_t *buildings, dir_grid_t *out)
{
    static const char *const keys [] = { "id", "name", "head", "point", "address", NULL };
    json_t *list, *item;
    const char *id, *text;
    size_t i;
    if (get_member (p, grid, "buildings", JSON_ARRAY, false, &list))
        return -1;
    size_t mark = path_key (p, "buildings");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        if (check_object (p, item)
        ||  check_keys (p, item, keys)
        ||  get_string (p, item, "id", STR_ID, true, &id)
        ||  get_string (p, item, "name", STR_TEXT, true, &text)
        ||  get_string (p, item, "head", STR_TEXT, false, &text)
        ||  index_add (p, buildings, "id", id, i, NULL))
            return -1;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    out->building_count = json_array_size (list);
    return 0;
}

//  ---------------------------------------------------------------------
//  Geometry: grid polygons, building points and addresses (optional).
//  Points are GeoJSON [longitude, latitude], WGS-84 degrees.

//  Read a point (at the current path) into lon, lat. Returns 0 or -1.
static int
parse_point (parse_t *p, json_t *value, double *lon, double *lat)
{
    if (!json_is_array (value) || json_array_size (value) != 2)
        return fail (p, "must be a point [longitude, latitude]");
    json_t *x = json_array_get (value, 0), *y = json_array_get (value, 1);
    if (!json_is_number (x) || !json_is_number (y))
        return fail (p, "must be a point of two numbers [longitude, latitude]");
    *lon = json_number_value (x);
    *lat = json_number_value (y);
    if (!isfinite (*lon) || *lon < -180 || *lon > 180)
        return fail (p, "longitude %g is outside -180..180", *lon);
    if (!isfinite (*lat) || *lat < -90 || *lat > 90)
        return fail (p, "latitude %g is outside -90..90", *lat);
    return 0;
}

//  True when (lon, lat) lies inside ring (closed: last point = first), by
//  the even-odd rule (the same test 17_place.lua makes).
bool
dir_ring_contains (const double *ring, size_t points, double lon, double lat)
{
    bool inside = false;
    for (size_t i = 0, j = points - 1; i < points; j = i++) {
        double xi = ring [2 * i], yi = ring [2 * i + 1];
        double xj = ring [2 * j], yj = ring [2 * j + 1];
        if ((yi > lat) != (yj > lat)
        &&  lon < (xj - xi) * (lat - yi) / (yj - yi) + xi)
            inside = !inside;
    }
    return inside;
}

//  A grid's "polygon" (a closed ring of at least four points, three of
//  them distinct, with an area) into ring [2 * points]; *ring NULL when
//  the grid has none. Returns 0 or -1; the caller frees *ring.
static int
parse_ring (parse_t *p, json_t *grid, double **ring, size_t *points)
{
    json_t *list, *item;
    size_t i;
    *ring = NULL;
    *points = 0;
    if (get_member (p, grid, "polygon", JSON_ARRAY, false, &list))
        return -1;
    if (!list)
        return 0;
    size_t mark = path_key (p, "polygon");
    size_t n = json_array_size (list);
    if (n < 4 || n > DIR_RING_MAX)
        return fail (p, "a polygon is a closed ring of 4..%d points, not %zu", DIR_RING_MAX, n);
    double *xy = calloc (2 * n, sizeof (double));
    if (!xy)
        return fail (p, "out of memory");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        if (parse_point (p, item, &xy [2 * i], &xy [2 * i + 1])) {
            free (xy);
            return -1;
        }
        path_pop (p, item_mark);
    }
    if (xy [0] != xy [2 * n - 2] || xy [1] != xy [2 * n - 1]) {
        free (xy);
        return fail (p, "the ring is not closed: its last point must repeat its first");
    }
    //  twice the signed area (shoelace): zero for a line or a point
    double area = 0;
    for (i = 0; i + 1 < n; i++)
        area += xy [2 * i] * xy [2 * i + 3] - xy [2 * i + 2] * xy [2 * i + 1];
    if (fabs (area) < 1e-12) {
        free (xy);
        return fail (p, "the ring encloses no area");
    }
    path_pop (p, mark);
    *ring = xy;
    *points = n;
    return 0;
}

//  A grid's polygon and its buildings' points and addresses: each point
//  sane, and inside the grid's polygon when the grid has one.
static int
parse_grid_geometry (parse_t *p, json_t *grid, dir_grid_t *out)
{
    if (parse_ring (p, grid, &out->polygon, &out->polygon_points))
        return -1;
    const double *ring = out->polygon;
    size_t points = out->polygon_points;
    json_t *list = json_object_get (grid, "buildings"), *item;
    size_t i;
    int rc = 0;
    size_t mark = path_key (p, "buildings");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        const char *address;
        json_t *point = json_object_get (item, "point");
        double lon, lat;
        if (get_string (p, item, "address", STR_TEXT, false, &address)) {
            rc = -1;
            break;
        }
        if (point) {
            size_t point_mark = path_key (p, "point");
            if (parse_point (p, point, &lon, &lat)) {
                rc = -1;
                break;
            }
            if (ring && !dir_ring_contains (ring, points, lon, lat)) {
                rc = fail (p, "[%g, %g] lies outside its grid's polygon", lon, lat);
                break;
            }
            path_pop (p, point_mark);
        }
        path_pop (p, item_mark);
    }
    if (rc == 0)
        path_pop (p, mark);
    return rc;
}

//  The "location" section: whether the geometry is schematic, the bound
//  of the nearest-building fallback and the duplicate window.
static int
parse_location (parse_t *p, json_t *root)
{
    static const char *const keys [] = {
        "schematic", "note", "nearest_building_m", "duplicate_window_minutes", NULL
    };
    json_t *location, *flag;
    const char *note;
    int number = 0;
    if (get_member (p, root, "location", JSON_OBJECT, false, &location))
        return -1;
    if (!location)
        return 0;
    size_t mark = path_key (p, "location");
    flag = json_object_get (location, "schematic");
    if (flag && !json_is_boolean (flag)) {
        path_key (p, "schematic");
        return fail (p, "must be true or false, not %s", type_label (json_typeof (flag)));
    }
    if (check_keys (p, location, keys)
    ||  get_string (p, location, "note", STR_TEXT, false, &note)
    ||  get_int (p, location, "nearest_building_m", 0, DIR_NEAREST_MAX, false, &number)
    ||  get_int (p, location, "duplicate_window_minutes", 0, DIR_LIMIT_MAX, false, &number))
        return -1;
    path_pop (p, mark);
    return 0;
}


//  The grids: unique ids, each in a known community, with its worker.
static int
parse_grids (parse_t *p, directory_t *self, json_t *root, json_t *buildings)
{
    static const char *const keys [] = {
        "id", "name", "community", "worker", "buildings", "polygon", NULL
    };
    json_t *list, *item;
    size_t i;
    if (get_member (p, root, "grids", JSON_ARRAY, true, &list))
        return -1;
    self->grid_count = json_array_size (list);
    self->grids = calloc (self->grid_count, sizeof (dir_grid_t));
    if (!self->grids)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "grids");
    json_array_foreach (list, i, item) {
        dir_grid_t *grid = &self->grids [i];
        size_t item_mark = path_index (p, i);
        if (check_object (p, item)
        ||  check_keys (p, item, keys)
        ||  get_string (p, item, "id", STR_ID, true, &grid->id)
        ||  get_string (p, item, "name", STR_TEXT, true, &grid->name)
        ||  get_string (p, item, "community", STR_ID, true, &grid->community)
        ||  get_string (p, item, "worker", STR_TEXT, true, &grid->worker)
        ||  parse_buildings (p, item, buildings, grid)
        ||  parse_grid_geometry (p, item, grid)
        ||  index_add (p, self->grid_index, "id", grid->id, i, "grids"))
            return -1;
        path_key (p, "community");
        if (index_find (self->community_index, grid->community) < 0)
            return fail (p, "unknown community \"%s\"", grid->community);
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  A category's limits: keys are tier names, values positive minutes, and
//  every tier from the start tier up to DISTRICT has one.
static int
parse_limits (parse_t *p, json_t *item, dir_category_t *category)
{
    json_t *limits, *value;
    const char *key;
    if (get_member (p, item, "limits_minutes", JSON_OBJECT, true, &limits))
        return -1;
    size_t mark = path_key (p, "limits_minutes");
    json_object_foreach (limits, key, value) {
        int tier = dir_tier_parse (key);
        if (tier == 0) {
            path_push (p, ".%.64s", key);
            return fail (p, "unknown tier (use GRID, COMMUNITY, STREET or DISTRICT)");
        }
        if (get_int (p, limits, key, 1, DIR_LIMIT_MAX, true,
                     &category->limit_minutes [tier]))
            return -1;
    }
    for (int tier = category->start_tier; tier <= DIR_TIER_DISTRICT; tier++)
        if (category->limit_minutes [tier] == 0) {
            path_key (p, dir_tier_name (tier));
            return fail (p, "required field missing (every tier from start_tier %s "
                         "up to DISTRICT needs a limit)", dir_tier_name (category->start_tier));
        }
    path_pop (p, mark);
    return 0;
}

//  Optional per-tier joint rule: tier -> units (1..DIR_JOINT_MAX), only
//  for tiers from the start tier up.
static int
parse_joint_by_tier (parse_t *p, json_t *item, dir_category_t *category)
{
    json_t *joint, *value;
    const char *key;
    if (get_member (p, item, "joint_by_tier", JSON_OBJECT, false, &joint))
        return -1;
    if (!joint)
        return 0;
    size_t mark = path_key (p, "joint_by_tier");
    json_object_foreach (joint, key, value) {
        int tier = dir_tier_parse (key);
        if (tier == 0) {
            path_push (p, ".%.64s", key);
            return fail (p, "unknown tier (use GRID, COMMUNITY, STREET or DISTRICT)");
        }
        if (tier < category->start_tier) {
            path_push (p, ".%.64s", key);
            return fail (p, "below start_tier %s", dir_tier_name (category->start_tier));
        }
        if (get_int (p, joint, key, 1, DIR_JOINT_MAX, true, &category->joint_by_tier [tier]))
            return -1;
    }
    path_pop (p, mark);
    return 0;
}

//  Read the optional number member key as a fraction 0 <= f < 1; an absent
//  one leaves *out as it was. Returns 0 or -1.
static int
get_fraction (parse_t *p, json_t *object, const char *key, double *out)
{
    json_t *value = json_object_get (object, key);
    if (!value)
        return 0;
    size_t mark = path_key (p, key);
    if (!json_is_number (value))
        return fail (p, "must be a number, not %s", type_label (json_typeof (value)));
    double number = json_number_value (value);
    if (!(number >= 0 && number < 1))
        return fail (p, "%g is out of range 0 <= f < 1", number);
    *out = number;
    path_pop (p, mark);
    return 0;
}

//  The categories: unique codes, kind, start tier, limits, joint units,
//  clock kind, reminder fraction.
static int
parse_categories (parse_t *p, directory_t *self, json_t *root)
{
    static const char *const keys [] = {
        "code", "name", "kind", "start_tier", "limits_minutes", "joint_units",
        "joint_by_tier", "clock", "reminder_fraction", "verify_minutes", "joint_team", NULL
    };
    json_t *list, *item;
    const char *kind, *start_tier, *clock;
    size_t i;
    if (get_member (p, root, "categories", JSON_ARRAY, true, &list))
        return -1;
    self->category_count = json_array_size (list);
    self->categories = calloc (self->category_count, sizeof (dir_category_t));
    if (!self->categories)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "categories");
    json_array_foreach (list, i, item) {
        dir_category_t *category = &self->categories [i];
        category->joint_units = 1;
        category->reminder_fraction = DIR_REMINDER_DEFAULT;
        category->verify_minutes = DIR_VERIFY_DEFAULT;
        size_t item_mark = path_index (p, i);
        if (check_object (p, item)
        ||  check_keys (p, item, keys)
        ||  get_string (p, item, "code", STR_ID, true, &category->code)
        ||  get_string (p, item, "name", STR_TEXT, true, &category->name)
        ||  get_string (p, item, "kind", STR_ID, true, &kind)
        ||  get_string (p, item, "start_tier", STR_ID, true, &start_tier)
        ||  get_int (p, item, "joint_units", 1, DIR_JOINT_MAX, false,
                     &category->joint_units)
        ||  get_int (p, item, "verify_minutes", 1, DIR_LIMIT_MAX, false,
                     &category->verify_minutes)
        ||  get_string (p, item, "joint_team", STR_ID, false, &category->joint_team)
        ||  index_add (p, self->category_index, "code", category->code, i, "categories"))
            return -1;
        size_t field_mark = path_key (p, "kind");
        if (strcmp (kind, "incident") && strcmp (kind, "service"))
            return fail (p, "\"%s\" is neither \"incident\" nor \"service\"", kind);
        category->service = strcmp (kind, "service") == 0;
        path_pop (p, field_mark);
        path_key (p, "start_tier");
        category->start_tier = dir_tier_parse (start_tier);
        if (category->start_tier == 0)
            return fail (p, "unknown tier \"%s\" (use GRID, COMMUNITY, STREET or DISTRICT)",
                         start_tier);
        path_pop (p, field_mark);
        if (parse_limits (p, item, category)
        ||  parse_joint_by_tier (p, item, category)
        ||  get_string (p, item, "clock", STR_ID, false, &clock)
        ||  get_fraction (p, item, "reminder_fraction", &category->reminder_fraction))
            return -1;
        if (clock) {
            path_key (p, "clock");
            if (strcmp (clock, "working") && strcmp (clock, "wall"))
                return fail (p, "\"%s\" is neither \"working\" nor \"wall\"", clock);
            category->working_time = strcmp (clock, "working") == 0;
            if (category->working_time && !self->has_calendar)
                return fail (p, "\"working\" needs a \"calendar\" section");
            path_pop (p, field_mark);
        }
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  Scratch marks while reading units: seen [k] == stamp means "k already
//  listed by the current unit", so nothing needs clearing between units.
typedef struct {
    size_t *grid_seen;              //  per grid
    size_t *community_seen;         //  per community
    size_t *category_seen;          //  per category
    size_t stamp;                   //  current unit's index + 1
} marks_t;

//  A unit's tiers: known names, no repeats, into a bit set.
static int
parse_unit_tiers (parse_t *p, json_t *item, dir_unit_t *unit)
{
    json_t *list, *value;
    const char *name;
    size_t i;
    if (get_member (p, item, "tiers", JSON_ARRAY, true, &list))
        return -1;
    size_t mark = path_key (p, "tiers");
    json_array_foreach (list, i, value) {
        size_t item_mark = path_index (p, i);
        if (check_string (p, value, STR_ID, &name))
            return -1;
        int tier = dir_tier_parse (name);
        if (tier == 0)
            return fail (p, "unknown tier \"%s\" (use GRID, COMMUNITY, STREET or DISTRICT)", name);
        if (unit->tiers & (1u << tier))
            return fail (p, "tier %s listed twice", name);
        unit->tiers |= 1u << tier;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  A unit's categories: known codes, no repeats.
static int
parse_unit_categories (parse_t *p, directory_t *self, json_t *item,
                       dir_unit_t *unit, marks_t *marks)
{
    json_t *list, *value;
    const char *code;
    size_t i;
    if (get_member (p, item, "categories", JSON_ARRAY, true, &list))
        return -1;
    unit->categories = calloc (json_array_size (list), sizeof (char *));
    if (!unit->categories)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "categories");
    json_array_foreach (list, i, value) {
        size_t item_mark = path_index (p, i);
        if (check_string (p, value, STR_ID, &code))
            return -1;
        long at = index_find (self->category_index, code);
        if (at < 0)
            return fail (p, "unknown category \"%s\"", code);
        if (marks->category_seen [at] == marks->stamp)
            return fail (p, "category \"%s\" listed twice", code);
        marks->category_seen [at] = marks->stamp;
        unit->categories [unit->category_count++] = code;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  Mark every grid named in list (ids of grids, or of communities whose
//  grids are all meant), at the current path. Returns 0 or -1.
static int
mark_coverage (parse_t *p, directory_t *self, json_t *list, bool communities,
               marks_t *marks)
{
    json_t *value;
    const char *id;
    size_t i;
    json_array_foreach (list, i, value) {
        size_t item_mark = path_index (p, i);
        if (check_string (p, value, STR_ID, &id))
            return -1;
        json_t *index = communities? self->community_index: self->grid_index;
        size_t *seen = communities? marks->community_seen: marks->grid_seen;
        long at = index_find (index, id);
        if (at < 0)
            return fail (p, "unknown %s \"%s\"", communities? "community": "grid", id);
        if (seen [at] == marks->stamp)
            return fail (p, "\"%s\" listed twice", id);
        seen [at] = marks->stamp;
        path_pop (p, item_mark);
    }
    if (communities)
        for (size_t g = 0; g < self->grid_count; g++) {
            long community = index_find (self->community_index, self->grids [g].community);
            if (marks->community_seen [community] == marks->stamp)
                marks->grid_seen [g] = marks->stamp;
        }
    return 0;
}

//  A unit's coverage, one of: "coverage": "street", "coverage":
//  {"communities": [...]}, "coverage": {"grids": [...]}, or the normalised
//  "grids": [...]. Leaves the unit with an explicit "grids" array, in
//  directory order, and unit->grids pointing at the grid ids.
static int
parse_unit_coverage (parse_t *p, directory_t *self, json_t *item,
                     dir_unit_t *unit, marks_t *marks)
{
    static const char *const keys [] = { "communities", "grids", NULL };
    json_t *coverage = json_object_get (item, "coverage");
    json_t *grids = json_object_get (item, "grids");
    json_t *list;
    if (!coverage && !grids) {
        path_key (p, "coverage");
        return fail (p, "required field missing");
    }
    if (coverage && grids) {
        path_key (p, "grids");
        return fail (p, "give either coverage or grids, not both");
    }
    if (grids) {
        if (get_member (p, item, "grids", JSON_ARRAY, true, &list))
            return -1;
        size_t mark = path_key (p, "grids");
        if (mark_coverage (p, self, list, false, marks))
            return -1;
        path_pop (p, mark);
    }
    else {
        size_t mark = path_key (p, "coverage");
        if (json_is_string (coverage)) {
            if (strcmp (json_string_value (coverage), "street"))
                return fail (p, "must be \"street\", {\"communities\": [...]} "
                             "or {\"grids\": [...]}");
            for (size_t g = 0; g < self->grid_count; g++)
                marks->grid_seen [g] = marks->stamp;
        }
        else {
            if (!json_is_object (coverage))
                return fail (p, "must be \"street\", {\"communities\": [...]} "
                             "or {\"grids\": [...]}, not %s",
                             type_label (json_typeof (coverage)));
            if (check_keys (p, coverage, keys))
                return -1;
            bool by_community = json_object_get (coverage, "communities") != NULL;
            if (by_community == (json_object_get (coverage, "grids") != NULL))
                return fail (p, "give either communities or grids (exactly one)");
            const char *key = by_community? "communities": "grids";
            if (get_member (p, coverage, key, JSON_ARRAY, true, &list))
                return -1;
            path_key (p, key);
            if (mark_coverage (p, self, list, by_community, marks))
                return -1;
        }
        path_pop (p, mark);
    }
    //  Collect the marked grids into the unit and into its JSON
    for (size_t g = 0; g < self->grid_count; g++)
        unit->grid_count += marks->grid_seen [g] == marks->stamp;
    if (unit->grid_count == 0) {
        path_key (p, grids? "grids": "coverage");
        return fail (p, "covers no grid");
    }
    json_t *expanded = json_array ();
    unit->grids = calloc (unit->grid_count, sizeof (char *));
    if (!expanded || !unit->grids) {
        json_decref (expanded);
        return fail (p, "out of memory");
    }
    size_t count = 0;
    for (size_t g = 0; g < self->grid_count; g++)
        if (marks->grid_seen [g] == marks->stamp) {
            unit->grids [count++] = self->grids [g].id;
            if (json_array_append_new (expanded, json_string (self->grids [g].id))) {
                json_decref (expanded);
                return fail (p, "out of memory");
            }
        }
    json_object_del (item, "coverage");
    if (json_object_set_new (item, "grids", expanded))
        return fail (p, "out of memory");
    return 0;
}

//  A unit's duty rota: weekday 1..7, "HH:MM" from before to.
static int
parse_unit_rota (parse_t *p, json_t *item, dir_unit_t *unit)
{
    return parse_slots (p, item, "rota", false, &unit->rota, &unit->rota_count);
}

//  The units: unique ids, people, tiers, categories, coverage, capacity, rota.
static int
parse_units (parse_t *p, directory_t *self, json_t *root, marks_t *marks)
{
    static const char *const keys [] = {
        "id", "name", "kind", "responsible", "contact", "tiers", "categories",
        "coverage", "grids", "capacity", "rota", NULL
    };
    json_t *list, *item;
    size_t i;
    if (get_member (p, root, "units", JSON_ARRAY, true, &list))
        return -1;
    self->unit_count = json_array_size (list);
    self->units = calloc (self->unit_count, sizeof (dir_unit_t));
    if (!self->units)
        return fail (p, "out of memory");
    size_t mark = path_key (p, "units");
    json_array_foreach (list, i, item) {
        dir_unit_t *unit = &self->units [i];
        marks->stamp = i + 1;
        size_t item_mark = path_index (p, i);
        if (check_object (p, item)
        ||  check_keys (p, item, keys)
        ||  get_string (p, item, "id", STR_ID, true, &unit->id)
        ||  get_string (p, item, "name", STR_TEXT, true, &unit->name)
        ||  get_string (p, item, "kind", STR_ID, true, &unit->kind)
        ||  get_string (p, item, "responsible", STR_TEXT, true, &unit->responsible)
        ||  get_string (p, item, "contact", STR_TEXT, true, &unit->contact)
        ||  parse_unit_tiers (p, item, unit)
        ||  parse_unit_categories (p, self, item, unit, marks)
        ||  parse_unit_coverage (p, self, item, unit, marks)
        ||  get_int (p, item, "capacity", 1, DIR_CAPACITY_MAX, true, &unit->capacity)
        ||  parse_unit_rota (p, item, unit)
        ||  index_add (p, self->unit_index, "id", unit->id, i, "units"))
            return -1;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  Every category needs at least one unit that serves it at its start tier.
static int
check_categories_served (parse_t *p, directory_t *self)
{
    for (size_t c = 0; c < self->category_count; c++) {
        const dir_category_t *category = &self->categories [c];
        bool served = false;
        for (size_t u = 0; u < self->unit_count && !served; u++) {
            const dir_unit_t *unit = &self->units [u];
            if (unit->tiers & (1u << category->start_tier))
                for (size_t k = 0; k < unit->category_count && !served; k++)
                    served = strcmp (unit->categories [k], category->code) == 0;
        }
        if (!served) {
            path_push (p, "categories[%zu]", c);
            return fail (p, "no unit serves \"%s\" at its start tier %s",
                         category->code, dir_tier_name (category->start_tier));
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The community's sections: people, the liaison chain, standing teams,
//  venues and co-building agreements (docs/directory.md, "People and the
//  chain"). All optional; each reference is checked against its section.

//  The roles a person may hold (docs/community.md).
static const char *const s_person_roles [] = {
    "street_leader", "community_secretary", "district_liaison", "grid_secretary",
    "grid_worker", "party_group_leader", "building_head", "unit_head", "party_member",
    "volunteer", NULL
};

//  Read member key as an array of ids (each unique), optionally required
//  non-empty; each checked against index when one is given (what names
//  the section in the message). Returns 0 or -1.
static int
get_id_list (parse_t *p, json_t *object, const char *key, bool required,
             const json_t *index, const char *what)
{
    json_t *list, *value;
    size_t i;
    if (get_member (p, object, key, JSON_ARRAY, required, &list))
        return -1;
    if (!list)
        return 0;
    json_t *seen = json_object ();
    if (!seen)
        return fail (p, "out of memory");
    size_t mark = path_key (p, key);
    int rc = 0;
    json_array_foreach (list, i, value) {
        const char *id;
        size_t item_mark = path_index (p, i);
        if (check_string (p, value, STR_ID, &id)) {
            rc = -1;
            break;
        }
        if (index && index_find (index, id) < 0) {
            rc = fail (p, "unknown %s \"%s\"", what, id);
            break;
        }
        if (json_object_get (seen, id)) {
            rc = fail (p, "\"%s\" is listed twice", id);
            break;
        }
        json_object_set_new (seen, id, json_true ());
        path_pop (p, item_mark);
    }
    json_decref (seen);
    if (rc == 0)
        path_pop (p, mark);
    return rc;
}

//  Read member key as a reference to a known id of index (what names it).
static int
get_ref (parse_t *p, json_t *object, const char *key, bool required, const json_t *index,
         const char *what, const char **out)
{
    if (get_string (p, object, key, STR_ID, required, out))
        return -1;
    if (*out && index_find (index, *out) < 0) {
        path_key (p, key);
        return fail (p, "unknown %s \"%s\"", what, *out);
    }
    return 0;
}

//  The person at key is known and holds role (an index of person id ->
//  position in people, whose roles are read from the document).
static int
get_person (parse_t *p, json_t *object, const char *key, bool required, json_t *persons,
            json_t *people, const char *role, const char *role2)
{
    const char *id;
    if (get_ref (p, object, key, required, persons, "person", &id))
        return -1;
    if (!id)
        return 0;
    json_t *roles = json_object_get (json_array_get (people, (size_t) index_find (persons, id)),
                                     "roles");
    size_t i;
    json_t *value;
    json_array_foreach (roles, i, value)
        if (strcmp (json_string_value (value), role) == 0
        ||  (role2 && strcmp (json_string_value (value), role2) == 0))
            return 0;
    path_key (p, key);
    return fail (p, "person \"%s\" is not a %s%s%s", id, role, role2 ? " or " : "", role2 ? role2 : "");
}

//  people[]: id, name, roles, where they live or serve, skills, when they
//  are available, and the principal they act as.
static int
parse_people (parse_t *p, directory_t *self, json_t *root, json_t *persons, json_t *buildings)
{
    static const char *const keys [] = {
        "id", "name", "roles", "title", "community", "grid", "building", "unit", "skills",
        "availability", "principal", "contact", NULL
    };
    json_t *list, *item, *value;
    size_t i, k;
    if (get_member (p, root, "people", JSON_ARRAY, false, &list))
        return -1;
    json_t *principals = json_object ();
    if (!principals)
        return fail (p, "out of memory");
    int rc = 0;
    size_t mark = path_key (p, "people");
    json_array_foreach (list, i, item) {
        const char *id, *text, *ref, *principal;
        json_t *roles;
        dir_slot_t *slots = NULL;
        size_t slot_count = 0;
        size_t item_mark = path_index (p, i);
        rc = check_object (p, item) || check_keys (p, item, keys)
          || get_string (p, item, "id", STR_ID, true, &id)
          || get_string (p, item, "name", STR_TEXT, true, &text)
          || get_string (p, item, "title", STR_TEXT, false, &text)
          || get_string (p, item, "contact", STR_TEXT, false, &text)
          || get_ref (p, item, "community", false, self->community_index, "community", &ref)
          || get_ref (p, item, "grid", false, self->grid_index, "grid", &ref)
          || get_ref (p, item, "building", false, buildings, "building", &ref)
          || get_ref (p, item, "unit", false, self->unit_index, "unit", &ref)
          || get_id_list (p, item, "skills", false, NULL, NULL)
          || parse_slots (p, item, "availability", false, &slots, &slot_count)
          || get_member (p, item, "roles", JSON_ARRAY, true, &roles)
          || get_string (p, item, "principal", STR_TEXT, false, &principal)
          || index_add (p, persons, "id", id, i, "people") ? -1 : 0;
        free (slots);
        if (rc)
            break;
        size_t roles_mark = path_key (p, "roles");
        json_array_foreach (roles, k, value) {
            bool known = false;
            for (size_t r = 0; json_is_string (value) && s_person_roles [r] && !known; r++)
                known = strcmp (json_string_value (value), s_person_roles [r]) == 0;
            if (!known) {
                path_index (p, k);
                rc = fail (p, "not a role (street_leader, community_secretary, district_liaison, "
                           "grid_secretary, grid_worker, party_group_leader, building_head, "
                           "unit_head, party_member, volunteer)");
                break;
            }
        }
        if (rc)
            break;
        path_pop (p, roles_mark);
        //  the principal a person acts as: "grid-worker:白国晨", unique
        if (principal) {
            const char *colon = strchr (principal, ':');
            if (!colon || colon == principal || !colon [1] || strchr (principal, ' ')) {
                path_key (p, "principal");
                rc = fail (p, "\"%s\" is not a principal's label like \"grid-worker:白国晨\"",
                           principal);
                break;
            }
            if (index_add (p, principals, "principal", principal, i, "people")) {
                rc = -1;
                break;
            }
        }
        path_pop (p, item_mark);
    }
    if (rc == 0)
        path_pop (p, mark);
    json_decref (principals);
    return rc;
}

//  chain: who answers for each tier, and each grid's and building's links.
static int
parse_chain (parse_t *p, directory_t *self, json_t *root, json_t *persons, json_t *buildings)
{
    static const char *const keys [] = { "district", "communities", "grids", NULL };
    static const char *const community_keys [] = { "community", "secretary", NULL };
    static const char *const grid_keys [] = {
        "grid", "street_leader", "secretary", "worker", "buildings", NULL
    };
    static const char *const building_keys [] = {
        "building", "party_group", "head", "members", NULL
    };
    json_t *chain, *list, *item, *blist, *bitem, *people = json_object_get (root, "people");
    const char *ref;
    size_t i, k;
    if (get_member (p, root, "chain", JSON_OBJECT, false, &chain))
        return -1;
    if (!chain)
        return 0;
    size_t mark = path_key (p, "chain");
    if (check_keys (p, chain, keys)
    ||  get_person (p, chain, "district", false, persons, people, "district_liaison", NULL)
    ||  get_member (p, chain, "communities", JSON_ARRAY, false, &list))
        return -1;
    size_t list_mark = path_key (p, "communities");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        if (check_object (p, item) || check_keys (p, item, community_keys)
        ||  get_ref (p, item, "community", true, self->community_index, "community", &ref)
        ||  get_person (p, item, "secretary", true, persons, people, "community_secretary", NULL))
            return -1;
        path_pop (p, item_mark);
    }
    path_pop (p, list_mark);
    if (get_member (p, chain, "grids", JSON_ARRAY, false, &list))
        return -1;
    list_mark = path_key (p, "grids");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        if (check_object (p, item) || check_keys (p, item, grid_keys)
        ||  get_ref (p, item, "grid", true, self->grid_index, "grid", &ref)
        ||  get_person (p, item, "street_leader", true, persons, people, "street_leader", NULL)
        ||  get_person (p, item, "secretary", true, persons, people, "grid_secretary", NULL)
        ||  get_person (p, item, "worker", true, persons, people, "grid_worker", NULL)
        ||  get_member (p, item, "buildings", JSON_ARRAY, false, &blist))
            return -1;
        //  a building's chain hangs off its own grid: its id was indexed
        //  at "grids[N].buildings[M].id"
        char prefix [32];
        snprintf (prefix, sizeof prefix, "grids[%ld].", index_find (self->grid_index, ref));
        size_t blist_mark = path_key (p, "buildings");
        json_array_foreach (blist, k, bitem) {
            const char *building;
            size_t bmark = path_index (p, k);
            if (check_object (p, bitem) || check_keys (p, bitem, building_keys)
            ||  get_ref (p, bitem, "building", true, buildings, "building", &building)
            ||  get_person (p, bitem, "party_group", true, persons, people, "party_group_leader", NULL)
            ||  get_person (p, bitem, "head", false, persons, people, "building_head", "unit_head")
            ||  get_id_list (p, bitem, "members", false, persons, "person"))
                return -1;
            const char *at = json_string_value (json_object_get (buildings, building));
            if (!at || strncmp (at, prefix, strlen (prefix)) != 0) {
                path_key (p, "building");
                return fail (p, "building \"%s\" is not in grid \"%s\"", building, ref);
            }
            path_pop (p, bmark);
        }
        path_pop (p, blist_mark);
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    return 0;
}

//  teams[]: standing teams of units (the family-affairs alliance), a lead
//  and members; venues[]; agreements[] between the community and a unit.
static int
parse_teams_venues_agreements (parse_t *p, directory_t *self, json_t *root, json_t *teams)
{
    static const char *const team_keys [] = { "id", "name", "lead", "members", "served", NULL };
    static const char *const venue_keys [] = { "id", "name", "unit", "community", "capacity", NULL };
    static const char *const agreement_keys [] = {
        "id", "unit", "from", "to", "services", "services_per_quarter", "hours_per_quarter",
        "venues", "promise", NULL
    };
    json_t *list, *item, *venues = json_object (), *agreements = json_object ();
    const char *id, *text, *ref;
    size_t i;
    int rc = -1, number;
    if (!venues || !agreements) {
        fail (p, "out of memory");
        goto cleanup;
    }
    if (get_member (p, root, "teams", JSON_ARRAY, false, &list))
        goto cleanup;
    size_t mark = path_key (p, "teams");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        number = 0;
        if (check_object (p, item) || check_keys (p, item, team_keys)
        ||  get_string (p, item, "id", STR_ID, true, &id)
        ||  get_string (p, item, "name", STR_TEXT, true, &text)
        ||  get_ref (p, item, "lead", true, self->unit_index, "unit", &ref)
        ||  get_id_list (p, item, "members", true, self->unit_index, "unit")
        ||  get_int (p, item, "served", 0, 100000000, false, &number)
        ||  index_add (p, teams, "id", id, i, "teams"))
            goto cleanup;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    if (get_member (p, root, "venues", JSON_ARRAY, false, &list))
        goto cleanup;
    mark = path_key (p, "venues");
    json_array_foreach (list, i, item) {
        size_t item_mark = path_index (p, i);
        if (check_object (p, item) || check_keys (p, item, venue_keys)
        ||  get_string (p, item, "id", STR_ID, true, &id)
        ||  get_string (p, item, "name", STR_TEXT, true, &text)
        ||  get_ref (p, item, "unit", false, self->unit_index, "unit", &ref)
        ||  get_ref (p, item, "community", false, self->community_index, "community", &ref)
        ||  get_int (p, item, "capacity", 1, 100000, true, &number)
        ||  index_add (p, venues, "id", id, i, "venues"))
            goto cleanup;
        path_pop (p, item_mark);
    }
    path_pop (p, mark);
    if (get_member (p, root, "agreements", JSON_ARRAY, false, &list))
        goto cleanup;
    mark = path_key (p, "agreements");
    json_t *units = json_object ();
    json_array_foreach (list, i, item) {
        const char *from, *to;
        int y1, m1, d1, y2, m2, d2;
        size_t item_mark = path_index (p, i);
        if (check_object (p, item) || check_keys (p, item, agreement_keys)
        ||  get_string (p, item, "id", STR_ID, true, &id)
        ||  get_ref (p, item, "unit", true, self->unit_index, "unit", &ref)
        ||  get_string (p, item, "from", STR_ID, true, &from)
        ||  get_string (p, item, "to", STR_ID, true, &to)
        ||  get_id_list (p, item, "services", true, self->category_index, "category")
        ||  get_int (p, item, "services_per_quarter", 0, 1000000, true, &number)
        ||  get_int (p, item, "hours_per_quarter", 0, 1000000, true, &number)
        ||  get_id_list (p, item, "venues", false, venues, "venue")
        ||  get_string (p, item, "promise", STR_TEXT, false, &text)
        ||  index_add (p, agreements, "id", id, i, "agreements")
        ||  index_add (p, units, "unit", ref, i, "agreements")) {
            json_decref (units);
            goto cleanup;
        }
        if (parse_date (from, &y1, &m1, &d1) || parse_date (to, &y2, &m2, &d2)
        ||  strcmp (to, from) < 0) {
            json_decref (units);
            path_key (p, "to");
            fail (p, "\"%s\" .. \"%s\" is not a term of real dates, to after from", from, to);
            goto cleanup;
        }
        path_pop (p, item_mark);
    }
    json_decref (units);
    path_pop (p, mark);
    rc = 0;
cleanup:
    json_decref (agreements);
    json_decref (venues);
    return rc;
}

//  A category's joint_team names a team whose every unit handles it.
static int
check_joint_teams (parse_t *p, directory_t *self, json_t *root, json_t *teams)
{
    for (size_t c = 0; c < self->category_count; c++) {
        const char *team = self->categories [c].joint_team;
        if (!team)
            continue;
        path_push (p, "categories[%zu].joint_team", c);
        long at = index_find (teams, team);
        if (at < 0)
            return fail (p, "unknown team \"%s\"", team);
        json_t *t = json_array_get (json_object_get (root, "teams"), (size_t) at);
        json_t *members = json_object_get (t, "members");
        for (size_t m = 0; m <= json_array_size (members); m++) {
            const char *unit = json_string_value (m ? json_array_get (members, m - 1)
                                                    : json_object_get (t, "lead"));
            const dir_unit_t *u = &self->units [index_find (self->unit_index, unit)];
            bool handles = false;
            for (size_t k = 0; k < u->category_count && !handles; k++)
                handles = strcmp (u->categories [k], self->categories [c].code) == 0;
            if (!handles)
                return fail (p, "team \"%s\": unit \"%s\" does not handle \"%s\"", team, unit,
                             self->categories [c].code);
        }
        path_pop (p, 0);
    }
    return 0;
}

//  The community's sections, after the units they name.
static int
parse_community (parse_t *p, directory_t *self, json_t *root, json_t *buildings)
{
    json_t *persons = json_object (), *teams = json_object ();
    int rc = -1;
    if (!persons || !teams)
        fail (p, "out of memory");
    else
    if (parse_people (p, self, root, persons, buildings) == 0
    &&  parse_chain (p, self, root, persons, buildings) == 0
    &&  parse_teams_venues_agreements (p, self, root, teams) == 0
    &&  check_joint_teams (p, self, root, teams) == 0) {
        self->person_count = json_object_size (persons);
        rc = 0;
    }
    json_decref (teams);
    json_decref (persons);
    return rc;
}

//  Validate the parsed document into self, section by section.
static int
parse_document (parse_t *p, directory_t *self)
{
    static const char *const keys [] = {
        "version", "street", "communities", "grids", "calendar", "categories", "units",
        "location", "people", "chain", "teams", "venues", "agreements", NULL
    };
    json_t *root = self->root;
    int version = 0;
    if (!json_is_object (root))
        return fail (p, "the document must be a JSON object, not %s",
                     type_label (json_typeof (root)));
    if (check_keys (p, root, keys)
    ||  get_int (p, root, "version", 0, 1000000, true, &version))
        return -1;
    if (version != DIR_VERSION) {
        path_key (p, "version");
        return fail (p, "version %d is not supported (this build reads %d)",
                     version, DIR_VERSION);
    }
    json_t *buildings = json_object ();
    marks_t marks = { NULL, NULL, NULL, 0 };
    int rc = -1;
    if (!buildings) {
        fail (p, "out of memory");
        goto cleanup;
    }
    if (parse_street (p, self, root)
    ||  parse_communities (p, self, root)
    ||  parse_location (p, root)
    ||  parse_grids (p, self, root, buildings)
    ||  parse_calendar (p, self, root)
    ||  parse_categories (p, self, root))
        goto cleanup;
    marks.grid_seen = calloc (self->grid_count, sizeof (size_t));
    marks.community_seen = calloc (self->community_count, sizeof (size_t));
    marks.category_seen = calloc (self->category_count, sizeof (size_t));
    if (!marks.grid_seen || !marks.community_seen || !marks.category_seen) {
        fail (p, "out of memory");
        goto cleanup;
    }
    if (parse_units (p, self, root, &marks)
    ||  check_categories_served (p, self)
    ||  parse_community (p, self, root, buildings))
        goto cleanup;
    rc = 0;
cleanup:
    free (marks.category_seen);
    free (marks.community_seen);
    free (marks.grid_seen);
    json_decref (buildings);
    return rc;
}


//  ---------------------------------------------------------------------
//  Construction and destruction

//  Parse and validate length bytes of JSON text; NULL with err on failure.
static directory_t *
directory_parse_buffer (const char *text, size_t length, const char *name,
                        char *err, size_t errlen)
{
    parse_t p = { .name = name? name: "directory", .err = err, .errlen = errlen };
    if (err && errlen)
        err [0] = 0;
    if (length > DIR_MAX_BYTES) {
        fail (&p, "larger than %d MiB, refused", DIR_MAX_BYTES >> 20);
        return NULL;
    }
    directory_t *self = calloc (1, sizeof (directory_t));
    if (!self) {
        fail (&p, "out of memory");
        return NULL;
    }
    json_error_t error;
    self->root = json_loadb (text, length, JSON_REJECT_DUPLICATES, &error);
    if (!self->root) {
        fail (&p, "line %d, column %d: not JSON: %s", error.line, error.column, error.text);
        goto failed;
    }
    self->community_index = json_object ();
    self->grid_index = json_object ();
    self->category_index = json_object ();
    self->unit_index = json_object ();
    if (!self->community_index || !self->grid_index
    ||  !self->category_index || !self->unit_index) {
        fail (&p, "out of memory");
        goto failed;
    }
    if (parse_document (&p, self))
        goto failed;
    return self;
failed:
    directory_destroy (&self);
    return NULL;
}

//  Parse and validate a NUL-terminated document; the caller destroys it.
directory_t *
directory_parse (const char *json, const char *name, char *err, size_t errlen)
{
    assert (json);
    return directory_parse_buffer (json, strlen (json), name, err, errlen);
}

//  Read the file at path (refused past 16 MiB) and parse it; the caller
//  destroys the result. NULL with the problem in err.
directory_t *
directory_load (const char *path, char *err, size_t errlen)
{
    assert (path);
    parse_t p = { .name = path, .err = err, .errlen = errlen };
    FILE *file = fopen (path, "rb");
    if (!file) {
        fail (&p, "cannot open: %s", strerror (errno));
        return NULL;
    }
    //  Read at most one byte past the limit, so a larger file is refused
    //  without reading it all (works for pipes too)
    size_t size = 0, room = 64 * 1024;
    char *text = malloc (room);
    directory_t *self = NULL;
    while (text) {
        size += fread (text + size, 1, room - size, file);
        if (size < room || size > DIR_MAX_BYTES)
            break;
        size_t bigger = room * 2 > DIR_MAX_BYTES + 1? DIR_MAX_BYTES + 1: room * 2;
        char *grown = realloc (text, bigger);
        if (!grown) {
            free (text);
            text = NULL;
        }
        else {
            text = grown;
            room = bigger;
        }
    }
    if (!text)
        fail (&p, "out of memory");
    else
    if (ferror (file))
        fail (&p, "cannot read: %s", strerror (errno));
    else
        self = directory_parse_buffer (text, size, path, err, errlen);
    free (text);
    fclose (file);
    return self;
}

//  Free the directory and everything it lent out; accepts NULL, clears *self_p.
void
directory_destroy (directory_t **self_p)
{
    assert (self_p);
    directory_t *self = *self_p;
    if (!self)
        return;
    for (size_t i = 0; i < self->unit_count && self->units; i++) {
        free (self->units [i].rota);
        free (self->units [i].grids);
        free (self->units [i].categories);
    }
    free (self->units);
    free (self->calendar.makeup_days);
    free (self->calendar.holidays);
    free (self->calendar.hours);
    free (self->categories);
    for (size_t i = 0; self->grids && i < self->grid_count; i++)
        free (self->grids [i].polygon);
    free (self->grids);
    free (self->communities);
    free (self->json);
    json_decref (self->unit_index);
    json_decref (self->category_index);
    json_decref (self->grid_index);
    json_decref (self->community_index);
    json_decref (self->root);
    free (self);
    *self_p = NULL;
}


//  ---------------------------------------------------------------------
//  Look-ups

//  The normalised compact JSON, units with explicit "grids"; borrowed.
const char *
directory_json (directory_t *self)
{
    assert (self);
    //  a dump as large as the file: only the CLI's load wants it
    if (!self->json && !self->shed)
        self->json = json_dumps (self->root, JSON_COMPACT);
    return self->json;
}

void
directory_shed (directory_t *self)
{
    assert (self);
    //  no structure borrows from these: they are checked against the
    //  rest while parsing, then only dumped
    static const char *const checked_only [] = {
        "people", "chain", "teams", "venues", "agreements", NULL
    };
    for (size_t i = 0; checked_only [i]; i++)
        json_object_del (self->root, checked_only [i]);
    //  nor from a grid's geometry: its polygon is copied into a C ring and
    //  its buildings are counted (their points checked inside the ring)
    json_t *grid;
    size_t i;
    json_array_foreach (json_object_get (self->root, "grids"), i, grid) {
        json_object_del (grid, "polygon");
        json_object_del (grid, "buildings");
    }
    free (self->json);
    self->json = NULL;
    self->shed = true;
}

//  The street's id; borrowed.
const char *
directory_street_id (const directory_t *self)
{
    assert (self);
    return self->street_id;
}

//  The street's short code (used in ledger numbers); borrowed.
const char *
directory_street_code (const directory_t *self)
{
    assert (self);
    return self->street_code;
}

//  The street's display name; borrowed.
const char *
directory_street_name (const directory_t *self)
{
    assert (self);
    return self->street_name;
}

//  Minutes to add to UTC for the street's local time.
int
directory_utc_offset_minutes (const directory_t *self)
{
    assert (self);
    return self->utc_offset_minutes;
}

//  Number of communities (at least one).
size_t
directory_community_count (const directory_t *self)
{
    assert (self);
    return self->community_count;
}

//  The community at index, or NULL past the end; borrowed.
const dir_community_t *
directory_community (const directory_t *self, size_t index)
{
    assert (self);
    return index < self->community_count? &self->communities [index]: NULL;
}

//  Number of grids (at least one).
size_t
directory_grid_count (const directory_t *self)
{
    assert (self);
    return self->grid_count;
}

//  The grid at index, or NULL past the end; borrowed.
const dir_grid_t *
directory_grid (const directory_t *self, size_t index)
{
    assert (self);
    return index < self->grid_count? &self->grids [index]: NULL;
}

//  The grid with this id, or NULL; borrowed.
const dir_grid_t *
directory_grid_find (const directory_t *self, const char *id)
{
    assert (self);
    long at = index_find (self->grid_index, id);
    return at < 0? NULL: &self->grids [at];
}

//  Number of categories (at least one).
size_t
directory_category_count (const directory_t *self)
{
    assert (self);
    return self->category_count;
}

//  The category at index, or NULL past the end; borrowed.
const dir_category_t *
directory_category (const directory_t *self, size_t index)
{
    assert (self);
    return index < self->category_count? &self->categories [index]: NULL;
}

//  The category with this code, or NULL; borrowed.
const dir_category_t *
directory_category_find (const directory_t *self, const char *code)
{
    assert (self);
    long at = index_find (self->category_index, code);
    return at < 0? NULL: &self->categories [at];
}

//  Number of units (at least one).
size_t
directory_person_count (const directory_t *self)
{
    assert (self);
    return self->person_count;
}

size_t
directory_unit_count (const directory_t *self)
{
    assert (self);
    return self->unit_count;
}

//  The unit at index, or NULL past the end; borrowed.
const dir_unit_t *
directory_unit (const directory_t *self, size_t index)
{
    assert (self);
    return index < self->unit_count? &self->units [index]: NULL;
}

//  The unit with this id, or NULL; borrowed.
const dir_unit_t *
directory_unit_find (const directory_t *self, const char *id)
{
    assert (self);
    long at = index_find (self->unit_index, id);
    return at < 0? NULL: &self->units [at];
}

//  The first part of the record that does not fit: tier, category, grid;
//  a NULL argument or a tier outside 1..4 is a misfit of the tier.
dir_fit_t
dir_unit_fit (const dir_unit_t *unit, int tier, const char *grid, const char *category)
{
    if (!unit || !grid || !category || tier < 1 || tier > DIR_TIERS
    ||  !(unit->tiers & (1u << tier)))
        return DIR_MISFIT_TIER;
    bool handles = false;
    for (size_t i = 0; i < unit->category_count && !handles; i++)
        handles = strcmp (unit->categories [i], category) == 0;
    if (!handles)
        return DIR_MISFIT_CATEGORY;
    for (size_t i = 0; i < unit->grid_count; i++)
        if (strcmp (unit->grids [i], grid) == 0)
            return DIR_FITS;
    return DIR_MISFIT_GRID;
}

bool
dir_unit_fits (const dir_unit_t *unit, int tier, const char *grid, const char *category)
{
    return dir_unit_fit (unit, tier, grid, category) == DIR_FITS;
}

//  True when a rota slot holds weekday (1..7) and minute (0..1439) of
//  local time; a unit without a rota is always on duty.
bool
dir_unit_on_duty (const dir_unit_t *unit, int weekday, int minute)
{
    assert (unit);
    if (unit->rota_count == 0)
        return true;
    for (size_t i = 0; i < unit->rota_count; i++) {
        const dir_slot_t *slot = &unit->rota [i];
        if (slot->weekday == weekday
        &&  minute >= slot->from_minute && minute < slot->to_minute)
            return true;
    }
    return false;
}

//  "GRID", "COMMUNITY", "STREET" or "DISTRICT" for 1..4; NULL otherwise.
const char *
dir_tier_name (int tier)
{
    return tier >= 1 && tier <= DIR_TIERS? s_tier_names [tier]: NULL;
}

//  The tier for an exact, upper-case name; 0 when unknown or NULL.
int
dir_tier_parse (const char *name)
{
    for (int tier = 1; name && tier <= DIR_TIERS; tier++)
        if (strcmp (name, s_tier_names [tier]) == 0)
            return tier;
    return 0;
}

//  The working calendar, or NULL without a "calendar" section; borrowed.
const dir_calendar_t *
directory_calendar (const directory_t *self)
{
    assert (self);
    return self->has_calendar? &self->calendar: NULL;
}

//  Units a case of this category summons at tier: the tier's own rule,
//  else joint_units; at least 1.
int
dir_category_joint_units (const dir_category_t *category, int tier)
{
    assert (category);
    int units = tier >= 1 && tier <= DIR_TIERS && category->joint_by_tier [tier]
              ? category->joint_by_tier [tier]: category->joint_units;
    return units > 0? units: 1;
}

//  A holiday has no hours (0); a make-up day has makeup_weekday's.
int
dir_calendar_weekday (const dir_calendar_t *calendar, int year, int month, int day, int weekday)
{
    assert (calendar);
    char date [16];
    snprintf (date, sizeof date, "%04d-%02d-%02d", year, month, day);
    for (size_t i = 0; i < calendar->holiday_count; i++)
        if (strcmp (calendar->holidays [i], date) == 0)
            return 0;
    for (size_t i = 0; i < calendar->makeup_count; i++)
        if (strcmp (calendar->makeup_days [i], date) == 0)
            return calendar->makeup_weekday;
    return weekday;
}

//  True when date and minute are working time: the hours of the weekday
//  dir_calendar_weekday gives.
bool
dir_calendar_works (const dir_calendar_t *calendar, int year, int month, int day,
                    int weekday, int minute)
{
    weekday = dir_calendar_weekday (calendar, year, month, day, weekday);
    for (size_t i = 0; weekday && i < calendar->hour_count; i++) {
        const dir_slot_t *slot = &calendar->hours [i];
        if (slot->weekday == weekday
        &&  minute >= slot->from_minute && minute < slot->to_minute)
            return true;
    }
    return false;
}
