/*  intake_open311.h — Open311 GeoReport v2 on intake's HTTP doors
    (/open311/v2/, docs/open311.md): discovery, services and their
    definitions from the directory's categories, POST requests (a report
    through the same loop as every other), GET requests, requests/{id} and
    tokens/{token}; JSON and XML (libxml2's xmlTextWriter). The pure parts
    (formats, times, states, the document writer) are here for unit tests. */
#ifndef INTAKE_OPEN311_H
#define INTAKE_OPEN311_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "intake_http.h"

typedef enum { OPEN311_JSON, OPEN311_XML } open311_format_t;

//  True for the routes the spec leaves open (GET discovery, services,
//  services/{code}): served without an API key.
bool intake_open311_public (const intake_door_req_t *req);
//  Serve req (path: the url after "/open311/v2/").
void intake_open311_serve (intake_http_t *http, intake_door_req_t *req);
//  Answer req with the spec's error list [{code, description}] in the
//  format its url ends in (JSON unless ".xml").
void intake_open311_error (intake_door_req_t *req, int status, const char *description);

//  Split "services/env.noise.xml" into its resource ("services/env.noise")
//  and format. Returns 0, or -1 when the url does not end in .json or .xml.
int intake_open311_split (const char *path, char *resource, size_t len, open311_format_t *format);
//  Unix ms as ISO 8601 with the street's offset: "2026-11-29T08:30:00+08:00"
//  into out (32 bytes).
void intake_open311_time (int64_t ms, int offset_minutes, char *out, size_t outlen);
//  An ISO 8601 date-time ("2026-11-29T08:30:00+08:00", "...Z", or a date
//  "2026-11-29" at 00:00 in the street's offset) as Unix ms into *ms.
//  Returns 0, or -1 when text is not one.
int intake_open311_parse_time (const char *text, int offset_minutes, int64_t *ms);
//  The spec's status of one of our states: "closed" or "open".
const char *intake_open311_status (const char *state);
//  Render doc (a JSON value of arrays and objects) as the spec's XML: the
//  top array as <root> of <item>s, nested arrays by their member names
//  (attributes/attribute, values/value, endpoints/endpoint,
//  formats/format), null as an empty element. Returns malloc'd text.
char *intake_open311_xml (json_t *doc, const char *root, const char *item, size_t *len);

#endif
