/*  cli_client.h — a reporter's conversation with intake, Lazy Pirate
    style: send, wait with a timeout, retry on a fresh socket with the same
    idempotency key, so a lost reply never files a report twice. */
#ifndef CLI_CLIENT_H
#define CLI_CLIENT_H

#include <czmq.h>

#include "codec.h"
#include "config.h"

typedef struct _cli_client_t cli_client_t;

//  A client of intake at endpoint; with cert_file (a secret certificate), a
//  CurveZMQ client of server_key (intake's public key or certificate file).
//  Returns NULL when the socket cannot be created or a key not loaded (printed).
cli_client_t *cli_client_new (const char *endpoint, int timeout_ms, int retries,
                              const char *cert_file, const char *server_key);
//  The certificate file a request of this type is sent with: gateway_cert
//  for report and evaluate (when set), else client_cert ("" for none).
const char *cli_client_cert (const config_t *config, const char *type);
void cli_client_destroy (cli_client_t **self_p);

//  Send a reporter request of this type and wait for its answer. Returns 0
//  with reply filled ("report.ok", "ack" or "error"; reset it with
//  codec_msg_reset), or -1 when intake did not answer after the retries.
int cli_client_request (cli_client_t *self, const char *type, const ProtobufCMessage *body,
                        codec_msg_t *reply);

//  Send without waiting; answers are read with cli_client_recv.
int cli_client_send (cli_client_t *self, const char *type, const ProtobufCMessage *body);
//  Read one answer if one comes within timeout_ms. Returns 0 or -1.
int cli_client_recv (cli_client_t *self, int timeout_ms, codec_msg_t *reply);
zsock_t *cli_client_socket (cli_client_t *self);

//  One request to intake at the configured intake_endpoint (timeout
//  request_timeout_ms, two retries), for a command. Returns 0 with reply
//  filled (reset it with codec_msg_reset), or -1 with a message printed
//  when intake did not answer.
int cli_client_ask (const config_t *config, const char *type, const ProtobufCMessage *body,
                    codec_msg_t *reply);
//  A SUB on notify's PUB (events_endpoint) subscribed to topic; a CurveZMQ
//  client with client_cert (or gateway_cert) and events_key when set.
//  Returns NULL when it cannot be made (printed).
zsock_t *cli_subscriber (const config_t *config, const char *topic);
//  When reply is an error or did not decode, print "gridcall: what: CODE:
//  message" and return 1; else return 0.
int cli_client_refused (const char *what, const codec_msg_t *reply);

#endif
