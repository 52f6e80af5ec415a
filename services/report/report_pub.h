/*  report_pub.h — the report's ZeroMQ PUB for screens that are not
    browsers: live case events and screen snapshots, encoded as the
    messages of proto/report.proto. Used from one thread only. */
#ifndef REPORT_PUB_H
#define REPORT_PUB_H

#include <jansson.h>

#include "curve.h"

typedef struct _report_pub_t report_pub_t;

//  Bind a PUB socket at endpoint through curve (CurveZMQ, bounds, refused
//  handshakes logged; curve is borrowed and must outlive the publisher).
//  NULL with a log line on failure.
report_pub_t *report_pub_new (curve_t *curve, const char *endpoint);
//  After a key was revoked, drop every subscriber's connection (they
//  reconnect and handshake again; the revoked key cannot). Call from the
//  thread that publishes.
void report_pub_tick (report_pub_t *self);
void report_pub_destroy (report_pub_t **self_p);

//  Publish "screen.event" from an event as report_screen_event builds it.
//  Returns 0, or -1 when it could not be encoded or sent.
int report_pub_event (report_pub_t *self, const json_t *event);
//  Publish "screen.snapshot" with the snapshot document's text.
int report_pub_snapshot (report_pub_t *self, long long at_ms, const char *json);

#endif
