/*  intake_check.c — request validation for intake. */
#include "intake_check.h"

#include <math.h>
#include <stdio.h>
#include <string.h>

#include "codec.h"

//  What a field holds: an id (it reaches Redis key names), a person's
//  name (it reaches log lines and audiences), or free text.
typedef enum { F_TEXT, F_ID, F_NAME } field_kind_t;

typedef struct {
    const char *name;           //  field name as the sender knows it
    const char *value;
    size_t max;                 //  bytes
    int required;
    field_kind_t kind;
} field_t;

//  Check each field in order; the first problem wins.
static int
s_fields (const field_t *fields, size_t count, char *reason, size_t reasonlen)
{
    for (size_t i = 0; i < count; i++) {
        const field_t *f = &fields [i];
        if (f->required && (!f->value || !*f->value)) {
            snprintf (reason, reasonlen, "%s is required", f->name);
            return GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
        }
        int rc = f->kind == F_ID ? codec_check_id (f->name, f->value, f->max, reason, reasonlen)
               : f->kind == F_NAME ? codec_check_name (f->name, f->value, f->max, reason, reasonlen)
               : codec_check_text (f->name, f->value, f->max, reason, reasonlen);
        if (rc)
            return rc;
    }
    return 0;
}

int
intake_check_report (const Gridcall__V1__Report *report, size_t text_max,
                     char *reason, size_t reasonlen)
{
    //  a place (point, building or address) stands for the grid: the
    //  transition resolves it over the directory's geometry
    bool place = report->point || (report->address_id && *report->address_id)
              || (report->address_string && *report->address_string)
              || (report->building && *report->building);
    const field_t fields [] = {
        { "idempotency_key", report->idempotency_key, INTAKE_KEY_MAX, 1, F_ID },
        { "grid", report->grid, INTAKE_ID_MAX, 0, F_ID },
        { "category", report->category, INTAKE_ID_MAX, 1, F_ID },
        { "text", report->text, text_max, 1, F_TEXT },
        { "reporter", report->reporter, INTAKE_NAME_MAX, 0, F_NAME },
        { "building", report->building, INTAKE_ID_MAX, 0, F_ID },
        { "location", report->location, INTAKE_PLACE_MAX, 0, F_TEXT },
        { "address_id", report->address_id, INTAKE_ID_MAX, 0, F_ID },
        { "address_string", report->address_string, INTAKE_PLACE_MAX, 0, F_TEXT },
    };
    int rc = s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
    if (rc)
        return rc;
    if (!place && !(report->grid && *report->grid)) {
        snprintf (reason, reasonlen, "grid is required, or a place: point, address_id, "
                  "address_string or building");
        return GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
    }
    if (report->point) {
        double lat = report->point->lat, lon = report->point->lon;
        if (!isfinite (lat) || lat < -90 || lat > 90) {
            snprintf (reason, reasonlen, "point.lat %g is outside -90..90", lat);
            return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
        if (!isfinite (lon) || lon < -180 || lon > 180) {
            snprintf (reason, reasonlen, "point.lon %g is outside -180..180", lon);
            return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
    }
    if ((int) report->channel < 0 || report->channel > GRIDCALL__V1__CHANNEL__CHANNEL_OPERATOR) {
        snprintf (reason, reasonlen, "channel %d is not a known channel", (int) report->channel);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    return 0;
}

int
intake_check_verify (const Gridcall__V1__Verify *verify, size_t text_max,
                     char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "case_id", verify->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "note", verify->note, text_max, 0, F_TEXT },
        { "verifier", verify->verifier, INTAKE_NAME_MAX, 0, F_NAME },
    };
    return s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
}

int
intake_check_evaluate (const Gridcall__V1__Evaluate *evaluate, size_t text_max,
                       char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "case_id", evaluate->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "comment", evaluate->comment, text_max, 0, F_TEXT },
        { "resident", evaluate->resident, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
    if (rc)
        return rc;
    if (evaluate->score < 1 || evaluate->score > 5) {
        snprintf (reason, reasonlen, "score %u is outside 1..5", evaluate->score);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    return 0;
}

int
intake_check_decision (const Gridcall__V1__ExtendDecision *decision, size_t text_max,
                       char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "case_id", decision->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", decision->operator_, INTAKE_NAME_MAX, 1, F_NAME },
        { "reason", decision->reason, text_max, 1, F_TEXT },
    };
    int rc = s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
    if (rc)
        return rc;
    if (decision->verb < GRIDCALL__V1__EXTEND_VERB__EXTEND_APPROVE
    ||  decision->verb > GRIDCALL__V1__EXTEND_VERB__EXTEND_DIRECT) {
        snprintf (reason, reasonlen, "verb %d is not approve, refuse or direct", (int) decision->verb);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    if (decision->verb == GRIDCALL__V1__EXTEND_VERB__EXTEND_DIRECT && decision->until_ms == 0) {
        snprintf (reason, reasonlen, "until_ms is required and positive for a direct extension");
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    //  0 approves the deadline as asked; the transition bounds it by the case clock
    return codec_check_time ("until_ms", decision->until_ms, true, reason, reasonlen);
}

int
intake_check_park (const Gridcall__V1__Park *park, size_t text_max, char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "case_id", park->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", park->operator_, INTAKE_NAME_MAX, 1, F_NAME },
        { "reason", park->reason, text_max, 1, F_TEXT },
    };
    int rc = s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
    if (rc)
        return rc;
    if (park->review_ms == 0) {
        snprintf (reason, reasonlen, "review_ms is required: when the case comes back");
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    return codec_check_time ("review_ms", park->review_ms, false, reason, reasonlen);
}

int
intake_check_unpark (const Gridcall__V1__Unpark *unpark, size_t text_max,
                     char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "case_id", unpark->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", unpark->operator_, INTAKE_NAME_MAX, 1, F_NAME },
        { "reason", unpark->reason, text_max, 0, F_TEXT },
    };
    return s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
}

int
intake_check_order (const Gridcall__V1__OrderDecision *order, size_t text_max,
                    char *reason, size_t reasonlen)
{
    //  a declined order tells its resident why
    const field_t fields [] = {
        { "case_id", order->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", order->operator_, INTAKE_NAME_MAX, 1, F_NAME },
        { "reason", order->reason, text_max, !order->place, F_TEXT },
    };
    return s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
}

int
intake_check_merge (const Gridcall__V1__Merge *merge, size_t text_max,
                    char *reason, size_t reasonlen)
{
    const field_t fields [] = {
        { "keep_case_id", merge->keep_case_id, INTAKE_ID_MAX, 1, F_ID },
        { "duplicate_case_id", merge->duplicate_case_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", merge->operator_, INTAKE_NAME_MAX, 1, F_NAME },
        { "note", merge->note, text_max, 0, F_TEXT },
    };
    int rc = s_fields (fields, sizeof fields / sizeof fields [0], reason, reasonlen);
    if (rc)
        return rc;
    if (strcmp (merge->keep_case_id, merge->duplicate_case_id) == 0) {
        snprintf (reason, reasonlen, "a case cannot be merged into itself");
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    return 0;
}
