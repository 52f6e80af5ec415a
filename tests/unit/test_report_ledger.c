/*  test_report_ledger.c — the ledger (台账) CSV by example: one line per
    case in the header's column order, quoted so Excel reads commas, quotes
    and line breaks as text and never runs a formula; an export read page
    by page; the daily file. The store is a stand-in Redis on a Unix socket
    that answers gc_report_cases with pages as the function library does. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <dirent.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "config.h"
#include "report_ledger.h"

#define BOM "\xEF\xBB\xBF"
#define HEADER "台账编号,上报时间,社区,网格编号,网格,类别编码,类别,上报渠道,上报人,问题描述," \
               "层级,处置单位编号,处置单位,责任人,办理时限,状态,反馈时间,结案时间,满意度\r\n"

//  A one-grid street in UTC+8, in single quotes (s_quoted turns them into ").
static const char *s_street =
    "{'version': 1,"
    " 'street': {'id': 'tianjiao', 'code': 'TJ', 'name': '天骄街道', 'utc_offset_minutes': 480},"
    " 'communities': [{'id': 'C01', 'name': '安达社区'}],"
    " 'grids': [{'id': 'G01', 'name': '安达社区第1网格', 'community': 'C01', 'worker': '白国晨'}],"
    " 'categories': [{'code': 'env.garbage', 'name': '垃圾清运', 'kind': 'incident',"
    "   'start_tier': 'GRID',"
    "   'limits_minutes': {'GRID': 240, 'COMMUNITY': 480, 'STREET': 1440, 'DISTRICT': 2880}}],"
    " 'units': [{'id': 'U1', 'name': '环卫所', 'kind': 'sanitation', 'responsible': '王师傅',"
    "   'contact': '0477-1', 'tiers': ['GRID', 'COMMUNITY'], 'categories': ['env.garbage'],"
    "   'coverage': 'street', 'capacity': 5}]}";

//  A gc_report_cases row: Monday 2024-05-20 10:30 in the street, handled
//  by U1, resolved at 12:40, due at 14:30, not closed or evaluated yet.
static const char *s_row =
    "{'id': 'TJ-20240520-000009', 'ledger': 'TJ-20240520-000009', 'grid': 'G01',"
    " 'community': 'C01', 'category': 'env.garbage', 'channel': 'HOTLINE',"
    " 'reporter': '13800000000', 'tier': 2, 'unit': 'U1', 'responsible': '王师傅',"
    " 'resolve_by': 1716186600000, 'state': 'RESOLVED', 'created': 1716172200000,"
    " 'resolved': 1716180000000, 'closed': 0, 'satisfaction': 0, 'text': '楼道垃圾没人清',"
    " 'waiting': ''}";

//  Monday 2024-05-20 00:00 and Tuesday 00:00 in the street (UTC+8).
#define MAY20_MS 1716134400000LL
#define MAY21_MS 1716220800000LL

//  The text with every ' turned into "; the caller frees it.
static char *
s_quoted (const char *text)
{
    char *copy = strdup (text);
    assert_non_null (copy);
    for (char *c = copy; *c; c++)
        if (*c == '\'')
            *c = '"';
    return copy;
}

static json_t *
s_json (const char *text)
{
    char *copy = s_quoted (text);
    json_error_t error;
    json_t *json = json_loads (copy, 0, &error);
    free (copy);
    if (!json)
        fail_msg ("bad test JSON at column %d: %s", error.column, error.text);
    return json;
}

//  Split one CSV record (RFC 4180, CRLF end) the way a spreadsheet reads
//  it; returns the number of cells, each a copy in cells (caller frees).
static int
s_cells (const char *line, char **cells, int max)
{
    int n = 0;
    const char *p = line;
    while (n < max) {
        char *cell = malloc (strlen (line) + 1), *out = cell;
        if (*p == '"') {
            for (p++; *p && !(*p == '"' && p [1] != '"'); p++) {
                if (*p == '"')
                    p++;                //  "" is one quote
                *out++ = *p;
            }
            if (*p == '"')
                p++;
        }
        else
            while (*p && *p != ',' && *p != '\r')
                *out++ = *p++;
        *out = 0;
        cells [n++] = cell;
        if (*p != ',')
            break;
        p++;
    }
    assert_string_equal (p, "\r\n");
    return n;
}

static void
s_free_cells (char **cells, int n)
{
    for (int i = 0; i < n; i++)
        free (cells [i]);
}


#include "fake_redis.h"

//  FCALLs seen so far.
static int
fake_redis_calls (fake_redis_t *self)
{
    pthread_mutex_lock (&self->lock);
    int calls = self->calls;
    pthread_mutex_unlock (&self->lock);
    return calls;
}

//  The last argument of call number i (from 0), parsed.
static json_t *
fake_redis_arg (fake_redis_t *self, int i)
{
    pthread_mutex_lock (&self->lock);
    assert_true (i < self->calls);
    json_t *arg = json_loads (self->arg [i], 0, NULL);
    pthread_mutex_unlock (&self->lock);
    assert_non_null (arg);
    return arg;
}

//  The whole of a file, or NULL when it is missing (caller frees).
static char *
s_read_file (const char *dir, const char *name)
{
    char path [256];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    FILE *file = fopen (path, "r");
    if (!file)
        return NULL;
    char *text = calloc (1, 65536);
    size_t n = fread (text, 1, 65535, file);
    text [n] = 0;
    fclose (file);
    return text;
}

//  Files in a folder.
static int
s_files_in (const char *dir)
{
    DIR *folder = opendir (dir);
    assert_non_null (folder);
    int n = 0;
    struct dirent *entry;
    while ((entry = readdir (folder)))
        n += entry->d_name [0] != '.';
    closedir (folder);
    return n;
}

//  Remove the folder and the files in it.
static void
s_remove_dir (char *dir)
{
    DIR *folder = opendir (dir);
    struct dirent *entry;
    char path [512];
    while (folder && (entry = readdir (folder)))
        if (entry->d_name [0] != '.') {
            snprintf (path, sizeof path, "%s/%s", dir, entry->d_name);
            unlink (path);
        }
    if (folder)
        closedir (folder);
    rmdir (dir);
    free (dir);
}

//  What each test gets: the street, a stand-in Redis, a store on it and
//  a folder for files.
typedef struct {
    directory_t *dir;           //  the street
    fake_redis_t *redis;        //  the stand-in Redis
    config_t *config;           //  options of the store
    store_t *store;             //  a store on the stand-in
    char *folder;               //  a fresh folder for ledger files
} fixture_t;

static const cfg_option_t s_options [] = {
    CONFIG_COMMON_OPTIONS,
    { NULL, 0, NULL, 0, 0, NULL }
};

static int
setup (void **state)
{
    fixture_t *self = calloc (1, sizeof *self);
    char *json = s_quoted (s_street);
    char err [256] = "";
    self->dir = directory_parse (json, "street.json", err, sizeof err);
    free (json);
    if (!self->dir)
        print_error ("directory refused: %s\n", err);
    self->redis = fake_redis_new ();
    self->config = config_new (s_options);
    config_set (self->config, "redis_socket", self->redis->path, err, sizeof err);
    config_set (self->config, "redis_timeout_ms", "1000", err, sizeof err);
    self->store = store_new (self->config, "test");
    self->folder = strdup ("/tmp/gc-ledger-files-XXXXXX");
    *state = self;
    return self->dir && self->store && mkdtemp (self->folder) ? 0 : -1;
}

static int
teardown (void **state)
{
    fixture_t *self = *state;
    s_remove_dir (self->folder);
    store_destroy (&self->store);
    config_destroy (&self->config);
    fake_redis_destroy (&self->redis);
    directory_destroy (&self->dir);
    free (self);
    return 0;
}


//  ---------------------------------------------------------------------
//  One line per case

static void
test_line_columns_in_header_order (void **state)
{
    fixture_t *self = *state;
    json_t *row = s_json (s_row);
    char *line = report_ledger_line (row, self->dir);
    //  ids with names beside them, labels in Chinese, times in street time
    assert_string_equal (line,
        "TJ-20240520-000009,2024-05-20 10:30:00,安达社区,G01,安达社区第1网格,"
        "env.garbage,垃圾清运,热线,13800000000,楼道垃圾没人清,社区,U1,环卫所,王师傅,"
        "2024-05-20 14:30:00,已反馈,2024-05-20 12:40:00,,\r\n");
    free (line);

    //  closed and evaluated
    json_object_set_new (row, "state", json_string ("CLOSED"));
    json_object_set_new (row, "closed", json_integer (1716190000000LL));
    json_object_set_new (row, "satisfaction", json_integer (5));
    line = report_ledger_line (row, self->dir);
    char *cells [32];
    int n = s_cells (line, cells, 32);
    assert_int_equal (n, 19);
    assert_string_equal (cells [15], "结案");
    assert_string_equal (cells [17], "2024-05-20 15:26:40");
    assert_string_equal (cells [18], "5");
    s_free_cells (cells, n);
    free (line);
    json_decref (row);
}

static void
test_line_quotes_what_excel_would_split (void **state)
{
    fixture_t *self = *state;
    json_t *row = s_json (s_row);
    json_object_set_new (row, "text", json_string ("井盖坏了, 很危险\r\n第二行"));
    json_object_set_new (row, "reporter", json_string ("张三 \"老张\""));
    json_object_set_new (row, "responsible", json_string ("a,b"));
    char *line = report_ledger_line (row, self->dir);
    //  RFC 4180: the cell in quotes, a quote doubled
    assert_non_null (strstr (line, ",\"井盖坏了, 很危险\r\n第二行\","));
    assert_non_null (strstr (line, ",\"张三 \"\"老张\"\"\","));
    //  read back, every cell is where it belongs
    char *cells [32];
    int n = s_cells (line, cells, 32);
    assert_int_equal (n, 19);
    assert_string_equal (cells [8], "张三 \"老张\"");
    assert_string_equal (cells [9], "井盖坏了, 很危险\r\n第二行");
    assert_string_equal (cells [13], "a,b");
    assert_string_equal (cells [14], "2024-05-20 14:30:00");
    s_free_cells (cells, n);
    free (line);

    //  a lone LF also needs quotes; plain Chinese text does not
    json_object_set_new (row, "text", json_string ("一\n二"));
    line = report_ledger_line (row, self->dir);
    assert_non_null (strstr (line, ",\"一\n二\","));
    assert_non_null (strstr (line, ",安达社区,"));
    free (line);
    json_decref (row);
}

static void
test_line_never_starts_a_formula (void **state)
{
    fixture_t *self = *state;
    json_t *row = s_json (s_row);
    //  what a reporter types must stay text in Excel
    static const struct { const char *typed, *cell; } cases [] = {
        { "=HYPERLINK(\"http://x\")", "\"'=HYPERLINK(\"\"http://x\"\")\"" },
        { "+86 138 0000 0000", "\"'+86 138 0000 0000\"" },
        { "-1", "\"'-1\"" },
        { "@SUM(A1)", "\"'@SUM(A1)\"" },
        { "\tx", "\"'\tx\"" },
        { "a=b", "a=b" },           //  only the first character counts
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases [0]; i++) {
        json_object_set_new (row, "text", json_string (cases [i].typed));
        char *line = report_ledger_line (row, self->dir);
        char want [128];
        snprintf (want, sizeof want, ",13800000000,%s,社区,", cases [i].cell);
        if (!strstr (line, want))
            fail_msg ("typed \"%s\": want %s in %s", cases [i].typed, want, line);
        free (line);
    }
    json_decref (row);
}

static void
test_line_of_a_sparse_row (void **state)
{
    fixture_t *self = *state;
    //  a case just reported: no unit, tier unknown, nothing happened yet;
    //  the state label falls back to the state itself when unknown
    json_t *row = s_json ("{'id': 'X1', 'ledger': 'X1', 'grid': 'G99', 'state': 'LIMBO',"
                          " 'created': 0, 'tier': 0}");
    char *line = report_ledger_line (row, self->dir);
    assert_string_equal (line, "X1,,,G99,G99,,,,,,,,,,,LIMBO,,,\r\n");
    free (line);
    json_decref (row);
    //  and an empty object is 19 empty cells
    row = json_object ();
    line = report_ledger_line (row, self->dir);
    assert_string_equal (line, ",,,,,,,,,,,,,,,,,,\r\n");
    free (line);
    json_decref (row);
}

static void
test_line_without_directory (void **state)
{
    (void) state;
    //  ids stand for names; times are UTC
    json_t *row = s_json (s_row);
    char *line = report_ledger_line (row, NULL);
    char *cells [32];
    int n = s_cells (line, cells, 32);
    assert_int_equal (n, 19);
    assert_string_equal (cells [1], "2024-05-20 02:30:00");
    assert_string_equal (cells [2], "C01");
    assert_string_equal (cells [4], "G01");
    assert_string_equal (cells [6], "env.garbage");
    assert_string_equal (cells [12], "U1");
    s_free_cells (cells, n);
    free (line);
    json_decref (row);
}


//  ---------------------------------------------------------------------
//  An export, page by page

//  A page of n copies of s_row, with next ("<next>:C<next>") when next > 0
//  (single quotes).
static char *
s_page (int n, long long next)
{
    char *page = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&page, &size);
    fprintf (out, "{'ok': true, 'items': %s", n ? "[" : "{}");
    for (int i = 0; i < n; i++)
        fprintf (out, "%s%s", i ? "," : "", s_row);
    fprintf (out, "%s, 'scanned': %d, 'now': 1716172200000", n ? "]" : "", n);
    if (next > 0)
        fprintf (out, ", 'next': '%lld:C%lld'", next, next);
    fprintf (out, "}");
    fclose (out);
    return page;
}

static void
s_queue_page (fake_redis_t *redis, int n, long long next)
{
    char *page = s_page (n, next);
    fake_redis_queue (redis, "gc_report_cases", page);
    free (page);
}

//  Lines in a CSV piece.
static int
s_lines (const char *text)
{
    int n = 0;
    for (const char *p = text; (p = strstr (p, "0009,2024-05-20 10:30:00,")); p++)
        n++;
    return n;
}

static void
test_export_reads_page_after_page (void **state)
{
    fixture_t *self = *state;
    s_queue_page (self->redis, 2, 7);
    s_queue_page (self->redis, 1, 0);
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    strcpy (filter.community, "C01");
    strcpy (filter.cursor, "99:C99");   //  ignored: an export starts at the top
    filter.limit = 3;
    report_ledger_t *ledger = report_ledger_new (&filter, 1000000);
    assert_non_null (ledger);
    bool failed = true;

    //  first the BOM and the header, before Redis is asked anything
    char *piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_string_equal (piece, BOM HEADER);
    assert_false (failed);
    assert_int_equal (fake_redis_calls (self->redis), 0);
    free (piece);

    //  then a page of rows per call, the cursor carried on
    piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), 2);
    free (piece);
    piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), 1);
    free (piece);
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_false (failed);
    assert_int_equal (report_ledger_rows (ledger), 3);

    assert_int_equal (fake_redis_calls (self->redis), 2);
    json_t *args = fake_redis_arg (self->redis, 0);
    assert_string_equal (json_string_value (json_object_get (args, "community")), "C01");
    assert_string_equal (json_string_value (json_object_get (args, "cursor")), "");
    assert_int_equal (json_integer_value (json_object_get (args, "limit")), REPORT_LEDGER_PAGE);
    json_decref (args);
    args = fake_redis_arg (self->redis, 1);
    assert_string_equal (json_string_value (json_object_get (args, "cursor")), "7:C7");
    json_decref (args);
    report_ledger_destroy (&ledger);
    assert_null (ledger);
    report_ledger_destroy (&ledger);
}

static void
test_export_stops_at_max_rows (void **state)
{
    fixture_t *self = *state;
    s_queue_page (self->redis, 3, 3);
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    report_ledger_t *ledger = report_ledger_new (&filter, 3);
    bool failed;
    free (report_ledger_next (ledger, self->store, self->dir, &failed));
    char *piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), 3);
    free (piece);
    //  three rows asked for, three given: no further page is read
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_false (failed);
    assert_int_equal (fake_redis_calls (self->redis), 1);
    json_t *args = fake_redis_arg (self->redis, 0);
    assert_int_equal (json_integer_value (json_object_get (args, "limit")), 3);
    json_decref (args);
    report_ledger_destroy (&ledger);

    //  a cap above a page: a full page, then just what is left
    s_queue_page (self->redis, REPORT_LEDGER_PAGE, 900);
    s_queue_page (self->redis, 20, 950);
    ledger = report_ledger_new (&filter, REPORT_LEDGER_PAGE + 20);
    free (report_ledger_next (ledger, self->store, self->dir, &failed));
    piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), REPORT_LEDGER_PAGE);
    free (piece);
    piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), 20);
    free (piece);
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_false (failed);
    assert_int_equal (report_ledger_rows (ledger), REPORT_LEDGER_PAGE + 20);
    assert_int_equal (fake_redis_calls (self->redis), 3);
    args = fake_redis_arg (self->redis, 2);
    assert_string_equal (json_string_value (json_object_get (args, "cursor")), "900:C900");
    assert_int_equal (json_integer_value (json_object_get (args, "limit")), 20);
    json_decref (args);
    report_ledger_destroy (&ledger);
}

static void
test_export_reads_past_empty_pages (void **state)
{
    fixture_t *self = *state;
    //  filters the index cannot decide may yield a page with no rows
    //  (cjson's {}) but a cursor: the export reads on
    s_queue_page (self->redis, 0, 5000);
    s_queue_page (self->redis, 0, 10000);
    s_queue_page (self->redis, 1, 0);
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    strcpy (filter.states, "CLOSED,VERIFIED");
    report_ledger_t *ledger = report_ledger_new (&filter, 1000000);
    bool failed;
    free (report_ledger_next (ledger, self->store, self->dir, &failed));
    char *piece = report_ledger_next (ledger, self->store, self->dir, &failed);
    assert_int_equal (s_lines (piece), 1);
    free (piece);
    assert_int_equal (fake_redis_calls (self->redis), 3);
    json_t *args = fake_redis_arg (self->redis, 2);
    assert_string_equal (json_string_value (json_object_get (args, "cursor")), "10000:C10000");
    json_t *states = json_object_get (args, "states");
    assert_int_equal (json_array_size (states), 2);
    assert_string_equal (json_string_value (json_array_get (states, 1)), "VERIFIED");
    json_decref (args);
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_false (failed);
    report_ledger_destroy (&ledger);
}

static void
test_export_cut_short_when_the_store_fails (void **state)
{
    fixture_t *self = *state;
    s_queue_page (self->redis, 2, 2);
    fake_redis_queue (self->redis, "gc_report_cases",
                      "{'ok': false, 'code': 'STORE', 'message': 'LOADING'}");
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    report_ledger_t *ledger = report_ledger_new (&filter, 1000000);
    bool failed = true;
    free (report_ledger_next (ledger, self->store, self->dir, &failed));
    free (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_false (failed);
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_true (failed);
    //  and it stays ended without asking again
    assert_null (report_ledger_next (ledger, self->store, self->dir, &failed));
    assert_int_equal (fake_redis_calls (self->redis), 2);
    assert_int_equal (report_ledger_rows (ledger), 2);
    report_ledger_destroy (&ledger);
}

static void
test_export_with_redis_away (void **state)
{
    (void) state;
    //  a store whose Redis is not there: header, then failed
    config_t *config = config_new (s_options);
    char err [128];
    config_set (config, "redis_socket", "/nonexistent/gridcall-test.sock", err, sizeof err);
    store_t *store = store_new (config, "test");
    report_filter_t filter;
    memset (&filter, 0, sizeof filter);
    report_ledger_t *ledger = report_ledger_new (&filter, 10);
    bool failed = false;
    char *piece = report_ledger_next (ledger, store, NULL, &failed);
    assert_string_equal (piece, BOM HEADER);
    free (piece);
    assert_null (report_ledger_next (ledger, store, NULL, &failed));
    assert_true (failed);
    assert_int_equal (report_ledger_rows (ledger), 0);
    report_ledger_destroy (&ledger);
    store_destroy (&store);
    config_destroy (&config);
}


//  ---------------------------------------------------------------------
//  The daily file

static void
test_day_file_named_by_local_day (void **state)
{
    fixture_t *self = *state;
    const char *dir = self->folder;
    s_queue_page (self->redis, 2, 0);
    //  07:30 on 20 May in the street is still 19 May in UTC: the file and
    //  the cases are the street's day
    long long at = MAY20_MS + 7 * 3600000LL + 30 * 60000;
    assert_int_equal (report_ledger_write_day (dir, at, self->store, self->dir, 1000), 2);
    char *text = s_read_file (dir, "ledger-20240520.csv");
    assert_non_null (text);
    assert_int_equal (strncmp (text, BOM HEADER, strlen (BOM HEADER)), 0);
    assert_int_equal (s_lines (text), 2);
    free (text);
    //  nothing else is left in the folder (no temporary file)
    assert_int_equal (s_files_in (dir), 1);

    json_t *args = fake_redis_arg (self->redis, 0);
    assert_int_equal (json_integer_value (json_object_get (args, "from")), MAY20_MS);
    assert_int_equal (json_integer_value (json_object_get (args, "to")), MAY21_MS);
    assert_false (json_is_true (json_object_get (args, "open")));
    json_decref (args);
}

static void
test_day_file_at_the_edges_of_a_day (void **state)
{
    fixture_t *self = *state;
    const char *dir = self->folder;
    s_queue_page (self->redis, 0, 0);
    //  the last second of 19 May, local
    assert_int_equal (report_ledger_write_day (dir, MAY20_MS - 1000, self->store, self->dir,
                                               1000), 0);
    //  and the first moment of 20 May
    assert_int_equal (report_ledger_write_day (dir, MAY20_MS, self->store, self->dir, 1000), 0);
    char *may19 = s_read_file (dir, "ledger-20240519.csv");
    char *may20 = s_read_file (dir, "ledger-20240520.csv");
    //  a day without cases still gets its file, with the header
    assert_non_null (may19);
    assert_string_equal (may19, BOM HEADER);
    assert_non_null (may20);
    free (may19);
    free (may20);
    json_t *args = fake_redis_arg (self->redis, 0);
    assert_int_equal (json_integer_value (json_object_get (args, "from")), MAY20_MS - 86400000LL);
    assert_int_equal (json_integer_value (json_object_get (args, "to")), MAY20_MS);
    json_decref (args);
    args = fake_redis_arg (self->redis, 1);
    assert_int_equal (json_integer_value (json_object_get (args, "from")), MAY20_MS);
    json_decref (args);
}

static void
test_day_file_kept_when_the_store_fails (void **state)
{
    fixture_t *self = *state;
    const char *dir = self->folder;
    //  the file written earlier is not replaced by a broken one
    char path [256];
    snprintf (path, sizeof path, "%s/ledger-20240520.csv", dir);
    FILE *file = fopen (path, "w");
    fputs ("earlier", file);
    fclose (file);
    s_queue_page (self->redis, 2, 2);
    fake_redis_queue (self->redis, "gc_report_cases", "-ERR LOADING Redis is loading");
    assert_int_equal (report_ledger_write_day (dir, MAY20_MS + 1000, self->store, self->dir,
                                               1000), -1);
    char *text = s_read_file (dir, "ledger-20240520.csv");
    assert_string_equal (text, "earlier");
    free (text);
    assert_int_equal (s_files_in (dir), 1);
}

static void
test_day_file_in_a_missing_folder (void **state)
{
    fixture_t *self = *state;
    assert_int_equal (report_ledger_write_day ("/nonexistent/ledger", MAY20_MS, self->store,
                                               self->dir, 1000), -1);
    assert_int_equal (fake_redis_calls (self->redis), 0);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test_setup_teardown (test_line_columns_in_header_order, setup, teardown),
        cmocka_unit_test_setup_teardown (test_line_quotes_what_excel_would_split, setup, teardown),
        cmocka_unit_test_setup_teardown (test_line_never_starts_a_formula, setup, teardown),
        cmocka_unit_test_setup_teardown (test_line_of_a_sparse_row, setup, teardown),
        cmocka_unit_test (test_line_without_directory),
        cmocka_unit_test_setup_teardown (test_export_reads_page_after_page, setup, teardown),
        cmocka_unit_test_setup_teardown (test_export_stops_at_max_rows, setup, teardown),
        cmocka_unit_test_setup_teardown (test_export_reads_past_empty_pages, setup, teardown),
        cmocka_unit_test_setup_teardown (test_export_cut_short_when_the_store_fails, setup, teardown),
        cmocka_unit_test (test_export_with_redis_away),
        cmocka_unit_test_setup_teardown (test_day_file_named_by_local_day, setup, teardown),
        cmocka_unit_test_setup_teardown (test_day_file_at_the_edges_of_a_day, setup, teardown),
        cmocka_unit_test_setup_teardown (test_day_file_kept_when_the_store_fails, setup, teardown),
        cmocka_unit_test_setup_teardown (test_day_file_in_a_missing_folder, setup, teardown),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
