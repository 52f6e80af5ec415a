/*  cli_client.c — request/reply with intake over a DEALER, as a CurveZMQ
    client when a certificate is given. */
#include "cli_client.h"

#include <stdlib.h>

#include "curve.h"
#include "daemon.h"

struct _cli_client_t {
    char *endpoint;
    int timeout_ms;             //  wait for one answer
    int retries;                //  further attempts after a timeout
    zcert_t *cert;              //  our certificate, or NULL: no CURVE
    char server_key [AUTH_KEY_LEN + 1];     //  intake's public key
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
    if (self->cert) {
        zcert_apply (self->cert, self->dealer);
        zsock_set_curve_serverkey (self->dealer, self->server_key);
    }
    return zsock_connect (self->dealer, "%s", self->endpoint) < 0 ? -1 : 0;
}

cli_client_t *
cli_client_new (const char *endpoint, int timeout_ms, int retries, const char *cert_file,
                const char *server_key)
{
    cli_client_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->endpoint = strdup (endpoint);
    self->timeout_ms = timeout_ms;
    self->retries = retries;
    char err [512];
    if (cert_file && *cert_file) {
        if (!(self->cert = curve_cert_load (cert_file, err, sizeof err))
        ||  curve_public_load (server_key, self->server_key, err, sizeof err)) {
            fprintf (stderr, "gridcall: %s\n", err);
            cli_client_destroy (&self);
            return NULL;
        }
    }
    if (!self->endpoint || s_connect (self))
        cli_client_destroy (&self);
    return self;
}

const char *
cli_client_cert (const config_t *config, const char *type)
{
    const char *gateway = config_str (config, "gateway_cert");
    //  reports and evaluations come from a gateway; the rest from an official
    if (*gateway && (streq (type, "report") || streq (type, "evaluate")
                 || streq (type, "matter.evaluate")))
        return gateway;
    return config_str (config, "client_cert");
}

void
cli_client_destroy (cli_client_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    cli_client_t *self = *self_p;
    zsock_destroy (&self->dealer);
    zcert_destroy (&self->cert);
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
    cli_client_t *client = cli_client_new (endpoint, (int) config_int (config, "request_timeout_ms"), 2,
                                           cli_client_cert (config, type),
                                           config_str (config, "intake_key"));
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

zsock_t *
cli_subscriber (const config_t *config, const char *topic)
{
    const char *cert_file = config_str (config, "client_cert");
    if (!*cert_file)
        cert_file = config_str (config, "gateway_cert");
    zsock_t *sub = zsock_new (ZMQ_SUB);
    char err [512], key [AUTH_KEY_LEN + 1];
    zcert_t *cert = NULL;
    if (sub && *cert_file) {
        cert = curve_cert_load (cert_file, err, sizeof err);
        if (!cert || curve_public_load (config_str (config, "events_key"), key, err, sizeof err)) {
            fprintf (stderr, "gridcall: events: %s\n", err);
            zsock_destroy (&sub);
        }
        else {
            zcert_apply (cert, sub);
            zsock_set_curve_serverkey (sub, key);
        }
    }
    zcert_destroy (&cert);
    if (sub) {
        zsock_set_subscribe (sub, topic);
        if (zsock_connect (sub, "%s", config_str (config, "events_endpoint")) < 0)
            zsock_destroy (&sub);
    }
    return sub;
}
