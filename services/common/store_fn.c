/*  store_fn.c — the table of Redis functions the C side calls. */
#include "store_fn.h"

#include <stdio.h>
#include <string.h>

const store_fn_t store_fns [] = {
    //  cases (20_cases.lua)
    { "gc_register", 12, 16, false },
    { "gc_verify", 6, 6, false },
    { "gc_evaluate", 4, 5, false },
    { "gc_case_get", 1, 1, true },
    { "gc_stats", 0, 0, true },
    { "gc_claim", 3, 3, false },
    //  who may act on a case (22_scope.lua)
    { "gc_case_scope", 1, -1, true },
    //  dispatch (10_dispatch.lua)
    { "gc_offer", 6, -1, false },
    { "gc_unit_reply", 6, 6, false },
    { "gc_case_brief", 1, -1, false },
    { "gc_unit_hello", 2, 2, false },
    { "gc_units_seen", 1, -1, false },
    { "gc_units_reset", 1, 2, false },
    { "gc_unit_gone", 2, 2, false },
    { "gc_unit_cases", 1, 1, true },
    { "gc_route_rank", 1, -1, true },
    { "gc_withdrawals", 1, 1, false },
    { "gc_ready", 2, -1, false },
    //  several instances (90_cluster.lua)
    { "gc_lead", 3, 3, false },
    { "gc_resign", 2, 2, false },
    { "gc_fenced", 2, -1, false },
    { "gc_instance_beat", 4, 4, false },
    { "gc_instances", 0, 0, true },
    //  orders (15_orders.lua)
    { "gc_order_place", 3, 3, false },
    { "gc_orders", 1, 1, true },
    { "gc_orders_autoplace", 0, -1, false },
    { "gc_order_decline", 4, 4, false },
    //  clocks, timers, extensions, parking
    { "gc_clock_get", 1, 1, false },
    { "gc_clock_set", 3, 3, false },
    { "gc_fire", 3, 3, false },
    { "gc_extend_request", 6, 6, false },
    { "gc_extend_decide", 7, 7, false },
    { "gc_park", 6, 6, false },
    { "gc_merge", 5, 5, false },
    { "gc_unpark", 5, 5, false },
    { "gc_timer_stats", 0, 0, true },
    //  notification jobs (40_notify.lua)
    { "gc_job_claim", 2, 2, false },
    { "gc_job_get", 1, 1, true },
    { "gc_jobs_get", 1, -1, true },
    { "gc_job_done", 4, 4, false },
    { "gc_jobs_done", 1, -1, false },
    { "gc_notify_grace", 1, 1, false },
    //  directory (50_directory.lua)
    { "gc_dir_load", 2, 2, false },
    { "gc_dir_get", 0, 0, true },
    { "gc_dir_version", 0, 0, true },
    //  report reads (60_report.lua)
    { "gc_report_cases", 1, 1, true },
    { "gc_report_range", 2, -1, true },
    { "gc_report_range_open", 5, 5, true },
    { "gc_report_screen", 5, 5, true },
    { "gc_report_events", 2, 2, true },
    { "gc_report_units", 0, 0, true },
    //  the community's lists (70_community.lua): verb, who, area, fields
    { "gc_community", 4, 16, false },
    { "gc_community_read", 1, 4, true },
    //  matters and meetings (75_matters.lua)
    { "gc_matter_templates_load", 2, 2, false },
    { "gc_matter_propose", 10, 10, false },
    { "gc_matter_promote", 7, 7, false },
    { "gc_meeting_schedule", 10, 10, false },
    { "gc_meeting_agenda", 5, 5, false },
    { "gc_matter_deliberate", 9, 9, false },
    { "gc_matter_notice", 7, 7, false },
    { "gc_matter_vote", 10, 10, false },
    { "gc_matter_tasks", 7, 7, false },
    { "gc_matter_evaluate", 6, 6, false },
    { "gc_matter_close", 5, 5, false },
    { "gc_matter_get", 1, 1, true },
    { "gc_matters", 2, 2, true },
    { "gc_matter_templates", 0, 0, true },
    //  the front doors (65_doors.lua)
    { "gc_rate_take", 3, 4, false },
    { "gc_case_media", 3, 12, false },
    { "gc_door_cases", 1, 1, true },
    //  the library's version (generated) and the audit chain (01_audit.lua)
    { "gc_version", 0, 0, true },
    { "gc_audit_add", 4, 4, false },
    { "gc_audit_range", 2, 2, true },
    { NULL, 0, 0, false }
};

const store_fn_t *
store_fn_check (const char *fn, int argc, char *reason, size_t reasonlen)
{
    for (const store_fn_t *f = store_fns; f->name; f++)
        if (strcmp (f->name, fn) == 0) {
            if (argc >= f->min_args && (f->max_args < 0 || argc <= f->max_args))
                return f;
            snprintf (reason, reasonlen, "%s takes %d%s arguments, not %d", fn, f->min_args,
                      f->max_args < 0 ? " or more" : "", argc);
            return NULL;
        }
    snprintf (reason, reasonlen, "%s is not a gridcall function", fn);
    return NULL;
}
