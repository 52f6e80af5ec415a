/*  report_feed.h — the report's live feed: a thread with its own Redis
    connection that reads new entries of the events stream, builds screen
    snapshots, and hands both to the hub (for SSE screens) and the PUB
    socket; it also writes the daily ledger file and keeps the figures
    /metrics shows. */
#ifndef REPORT_FEED_H
#define REPORT_FEED_H

#include "config.h"
#include "curve.h"
#include "metrics.h"
#include "report_dir.h"
#include "report_hub.h"

typedef struct _report_feed_t report_feed_t;

//  Start the feed thread. hub, metrics, curve (which binds pub_bind) and
//  share (its directory cache reads through it) are borrowed and must
//  outlive the feed. Returns NULL with a log line on failure (e.g. pub_bind).
report_feed_t *report_feed_new (const config_t *config, report_hub_t *hub, metrics_t *metrics,
                                curve_t *curve, report_dir_share_t *share);

//  Stop the thread (within a poll interval) and free; set *self_p to NULL.
void report_feed_destroy (report_feed_t **self_p);

#endif
