/*  report_community.h — the community's lists, views and scorecards over
    HTTP (docs/report-api.md, "Community"): GET /api/community/<view> as
    JSON and GET /api/community/<ledger>.csv as CSV for Excel, both read
    through gc_community_read (70_community.lua). */
#ifndef REPORT_COMMUNITY_H
#define REPORT_COMMUNITY_H

#include <jansson.h>
#include <stdbool.h>

#include "store.h"

//  The JSON answer of view with its arguments (arg: a unit, person,
//  survey, grid or team id; quarter "2026Q3"; either may be NULL). Sets
//  *status (an HTTP code). The caller frees the answer.
json_t *report_community_json (store_t *store, const char *view, const char *arg,
                               const char *quarter, int *status);

//  The ledger as CSV text: BOM, header, rows, CRLF line ends, cells that
//  look like formulas made text. NULL with *status and *error (the caller
//  frees it) when the store failed or the ledger is unknown.
char *report_community_csv (store_t *store, const char *ledger, const char *quarter,
                            int *status, json_t **error);

#endif
