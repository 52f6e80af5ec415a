/*  report_server.c — the report daemon's server object. The HTTP server's
    thread does all the work and is the only user of the store; this class
    owns both and waits, on the main thread, for the stop signal. */
#include "report_server.h"

#include <czmq.h>
#include <stdlib.h>

#include "log.h"
#include "report_http.h"
#include "store.h"

#define RUN_POLL_MS 100             //  how often run looks at zsys_interrupted

struct _report_server_t {
    store_t *store;             //  Redis access, used by the HTTP thread only
    report_http_t *http;        //  the HTTP server and its thread
};

report_server_t *
report_server_new (const config_t *config)
{
    const char *bind = config_str (config, "http_bind");
    if (report_http_check_bind (bind)) {
        log_error ("report: http_bind \"%s\" is not a numeric IPv4 or IPv6 address", bind);
        return NULL;
    }
    report_server_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->store = store_new (config, "report");
    if (!self->store) {
        log_error ("report: store_new() failed: out of memory");
        report_server_destroy (&self);
        return NULL;
    }
    //  connect now so an outage shows in the log at start; requests retry
    store_ensure (self->store);
    self->http = report_http_new (config, self->store);
    if (!self->http)
        report_server_destroy (&self);
    return self;
}

void
report_server_destroy (report_server_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_server_t *self = *self_p;
    //  the HTTP thread uses the store: stop it first
    report_http_destroy (&self->http);
    store_destroy (&self->store);
    free (self);
    *self_p = NULL;
}

int
report_server_run (report_server_t *self)
{
    while (!zsys_interrupted)
        zclock_sleep (RUN_POLL_MS);
    log_notice ("report: stopping after %lu requests", report_http_requests (self->http));
    return 0;
}
