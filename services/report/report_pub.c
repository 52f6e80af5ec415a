/*  report_pub.c — packs ScreenEvent and ScreenSnapshot (protobuf-c) and
    sends them as [topic][body] on a PUB socket; a subscriber that is slow
    loses messages at the high-water mark and never slows the report. */
#include "report_pub.h"

#include <czmq.h>
#include <stdlib.h>
#include <string.h>

#include "daemon.h"
#include "log.h"
#include "report.pb-c.h"
#include "report_api.h"

struct _report_pub_t {
    void *sock;                 //  zsock_t PUB
    curve_t *curve;             //  borrowed: bound it, says when keys are revoked
    unsigned revocations;       //  curve's count when last rebound
};

report_pub_t *
report_pub_new (curve_t *curve, const char *endpoint)
{
    report_pub_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->curve = curve;
    self->revocations = curve_revocations (curve);
    //  subscribers send only subscriptions: a small bound
    self->sock = curve_bind (curve, ZMQ_PUB, endpoint, CURVE_PARTY, 256);
    if (!self->sock) {
        free (self);
        return NULL;
    }
    log_notice ("report: publishing screen events on \"%s\"", endpoint);
    return self;
}

void
report_pub_destroy (report_pub_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_pub_t *self = *self_p;
    zsock_t *sock = (zsock_t *) self->sock;
    curve_close (self->curve, &sock);
    free (self);
    *self_p = NULL;
}

void
report_pub_tick (report_pub_t *self)
{
    unsigned revocations = curve_revocations (self->curve);
    if (revocations != self->revocations) {
        self->revocations = revocations;
        curve_rebind (self->curve, self->sock);
    }
    //  the PUB ends a dropped session when it next looks at its commands
    zsock_events (self->sock);
}

//  Send [topic][len bytes of body]. Returns 0 or -1.
static int
s_send (report_pub_t *self, const char *topic, const void *body, size_t len)
{
    zmsg_t *msg = zmsg_new ();
    if (!msg)
        return -1;
    zmsg_addstr (msg, topic);
    zmsg_addmem (msg, body, len);
    return zmsg_send (&msg, self->sock);
}

static char *
s_str (const json_t *obj, const char *key)
{
    const char *s = json_string_value (json_object_get (obj, key));
    return (char *) (s ? s : "");
}

int
report_pub_event (report_pub_t *self, const json_t *e)
{
    Gridcall__V1__ScreenEvent msg = GRIDCALL__V1__SCREEN_EVENT__INIT;
    msg.stream_id = s_str (e, "sid");
    msg.case_id = s_str (e, "case_id");
    msg.grid = s_str (e, "grid");
    msg.grid_name = s_str (e, "grid_name");
    msg.category = s_str (e, "category");
    msg.category_name = s_str (e, "category_name");
    long long at = 0;
    report_api_int (json_object_get (e, "at_ms"), &at);
    msg.at_ms = at;
    msg.what = s_str (e, "what");
    msg.who = s_str (e, "who");
    msg.state = s_str (e, "state");
    const char *tier = s_str (e, "tier");
    for (int t = 1; t <= 4; t++)
        if (strcmp (tier, report_api_tier_name (t)) == 0)
            msg.tier = (Gridcall__V1__Tier) t;
    msg.unit = s_str (e, "unit");
    msg.note = s_str (e, "note");
    size_t len = gridcall__v1__screen_event__get_packed_size (&msg);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return -1;
    gridcall__v1__screen_event__pack (&msg, buf);
    int rc = s_send (self, "screen.event", buf, len);
    free (buf);
    return rc;
}

int
report_pub_snapshot (report_pub_t *self, long long at_ms, const char *json)
{
    Gridcall__V1__ScreenSnapshot msg = GRIDCALL__V1__SCREEN_SNAPSHOT__INIT;
    msg.at_ms = at_ms;
    msg.json = (char *) json;
    size_t len = gridcall__v1__screen_snapshot__get_packed_size (&msg);
    uint8_t *buf = malloc (len ? len : 1);
    if (!buf)
        return -1;
    gridcall__v1__screen_snapshot__pack (&msg, buf);
    int rc = s_send (self, "screen.snapshot", buf, len);
    free (buf);
    return rc;
}
