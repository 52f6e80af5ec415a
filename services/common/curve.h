/*  curve.h — a daemon's CurveZMQ side: its certificate, czmq's zauth fed
    from the principals file, the sockets another party reaches (CURVE
    server, message and handshake bounds, a monitor that logs refused
    handshakes with the peer's address), connects to other daemons, and
    reloading the principals on SIGHUP or when the file changes. One per
    daemon: ZAP is one handler per process. docs/security.md. */
#ifndef GC_CURVE_H
#define GC_CURVE_H

#include <czmq.h>
#include <stdbool.h>

#include "auth.h"
#include "config.h"

//  Options of every daemon that binds or connects a ZeroMQ socket.
#define CURVE_OPTIONS \
    { "curve", CFG_BOOL, "yes", 0, 0, \
      "CurveZMQ on every endpoint units, reporters and subscribers reach, and between daemons over TCP; no: binds must be loopback or ipc and peers are anonymous" }, \
    { "curve_secret_file", CFG_STRING, "", 0, 0, \
      "this daemon's certificate, a zcert secret file made by `gridcall keys new` (mode 0600): its key as a server and towards other daemons" }, \
    { "handshake_ms", CFG_INT, "5000", 100, 600000, \
      "a peer must finish its ZeroMQ handshake (greeting, CURVE, ZAP) within this" }
//  Options of a daemon that binds endpoints other parties reach.
#define CURVE_SERVER_OPTIONS \
    { "principals", CFG_STRING, "", 0, 0, \
      "principals file: which public key is which unit, gateway, grid worker, operator, admin or daemon (docs/security.md); reloaded on SIGHUP and on change" }, \
    { "anonymous", CFG_STRING, "none", 0, 0, \
      "with curve no: what a peer without a key may do: none, all, or a principal such as \"grid-worker W grids G01\"" }

//  Who may reach a bound socket: another party (CURVE whenever curve is
//  on, whatever the transport) or another daemon (CURVE over TCP; ipc
//  stays plain, guarded by the file system).
typedef enum { CURVE_PARTY, CURVE_DAEMON } curve_peer_t;

typedef struct _curve_t curve_t;

//  Check the CurveZMQ options of a daemon's table: a bind that is not
//  loopback or ipc needs curve on; curve on needs a readable secret
//  certificate and a principals file for the endpoints that need them,
//  and a server key (X_key) for each TCP X_endpoint. Returns 0, or -1 with
//  what to set in err. Called at start and by --check-config.
int curve_check_config (const cfg_option_t *options, const config_t *config,
                        char *err, size_t errlen);

//  From the options (CURVE_OPTIONS, and CURVE_SERVER_OPTIONS when the
//  table has them). who names the daemon in log lines. Returns NULL with
//  the reason logged.
curve_t *curve_new (const config_t *config, const char *who);
//  Stop zauth and the monitors. Close the bound sockets first (curve_close).
void curve_destroy (curve_t **self_p);
bool curve_on (const curve_t *self);

//  Create and bind a socket that peer reaches: CURVE server with ZAP
//  (zauth started before the first such bind), ZMQ_MAXMSGSIZE from
//  message_max (0: none), ZMQ_HANDSHAKE_IVL, a monitor for refused
//  handshakes. Returns the socket or NULL (logged; a non-loopback bind
//  without CURVE is refused).
zsock_t *curve_bind (curve_t *self, int type, const char *endpoint, curve_peer_t peer,
                     size_t message_max);
//  Create and connect a socket to another daemon's endpoint; over TCP with
//  curve on, as a CURVE client of the server key in option key_option.
//  Returns the socket or NULL (logged).
zsock_t *curve_connect (curve_t *self, int type, const char *endpoint, const char *key_option);
//  Stop a bound socket's monitor and destroy it.
void curve_close (curve_t *self, zsock_t **sock_p);
//  Drop every connection of a bound socket (unbind, bind again): every
//  peer reconnects and handshakes again, so a revoked key's open session
//  ends. For PUB sockets, which cannot refuse one subscriber. Returns 0 or -1.
int curve_rebind (curve_t *self, zsock_t *sock);

//  The principal of a message's User-Id (its Z85 key; "" without CURVE:
//  the anonymous principal, or NULL). NULL for an unknown or revoked key.
//  Borrowed until the next curve_tick.
const auth_principal_t *curve_principal (curve_t *self, const char *user_id);

//  Reload the principals when SIGHUP asked or the file changed (looked at
//  twice a second). Call from the loop that owns the sockets. Returns how
//  many keys were revoked or changed by this call (0 most of the time).
size_t curve_tick (curve_t *self);
//  Principals files taken by curve_tick since start, the file and what the
//  last one changed (borrowed). Owner's thread only.
unsigned curve_reloads (const curve_t *self, const char **path, const char **note);
//  Keys revoked or changed since start; any thread (an atomic load).
unsigned curve_revocations (const curve_t *self);

//  Load a secret certificate (zcert secret file). Returns it or NULL with
//  the reason in err (missing, no secret key, readable by others).
zcert_t *curve_cert_load (const char *path, char *err, size_t errlen);
//  A server's public key from a 40-character Z85 text or a zcert public
//  file, into z85 (41 bytes). Returns 0 or -1 with the reason in err.
int curve_public_load (const char *text_or_path, char *z85, char *err, size_t errlen);

//  True when endpoint is ipc://, inproc:// or tcp:// on a loopback address.
bool curve_endpoint_local (const char *endpoint);

#endif
