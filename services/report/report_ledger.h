/*  report_ledger.h — the ledger (台账) as CSV for Excel: a UTF-8 BOM, a
    header of Chinese column names, then one row per case, newest first,
    read page by page through gc_report_cases so a long export never holds
    Redis or memory for long. Also the daily ledger file. */
#ifndef REPORT_LEDGER_H
#define REPORT_LEDGER_H

#include <stdbool.h>
#include <stdio.h>

#include "directory.h"
#include "report_api.h"
#include "store.h"

#define REPORT_LEDGER_PAGE 500      //  cases read per gc_report_cases call

typedef struct _report_ledger_t report_ledger_t;

//  Start an export of the cases filter selects (its cursor and limit are
//  ignored), at most max_rows rows. NULL on no memory.
report_ledger_t *report_ledger_new (const report_filter_t *filter, long long max_rows);
void report_ledger_destroy (report_ledger_t **self_p);
//  Mask the phone numbers of every row from now on (report_mask_json):
//  the ledger for any role but export.
void report_ledger_mask (report_ledger_t *self);

//  The next piece of the CSV: BOM and header first, then a page of rows.
//  Returns text the caller frees, or NULL at the end; *failed is set when
//  the store failed (the export is then cut short).
char *report_ledger_next (report_ledger_t *self, store_t *store, const directory_t *dir,
                          bool *failed);

//  Rows written so far.
long long report_ledger_rows (const report_ledger_t *self);

//  Write one CSV cell and its "," (or CRLF when last): quoted when it holds
//  a comma, quote or line break; a cell that would start a spreadsheet
//  formula is made text with an apostrophe.
void report_ledger_cell (FILE *out, const char *text, bool last);

//  The CSV line (with CRLF) for one gc_report_cases row. Caller frees.
char *report_ledger_line (const json_t *row, const directory_t *dir);

//  Write the ledger of the local day that holds at_ms to
//  dir_path/ledger-YYYYMMDD.csv (through a temporary file and a rename).
//  Returns the rows written, or -1 with a log line.
long long report_ledger_write_day (const char *dir_path, long long at_ms, store_t *store,
                                   const directory_t *dir, long long max_rows);

#endif
