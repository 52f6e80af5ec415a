/*  store_fn.c — the table of Redis functions the C side calls. */
#include "store_fn.h"

#include <stdio.h>
#include <string.h>

const store_fn_t store_fns [] = {
    //  cases (20_cases.lua)
    { "gc_register", 10, 11 },
    { "gc_verify", 5, 6 },
    { "gc_evaluate", 4, 5 },
    { "gc_case_get", 1, 1 },
    { "gc_stats", 0, 0 },
    { "gc_claim", 3, 3 },
    //  who may act on a case (22_scope.lua)
    { "gc_case_scope", 1, -1 },
    //  dispatch (10_dispatch.lua)
    { "gc_offer", 6, -1 },
    { "gc_unit_reply", 6, 6 },
    { "gc_case_brief", 1, -1 },
    { "gc_unit_hello", 2, 2 },
    { "gc_units_seen", 1, -1 },
    { "gc_units_reset", 1, 1 },
    { "gc_unit_gone", 2, 2 },
    { "gc_unit_cases", 1, 1 },
    { "gc_route_rank", 1, -1 },
    { "gc_withdrawals", 1, 1 },
    { "gc_ready", 2, -1 },
    //  orders (15_orders.lua)
    { "gc_order_place", 2, 3 },
    { "gc_orders", 1, 1 },
    { "gc_orders_autoplace", 0, -1 },
    { "gc_order_decline", 3, 4 },
    //  clocks, timers, extensions, parking
    { "gc_clock_get", 1, 1 },
    { "gc_clock_set", 2, 2 },
    { "gc_fire", 3, 3 },
    { "gc_extend_request", 6, 6 },
    { "gc_extend_decide", 6, 7 },
    { "gc_park", 5, 6 },
    { "gc_unpark", 4, 5 },
    { "gc_timer_stats", 0, 0 },
    //  notification jobs (40_notify.lua)
    { "gc_job_claim", 2, 2 },
    { "gc_job_get", 1, 1 },
    { "gc_jobs_get", 1, -1 },
    { "gc_job_done", 4, 4 },
    { "gc_jobs_done", 1, -1 },
    { "gc_notify_grace", 1, 1 },
    //  directory (50_directory.lua)
    { "gc_dir_load", 1, 1 },
    { "gc_dir_get", 0, 0 },
    { "gc_dir_version", 0, 0 },
    //  report reads (60_report.lua)
    { "gc_report_cases", 1, 1 },
    { "gc_report_range", 2, -1 },
    { "gc_report_screen", 5, 5 },
    { "gc_report_events", 2, 2 },
    { "gc_report_units", 0, 0 },
    { NULL, 0, 0 }
};

bool
store_fn_check (const char *fn, int argc, char *reason, size_t reasonlen)
{
    for (const store_fn_t *f = store_fns; f->name; f++)
        if (strcmp (f->name, fn) == 0) {
            if (argc >= f->min_args && (f->max_args < 0 || argc <= f->max_args))
                return true;
            snprintf (reason, reasonlen, "%s takes %d%s arguments, not %d", fn, f->min_args,
                      f->max_args < 0 ? " or more" : "", argc);
            return false;
        }
    snprintf (reason, reasonlen, "%s is not a gridcall function", fn);
    return false;
}
