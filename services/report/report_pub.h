/*  report_pub.h — the report's ZeroMQ PUB for screens that are not
    browsers: live case events and screen snapshots, encoded as the
    messages of proto/report.proto. Used from one thread only. */
#ifndef REPORT_PUB_H
#define REPORT_PUB_H

#include <jansson.h>

typedef struct _report_pub_t report_pub_t;

//  Bind a PUB socket at endpoint. NULL with a log line on failure.
report_pub_t *report_pub_new (const char *endpoint);
void report_pub_destroy (report_pub_t **self_p);

//  Publish "screen.event" from an event as report_screen_event builds it.
//  Returns 0, or -1 when it could not be encoded or sent.
int report_pub_event (report_pub_t *self, const json_t *event);
//  Publish "screen.snapshot" with the snapshot document's text.
int report_pub_snapshot (report_pub_t *self, long long at_ms, const char *json);

#endif
