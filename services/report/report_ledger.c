/*  report_ledger.c — CSV rows of the ledger: RFC 4180 quoting, CRLF line
    ends, local times, Chinese labels, and cells that would start a
    spreadsheet formula prefixed with an apostrophe. */
#include "report_ledger.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "log.h"
#include "report_dir.h"
#include "report_mask.h"
#include "report_screen.h"

#define BOM "\xEF\xBB\xBF"

static const char *s_header =
    "台账编号,上报时间,社区,网格编号,网格,类别编码,类别,上报渠道,上报人,问题描述,"
    "层级,处置单位编号,处置单位,责任人,办理时限,状态,反馈时间,结案时间,满意度\r\n";

struct _report_ledger_t {
    report_filter_t filter;     //  which cases
    char cursor [REPORT_CURSOR_MAX + 1];    //  where the next page starts
    long long rows;             //  rows written
    long long max_rows;         //  stop after this many
    bool header_sent;           //  BOM and header are out
    bool done;                  //  no more pages
    bool masked;                //  phone numbers masked (any role but export)
};

report_ledger_t *
report_ledger_new (const report_filter_t *filter, long long max_rows)
{
    report_ledger_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->filter = *filter;
    self->max_rows = max_rows;
    return self;
}

void
report_ledger_destroy (report_ledger_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    free (*self_p);
    *self_p = NULL;
}

long long
report_ledger_rows (const report_ledger_t *self)
{
    return self->rows;
}

void
report_ledger_cell (FILE *out, const char *text, bool last)
{
    if (!text)
        text = "";
    //  a cell starting like a formula would run in Excel: make it text
    bool formula = text [0] == '=' || text [0] == '+' || text [0] == '-' || text [0] == '@'
                || text [0] == '\t' || text [0] == '\r';
    bool quote = formula || strpbrk (text, ",\"\r\n") != NULL;
    if (quote)
        fputc ('"', out);
    if (formula)
        fputc ('\'', out);
    for (const char *p = text; *p; p++) {
        if (*p == '"')
            fputc ('"', out);
        fputc (*p, out);
    }
    if (quote)
        fputc ('"', out);
    fputs (last ? "\r\n" : ",", out);
}

//  A time cell: local "YYYY-MM-DD HH:MM:SS", or "" for 0.
static void
s_time_cell (FILE *out, const json_t *row, const char *key, const directory_t *dir)
{
    long long ms = 0;
    report_api_int (json_object_get (row, key), &ms);
    char text [20] = "";
    if (ms > 0)
        report_dir_local (dir, ms, NULL, NULL, text);
    report_ledger_cell (out, text, false);
}

static const char *
s_get (const json_t *row, const char *key)
{
    const char *s = json_string_value (json_object_get (row, key));
    return s ? s : "";
}

char *
report_ledger_line (const json_t *row, const directory_t *dir)
{
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out)
        return NULL;
    long long tier = 0, sat = 0;
    report_api_int (json_object_get (row, "tier"), &tier);
    report_api_int (json_object_get (row, "satisfaction"), &sat);
    const char *unit = s_get (row, "unit");
    char score [24] = "";
    if (sat > 0)
        snprintf (score, sizeof score, "%lld", sat);
    report_ledger_cell (out, s_get (row, "ledger"), false);
    s_time_cell (out, row, "created", dir);
    report_ledger_cell (out, report_dir_community_name (dir, s_get (row, "community")), false);
    report_ledger_cell (out, s_get (row, "grid"), false);
    report_ledger_cell (out, report_dir_grid_name (dir, s_get (row, "grid")), false);
    report_ledger_cell (out, s_get (row, "category"), false);
    report_ledger_cell (out, report_dir_category_name (dir, s_get (row, "category")), false);
    report_ledger_cell (out, report_screen_channel_label (s_get (row, "channel")), false);
    report_ledger_cell (out, s_get (row, "reporter"), false);
    report_ledger_cell (out, s_get (row, "text"), false);
    report_ledger_cell (out, report_screen_tier_label (report_api_tier_name (tier)), false);
    report_ledger_cell (out, unit, false);
    report_ledger_cell (out, *unit ? report_dir_unit_name (dir, unit) : "", false);
    //  责任人: the handling unit's responsible person, else the named person
    //  answering for the case at its tier (the liaison chain)
    const char *responsible = s_get (row, "responsible");
    report_ledger_cell (out, *responsible ? responsible : s_get (row, "liaison"), false);
    s_time_cell (out, row, "resolve_by", dir);
    //  a merged case counts once, in the case it was merged into: its row says which
    const char *state = report_screen_state_label (s_get (row, "state"));
    char merged [160];
    if (*s_get (row, "merged_into")) {
        snprintf (merged, sizeof merged, "%s（并入%.64s）", state, s_get (row, "merged_into"));
        state = merged;
    }
    report_ledger_cell (out, state, false);
    s_time_cell (out, row, "resolved", dir);
    s_time_cell (out, row, "closed", dir);
    report_ledger_cell (out, score, true);
    if (fclose (out) != 0) {
        free (text);
        return NULL;
    }
    return text;
}

void
report_ledger_mask (report_ledger_t *self)
{
    self->masked = true;
}

char *
report_ledger_next (report_ledger_t *self, store_t *store, const directory_t *dir, bool *failed)
{
    *failed = false;
    if (!self->header_sent) {
        self->header_sent = true;
        char *head = NULL;
        return asprintf (&head, "%s%s", BOM, s_header) < 0 ? NULL : head;
    }
    while (!self->done) {
        long long left = self->max_rows - self->rows;
        if (left <= 0) {
            self->done = true;
            break;
        }
        char *args = report_api_filter_json (&self->filter, self->cursor,
                                             left < REPORT_LEDGER_PAGE ? (int) left
                                                                       : REPORT_LEDGER_PAGE);
        json_t *reply = args ? store_callv (store, "gc_report_cases", args, NULL) : NULL;
        free (args);
        if (!reply || !json_is_true (json_object_get (reply, "ok"))) {
            json_decref (reply);
            *failed = true;
            self->done = true;
            return NULL;
        }
        json_t *next = json_object_get (reply, "next");
        if (json_is_string (next) && strlen (json_string_value (next)) <= REPORT_CURSOR_MAX)
            snprintf (self->cursor, sizeof self->cursor, "%s", json_string_value (next));
        else
            self->done = true;
        char *text = NULL;
        size_t size = 0;
        FILE *out = open_memstream (&text, &size);
        size_t i;
        json_t *row;
        json_t *items = json_object_get (reply, "items");
        if (out && json_is_array (items))
            json_array_foreach (items, i, row) {
                if (self->masked && report_mask_json (row)) {
                    //  a row that cannot be masked is not written
                    self->rows++;
                    continue;
                }
                char *line = report_ledger_line (row, dir);
                if (line)
                    fputs (line, out);
                free (line);
                self->rows++;
            }
        json_decref (reply);
        if (!out || fclose (out) != 0) {
            free (text);
            *failed = true;
            self->done = true;
            return NULL;
        }
        if (size > 0)
            return text;
        free (text);        //  a page that matched nothing: read on
    }
    return NULL;
}

long long
report_ledger_write_day (const char *dir_path, long long at_ms, store_t *store,
                         const directory_t *dir, long long max_rows)
{
    char day [20];
    report_dir_local (dir, at_ms, NULL, NULL, day);
    //  the local day [midnight, midnight + 24 h) holding at_ms
    long long offset_ms = dir ? (long long) directory_utc_offset_minutes (dir) * 60000 : 0;
    long long local = at_ms + offset_ms;
    long long start = local - (local % 86400000LL) - offset_ms;
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    filter.from_ms = start;
    filter.to_ms = start + 86400000LL;
    filter.has_from = filter.has_to = true;
    char path [4096], temp [4100];
    snprintf (path, sizeof path, "%s/ledger-%.4s%.2s%.2s.csv", dir_path, day, day + 5, day + 8);
    snprintf (temp, sizeof temp, "%s.tmp", path);
    FILE *file = fopen (temp, "w");
    if (!file) {
        log_warning ("report: fopen() \"%s\" failed: %m", temp);
        return -1;
    }
    report_ledger_t *ledger = report_ledger_new (&filter, max_rows);
    bool failed = false;
    char *piece;
    while (ledger && (piece = report_ledger_next (ledger, store, dir, &failed))) {
        fputs (piece, file);
        free (piece);
    }
    long long rows = ledger ? report_ledger_rows (ledger) : -1;
    report_ledger_destroy (&ledger);
    if (fclose (file) != 0 || failed || rows < 0 || rename (temp, path) != 0) {
        log_warning ("report: ledger \"%s\" failed: %s", path,
                     failed ? "the store did not answer" : "cannot write the file");
        unlink (temp);
        return -1;
    }
    log_info ("report: wrote ledger \"%s\": %lld cases", path, rows);
    return rows;
}
