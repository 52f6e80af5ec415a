/*  intake_open311.c — Open311 GeoReport v2 (intake_open311.h). Every
    answer is built once as JSON and rendered as JSON or as the spec's XML.
    A POST requests becomes the wire's Report (channel OPEN311) and goes
    through the intake loop like any other report. */
#include "intake_open311.h"

#include <ctype.h>
#include <czmq.h>
#include <libxml/xmlwriter.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "codec.h"
#include "intake_media.h"
#include "street.h"
#include "log.h"

#define SPEC_URL "http://wiki.open311.org/GeoReport_v2"
#define LIST_DAYS_DEFAULT 90            //  GET requests without dates: the last 90 days
#define LIST_MAX 1000                   //  most requests one GET returns (the spec's)
#define IDS_MAX 100                     //  service_request_id values one GET may name
#define DAY_MS 86400000LL

//  ---------------------------------------------------------------------
//  Pure parts

int
intake_open311_split (const char *path, char *resource, size_t len, open311_format_t *format)
{
    const char *dot = strrchr (path, '.');
    if (!dot || strchr (dot, '/'))
        return -1;
    if (streq (dot, ".json"))
        *format = OPEN311_JSON;
    else
    if (streq (dot, ".xml"))
        *format = OPEN311_XML;
    else
        return -1;
    size_t n = (size_t) (dot - path);
    if (n == 0 || n >= len)
        return -1;
    memcpy (resource, path, n);
    resource [n] = 0;
    return 0;
}

void
intake_open311_time (int64_t ms, int offset_minutes, char *out, size_t outlen)
{
    time_t local = (time_t) ((ms + (int64_t) offset_minutes * 60000) / 1000);
    struct tm tm;
    gmtime_r (&local, &tm);
    int off = offset_minutes < 0 ? -offset_minutes : offset_minutes;
    snprintf (out, outlen, "%04d-%02d-%02dT%02d:%02d:%02d%c%02d:%02d", tm.tm_year + 1900,
              tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
              offset_minutes < 0 ? '-' : '+', off / 60, off % 60);
}

int
intake_open311_parse_time (const char *text, int offset_minutes, int64_t *ms)
{
    int y, mo, d, h = 0, mi = 0, s = 0, n = 0;
    if (sscanf (text, "%4d-%2d-%2d%n", &y, &mo, &d, &n) != 3 || n != 10)
        return -1;
    const char *rest = text + 10;
    int offset = offset_minutes;
    if (*rest) {
        int m = 0;
        if ((*rest != 'T' && *rest != ' ')
        ||  sscanf (rest + 1, "%2d:%2d:%2d%n", &h, &mi, &s, &m) != 3 || m != 8)
            return -1;
        rest += 9;
        if (*rest == '.')                       //  fractions of a second: ignored
            for (rest++; *rest >= '0' && *rest <= '9'; rest++)
                ;
        if (*rest == 'Z' && !rest [1])
            offset = 0;
        else
        if ((*rest == '+' || *rest == '-') && strlen (rest) == 6 && rest [3] == ':') {
            int oh, om;
            if (sscanf (rest + 1, "%2d:%2d", &oh, &om) != 2 || oh > 14 || om > 59)
                return -1;
            offset = (*rest == '-' ? -1 : 1) * (oh * 60 + om);
        }
        else
        if (*rest)
            return -1;
    }
    if (d < 1 || d > street_month_days (y, mo) || h > 23 || mi > 59 || s > 60 || y < 1970
    ||  y > 9999)
        return -1;
    //  days from civil (H. Hinnant)
    int yy = mo <= 2 ? y - 1 : y;
    int era = yy / 400;
    int yoe = yy - era * 400;
    int doy = (153 * (mo + (mo > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    int64_t days = (int64_t) era * 146097 + doe - 719468;
    *ms = ((days * 86400 + h * 3600 + mi * 60 + s) - (int64_t) offset * 60) * 1000;
    return 0;
}

const char *
intake_open311_status (const char *state)
{
    static const char *closed [] = { "VERIFIED", "CLOSED", "REJECTED", "DUPLICATE", "MERGED" };
    for (size_t i = 0; i < sizeof closed / sizeof closed [0]; i++)
        if (state && streq (state, closed [i]))
            return "closed";
    return "open";
}

//  The element name of the items of a nested array.
static const char *
s_item_of (const char *array)
{
    static const char *names [][2] = { { "attributes", "attribute" }, { "values", "value" },
        { "endpoints", "endpoint" }, { "formats", "format" } };
    for (size_t i = 0; i < sizeof names / sizeof names [0]; i++)
        if (streq (array, names [i][0]))
            return names [i][1];
    return "item";
}

static void s_xml_value (xmlTextWriterPtr w, const char *name, json_t *value);

//  Write text that XML 1.0 can carry: a control character text may not
//  hold (codec_text_control) or U+FFFE, U+FFFF, as a case stored before
//  such text was refused could hold, becomes U+FFFD.
static void
s_xml_text (xmlTextWriterPtr w, const char *text)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t len = strlen (text), bad = 0;
    for (size_t i = 0; i < len; i++)
        bad += codec_text_control (s [i])
            || (s [i] == 0xEF && i + 2 < len && s [i + 1] == 0xBF && (s [i + 2] & 0xFE) == 0xBE);
    if (!bad) {
        xmlTextWriterWriteString (w, BAD_CAST text);
        return;
    }
    char *clean = malloc (len + bad * 3 + 1);
    if (!clean)
        return;
    size_t n = 0;
    for (size_t i = 0; i < len; i++) {
        bool control = codec_text_control (s [i]);
        bool nonchar = s [i] == 0xEF && i + 2 < len && s [i + 1] == 0xBF
                    && (s [i + 2] & 0xFE) == 0xBE;
        if (control || nonchar) {
            memcpy (clean + n, "\xEF\xBF\xBD", 3);
            n += 3;
            i += nonchar ? 2 : 0;
        }
        else
            clean [n++] = (char) s [i];
    }
    clean [n] = 0;
    xmlTextWriterWriteString (w, BAD_CAST clean);
    free (clean);
}

static void
s_xml_members (xmlTextWriterPtr w, json_t *object)
{
    const char *key;
    json_t *v;
    json_object_foreach (object, key, v)
        s_xml_value (w, key, v);
}

static void
s_xml_value (xmlTextWriterPtr w, const char *name, json_t *value)
{
    xmlTextWriterStartElement (w, BAD_CAST name);
    if (json_is_object (value))
        s_xml_members (w, value);
    else
    if (json_is_array (value)) {
        size_t i;
        json_t *item;
        json_array_foreach (value, i, item)
            s_xml_value (w, s_item_of (name), item);
    }
    else
    if (json_is_string (value))
        s_xml_text (w, json_string_value (value));
    else
    if (json_is_true (value) || json_is_false (value))
        xmlTextWriterWriteString (w, BAD_CAST (json_is_true (value) ? "true" : "false"));
    else
    if (json_is_integer (value))
        xmlTextWriterWriteFormatString (w, "%lld", (long long) json_integer_value (value));
    else
    if (json_is_real (value))
        xmlTextWriterWriteFormatString (w, "%.9g", json_real_value (value));
    xmlTextWriterEndElement (w);
}

char *
intake_open311_xml (json_t *doc, const char *root, const char *item, size_t *len)
{
    xmlBufferPtr buf = xmlBufferCreate ();
    xmlTextWriterPtr w = buf ? xmlNewTextWriterMemory (buf, 0) : NULL;
    char *out = NULL;
    if (w) {
        xmlTextWriterStartDocument (w, "1.0", "UTF-8", NULL);
        xmlTextWriterStartElement (w, BAD_CAST root);
        if (json_is_array (doc)) {
            size_t i;
            json_t *v;
            json_array_foreach (doc, i, v)
                s_xml_value (w, item, v);
        }
        else
            s_xml_members (w, doc);
        xmlTextWriterEndElement (w);
        xmlTextWriterEndDocument (w);
        xmlFreeTextWriter (w);
        out = strdup ((const char *) xmlBufferContent (buf));
        *len = out ? strlen (out) : 0;
    }
    if (buf)
        xmlBufferFree (buf);
    return out;
}

//  ---------------------------------------------------------------------
//  Answers

static open311_format_t
s_format_of (const intake_door_req_t *req)
{
    size_t len = strlen (req->url);
    return len > 4 && streq (req->url + len - 4, ".xml") ? OPEN311_XML : OPEN311_JSON;
}

//  Answer req with doc (decref'd) in format: XML with root and item.
static void
s_answer (intake_door_req_t *req, int status, open311_format_t format, json_t *doc,
          const char *root, const char *item)
{
    free (req->answer);
    req->answer = NULL;
    if (!doc) {
        //  a value json_pack refused (not UTF-8): said in the format asked for
        log_warning ("intake: open311 %s \"%.80s\": the answer could not be built",
                     req->method, req->url);
        status = 500;
        doc = json_pack ("[{s:i, s:s}]", "code", status, "description",
                         "the answer could not be built");
        root = "errors";
        item = "error";
    }
    if (format == OPEN311_XML) {
        req->answer = doc ? intake_open311_xml (doc, root, item, &req->answer_len) : NULL;
        req->answer_type = "text/xml; charset=utf-8";
    }
    else {
        req->answer = doc ? json_dumps (doc, JSON_COMPACT | JSON_REAL_PRECISION (15)) : NULL;
        req->answer_len = req->answer ? strlen (req->answer) : 0;
        req->answer_type = "application/json; charset=utf-8";
    }
    json_decref (doc);
    req->status = req->answer ? status : 500;
}

void
intake_open311_error (intake_door_req_t *req, int status, const char *description)
{
    s_answer (req, status, s_format_of (req),
              json_pack ("[{s:i, s:s}]", "code", status, "description", description),
              "errors", "error");
}

//  The spec's HTTP code for one of our error codes: 404 for what is not
//  found, 403 for what is not allowed, 400 for the rest of a client's
//  mistakes.
static int
s_status_of (int code)
{
    switch (code) {
        case GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_CATEGORY:
        case GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_CASE:
            return 404;
        case GRIDCALL__V1__ERROR_CODE__ERROR_NOT_PERMITTED:
            return 403;
        case GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE:
            return 503;
        case GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL:
            return 500;
        default:
            return 400;
    }
}

//  ---------------------------------------------------------------------
//  The directory as services

static json_t *
s_category (json_t *dir, const char *code)
{
    size_t i;
    json_t *c;
    json_array_foreach (json_object_get (dir, "categories"), i, c)
        if (streq (json_string_value (json_object_get (c, "code")), code))
            return c;
    return NULL;
}

static int
s_offset (json_t *dir)
{
    return (int) json_integer_value (json_object_get (json_object_get (dir, "street"),
                                                      "utc_offset_minutes"));
}

//  A category as a service of GET services.
static json_t *
s_service (json_t *c)
{
    const char *kind = json_string_value (json_object_get (c, "kind"));
    bool service = kind && streq (kind, "service");
    const char *name = json_string_value (json_object_get (c, "name"));
    const char *description = json_string_value (json_object_get (c, "description"));
    char text [256];
    if (!description) {
        snprintf (text, sizeof text, "%s：%s（%s级受理）", service ? "服务卡" : "事件", name,
                  json_string_value (json_object_get (c, "start_tier")));
        description = text;
    }
    char keywords [160];
    snprintf (keywords, sizeof keywords, "%s, %s", json_string_value (json_object_get (c, "code")),
              kind ? kind : "incident");
    return json_pack ("{s:O, s:s, s:s, s:b, s:s, s:s, s:s}",
                      "service_code", json_object_get (c, "code"), "service_name", name,
                      "description", description, "metadata", 1, "type", "realtime",
                      "keywords", keywords, "group", service ? "服务卡" : "事件");
}

//  A category's definition: its attributes (every service has them: the
//  building and the grid when the place does not tell; a service-card
//  item also the appointment wished).
static json_t *
s_definition (json_t *dir, json_t *c)
{
    json_t *grids = json_array ();
    size_t i;
    json_t *g;
    json_array_foreach (json_object_get (dir, "grids"), i, g)
        json_array_append_new (grids, json_pack ("{s:O, s:O}", "key", json_object_get (g, "id"),
                                                 "name", json_object_get (g, "name")));
    json_t *attributes = json_pack ("[{s:b, s:s, s:s, s:b, s:n, s:i, s:s}, "
                                    "{s:b, s:s, s:s, s:b, s:s, s:i, s:s, s:o}]",
        "variable", 1, "code", "building", "datatype", "string", "required", 0,
        "datatype_description", "order", 1, "description",
        "楼栋编号（目录中的楼栋 id，如 B0101）— the building id of the directory",
        "variable", 1, "code", "grid", "datatype", "singlevaluelist", "required", 0,
        "datatype_description", "a grid id; only when no lat/long, address_id or address_string "
        "places the report", "order", 2, "description", "网格 — the grid, when the place does not "
        "tell it", "values", grids);
    const char *kind = json_string_value (json_object_get (c, "kind"));
    if (kind && streq (kind, "service"))
        json_array_append_new (attributes, json_pack ("{s:b, s:s, s:s, s:b, s:s, s:i, s:s}",
            "variable", 1, "code", "appointment", "datatype", "datetime", "required", 0,
            "datatype_description", "ISO 8601, e.g. 2026-12-01T09:00:00+08:00", "order", 3,
            "description", "期望预约时间 — the appointment wished"));
    return json_pack ("{s:O, s:o}", "service_code", json_object_get (c, "code"),
                      "attributes", attributes);
}

static void
s_discovery (intake_door_req_t *req, open311_format_t format)
{
    const char *host = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Host");
    //  a host name, an address and a port; anything else is not echoed
    if (host && (!*host || strlen (host) > 200
             ||  host [strspn (host, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
                                     "0123456789.-:[]")]))
        host = NULL;
    char url [300];
    snprintf (url, sizeof url, "http://%.200s/open311/v2/", host ? host : "localhost");
    json_t *doc = json_pack ("{s:s, s:s, s:s, s:[{s:s, s:s, s:s, s:s, s:[s, s]}]}",
        "changeset", "2026-11-29T00:00:00Z",
        "contact", "天骄街道网格化服务管理中心 — the street's grid service centre",
        "key_service", "API keys are issued by the street's administrator (gridcall keys api-key)",
        "endpoints", "specification", SPEC_URL, "url", url, "changeset", "2026-11-29T00:00:00Z",
        "type", "production", "formats", "text/xml", "application/json");
    s_answer (req, 200, format, doc, "discovery", "endpoint");
}

//  ---------------------------------------------------------------------
//  Requests

//  A case row of gc_door_cases as an Open311 request.
static json_t *
s_request (json_t *dir, json_t *row, const char *media_base)
{
    int offset = s_offset (dir);
    char requested [40], updated [40], expected [40];
    intake_open311_time (json_integer_value (json_object_get (row, "created")), offset,
                         requested, sizeof requested);
    intake_open311_time (json_integer_value (json_object_get (row, "updated")), offset,
                         updated, sizeof updated);
    json_int_t due = json_integer_value (json_object_get (row, "resolve_by"));
    const char *state = json_string_value (json_object_get (row, "state"));
    const char *status = intake_open311_status (state);
    if (due)
        intake_open311_time (due, offset, expected, sizeof expected);
    const char *code = json_string_value (json_object_get (row, "category"));
    json_t *c = s_category (dir, code);
    char notes [600];
    const char *what = json_string_value (json_object_get (row, "last_what"));
    const char *note = json_string_value (json_object_get (row, "last_note"));
    snprintf (notes, sizeof notes, "%s%s%s%s", state, what && *what ? " (" : "",
              what && *what ? what : "", what && *what ? ")" : "");
    if (note && *note)
        snprintf (notes + strlen (notes), sizeof notes - strlen (notes), ": %s", note);
    //  the unit that has the case, by its directory name
    const char *unit = json_string_value (json_object_get (row, "unit"));
    const char *agency = NULL;
    size_t i;
    json_t *u;
    json_array_foreach (json_object_get (dir, "units"), i, u)
        if (unit && streq (json_string_value (json_object_get (u, "id")), unit))
            agency = json_string_value (json_object_get (u, "name"));
    const char *merged = json_string_value (json_object_get (row, "merged_into"));
    char notice [200];
    snprintf (notice, sizeof notice, "merged into %s", merged ? merged : "");
    const char *building = json_string_value (json_object_get (row, "building"));
    const char *location = json_string_value (json_object_get (row, "location"));
    json_t *media = json_array_get (json_object_get (row, "media"), 0);
    char media_url [INTAKE_MEDIA_URL_MAX + 200] = "";
    if (json_is_string (media)) {
        const char *m = json_string_value (media);
        if (strncmp (m, "media:", 6) == 0 && *media_base)
            snprintf (media_url, sizeof media_url, "%s%s", media_base, m + 6);
        else
            snprintf (media_url, sizeof media_url, "%s", m);
    }
    json_t *out = json_pack ("{s:O, s:s, s:s, s:s?, s:s?, s:s?, s:s?, s:s?, s:s, s:s, s:s?}",
        "service_request_id", json_object_get (row, "id"), "status", status,
        "status_notes", notes,
        "service_name", c ? json_string_value (json_object_get (c, "name")) : code,
        "service_code", code,
        "description", json_string_value (json_object_get (row, "text")),
        "agency_responsible", agency ? agency : (unit && *unit ? unit : NULL),
        "service_notice", merged && *merged ? notice : NULL,
        "requested_datetime", requested, "updated_datetime", updated,
        "expected_datetime", due && streq (status, "open") ? expected : NULL);
    json_object_set_new (out, "address", location && *location ? json_string (location)
                                       : json_null ());
    json_object_set_new (out, "address_id", building && *building ? json_string (building)
                                          : json_null ());
    json_object_set_new (out, "zipcode", json_null ());
    const char *lat = json_string_value (json_object_get (row, "lat"));
    const char *lon = json_string_value (json_object_get (row, "lon"));
    json_object_set_new (out, "lat", lat && *lat ? json_real (atof (lat)) : json_null ());
    json_object_set_new (out, "long", lon && *lon ? json_real (atof (lon)) : json_null ());
    json_object_set_new (out, "media_url", *media_url ? json_string (media_url) : json_null ());
    return out;
}

//  A form value, or NULL when absent or empty.
static const char *
s_field (intake_door_req_t *req, const char *name)
{
    const char *v = json_string_value (json_object_get (req->form, name));
    return v && *v ? v : NULL;
}

//  A coordinate: -1 when absent, 0 when read into *out, 1 when malformed
//  or out of [-limit, limit].
static int
s_coordinate (const char *text, double limit, double *out)
{
    if (!text)
        return -1;
    char *end;
    double v = strtod (text, &end);
    if (end == text || *end || !isfinite (v) || v < -limit || v > limit)
        return 1;
    *out = v;
    return 0;
}

//  POST requests
static void
s_post_request (intake_http_t *http, intake_door_req_t *req, open311_format_t format, json_t *dir)
{
    const char *code = s_field (req, "service_code");
    if (!code) {
        intake_open311_error (req, 400, "service_code is required");
        return;
    }
    json_t *c = s_category (dir, code);
    if (!c) {
        intake_open311_error (req, 404, "service_code not found");
        return;
    }
    Gridcall__V1__Report r = GRIDCALL__V1__REPORT__INIT;
    double lat = 0, lon = 0;
    int has_lat = s_coordinate (s_field (req, "lat"), 90, &lat);
    int has_lon = s_coordinate (s_field (req, "long"), 180, &lon);
    if (has_lat == 1 || has_lon == 1) {
        intake_open311_error (req, 400, has_lat == 1 ? "lat must be a number in [-90, 90]"
                                                     : "long must be a number in [-180, 180]");
        return;
    }
    if ((has_lat == 0) != (has_lon == 0)) {
        intake_open311_error (req, 400, "lat and long go together");
        return;
    }
    r.address_id = (char *) (s_field (req, "address_id") ? s_field (req, "address_id") : "");
    r.address_string = (char *) (s_field (req, "address_string")
                                 ? s_field (req, "address_string") : "");
    if (has_lat != 0 && !*r.address_id && !*r.address_string) {
        intake_open311_error (req, 400, "a location is required: lat and long, address_string "
                              "or address_id");
        return;
    }
    Gridcall__V1__GeoPoint point = GRIDCALL__V1__GEO_POINT__INIT;
    if (has_lat == 0) {
        point.lat = lat;
        point.lon = lon;
        r.point = &point;
    }
    char key [CODEC_KEY_MAX + 1];
    const char *given = MHD_lookup_connection_value (req->conn, MHD_HEADER_KIND, "Idempotency-Key");
    if (given && strlen (given) > CODEC_KEY_MAX) {
        //  a key dropped would make the client's retry a second case
        intake_open311_error (req, 400, "Idempotency-Key is longer than 128 bytes");
        return;
    }
    if (given)
        snprintf (key, sizeof key, "%s", given);
    else
        intake_http_random_key (key, sizeof key);
    r.idempotency_key = key;
    r.category = (char *) code;
    r.channel = GRIDCALL__V1__CHANNEL__CHANNEL_OPEN311;
    r.grid = (char *) (s_field (req, "attribute[grid]") ? s_field (req, "attribute[grid]") : "");
    r.building = (char *) (s_field (req, "attribute[building]")
                           ? s_field (req, "attribute[building]") : "");
    r.location = r.address_string;
    //  the text: the description, and the appointment wished
    const char *description = s_field (req, "description");
    const char *appointment = s_field (req, "attribute[appointment]");
    int64_t wished;
    if (appointment && intake_open311_parse_time (appointment, s_offset (dir), &wished)) {
        intake_open311_error (req, 400, "attribute[appointment] must be an ISO 8601 date-time");
        return;
    }
    char *text = NULL;
    if (asprintf (&text, "%s%s%s", description ? description
                  : json_string_value (json_object_get (c, "name")),
                  appointment ? "\n期望预约时间: " : "", appointment ? appointment : "") < 0) {
        intake_open311_error (req, 500, "out of memory");
        return;
    }
    r.text = text;
    //  the reporter: name (family name first), phone, else e-mail or device
    const char *first = s_field (req, "first_name"), *last = s_field (req, "last_name");
    const char *phone = s_field (req, "phone"), *email = s_field (req, "email");
    //  "欧阳娜", but "Smith Alexandra": a space only between Latin names
    bool latin = last && first && isalnum ((unsigned char) last [strlen (last) - 1])
              && isalnum ((unsigned char) first [0]);
    char *reporter = NULL;
    if (asprintf (&reporter, "%s%s%s%s%s", last ? last : "", latin ? " " : "",
                  first ? first : "", (last || first) && (phone || email) ? " " : "",
                  phone ? phone : email ? email : "") < 0) {
        free (text);
        intake_open311_error (req, 500, "out of memory");
        return;
    }
    if (strlen (reporter) > CODEC_NAME_MAX) {
        //  cut, it would lose the phone or split a character
        char reason [160];
        snprintf (reason, sizeof reason, "last_name, first_name and phone (or email) are %zu "
                  "bytes together, more than %d", strlen (reporter), CODEC_NAME_MAX);
        free (reporter);
        free (text);
        intake_open311_error (req, 400, reason);
        return;
    }
    r.reporter = reporter;
    char *urls [1] = { (char *) s_field (req, "media_url") };
    if (urls [0]) {
        r.media_urls = urls;
        r.n_media_urls = 1;
    }
    codec_msg_t reply;
    memset (&reply, 0, sizeof reply);
    int rc = intake_http_call (http, req, "report", &r.base, &reply);
    free (text);
    free (reporter);
    if (rc) {
        //  not known to be registered: a token could name nothing; retry
        snprintf (req->retry_after, sizeof req->retry_after, "1");
        intake_open311_error (req, 503, rc == INTAKE_HTTP_STOPPING ? INTAKE_HTTP_STOPPING_TEXT
                              : "intake did not answer in time; retry (with the same "
                                "Idempotency-Key, if one was sent)");
        return;
    }
    if (!reply.body)
        intake_open311_error (req, 400, reply.reason);
    else
    if (streq (reply.type, "error")) {
        const Gridcall__V1__Error *e = (const Gridcall__V1__Error *) reply.body;
        //  registered, not yet on enough replicas: the token finds it
        if (e->code == GRIDCALL__V1__ERROR_CODE__ERROR_UNAVAILABLE
        &&  strncmp (e->message, "registered", 10) == 0)
            s_answer (req, 200, format, json_pack ("[{s:s}]", "token", key), "service_requests",
                      "request");
        else
            intake_open311_error (req, s_status_of (e->code), e->message);
    }
    else {
        const Gridcall__V1__ReportReply *rr = (const Gridcall__V1__ReportReply *) reply.body;
        char notice [600] = "";
        for (size_t i = 0; i < rr->n_possible_duplicates; i++)
            snprintf (notice + strlen (notice), sizeof notice - strlen (notice), "%s%s",
                      i ? ", " : "可能重复 possible duplicates: ", rr->possible_duplicates [i]);
        json_t *out = json_pack ("[{s:s, s:s?, s:n}]", "service_request_id", rr->case_id,
                                 "service_notice", *notice ? notice : NULL, "account_id");
        if (!*notice)
            json_object_set_new (json_array_get (out, 0), "service_notice", json_null ());
        s_answer (req, 200, format, out, "service_requests", "request");
    }
    codec_msg_reset (&reply);
}

//  GET requests (and requests/{id} with one id): the cases of this key's
//  principal (every case for an admin).
static void
s_get_requests (intake_http_t *http, intake_door_req_t *req, open311_format_t format,
                json_t *dir, const char *one)
{
    json_t *filters = json_object ();
    if (req->role != AUTH_ROLE_ADMIN)
        json_object_set_new (filters, "via", json_string (req->label));
    const char *ids = one ? one : s_field (req, "service_request_id");
    if (ids) {
        json_t *list = json_array ();
        char *copy = strdup (ids), *save = NULL;
        for (char *id = copy ? strtok_r (copy, ",", &save) : NULL; id;
             id = strtok_r (NULL, ",", &save))
            if (json_array_size (list) < IDS_MAX && codec_id_valid (id, CODEC_ID_MAX))
                json_array_append_new (list, json_string (id));
        free (copy);
        json_object_set_new (filters, "ids", list);
    }
    else {
        const char *code = s_field (req, "service_code");
        if (code) {
            if (!s_category (dir, code)) {
                json_decref (filters);
                intake_open311_error (req, 404, "service_code not found");
                return;
            }
            json_object_set_new (filters, "category", json_string (code));
        }
        int64_t from = 0, to = 0;
        const char *start = s_field (req, "start_date"), *end = s_field (req, "end_date");
        if ((start && intake_open311_parse_time (start, s_offset (dir), &from))
        ||  (end && intake_open311_parse_time (end, s_offset (dir), &to))) {
            json_decref (filters);
            intake_open311_error (req, 400, "start_date and end_date must be ISO 8601 date-times");
            return;
        }
        if (!start && !end)
            from = (int64_t) zclock_time () - LIST_DAYS_DEFAULT * DAY_MS;
        if (from)
            json_object_set_new (filters, "from", json_integer (from));
        if (end)
            json_object_set_new (filters, "to", json_integer (to + 1));
        const char *status = s_field (req, "status");
        if (status && (strstr (status, "open") != NULL) != (strstr (status, "closed") != NULL))
            json_object_set_new (filters, "open", json_boolean (strstr (status, "open") != NULL));
        else
        if (status && !strstr (status, "open")) {
            json_decref (filters);
            intake_open311_error (req, 400, "status must be open, closed or both");
            return;
        }
        json_object_set_new (filters, "limit", json_integer (LIST_MAX));
    }
    json_t *reply = intake_http_cases (http, filters);
    if (!json_is_true (json_object_get (reply, "ok"))) {
        json_decref (reply);
        intake_open311_error (req, 503, "the case store is unavailable; retry");
        return;
    }
    json_t *items = json_object_get (reply, "items");
    if (one && json_array_size (items) == 0) {
        json_decref (reply);
        intake_open311_error (req, 404, "service_request_id not found");
        return;
    }
    json_t *out = json_array ();
    size_t i;
    json_t *row;
    const char *base = intake_http_media_base (http);
    json_array_foreach (items, i, row)
        json_array_append_new (out, s_request (dir, row, base));
    json_decref (reply);
    s_answer (req, 200, format, out, "service_requests", "request");
}

//  GET tokens/{token}: the request a token (the report's idempotency key
//  under this key's principal) became.
static void
s_get_token (intake_http_t *http, intake_door_req_t *req, open311_format_t format,
             const char *token)
{
    if (!codec_id_valid (token, CODEC_KEY_MAX)) {
        intake_open311_error (req, 404, "token not found");
        return;
    }
    json_t *reply = intake_http_cases (http, json_pack ("{s:s, s:s}", "token", token, "via",
                                                        req->label));
    json_t *row = json_array_get (json_object_get (reply, "items"), 0);
    if (!json_is_true (json_object_get (reply, "ok")))
        intake_open311_error (req, 503, "the case store is unavailable; retry");
    else
    if (!row)
        intake_open311_error (req, 404, "token not found");
    else
        s_answer (req, 200, format, json_pack ("[{s:O, s:s}]", "service_request_id",
                  json_object_get (row, "id"), "token", token), "service_requests", "request");
    json_decref (reply);
}

bool
intake_open311_public (const intake_door_req_t *req)
{
    return streq (req->method, "GET")
        && (strncmp (req->path, "discovery.", 10) == 0 || strncmp (req->path, "services.", 9) == 0
        ||  strncmp (req->path, "services/", 9) == 0);
}

void
intake_open311_serve (intake_http_t *http, intake_door_req_t *req)
{
    char resource [256];
    open311_format_t format;
    if (intake_open311_split (req->path, resource, sizeof resource, &format)) {
        intake_open311_error (req, 404, "no such resource: Open311 paths end in .json or .xml");
        return;
    }
    bool get = streq (req->method, "GET"), post = streq (req->method, "POST");
    if (get && streq (resource, "discovery")) {
        s_discovery (req, format);
        return;
    }
    json_t *dir = intake_http_directory (http);
    if (!dir) {
        intake_open311_error (req, 503, "the directory is not loaded yet; retry");
        return;
    }
    if (get && streq (resource, "services")) {
        json_t *out = json_array ();
        size_t i;
        json_t *c;
        json_array_foreach (json_object_get (dir, "categories"), i, c)
            json_array_append_new (out, s_service (c));
        s_answer (req, 200, format, out, "services", "service");
    }
    else
    if (get && strncmp (resource, "services/", 9) == 0) {
        json_t *c = s_category (dir, resource + 9);
        if (c)
            s_answer (req, 200, format, s_definition (dir, c), "service_definition", "attribute");
        else
            intake_open311_error (req, 404, "service_code not found");
    }
    else
    if (post && streq (resource, "requests"))
        s_post_request (http, req, format, dir);
    else
    if (get && streq (resource, "requests"))
        s_get_requests (http, req, format, dir, NULL);
    else
    if (get && strncmp (resource, "requests/", 9) == 0)
        s_get_requests (http, req, format, dir, resource + 9);
    else
    if (get && strncmp (resource, "tokens/", 7) == 0)
        s_get_token (http, req, format, resource + 7);
    else
        intake_open311_error (req, get || post ? 404 : 405, "no such resource (docs/open311.md)");
    json_decref (dir);
}
