/*  report_api.h — the report's JSON API as pure functions: which route a
    URL names, and the response (status and JSON body) built from a store
    reply. No I/O here, so every answer can be unit tested. */
#ifndef REPORT_API_H
#define REPORT_API_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#define REPORT_CASE_ID_MAX 64       //  longest case id in a URL, in bytes
#define REPORT_URL_MAX 512          //  longest URL path we route

#define REPORT_ID_MAX 64            //  longest grid, unit, community or category id
#define REPORT_CURSOR_MAX 96        //  a page cursor: created ms, ':', a case id
#define REPORT_LIMIT_MAX 1000       //  most rows one page of /api/cases holds
#define REPORT_STATES_MAX 32        //  states of the lifecycle the report can list

typedef enum {
    REPORT_ROUTE_NOT_FOUND = 0,     //  no such path (404)
    REPORT_ROUTE_PAGE,              //  GET /: the screen page
    REPORT_ROUTE_STATS,             //  GET /api/stats
    REPORT_ROUTE_CASE,              //  GET /api/cases/<id>
    REPORT_ROUTE_HEALTH,            //  GET /healthz
    REPORT_ROUTE_BAD_ID,            //  /api/cases/<id> with an invalid id (400)
    REPORT_ROUTE_TOO_LONG,          //  URL longer than REPORT_URL_MAX (414)
    REPORT_ROUTE_CASES,             //  GET /api/cases: filters and paging
    REPORT_ROUTE_UNITS,             //  GET /api/units
    REPORT_ROUTE_SNAPSHOT,          //  GET /api/snapshot: what the screen shows
    REPORT_ROUTE_STREAM,            //  GET /api/stream: server-sent events
    REPORT_ROUTE_LEDGER,            //  GET /api/ledger.csv
    REPORT_ROUTE_METRICS,           //  GET /metrics
    REPORT_ROUTE_STATIC,            //  GET /static/<name>: a file of static_dir
    REPORT_ROUTE_COMMUNITY,         //  GET /api/community/<view>: the lists (report_community.h)
    REPORT_ROUTE_COMMUNITY_CSV,     //  GET /api/community/<ledger>.csv
    REPORT_ROUTE_MATTERS,           //  GET /api/matters: the board and the next meetings
    REPORT_ROUTE_MATTER,            //  GET /api/matters/<id>: one matter and its timeline
    REPORT_ROUTE_MEDIA              //  GET /media/<sha256>.<jpg|png>: a photo of media_dir
} report_route_t;

//  Match a URL path (no query string) to a route. For REPORT_ROUTE_CASE
//  and REPORT_ROUTE_MATTER the id is copied into id, which holds REPORT_CASE_ID_MAX + 1 bytes;
//  for REPORT_ROUTE_STATIC the file name, checked to be [A-Za-z0-9._-]
//  without a leading dot (else REPORT_ROUTE_NOT_FOUND).
report_route_t report_api_route (const char *path, char *id);

//  Filters of /api/cases, /api/stats and /api/ledger.csv.
typedef struct {
    long long from_ms;              //  created at or after, when has_from
    long long to_ms;                //  created before, when has_to
    bool has_from, has_to;          //  from and to were given (0 is a time too)
    char grid [REPORT_ID_MAX + 1];  //  "" = any
    char community [REPORT_ID_MAX + 1];
    char category [REPORT_ID_MAX + 1];
    char unit [REPORT_ID_MAX + 1];
    char states [160];              //  comma-separated states, "" = any
    bool open;                      //  only open cases
    char cursor [REPORT_CURSOR_MAX + 1]; //  paging: "<ms>:<case id>", "" = the top
    int limit;                      //  rows per page, 1..REPORT_LIMIT_MAX
} report_filter_t;

//  Read filters from query arguments through get (returns a value or NULL).
//  Times are Unix ms or a local date YYYY-MM-DD (utc_offset_min from the
//  street). Returns 0, or -1 with the problem in err.
int report_api_filter_parse (report_filter_t *filter,
                             const char *(*get) (void *ctx, const char *name), void *ctx,
                             int utc_offset_min, char *err, size_t errlen);

//  Decode a query argument as sent (%XX escapes, '+' for a blank) into
//  out, which holds size bytes with the NUL. Returns 0, or -1 when the
//  value does not fit or holds a bad escape or %00.
int report_api_arg_decode (const char *raw, char *out, size_t size);

//  The filters as the JSON argument of gc_report_cases, with this cursor
//  and limit. Caller frees; NULL on no memory.
char *report_api_filter_json (const report_filter_t *filter, const char *cursor, int limit);

//  True when the method is one the API serves (GET, and HEAD alike).
bool report_api_method_ok (const char *method);

//  True when id is 1..REPORT_CASE_ID_MAX bytes of [A-Za-z0-9._-].
bool report_api_case_id_valid (const char *id, size_t len);

//  Tier number (1..4) to its name ("GRID"..."DISTRICT"), or NULL; the
//  names are the wire contract's (proto enum Tier without "TIER_").
const char *report_api_tier_name (long long tier);

//  The index-th state of the lifecycle (0 = "REPORTED"), or NULL past the
//  last: the wire contract's CaseState without "STATE_" and UNSPECIFIED,
//  in enum order. Every list of states the report uses comes from here.
const char *report_api_state_name (size_t index);

//  True when name is a state of the lifecycle (report_api_state_name).
bool report_api_state_known (const char *name);

//  Build the answer to GET /api/cases/<id> from the gc_case_get reply
//  (NULL when Redis is unreachable). Sets *status to the HTTP status and
//  returns the JSON body; the caller decrefs it.
json_t *report_api_case_answer (const json_t *reply, int *status);

//  Same for GET /api/stats from the gc_stats reply.
//  The answer to GET /api/matters/<id> from a gc_matter_get reply: the
//  matter (200), UNKNOWN_MATTER (404) or a store failure.
json_t *report_api_matter_answer (const json_t *reply, int *status);

//  The answer to GET /api/matters from a gc_matters reply: the board by
//  stage and the next meetings (200), or a store failure.
json_t *report_api_matters_answer (const json_t *reply, int *status);

json_t *report_api_stats_answer (const json_t *reply, int *status);

//  Same for GET /healthz from any store reply (we use gc_stats).
json_t *report_api_health_answer (const json_t *reply, int *status);

//  Read an integer from a JSON integer, an integral real or a decimal
//  string (how Redis hashes hold counters). Returns false when it is none.
bool report_api_int (const json_t *json, long long *value);

//  An error body {"ok":false,"code":code,"message":message}; caller decrefs.
json_t *report_api_error (const char *code, const char *message);

//  The converters behind the answers, for callers that already checked
//  the reply: a case object (the "case" of gc_case_get) to the API's case,
//  and a gc_stats reply to the API's stats. NULL when the input is not an
//  object; the caller decrefs the result.
json_t *report_api_case (const json_t *store_case);

//  A photo of a case as a link: one uploaded to intake's doors
//  ("media:<sha256>.<ext>") at this server's /media/, a URL the reporter
//  gave as it is; NULL for anything else. report_api_media: a case's media
//  field (a JSON array in a string) as such links, [] when none.
json_t *report_api_media_link (const char *url);
json_t *report_api_media (const json_t *field);
json_t *report_api_stats (const json_t *store_stats);

#endif
