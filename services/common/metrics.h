/*  metrics.h — a small Prometheus text-format registry: counters and
    gauges registered by name and help, bumped from any thread (atomics),
    rendered as text, and served at GET /metrics by a tiny HTTP helper. */
#ifndef GC_METRICS_H
#define GC_METRICS_H

#include <stdint.h>

typedef struct _metrics_t metrics_t;
typedef struct _metric_t metric_t;
typedef struct _metrics_http_t metrics_http_t;

//  Create a registry; every metric name gets prefix (e.g. "gridcall_report_").
//  Returns NULL on no memory.
metrics_t *metrics_new (const char *prefix);
//  Free the registry and its metrics; set *self_p to NULL.
void metrics_destroy (metrics_t **self_p);

//  Label every series with instance="<instance>" (several instances of a
//  daemon scraped under one job). Returns 0, or -1 on no memory or a name
//  with a quote, backslash or control character.
int metrics_set_instance (metrics_t *self, const char *instance);

//  Register a counter or gauge. name may carry labels, as in
//  'pending{stage="dispatch"}'; metrics of one base name share its help.
//  Returns the metric (owned by the registry), or NULL on no memory or a
//  name that is not [a-zA-Z_:][a-zA-Z0-9_:]* plus an optional {labels}.
//  Registering the same name twice returns the first metric.
metric_t *metrics_counter (metrics_t *self, const char *name, const char *help);
metric_t *metrics_gauge (metrics_t *self, const char *name, const char *help);

//  Change a metric; safe from any thread, and a NULL metric is ignored.
void metric_inc (metric_t *metric);
void metric_add (metric_t *metric, int64_t delta);
void metric_set (metric_t *metric, int64_t value);
//  The current value (0 for NULL).
int64_t metric_value (const metric_t *metric);

//  The registry in Prometheus text format 0.0.4. Caller frees; NULL on no memory.
char *metrics_render (metrics_t *self);

//  Serve GET /metrics (and HEAD) from the registry on bind:port (numeric
//  IPv4; port 0 picks a free one) on its own thread. Returns NULL with a
//  log line on failure. For daemons that have no HTTP server of their own.
metrics_http_t *metrics_http_start (metrics_t *metrics, const char *bind, int port);
//  The port actually bound.
int metrics_http_port (const metrics_http_t *self);
//  Stop serving and free; set *self_p to NULL.
void metrics_http_stop (metrics_http_t **self_p);

#endif
