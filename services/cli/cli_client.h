/*  cli_client.h — a reporter's conversation with intake, Lazy Pirate
    style: send, wait with a timeout, retry on a fresh socket with the same
    idempotency key, so a lost reply never files a report twice. */
#ifndef CLI_CLIENT_H
#define CLI_CLIENT_H

#include <czmq.h>

#include "codec.h"
#include "config.h"

typedef struct _cli_client_t cli_client_t;

//  Returns NULL when the socket cannot be created.
cli_client_t *cli_client_new (const char *endpoint, int timeout_ms, int retries);
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
//  When reply is an error or did not decode, print "gridcall: what: CODE:
//  message" and return 1; else return 0.
int cli_client_refused (const char *what, const codec_msg_t *reply);

#endif
