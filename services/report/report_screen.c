/*  report_screen.c — the screen snapshot: counters as integers, the funnel
    of the chain, the map's communities and grids, red and yellow lists,
    the three lists (demand, resources, services), performance and the
    ticker, each row carrying names from the directory. */
#include "report_screen.h"

#include <stdlib.h>
#include <string.h>

#include "report_api.h"
#include "report_dir.h"

#define DEMAND_GRIDS_MAX 15         //  grids in the demand list
#define PERF_UNITS_MAX 12           //  units in the performance list

//  The chain's stages in order, with the states that have reached each.
static const struct {
    const char *stage;          //  stage name (a state name)
    const char *label;          //  Chinese label
} s_funnel [] = {
    { "REPORTED", "上报" }, { "REGISTERED", "立案" }, { "DISPATCHED", "派遣" },
    { "ACCEPTED", "处置" }, { "RESOLVED", "反馈" }, { "VERIFIED", "核查" }, { "CLOSED", "结案" }
};
#define FUNNEL_STAGES 7

//  What the screen knows of each state of the lifecycle: its Chinese
//  label and how far along the chain (funnel index) a case in it stands.
//  The states themselves are the wire contract's (report_api_state_name);
//  a test checks that every one of them is here.
static const struct {
    const char *state;          //  state name as the store writes it
    const char *label;          //  Chinese label for the screen and the ledger
    int stage;                  //  funnel index it has reached
} s_states [] = {
    { "REPORTED", "上报", 0 }, { "REGISTERED", "立案", 1 }, { "DISPATCHED", "派遣", 2 },
    { "ACCEPTED", "处置中", 3 }, { "RESOLVED", "已反馈", 4 }, { "VERIFIED", "已核查", 5 },
    { "CLOSED", "结案", 6 }, { "REJECTED", "不予受理", 0 }, { "DUPLICATE", "重复", 0 },
    { "REOPENED", "重办", 1 }, { "ESCALATED", "已升级", 1 },
    //  an order has its ledger number and waits for the community to place it
    { "ORDERED", "待下单", 1 },
    //  parked (挂账): registered, taken off the chain until its review date
    { "PARKED", "挂账", 1 },
    //  merged (已合并) into another case, which its reporter follows
    { "MERGED", "已合并", 1 }
};

//  The entry of s_states for state, or -1.
static int
s_state_index (const char *state)
{
    for (size_t i = 0; state && i < sizeof s_states / sizeof s_states [0]; i++)
        if (strcmp (s_states [i].state, state) == 0)
            return (int) i;
    return -1;
}

//  How far along the chain a case in state stands (funnel index), or -1.
static int
s_stage (const char *state)
{
    int i = s_state_index (state);
    return i < 0 ? -1 : s_states [i].stage;
}

const char *
report_screen_state_label (const char *state)
{
    int i = s_state_index (state);
    return i >= 0 ? s_states [i].label : state ? state : "";
}

//  Timeline entries (the "what" the function library writes) in Chinese,
//  for the ticker. A test checks every what of the library is here.
static const char *s_whats [][2] = {
    { "registered", "立案" }, { "placed", "社区下单" }, { "offered", "派遣" },
    { "offer_expired", "派遣超时" }, { "offer_withdrawn", "撤回派遣" },
    { "waiting", "等待派遣" }, { "booked", "预约上门" }, { "accepted", "接单" },
    { "declined", "退回" }, { "progress", "进展" }, { "resolved", "办结反馈" },
    { "lead_resolved", "牵头单位办结" }, { "assist_accepted", "协办接单" },
    { "assist_reported", "协办反馈" }, { "parties_released", "协办解除" },
    { "verified", "核查通过" }, { "closed", "结案" }, { "reopened", "核查未通过·重办" },
    { "evaluated", "评价" }, { "reminder", "黄灯提醒" }, { "escalated", "升级" },
    { "overdue", "超期" }, { "verify_overdue", "核查超期" },
    { "extension_requested", "申请延期" }, { "extension_refused", "延期未批准" },
    { "extended", "延期" }, { "parked", "挂账" }, { "unparked", "解除挂账" },
    { "park_review_moved", "挂账复核改期" }, { "notified", "通知" }, { "media", "现场照片" },
    { "merged", "合并至他案" }, { "merged_in", "并入重复案件" }, { "kept_closed", "所并案件结案" },
    { "promoted", "转为议题" }, { "task_of", "议题任务" }
};

//  A matter's timeline entries (09_matter_link.lua, 75_matters.lua
//  matter_log): the 提议定办评 loop's words. A test checks them as well.
static const char *s_matter_whats [][2] = {
    { "proposed", "议题·提出" }, { "promoted", "议题·案件转议题" }, { "on_agenda", "议题·列入议程" },
    { "deliberated", "议题·协商议事" }, { "noticed", "议题·公示" }, { "vote_failed", "议题·表决未通过" },
    { "decided", "议题·表决通过" }, { "tasks", "议题·分解任务" }, { "task_resolved", "议题·任务办结" },
    { "task_escalated", "议题·任务升级" }, { "task_done", "议题·任务完成" },
    { "task_dropped", "议题·任务未办" }, { "task_back", "议题·任务恢复" },
    { "tasks_done", "议题·进入评议" }, { "evaluated", "议题·居民评议" }, { "result", "议题·结果公布" }
};

//  what's word in table (count rows); a what newer than the table still
//  gets a Chinese word on the screen, other.
static const char *
s_word (const char *table [][2], size_t count, const char *what, const char *other)
{
    for (size_t i = 0; what && i < count; i++)
        if (strcmp (table [i][0], what) == 0)
            return table [i][1];
    return other;
}

const char *
report_screen_matter_label (const char *what)
{
    return s_word (s_matter_whats, sizeof s_matter_whats / sizeof s_matter_whats [0], what,
                   "议题动态");
}

const char *
report_screen_what_label (const char *what)
{
    return s_word (s_whats, sizeof s_whats / sizeof s_whats [0], what, "案件动态");
}

const char *
report_screen_tier_label (const char *tier)
{
    static const char *map [][2] = {
        { "GRID", "网格" }, { "COMMUNITY", "社区" }, { "STREET", "街道" }, { "DISTRICT", "区" }
    };
    for (size_t i = 0; tier && i < 4; i++)
        if (strcmp (map [i][0], tier) == 0)
            return map [i][1];
    return tier ? tier : "";
}

const char *
report_screen_channel_label (const char *channel)
{
    static const char *map [][2] = {
        { "GRID_WORKER", "网格员" }, { "RESIDENT_APP", "居民App" }, { "HOTLINE", "热线" },
        { "SERVICE_CARD", "服务卡" }, { "OPEN311", "Open311" }, { "OPERATOR", "坐席" }
    };
    for (size_t i = 0; channel && i < sizeof map / sizeof map [0]; i++)
        if (strcmp (map [i][0], channel) == 0)
            return map [i][1];
    return channel ? channel : "";
}

//  An integer field of obj, 0 when missing or not a number.
static long long
s_get (const json_t *obj, const char *key)
{
    long long v = 0;
    report_api_int (json_object_get (obj, key), &v);
    return v;
}

//  A string field of obj, "" when missing.
static const char *
s_str (const json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    return s ? s : "";
}

//  A time in ms as JSON: null for 0 (never happened).
static json_t *
s_time (long long ms)
{
    return ms > 0 ? json_integer (ms) : json_null ();
}

//  A ratio as JSON: null when the denominator is 0.
static json_t *
s_ratio (long long num, long long den)
{
    return den > 0 ? json_real ((double) num / (double) den) : json_null ();
}

static const char *
s_tier_name (long long tier)
{
    const char *name = report_api_tier_name (tier);
    return name ? name : "";
}

json_t *
report_screen_row (const json_t *r, const directory_t *dir)
{
    if (!json_is_object (r))
        return NULL;
    const char *grid = s_str (r, "grid");
    const char *community = s_str (r, "community");
    const char *category = s_str (r, "category");
    const char *unit = s_str (r, "unit");
    long long sat = s_get (r, "satisfaction");
    json_t *row = json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s,"
                      " s:s, s:I, s:I, s:o, s:o, s:o, s:s, s:s, s:s}",
        "case_id", s_str (r, "id"), "ledger_no", s_str (r, "ledger"),
        "grid", grid, "grid_name", report_dir_grid_name (dir, grid),
        "community", community, "community_name", report_dir_community_name (dir, community),
        "category", category, "category_name", report_dir_category_name (dir, category),
        "channel", s_str (r, "channel"), "reporter", s_str (r, "reporter"),
        "tier", s_tier_name (s_get (r, "tier")),
        "unit", unit, "unit_name", *unit ? report_dir_unit_name (dir, unit) : "",
        "responsible", s_str (r, "responsible"), "state", s_str (r, "state"),
        "created_ms", (json_int_t) s_get (r, "created"),
        "resolve_by_ms", (json_int_t) s_get (r, "resolve_by"),
        "resolved_ms", s_time (s_get (r, "resolved")), "closed_ms", s_time (s_get (r, "closed")),
        "satisfaction", sat > 0 ? json_integer (sat) : json_null (),
        "text", s_str (r, "text"), "waiting", s_str (r, "waiting"),
        "state_label", report_screen_state_label (s_str (r, "state")));
    //  a merged case names the case it follows
    if (row && *s_str (r, "merged_into"))
        json_object_set_new (row, "merged_into", json_string (s_str (r, "merged_into")));
    //  its photos, as links the screen shows behind its token
    if (row)
        json_object_set_new (row, "media", report_api_media (json_object_get (r, "media")));
    return row;
}

//  A red or yellow list row.
static json_t *
s_due_row (const json_t *r, const directory_t *dir)
{
    const char *grid = s_str (r, "grid");
    const char *category = s_str (r, "category");
    const char *unit = s_str (r, "unit");
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:I, s:I}",
        "case_id", s_str (r, "id"), "ledger_no", s_str (r, "ledger"),
        "grid", grid, "grid_name", report_dir_grid_name (dir, grid),
        "category", category, "category_name", report_dir_category_name (dir, category),
        "tier", s_tier_name (s_get (r, "tier")), "unit", unit,
        "unit_name", *unit ? report_dir_unit_name (dir, unit) : "",
        "state", s_str (r, "state"), "community", s_str (r, "community"),
        "created_ms", (json_int_t) s_get (r, "created"), "due_ms", (json_int_t) s_get (r, "due"),
        "left_ms", (json_int_t) s_get (r, "left_ms"));
}

json_t *
report_screen_event (const json_t *e, const directory_t *dir)
{
    if (!json_is_object (e))
        return NULL;
    const char *grid = s_str (e, "grid");
    const char *category = s_str (e, "category");
    const char *unit = s_str (e, "unit");
    const char *what = s_str (e, "what");
    //  a matter's entry: its id stands where a case's would, its template
    //  for the category, its stage for the state
    bool matter = strcmp (s_str (e, "kind"), "matter") == 0;
    return json_pack ("{s:s, s:s, s:s, s:s, s:s, s:s, s:s, s:I, s:s, s:s, s:s, s:s, s:s, s:s,"
                      " s:s, s:s}",
        "sid", s_str (e, "sid"), "kind", matter ? "matter" : "case", "case_id", s_str (e, "case"),
        "grid", grid, "grid_name", report_dir_grid_name (dir, grid),
        "category", category, "category_name", report_dir_category_name (dir, category),
        "at_ms", (json_int_t) s_get (e, "at"), "what", what, "who", s_str (e, "who"),
        "state", s_str (e, "state"), "tier", s_tier_name (s_get (e, "tier")), "unit", unit,
        "unit_name", *unit ? report_dir_unit_name (dir, unit) : "", "note", s_str (e, "note"),
        "what_label", matter ? report_screen_matter_label (what) : report_screen_what_label (what));
}

json_t *
report_screen_ticker_event (const json_t *e, const directory_t *dir)
{
    json_t *out = report_screen_event (e, dir);
    //  a photo added to a case: the ticker shows it, not its name
    json_t *photo = out && strcmp (s_str (e, "what"), "media") == 0
                  ? report_api_media_link (s_str (e, "note")) : NULL;
    if (photo)
        json_object_set_new (out, "photo", photo);
    return out;
}

//  Rows of a Lua list through fn; an empty list may arrive as {}.
static json_t *
s_rows (const json_t *src, const directory_t *dir,
        json_t *(*fn) (const json_t *, const directory_t *))
{
    json_t *out = json_array ();
    size_t i;
    json_t *r;
    if (json_is_array (src))
        json_array_foreach (src, i, r) {
            json_t *row = fn (r, dir);
            if (row)
                json_array_append_new (out, row);
        }
    return out;
}

//  The funnel: how many cases reached each stage of the chain.
static json_t *
s_funnel_of (const json_t *by_state, long long reported)
{
    long long reached [FUNNEL_STAGES] = { 0 };
    const char *state;
    json_t *count;
    json_object_foreach ((json_t *) by_state, state, count) {
        int stage = s_stage (state);
        for (int k = 0; k <= stage && k < FUNNEL_STAGES; k++)
            reached [k] += json_integer_value (count);
    }
    if (reported > reached [0])
        reached [0] = reported;
    json_t *out = json_array ();
    for (int k = 0; k < FUNNEL_STAGES; k++)
        json_array_append_new (out, json_pack ("{s:s, s:s, s:I}", "stage", s_funnel [k].stage,
                                               "label", s_funnel [k].label,
                                               "count", (json_int_t) reached [k]));
    return out;
}

//  The map: every community of the directory with its grids, open and late.
static json_t *
s_map (const json_t *reply, const json_t *stats, const directory_t *dir)
{
    json_t *out = json_array ();
    if (!dir)
        return out;
    const json_t *open = json_object_get (stats, "open_by_grid");
    const json_t *late = json_object_get (reply, "late_grids");
    const json_t *demand = json_object_get (json_object_get (reply, "demand"), "grid");
    for (size_t c = 0; c < directory_community_count (dir); c++) {
        const dir_community_t *com = directory_community (dir, c);
        json_t *grids = json_array ();
        long long c_open = 0, c_late = 0;
        for (size_t g = 0; g < directory_grid_count (dir); g++) {
            const dir_grid_t *grid = directory_grid (dir, g);
            if (strcmp (grid->community, com->id) != 0)
                continue;
            long long o = s_get (open, grid->id);
            long long l = s_get (late, grid->id);
            const json_t *wk = json_object_get (demand, grid->id);
            c_open += o;
            c_late += l;
            json_t *item = json_pack (
                "{s:s, s:s, s:I, s:I, s:I, s:I}", "id", grid->id, "name", grid->name,
                "open", (json_int_t) o, "late", (json_int_t) l,
                "week", (json_int_t) json_integer_value (json_array_get (wk, 0)),
                "last_week", (json_int_t) json_integer_value (json_array_get (wk, 1)));
            //  the grid's outline, when the directory gives one: the map draws it
            if (item && grid->polygon) {
                json_t *ring = json_array ();
                for (size_t k = 0; k < grid->polygon_points; k++)
                    json_array_append_new (ring, json_pack ("[f, f]", grid->polygon [2 * k],
                                                            grid->polygon [2 * k + 1]));
                json_object_set_new (item, "polygon", ring);
            }
            json_array_append_new (grids, item);
        }
        json_array_append_new (out, json_pack ("{s:s, s:s, s:I, s:I, s:o}", "id", com->id,
                                               "name", com->name, "open", (json_int_t) c_open,
                                               "late", (json_int_t) c_late, "grids", grids));
    }
    return out;
}

//  qsort_r comparison: by the integer field named by key, descending.
static int
s_by_key_desc (const void *a, const void *b, void *key)
{
    long long x = s_get (*(json_t * const *) a, (const char *) key);
    long long y = s_get (*(json_t * const *) b, (const char *) key);
    return x < y ? 1 : x > y ? -1 : 0;
}

//  Sort a JSON array of objects by key, descending, keeping at most max.
static json_t *
s_sorted (json_t *array, const char *key, size_t max)
{
    size_t n = json_array_size (array);
    json_t **items = calloc (n ? n : 1, sizeof *items);
    json_t *out = json_array ();
    if (!items) {
        json_decref (array);
        return out;
    }
    for (size_t i = 0; i < n; i++)
        items [i] = json_incref (json_array_get (array, i));
    qsort_r (items, n, sizeof *items, s_by_key_desc, (void *) key);
    for (size_t i = 0; i < n; i++) {
        if (i < max)
            json_array_append (out, items [i]);
        json_decref (items [i]);
    }
    free (items);
    json_decref (array);
    return out;
}

//  Demand: reports by category and by grid, this week and last.
static json_t *
s_demand (const json_t *reply, const directory_t *dir)
{
    const json_t *demand = json_object_get (reply, "demand");
    json_t *cats = json_array ();
    json_t *grids = json_array ();
    const char *id;
    json_t *wk;
    json_object_foreach (json_object_get (demand, "category"), id, wk) {
        const dir_category_t *c = dir ? directory_category_find (dir, id) : NULL;
        json_array_append_new (cats, json_pack (
            "{s:s, s:s, s:s, s:I, s:I}", "code", id, "name", report_dir_category_name (dir, id),
            "kind", c && c->service ? "service" : "incident",
            "week", (json_int_t) json_integer_value (json_array_get (wk, 0)),
            "last_week", (json_int_t) json_integer_value (json_array_get (wk, 1))));
    }
    json_object_foreach (json_object_get (demand, "grid"), id, wk) {
        json_array_append_new (grids, json_pack (
            "{s:s, s:s, s:I, s:I}", "id", id, "name", report_dir_grid_name (dir, id),
            "week", (json_int_t) json_integer_value (json_array_get (wk, 0)),
            "last_week", (json_int_t) json_integer_value (json_array_get (wk, 1))));
    }
    return json_pack ("{s:o, s:o}", "categories", s_sorted (cats, "week", 1000),
                      "grids", s_sorted (grids, "week", DEMAND_GRIDS_MAX));
}

//  Resources: every unit, on duty now or not, its load against capacity.
static json_t *
s_units (const json_t *reply, const directory_t *dir, long long now, json_t **summary)
{
    street_time_t at;
    street_local (dir, now, &at);
    json_t *units = json_array ();
    long long on_duty = 0, open = 0, capacity = 0, total = 0;
    const char *id;
    json_t *pair;
    json_object_foreach (json_object_get (reply, "units"), id, pair) {
        const dir_unit_t *u = dir ? directory_unit_find (dir, id) : NULL;
        bool duty = report_dir_on_duty (dir, id, &at);
        long long cap = json_integer_value (json_array_get (pair, 0));
        long long o = json_integer_value (json_array_get (pair, 1));
        total++;
        on_duty += duty;
        open += o;
        capacity += cap;
        json_array_append_new (units, json_pack (
            "{s:s, s:s, s:s, s:b, s:I, s:I, s:I}", "id", id,
            "name", u ? u->name : id, "kind", u && u->kind ? u->kind : "",
            "on_duty", duty, "open", (json_int_t) o, "capacity", (json_int_t) cap,
            "load_pct", (json_int_t) (cap > 0 ? o * 100 / cap : 0)));
    }
    *summary = json_pack ("{s:I, s:I, s:I, s:I}", "units", (json_int_t) total,
                          "on_duty", (json_int_t) on_duty, "open", (json_int_t) open,
                          "capacity", (json_int_t) capacity);
    //  busiest first; ties keep the open count order
    json_t *by_open = s_sorted (units, "open", 100000);
    return s_sorted (by_open, "load_pct", 100000);
}

//  Services (项目清单): per service category of the directory, orders
//  taken (every report of the category), waiting for the community to
//  place them, in hand (open), and delivered: placed, handled and closed.
static json_t *
s_services (const json_t *reply, const json_t *stats, const directory_t *dir)
{
    json_t *out = json_array ();
    if (!dir)
        return out;
    const json_t *reported = json_object_get (stats, "reported_by_category");
    const json_t *open = json_object_get (stats, "open_by_category");
    const json_t *counts = json_object_get (reply, "services");
    for (size_t i = 0; i < directory_category_count (dir); i++) {
        const dir_category_t *c = directory_category (dir, i);
        if (!c->service)
            continue;
        const json_t *n = json_object_get (counts, c->code);
        json_array_append_new (out, json_pack (
            "{s:s, s:s, s:I, s:I, s:I, s:I}", "code", c->code, "name", c->name,
            "ordered", (json_int_t) s_get (reported, c->code),
            "waiting", (json_int_t) s_get (n, "waiting"),
            "open", (json_int_t) s_get (open, c->code),
            "delivered", (json_int_t) s_get (n, "delivered")));
    }
    return s_sorted (out, "delivered", 1000);
}

//  One performance row from an accumulator of gc_report_screen's perf.
static json_t *
s_perf_row (const json_t *acc)
{
    long long n = s_get (acc, "n");
    long long sat_n = s_get (acc, "sat_n");
    return json_pack ("{s:I, s:o, s:o, s:o, s:o, s:I}", "closed", (json_int_t) n,
                      "on_time_rate", s_ratio (s_get (acc, "on_time"), n),
                      "on_time_rate_now", s_ratio (s_get (acc, "on_time_now"), n),
                      "avg_handling_ms", n > 0 ? json_integer (s_get (acc, "handling_ms") / n)
                                              : json_null (),
                      "satisfaction", s_ratio (s_get (acc, "sat_sum"), sat_n),
                      "escalations", (json_int_t) s_get (acc, "escalations"));
}

//  Performance: the running totals, and the latest closed cases per tier
//  and per unit.
static json_t *
s_perf (const json_t *reply, const json_t *stats, const directory_t *dir)
{
    const json_t *totals = json_object_get (stats, "totals");
    const json_t *perf = json_object_get (reply, "perf");
    json_t *sample = s_perf_row (json_object_get (perf, "sample"));
    json_t *by_tier = json_array ();
    for (int t = 1; t <= 4; t++) {
        json_t *row = s_perf_row (json_object_get (json_object_get (perf, "by_tier"),
                                                   report_api_tier_name (t)));
        json_object_set_new (row, "tier", json_string (report_api_tier_name (t)));
        json_array_append_new (by_tier, row);
    }
    json_t *by_unit = json_array ();
    const char *id;
    json_t *acc;
    json_object_foreach (json_object_get (perf, "by_unit"), id, acc) {
        json_t *row = s_perf_row (acc);
        json_object_set_new (row, "unit", json_string (id));
        json_object_set_new (row, "name", json_string (report_dir_unit_name (dir, id)));
        json_array_append_new (by_unit, row);
    }
    //  on time against the deadline a case started with (a climb means it
    //  missed it), and against its deadline at the end, both over the
    //  sample; the running totals count against the deadline at resolve
    return json_pack ("{s:I, s:I, s:O, s:O, s:I, s:o, s:I, s:o, s:o, s:o}",
        "resolved", (json_int_t) s_get (totals, "resolved"),
        "resolved_on_time", (json_int_t) s_get (totals, "resolved_on_time"),
        "on_time_rate", json_object_get (sample, "on_time_rate"),
        "on_time_rate_now", json_object_get (sample, "on_time_rate_now"),
        "evaluated", (json_int_t) s_get (totals, "evaluated"),
        "satisfaction", s_ratio (s_get (totals, "satisfaction_sum"), s_get (totals, "evaluated")),
        "escalations", (json_int_t) s_get (totals, "escalations"),
        "sample", sample, "by_tier", by_tier,
        "by_unit", s_sorted (by_unit, "closed", PERF_UNITS_MAX));
}

//  The labels the page shows, so that it holds no list of its own: every
//  tier and every state of the wire contract, by name.
static json_t *
s_labels (void)
{
    json_t *tiers = json_object ();
    for (int t = 1; report_api_tier_name (t); t++)
        json_object_set_new (tiers, report_api_tier_name (t),
                             json_string (report_screen_tier_label (report_api_tier_name (t))));
    json_t *states = json_object ();
    for (size_t i = 0; report_api_state_name (i); i++)
        json_object_set_new (states, report_api_state_name (i),
                             json_string (report_screen_state_label (report_api_state_name (i))));
    return json_pack ("{s:o, s:o}", "tier", tiers, "state", states);
}

json_t *
report_screen_compose (const json_t *reply, const directory_t *dir)
{
    if (!json_is_object (reply) || json_is_false (json_object_get (reply, "ok")))
        return NULL;
    json_t *stats = report_api_stats (reply);
    if (!stats)
        return NULL;
    long long now = s_get (reply, "now");
    json_t *summary = NULL;
    json_t *units = s_units (reply, dir, now, &summary);
    json_t *out = json_pack (
        "{s:I, s:{s:s, s:s}, s:I, s:I, s:I, s:s}",
        "at_ms", (json_int_t) now,
        "street", "code", dir ? directory_street_code (dir) : "",
                  "name", dir ? directory_street_name (dir) : "",
        "dir_version", (json_int_t) s_get (reply, "dir_version"),
        "week_start_ms", (json_int_t) s_get (reply, "week_start"),
        "timer_lag_ms", (json_int_t) s_get (reply, "timer_lag_ms"),
        "stream_last", s_str (reply, "stream_last"));
    if (!out) {
        json_decref (stats);
        json_decref (units);
        json_decref (summary);
        return NULL;
    }
    json_object_set_new (out, "funnel", s_funnel_of (json_object_get (stats, "by_state"),
                                                     s_get (json_object_get (stats, "totals"),
                                                            "reported")));
    json_object_set_new (out, "communities", s_map (reply, stats, dir));
    json_object_set_new (out, "red", s_rows (json_object_get (reply, "red"), dir, s_due_row));
    json_object_set_new (out, "yellow", s_rows (json_object_get (reply, "yellow"), dir, s_due_row));
    json_object_set_new (out, "demand", s_demand (reply, dir));
    json_object_set_new (out, "resources", summary);
    json_object_set_new (out, "units", units);
    json_object_set_new (out, "services", s_services (reply, stats, dir));
    json_object_set_new (out, "perf", s_perf (reply, stats, dir));
    json_object_set_new (out, "ticker", s_rows (json_object_get (reply, "ticker"), dir,
                                                report_screen_ticker_event));
    json_object_set_new (out, "labels", s_labels ());
    json_object_set_new (out, "stats", stats);
    return out;
}
