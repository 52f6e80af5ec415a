/*  intake_community.c — checks and store calls of the community's
    requests, driven by one table of fields per message type. */
#include "intake_community.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "community.pb-c.h"

//  How a field is checked and passed.
typedef enum {
    C_ID,           //  an id (key, grid, project ...): the id charset
    C_TEXT,         //  free text up to text_max
    C_NAME,         //  a person's words: no control characters, CODEC_NAME_MAX
    C_COUNT,        //  uint32 within min..max (0 allowed when optional)
    C_TIME,         //  int64 Unix ms (0 allowed when optional)
    C_ENUM,         //  enum: its value's name after the prefix ("VISIT")
    C_BOOL,         //  "1" or "0"
    C_IDS,          //  repeated ids joined with ',' (min..max items)
    C_ITEMS         //  repeated messages as a JSON array of objects (min..max items)
} s_check_t;

typedef struct {
    const char *name;           //  proto field name
    s_check_t check;
    int required;               //  must be set (non-empty, non-zero)
    long min, max;              //  bounds of a count, or of a list's items
    const char *prefix;         //  enum value names start with this
} s_field_t;

#define S_FIELDS_MAX 10

//  The requests: type, store verb, action, its ref field and grid field,
//  then its fields in the order gc_community takes them.
typedef struct {
    const char *type;
    auth_action_t action;
    const char *ref;            //  the field echoed in errors
    const char *grid;           //  the field auth_may's grid comes from, or NULL
    s_field_t fields [S_FIELDS_MAX];
} s_kind_t;

static const s_kind_t s_kinds [] = {
    { "need.record", AUTH_NEED, "key", "grid", {
        { "key", C_ID, 1, 0, 0, NULL }, { "grid", C_ID, 1, 0, 0, NULL },
        { "category", C_ID, 1, 0, 0, NULL }, { "text", C_TEXT, 1, 0, 0, NULL },
        { "source", C_ENUM, 1, 0, 0, "NEED_SOURCE_" }, { "person", C_ID, 0, 0, 0, NULL },
        { "residents", C_COUNT, 0, 0, 100000, NULL } } },
    { "needs.detect", AUTH_PLAN, "grid", NULL, {
        { "grid", C_ID, 0, 0, 0, NULL }, { "window_days", C_COUNT, 1, 1, 366, NULL },
        { "min_reports", C_COUNT, 1, 2, 1000, NULL } } },
    { "survey.create", AUTH_PLAN, "id", NULL, {
        { "id", C_ID, 1, 0, 0, NULL }, { "title", C_TEXT, 1, 0, 0, NULL },
        { "community", C_ID, 0, 0, 0, NULL }, { "questions", C_ITEMS, 1, 1, 20, NULL } } },
    { "survey.answer", AUTH_ANSWER, "key", "grid", {
        { "key", C_ID, 1, 0, 0, NULL }, { "survey", C_ID, 1, 0, 0, NULL },
        { "grid", C_ID, 1, 0, 0, NULL }, { "respondent", C_NAME, 1, 0, 0, NULL },
        { "answers", C_ITEMS, 1, 1, 20, NULL } } },
    { "service.log", AUTH_SERVE, "key", NULL, {
        { "key", C_ID, 1, 0, 0, NULL }, { "person", C_ID, 0, 0, 0, NULL },
        { "unit", C_ID, 0, 0, 0, NULL }, { "minutes", C_COUNT, 1, 1, 1440, NULL },
        { "day_ms", C_TIME, 0, 0, 0, NULL }, { "project", C_ID, 0, 0, 0, NULL },
        { "note", C_TEXT, 0, 0, 0, NULL } } },
    { "venue.book", AUTH_PLAN, "key", NULL, {
        { "key", C_ID, 1, 0, 0, NULL }, { "venue", C_ID, 1, 0, 0, NULL },
        { "from_ms", C_TIME, 1, 0, 0, NULL }, { "to_ms", C_TIME, 1, 0, 0, NULL },
        { "people", C_COUNT, 0, 0, 100000, NULL }, { "purpose", C_TEXT, 1, 0, 0, NULL },
        { "project", C_ID, 0, 0, 0, NULL } } },
    { "project.design", AUTH_PLAN, "id", NULL, {
        { "id", C_ID, 1, 0, 0, NULL }, { "name", C_TEXT, 1, 0, 0, NULL },
        { "goal", C_TEXT, 1, 0, 0, NULL }, { "needs", C_IDS, 1, 1, 20, NULL },
        { "units", C_IDS, 0, 0, 20, NULL }, { "skills", C_IDS, 0, 0, 10, NULL },
        { "volunteers", C_COUNT, 1, 1, 1000, NULL }, { "start_ms", C_TIME, 0, 0, 0, NULL },
        { "end_ms", C_TIME, 0, 0, 0, NULL }, { "unit_slots", C_COUNT, 0, 0, 100, NULL } } },
    { "project.claim", AUTH_SERVE, "project", NULL, {
        { "project", C_ID, 1, 0, 0, NULL }, { "person", C_ID, 0, 0, 0, NULL },
        { "unit", C_ID, 0, 0, 0, NULL }, { "leave", C_BOOL, 0, 0, 0, NULL } } },
    { "project.status", AUTH_PLAN, "project", NULL, {
        { "project", C_ID, 1, 0, 0, NULL }, { "status", C_ENUM, 1, 0, 0, "PROJECT_STATUS_" },
        { "reason", C_TEXT, 1, 0, 0, NULL } } },
    { "unit.rate", AUTH_PLAN, "unit", NULL, {
        { "unit", C_ID, 1, 0, 0, NULL }, { "quarter", C_ID, 1, 0, 0, NULL },
        { "score", C_COUNT, 1, 1, 5, NULL }, { "comment", C_TEXT, 0, 0, 0, NULL } } },
};

static const s_kind_t *
s_kind (const char *type)
{
    for (size_t i = 0; i < sizeof s_kinds / sizeof s_kinds [0]; i++)
        if (strcmp (s_kinds [i].type, type) == 0)
            return &s_kinds [i];
    return NULL;
}

int
intake_community_kind (const char *type, auth_action_t *action)
{
    const s_kind_t *kind = s_kind (type);
    if (kind && action)
        *action = kind->action;
    return kind != NULL;
}

void
intake_community_reset (intake_community_call_t *call)
{
    for (size_t i = 0; i < INTAKE_COMMUNITY_OWNED; i++)
        free (call->owned [i]);
    memset (call, 0, sizeof *call);
}

//  Where a field's value sits in a message.
#define S_AT(msg, f, type) (*(type *) ((const char *) (msg) + (f)->offset))

//  Check a string as check says; 0 or the error code.
static int
s_string (const char *name, const char *value, s_check_t check, size_t text_max,
          char *reason, size_t reasonlen)
{
    if (check == C_ID || check == C_IDS)
        return codec_check_id (name, value, CODEC_ID_MAX, reason, reasonlen);
    if (check == C_NAME)
        return codec_check_name (name, value, CODEC_NAME_MAX, reason, reasonlen);
    return codec_check_text (name, value, text_max, reason, reasonlen);
}

//  A repeated message field as a JSON array of objects: strings checked
//  (an "id", "question" or "category" as an id, the rest as text), bools
//  as booleans. Returns the text (the caller's) or NULL with the error.
static char *
s_items (const ProtobufCMessage *msg, const ProtobufCFieldDescriptor *f, size_t text_max,
         int *code, char *reason, size_t reasonlen)
{
    size_t count = *(const size_t *) ((const char *) msg + f->quantifier_offset);
    ProtobufCMessage **items = S_AT (msg, f, ProtobufCMessage **);
    const ProtobufCMessageDescriptor *desc = f->descriptor;
    json_t *array = json_array ();
    for (size_t i = 0; array && i < count; i++) {
        json_t *object = json_object ();
        json_array_append_new (array, object);
        for (unsigned k = 0; object && k < desc->n_fields; k++) {
            const ProtobufCFieldDescriptor *sf = &desc->fields [k];
            char name [96];
            snprintf (name, sizeof name, "%s[%zu].%s", f->name, i, sf->name);
            if (sf->type == PROTOBUF_C_TYPE_BOOL)
                json_object_set_new (object, sf->name,
                                     json_boolean (S_AT (items [i], sf, protobuf_c_boolean)));
            else
            if (sf->type == PROTOBUF_C_TYPE_STRING) {
                const char *value = S_AT (items [i], sf, char *);
                bool id = strcmp (sf->name, "id") == 0 || strcmp (sf->name, "question") == 0
                       || strcmp (sf->name, "category") == 0;
                if (id && !*value) {
                    snprintf (reason, reasonlen, "%s is required", name);
                    *code = GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
                }
                else
                    *code = s_string (name, value, id ? C_ID : C_TEXT, text_max, reason, reasonlen);
                if (*code) {
                    json_decref (array);
                    return NULL;
                }
                json_object_set_new (object, sf->name, json_string (value));
            }
        }
    }
    char *text = array ? json_dumps (array, JSON_COMPACT) : NULL;
    json_decref (array);
    if (!text) {
        snprintf (reason, reasonlen, "out of memory");
        *code = GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    return text;
}

//  Check one field and append its argument. Returns 0 or the error code.
static int
s_field (const s_field_t *spec, const ProtobufCMessage *msg, size_t text_max,
         intake_community_call_t *call, size_t *nums, size_t *owned, char *reason, size_t reasonlen)
{
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name (msg->descriptor, spec->name);
    if (!f) {
        snprintf (reason, reasonlen, "%s: no such field", spec->name);
        return GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
    }
    const char *arg = "";
    char *num = call->num [*nums];
    int code = 0;
    switch (spec->check) {
        case C_ID: case C_TEXT: case C_NAME: {
            arg = S_AT (msg, f, char *);
            if (spec->required && !*arg) {
                snprintf (reason, reasonlen, "%s is required", spec->name);
                return GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
            }
            code = s_string (spec->name, arg, spec->check, text_max, reason, reasonlen);
            break;
        }
        case C_COUNT: {
            uint32_t v = S_AT (msg, f, uint32_t);
            if ((spec->required || v) && (v < (uint32_t) spec->min || v > (uint32_t) spec->max)) {
                snprintf (reason, reasonlen, "%s %u is outside %ld..%ld", spec->name, v, spec->min,
                          spec->max);
                return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
            }
            snprintf (num, sizeof call->num [0], "%u", v);
            arg = num;
            (*nums)++;
            break;
        }
        case C_TIME: {
            int64_t v = S_AT (msg, f, int64_t);
            code = codec_check_time (spec->name, v, !spec->required, reason, reasonlen);
            snprintf (num, sizeof call->num [0], "%lld", (long long) v);
            arg = num;
            (*nums)++;
            break;
        }
        case C_BOOL:
            arg = S_AT (msg, f, protobuf_c_boolean) ? "1" : "0";
            break;
        case C_ENUM: {
            int v = S_AT (msg, f, int);
            const ProtobufCEnumValue *ev = protobuf_c_enum_descriptor_get_value (f->descriptor, v);
            if (!ev || v == 0) {
                snprintf (reason, reasonlen, "%s %d is not a known value", spec->name, v);
                return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
            }
            arg = ev->name + strlen (spec->prefix);
            break;
        }
        case C_IDS: case C_ITEMS: {
            size_t count = *(const size_t *) ((const char *) msg + f->quantifier_offset);
            if ((long) count < spec->min || (long) count > spec->max) {
                snprintf (reason, reasonlen, "%s holds %zu items, not %ld..%ld", spec->name, count,
                          spec->min, spec->max);
                return count ? GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE
                             : GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
            }
            char *text = NULL;
            if (spec->check == C_ITEMS)
                text = s_items (msg, f, text_max, &code, reason, reasonlen);
            else {
                char **items = S_AT (msg, f, char **);
                size_t len = 1;
                for (size_t i = 0; i < count && !code; i++) {
                    char name [64];
                    snprintf (name, sizeof name, "%s[%zu]", spec->name, i);
                    code = *items [i] ? s_string (name, items [i], C_ID, text_max, reason, reasonlen)
                                      : (snprintf (reason, reasonlen, "%s is empty", name),
                                         GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
                    len += strlen (items [i]) + 1;
                }
                if (!code && (text = calloc (1, len)))
                    for (size_t i = 0; i < count; i++) {
                        if (i)
                            strcat (text, ",");
                        strcat (text, items [i]);
                    }
                if (!code && !text) {
                    snprintf (reason, reasonlen, "out of memory");
                    code = GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
                }
            }
            if (code)
                return code;
            call->owned [(*owned)++] = text;
            arg = text;
            break;
        }
    }
    call->argv [call->argc++] = arg;
    return code;
}

int
intake_community_build (const char *type, const ProtobufCMessage *body, const char *who,
                        const auth_principal_t *p, size_t text_max,
                        intake_community_call_t *call, char *reason, size_t reasonlen)
{
    intake_community_reset (call);
    call->ref = "";
    call->grid = "";
    const s_kind_t *kind = s_kind (type);
    if (!kind) {
        snprintf (reason, reasonlen, "intake does not take \"%s\" messages", type);
        return GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_TYPE;
    }
    const ProtobufCFieldDescriptor *f =
        protobuf_c_message_descriptor_get_field_by_name (body->descriptor, kind->ref);
    call->ref = S_AT (body, f, char *);
    if (kind->grid) {
        f = protobuf_c_message_descriptor_get_field_by_name (body->descriptor, kind->grid);
        call->grid = S_AT (body, f, char *);
    }
    call->argv [call->argc++] = type;
    call->argv [call->argc++] = who;
    call->argv [call->argc++] = auth_area (p, call->area, sizeof call->area);
    size_t nums = 0, owned = 0;
    for (size_t i = 0; i < S_FIELDS_MAX && kind->fields [i].name; i++) {
        int code = s_field (&kind->fields [i], body, text_max, call, &nums, &owned, reason,
                            reasonlen);
        if (code)
            return code;
    }
    return 0;
}
