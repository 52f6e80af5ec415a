/*  cli_client.c — request/reply with intake over a DEALER. */
#include "cli_client.h"

#include <stdlib.h>

#include "daemon.h"

struct _cli_client_t {
    char *endpoint;
    int timeout_ms;             //  wait for one answer
    int retries;                //  further attempts after a timeout
    zsock_t *dealer;
};

static int
s_connect (cli_client_t *self)
{
    zsock_destroy (&self->dealer);
    self->dealer = zsock_new (ZMQ_DEALER);
    if (!self->dealer)
        return -1;
    zsock_set_linger (self->dealer, 0);
    zsock_set_sndhwm (self->dealer, 100000);
    zsock_set_rcvhwm (self->dealer, 100000);
    return zsock_connect (self->dealer, "%s", self->endpoint) < 0 ? -1 : 0;
}

cli_client_t *
cli_client_new (const char *endpoint, int timeout_ms, int retries)
{
    cli_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->timeout_ms = timeout_ms;
    self->retries = retries;
    if (!self->endpoint || s_connect (self))
        cli_client_destroy (&self);
    return self;
}

void
cli_client_destroy (cli_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_client_t *self = *self_p;
    zsock_destroy (&self->dealer);
    free (self->endpoint);
    free (self);
    *self_p = NULL;
}

zsock_t *
cli_client_socket (cli_client_t *self)
{
    return self->dealer;
}

int
cli_client_send (cli_client_t *self, const char *type, const ProtobufCMessage *body)
{
    return codec_send (self->dealer, NULL, type, body);
}

int
cli_client_recv (cli_client_t *self, int timeout_ms, codec_msg_t *reply)
{
    zpoller_t *poller = zpoller_new (self->dealer, NULL);
    void *which = zpoller_wait (poller, timeout_ms);
    zpoller_destroy (&poller);
    if (!which)
        return -1;
    return codec_recv (self->dealer, false, codec_reporter, 1 << 20, reply);
}

int
cli_client_request (cli_client_t *self, const char *type, const ProtobufCMessage *body,
                    codec_msg_t *reply)
{
    for (int attempt = 0; attempt <= self->retries && !zsys_interrupted; attempt++) {
        if (attempt > 0 && s_connect (self))
            return -1;
        if (cli_client_send (self, type, body))
            continue;
        if (cli_client_recv (self, self->timeout_ms, reply) == 0)
            return 0;
    }
    return -1;
}

int
cli_client_ask (const config_t *config, const char *type, const ProtobufCMessage *body,
                codec_msg_t *reply)
{
    const char *endpoint = config_str (config, "intake_endpoint");
    cli_client_t *client = cli_client_new (endpoint, (int) config_int (config, "request_timeout_ms"), 2);
    int rc = client ? cli_client_request (client, type, body, reply) : -1;
    if (rc)
        fprintf (stderr, "gridcall: intake at %s did not answer\n", endpoint);
    cli_client_destroy (&client);
    return rc;
}

int
cli_client_refused (const char *what, const codec_msg_t *reply)
{
    const char *code = NULL, *message = NULL;
    if (!reply->body) {
        code = codec_error_name (reply->error);
        message = reply->reason;
    }
    else
    if (streq (reply->type, "error")) {
        const Gridcall__V1__Error *e = (const Gridcall__V1__Error *) reply->body;
        code = codec_error_name (e->code);
        message = e->message;
    }
    if (!code)
        return 0;
    fprintf (stderr, "gridcall: %s: %s: %s\n", what, code, message);
    return 1;
}
