/*  curve.c — CurveZMQ for a daemon: certificate, zauth fed from the
    principals file, bounded and monitored server sockets, reloads. */
#include "curve.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"

#define CURVE_POLL_MS 500           //  how often the principals file is looked at
#define CURVE_ZAP_RETRY_MS 10000    //  how often a lost zauth is started again
#define CURVE_ZAP_DOMAIN "gridcall"
#define CURVE_LOG_PER_SECOND 10     //  refused-handshake lines per socket per second
#define CURVE_FRAME_SLACK 4096      //  frame bytes beyond message_max (type frame, CURVE box)

//  A socket bound here, so it can be rebound and its monitor stopped.
typedef struct {
    zsock_t *sock;              //  borrowed: the caller owns it
    char *endpoint;             //  what it is bound to (resolved: no wildcard port)
    char *monitor;              //  inproc endpoint of its monitor, or NULL
} s_bound_t;

struct _curve_t {
    char who [32];              //  daemon name for log lines
    bool on;                    //  option curve
    int handshake_ms;           //  option handshake_ms
    zcert_t *cert;              //  our certificate, when curve is on and one is set
    char *cert_path;            //  curve_secret_file
    char *principals_path;      //  principals file, or NULL
    auth_principals_t *principals;  //  the keys in force
    auth_principal_t anonymous; //  what a peer without a key is
    bool anonymous_set;         //  false: anonymous = none
    struct stat seen;           //  the principals file when last loaded
    long long next_check;       //  monotonic ms of the next look at the file
    unsigned hup;               //  the SIGHUP generation last acted on
    zactor_t *zauth;            //  the ZAP handler, started before the first CURVE bind
    bool zap_wanted;            //  a CURVE bind needs zauth: restarted if a reload lost it
    long long zap_retry_at;     //  when to try that again (a try may wait a second)
    zactor_t *watcher;          //  reads the monitors, logs refused handshakes
    zlistx_t *bound;            //  s_bound_t of the sockets bound here
    atomic_uint revocations;    //  keys revoked or changed since start
    unsigned reloads;           //  principals files taken since start
    char reload_note [160];     //  what the last one changed
};

//  ---------------------------------------------------------------------
//  Endpoints and key files

bool
curve_endpoint_local (const char *endpoint)
{
    if (strncmp (endpoint, "ipc://", 6) == 0 || strncmp (endpoint, "inproc://", 9) == 0)
        return true;
    if (strncmp (endpoint, "tcp://", 6) != 0)
        return false;
    const char *host = endpoint + 6;
    const char *colon = strrchr (host, ':');
    size_t len = colon ? (size_t) (colon - host) : strlen (host);
    char text [64];
    if (len == 0 || len >= sizeof text)
        return false;
    memcpy (text, host, len);
    text [len] = 0;
    if (strcmp (text, "localhost") == 0 || strcmp (text, "lo") == 0
    ||  strcmp (text, "[::1]") == 0 || strcmp (text, "::1") == 0)
        return true;
    struct in_addr addr;
    return inet_pton (AF_INET, text, &addr) == 1 && (ntohl (addr.s_addr) >> 24) == 127;
}

zcert_t *
curve_cert_load (const char *path, char *err, size_t errlen)
{
    struct stat st;
    if (!path || !*path) {
        snprintf (err, errlen, "no certificate file given");
        return NULL;
    }
    if (stat (path, &st)) {
        snprintf (err, errlen, "%s: %s", path, strerror (errno));
        return NULL;
    }
    if (st.st_mode & (S_IRWXG | S_IRWXO)) {
        snprintf (err, errlen, "%s: a secret certificate must not be readable by others "
                  "(mode %03o; chmod 600 it)", path, (unsigned) (st.st_mode & 0777));
        return NULL;
    }
    zcert_t *cert = zcert_load (path);
    static const uint8_t zero [32] = { 0 };
    if (!cert)
        snprintf (err, errlen, "%s: not a zcert certificate (gridcall keys new NAME makes one)",
                  path);
    else
    if (memcmp (zcert_secret_key (cert), zero, 32) == 0) {
        snprintf (err, errlen, "%s: holds no secret key: give the NAME.key_secret file", path);
        zcert_destroy (&cert);
    }
    return cert;
}

int
curve_public_load (const char *text_or_path, char *z85, char *err, size_t errlen)
{
    if (!text_or_path || !*text_or_path) {
        snprintf (err, errlen, "no server key given");
        return -1;
    }
    if (auth_key_valid (text_or_path)) {
        snprintf (z85, AUTH_KEY_LEN + 1, "%s", text_or_path);
        return 0;
    }
    zcert_t *cert = access (text_or_path, R_OK) == 0 ? zcert_load (text_or_path) : NULL;
    if (!cert) {
        snprintf (err, errlen, "%s: neither a Z85 public key nor a readable zcert file",
                  text_or_path);
        return -1;
    }
    snprintf (z85, AUTH_KEY_LEN + 1, "%s", zcert_public_txt (cert));
    zcert_destroy (&cert);
    return 0;
}

//  ---------------------------------------------------------------------
//  Checking the options

//  True when option name is a ZeroMQ bind endpoint option.
static bool
s_is_bind (const char *name)
{
    size_t len = strlen (name);
    return strcmp (name, "bind") == 0 || (len > 5 && strcmp (name + len - 5, "_bind") == 0);
}

int
curve_check_config (const cfg_option_t *options, const config_t *config,
                    char *err, size_t errlen)
{
    if (!config_has (config, "curve"))
        return 0;
    bool on = config_bool (config, "curve");
    bool need_principals = false;
    const char *need_cert = NULL;       //  the option that needs our certificate
    for (const cfg_option_t *opt = options; opt->name; opt++) {
        if (opt->type != CFG_STRING)
            continue;
        const char *value = config_str (config, opt->name);
        if (!*value || !strstr (value, "://"))
            continue;           //  unset, or not a ZeroMQ endpoint (http_bind)
        bool tcp = strncmp (value, "tcp://", 6) == 0;
        if (s_is_bind (opt->name)) {
            if (!on && !curve_endpoint_local (value)) {
                snprintf (err, errlen, "%s \"%s\" is not loopback or ipc, and curve is off: "
                          "set curve yes (with curve_secret_file and principals) or bind to "
                          "127.0.0.1 or ipc://", opt->name, value);
                return -1;
            }
            bool party = strcmp (opt->name, "work_bind") != 0;
            if (on && (party || tcp)) {
                need_principals = true;
                need_cert = opt->name;
            }
            continue;
        }
        size_t len = strlen (opt->name);
        if (on && tcp && len > 9 && strcmp (opt->name + len - 9, "_endpoint") == 0) {
            char key_option [64], z85 [AUTH_KEY_LEN + 1], problem [400];
            snprintf (key_option, sizeof key_option, "%.*s_key", (int) (len - 9), opt->name);
            if (!config_has (config, key_option))
                continue;
            if (curve_public_load (config_str (config, key_option), z85, problem, sizeof problem)) {
                snprintf (err, errlen, "%s \"%s\" is TCP with curve on: set %s to that daemon's "
                          "public key or certificate file (%s)", opt->name, value, key_option,
                          problem);
                return -1;
            }
            need_cert = opt->name;
        }
    }
    char problem [400];
    if (need_cert) {
        zcert_t *cert = curve_cert_load (config_str (config, "curve_secret_file"), problem,
                                         sizeof problem);
        if (!cert) {
            snprintf (err, errlen, "%s needs CurveZMQ (curve is on): set curve_secret_file to "
                      "this daemon's secret certificate (gridcall keys new NAME): %s", need_cert,
                      problem);
            return -1;
        }
        zcert_destroy (&cert);
    }
    if (need_principals) {
        const char *path = config_has (config, "principals") ? config_str (config, "principals") : "";
        auth_principals_t *principals = *path ? auth_principals_load (path, problem, sizeof problem)
                                              : NULL;
        if (!principals) {
            snprintf (err, errlen, "curve is on: set principals to the principals file "
                      "(docs/security.md)%s%s", *path ? ": " : "", *path ? problem : "");
            return -1;
        }
        auth_principals_destroy (&principals);
    }
    if (config_has (config, "anonymous")) {
        const char *anonymous = config_str (config, "anonymous");
        auth_principal_t p;
        if (strcmp (anonymous, "none") != 0 && strcmp (anonymous, "all") != 0) {
            if (auth_principal_parse (anonymous, &p, problem, sizeof problem)) {
                snprintf (err, errlen, "anonymous: none, all or a principal: %s", problem);
                return -1;
            }
            auth_principal_reset (&p);
        }
    }
    return 0;
}

//  ---------------------------------------------------------------------
//  The watcher: reads socket monitors, logs refused handshakes

typedef struct {
    zsock_t *pair;              //  monitor events of one socket
    char *monitor;              //  its inproc endpoint
    char *endpoint;             //  the bound endpoint, for log lines
    char pending [200];         //  a refused handshake waiting for its DISCONNECTED
    bool pending_refused;       //  we refused it (else the peer went away mid-handshake)
    zhashx_t *peers;            //  "fd" -> peer address of connections accepted
    long long window;           //  start of the current second (monotonic ms)
    int logged;                 //  lines logged in this second
    int suppressed;             //  refused handshakes not logged in this second
} s_watch_t;

static void
s_watch_destroy (void **item)
{
    s_watch_t *w = (s_watch_t *) *item;
    if (w) {
        zsock_destroy (&w->pair);
        zhashx_destroy (&w->peers);
        free (w->monitor);
        free (w->endpoint);
        free (w);
        *item = NULL;
    }
}

//  The address of a connection's peer: ip:port, or the pid and uid of an
//  ipc peer.
static void
s_peer_name (int fd, char *out, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof ss;
    char ip [INET6_ADDRSTRLEN] = "";
    if (getpeername (fd, (struct sockaddr *) &ss, &sl)) {
        snprintf (out, len, "an unknown peer");
        return;
    }
    if (ss.ss_family == AF_INET) {
        struct sockaddr_in *in = (struct sockaddr_in *) &ss;
        inet_ntop (AF_INET, &in->sin_addr, ip, sizeof ip);
        snprintf (out, len, "%s:%u", ip, ntohs (in->sin_port));
    }
    else
    if (ss.ss_family == AF_INET6) {
        struct sockaddr_in6 *in = (struct sockaddr_in6 *) &ss;
        inet_ntop (AF_INET6, &in->sin6_addr, ip, sizeof ip);
        snprintf (out, len, "[%s]:%u", ip, ntohs (in->sin6_port));
    }
    else {
        struct ucred cred;
        socklen_t cl = sizeof cred;
        if (ss.ss_family == AF_UNIX && getsockopt (fd, SOL_SOCKET, SO_PEERCRED, &cred, &cl) == 0)
            snprintf (out, len, "ipc peer pid %d uid %u", (int) cred.pid, (unsigned) cred.uid);
        else
            snprintf (out, len, "a local peer");
    }
}

//  Why a handshake failed, from its monitor event and value.
static bool
s_failure (int event, unsigned value, char *out, size_t len)
{
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_AUTH)
        snprintf (out, len, "%s (ZAP %u)", value == 400 ? "the key is not a principal"
                  : "ZAP refused", value);
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL)
        snprintf (out, len, "%s", value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
                  ? "the peer does not speak CURVE (no security, or PLAIN)"
                  : value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC
                  ? "CURVE cryptography failed (wrong server key?)"
                  : "ZMTP protocol error");
    else
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL)
        snprintf (out, len, "handshake not completed (%s)", strerror ((int) value));
    else
        return false;
    if (event == ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
    &&  value != ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH
    &&  value != ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC) {
        size_t n = strlen (out);
        snprintf (out + n, len - n, " 0x%x", value);
    }
    return true;
}

//  Log one refused handshake, at most CURVE_LOG_PER_SECOND a second per
//  socket; the rest are counted and summed up once a second.
static void
s_watch_flush (const char *who, s_watch_t *w)
{
    long long now = gc_mono_ms ();
    if (now - w->window < 1000)
        return;
    if (w->suppressed)
        log_warning ("%s: %d more handshakes refused on %s in the last second", who,
                     w->suppressed, w->endpoint);
    w->window = now;
    w->logged = w->suppressed = 0;
}

static void
s_watch_log (const char *who, s_watch_t *w, const char *peer, const char *reason, bool refused)
{
    s_watch_flush (who, w);
    if (w->logged >= CURVE_LOG_PER_SECOND) {
        w->suppressed++;
        return;
    }
    w->logged++;
    //  a peer that closes mid-handshake is as suspect as one refused: a
    //  client without CURVE that sees our greeting first hangs up on us
    log_warning ("%s: handshake from %s on %s %s: %s", who, peer, w->endpoint,
                 refused ? "refused" : "failed", reason);
}

//  One monitor event: [event u16, value u32][address].
static void
s_watch_event (const char *who, s_watch_t *w)
{
    zmsg_t *msg = zmsg_recv (w->pair);
    zframe_t *head = msg ? zmsg_first (msg) : NULL;
    if (!head || zframe_size (head) < 6) {
        zmsg_destroy (&msg);
        return;
    }
    uint16_t event;
    uint32_t value;
    memcpy (&event, zframe_data (head), 2);
    memcpy (&value, zframe_data (head) + 2, 4);
    zmsg_destroy (&msg);
    char fd [16];
    snprintf (fd, sizeof fd, "%u", value);
    char reason [160];
    if (event == ZMQ_EVENT_ACCEPTED) {
        char peer [128];
        s_peer_name ((int) value, peer, sizeof peer);
        zhashx_update (w->peers, fd, strdup (peer));
    }
    else
    if (s_failure (event, value, reason, sizeof reason)) {
        //  the connection's DISCONNECTED follows and names its descriptor
        if (*w->pending)
            s_watch_log (who, w, "an unknown peer", w->pending, w->pending_refused);
        snprintf (w->pending, sizeof w->pending, "%s", reason);
        w->pending_refused = event != ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL;
    }
    else
    if (event == ZMQ_EVENT_DISCONNECTED) {
        if (*w->pending) {
            const char *peer = (const char *) zhashx_lookup (w->peers, fd);
            s_watch_log (who, w, peer ? peer : "an unknown peer", w->pending, w->pending_refused);
            *w->pending = 0;
        }
        zhashx_delete (w->peers, fd);
    }
}

//  The watcher actor: commands WATCH monitor endpoint, UNWATCH monitor.
static void
s_watcher (zsock_t *pipe, void *args)
{
    const char *who = (const char *) args;
    zlistx_t *watches = zlistx_new ();
    zpoller_t *poller = zpoller_new (pipe, NULL);
    //  read on through SIGTERM until $TERM: libzmq's I/O thread blocks on a
    //  monitor event nobody reads, and the daemon with it
    zpoller_set_nonstop (poller, true);
    zlistx_set_destructor (watches, s_watch_destroy);
    zsock_signal (pipe, 0);
    bool done = false;
    while (!done) {
        void *which = zpoller_wait (poller, 1000);
        if (which == pipe) {
            zmsg_t *msg = zmsg_recv (pipe);
            char *command = msg ? zmsg_popstr (msg) : NULL;
            char *monitor = msg ? zmsg_popstr (msg) : NULL;
            if (!command || streq (command, "$TERM"))
                done = true;
            else
            if (streq (command, "WATCH") && monitor) {
                s_watch_t *w = calloc (1, sizeof *w);
                w->monitor = monitor;
                monitor = NULL;
                w->endpoint = zmsg_popstr (msg);
                w->peers = zhashx_new ();
                w->pair = zsock_new (ZMQ_PAIR);
                zhashx_set_destructor (w->peers, (zhashx_destructor_fn *) zstr_free);
                if (w->pair && zsock_connect (w->pair, "%s", w->monitor) == 0) {
                    zlistx_add_end (watches, w);
                    zpoller_add (poller, w->pair);
                }
                else {
                    log_error ("%s: cannot watch %s for refused handshakes", who, w->endpoint);
                    s_watch_destroy ((void **) &w);
                }
                zsock_signal (pipe, 0);
            }
            else
            if (streq (command, "UNWATCH") && monitor) {
                for (s_watch_t *w = zlistx_first (watches); w; w = zlistx_next (watches))
                    if (streq (w->monitor, monitor)) {
                        zpoller_remove (poller, w->pair);
                        zlistx_delete (watches, zlistx_cursor (watches));
                        break;
                    }
                zsock_signal (pipe, 0);
            }
            zstr_free (&command);
            zstr_free (&monitor);
            zmsg_destroy (&msg);
        }
        else
        if (which) {
            for (s_watch_t *w = zlistx_first (watches); w; w = zlistx_next (watches))
                if (w->pair == which) {
                    s_watch_event (who, w);
                    break;
                }
        }
        else
        if (zpoller_terminated (poller))
            done = true;
        else
            //  a quiet second: sum up what the limit held back
            for (s_watch_t *w = zlistx_first (watches); w; w = zlistx_next (watches))
                s_watch_flush (who, w);
    }
    zpoller_destroy (&poller);
    zlistx_destroy (&watches);
}

//  ---------------------------------------------------------------------
//  zauth and its certificate store

//  zauth binds its handler to this endpoint and asserts the bind.
#define CURVE_ZAP_ENDPOINT "inproc://zeromq.zap.01"

//  Wait until no socket holds the ZAP endpoint. A stopped zauth closes its
//  handler, but libzmq lets go of a closed socket's inproc endpoints later,
//  in its reaper thread; a new zauth binding before that would abort the
//  daemon. A probe binds and unbinds (an inproc unbind is immediate; a
//  probe whose unbind failed is left to the reaper and another tried). A
//  handshake that asks the probe meanwhile gets no answer and is dropped
//  at its handshake timeout: it never passes. Returns true once free,
//  false after a second.
static bool
s_zap_endpoint_free (void)
{
    for (int tries = 0; tries < 1000; tries++) {
        zsock_t *probe = zsock_new (ZMQ_REP);
        bool free_now = probe && zsock_bind (probe, "%s", CURVE_ZAP_ENDPOINT) == 0
                     && zsock_unbind (probe, "%s", CURVE_ZAP_ENDPOINT) == 0;
        zsock_destroy (&probe);
        if (free_now)
            return true;
        zclock_sleep (1);
    }
    return false;
}

//  Start zauth on a certificate store in memory holding the keys in force
//  (a look-up is a hash look-up: a flood of bogus handshakes costs no disk
//  reads), in place of the one running. zauth owns its store, so a reload
//  starts a new zauth once the old one's endpoint is free; between the two
//  no ZAP handler answers, and the sockets' ZMQ_ZAP_ENFORCE_DOMAIN makes a
//  handshake then fail, never pass.
//  Returns 0 or -1 (logged).
static int
s_zap_publish (curve_t *self)
{
    zcertstore_t *store = zcertstore_new (NULL);
    if (!store)
        return -1;
    static const uint8_t zero [32] = { 0 };
    for (const char *key = auth_principals_first (self->principals); key;
         key = auth_principals_next (self->principals)) {
        if (!auth_key_valid (key))
            continue;           //  an API key's hash (the HTTP doors), no CURVE key
        uint8_t pub [32];
        zmq_z85_decode (pub, key);
        zcert_t *cert = zcert_new_from (pub, zero);
        zcertstore_insert (store, &cert);
    }
    zactor_destroy (&self->zauth);
    if (!s_zap_endpoint_free ()) {
        log_error ("%s: cannot start zauth: %s stays bound; no handshake will pass",
                   self->who, CURVE_ZAP_ENDPOINT);
        zcertstore_destroy (&store);
        return -1;
    }
    self->zauth = zactor_new (zauth, store);
    if (!self->zauth) {
        log_error ("%s: cannot start zauth: no handshake will pass", self->who);
        zcertstore_destroy (&store);
        return -1;
    }
    return 0;
}

//  Start zauth before the first CURVE bind. Returns 0 or -1 (logged).
static int
s_zauth_start (curve_t *self)
{
    if (self->zauth)
        return 0;
    if (!self->principals) {
        log_error ("%s: curve is on: set principals to the principals file (docs/security.md)",
                   self->who);
        return -1;
    }
    self->zap_wanted = true;
    return s_zap_publish (self);
}

//  ---------------------------------------------------------------------
//  The class

curve_t *
curve_new (const config_t *config, const char *who)
{
    curve_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    snprintf (self->who, sizeof self->who, "%s", who);
    self->on = config_bool (config, "curve");
    self->handshake_ms = (int) config_int (config, "handshake_ms");
    self->hup = gc_daemon_reload_generation ();
    self->bound = zlistx_new ();
    self->watcher = zactor_new (s_watcher, self->who);
    char err [512];
    int rc = self->bound && self->watcher ? 0 : -1;
    const char *path = config_str (config, "curve_secret_file");
    if (rc == 0 && self->on && *path && !(self->cert = curve_cert_load (path, err, sizeof err))) {
        log_error ("%s: curve_secret_file: %s", who, err);
        rc = -1;
    }
    self->cert_path = strdup (path);
    if (rc == 0 && config_has (config, "principals") && *config_str (config, "principals")) {
        self->principals_path = strdup (config_str (config, "principals"));
        self->principals = auth_principals_load (self->principals_path, err, sizeof err);
        if (!self->principals) {
            log_error ("%s: principals: %s", who, err);
            rc = -1;
        }
        else
            stat (self->principals_path, &self->seen);
    }
    const char *anonymous = config_has (config, "anonymous") ? config_str (config, "anonymous") : "none";
    if (rc == 0 && streq (anonymous, "all")) {
        self->anonymous.role = AUTH_ROLE_LOCAL;
        snprintf (self->anonymous.name, sizeof self->anonymous.name, "local");
        snprintf (self->anonymous.label, sizeof self->anonymous.label, "local");
        self->anonymous_set = true;
    }
    else
    if (rc == 0 && !streq (anonymous, "none")) {
        rc = auth_principal_parse (anonymous, &self->anonymous, err, sizeof err);
        if (rc)
            log_error ("%s: anonymous: %s", who, err);
        self->anonymous_set = rc == 0;
    }
    if (rc) {
        curve_destroy (&self);
        return NULL;
    }
    return self;
}

void
curve_destroy (curve_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    curve_t *self = *self_p;
    //  monitors of sockets not closed through us: stop them here
    for (s_bound_t *b = self->bound ? zlistx_first (self->bound) : NULL; b;
         b = zlistx_next (self->bound)) {
        if (b->monitor)
            zmq_socket_monitor (zsock_resolve (b->sock), NULL, 0);
        free (b->endpoint);
        free (b->monitor);
        free (b);
    }
    zlistx_destroy (&self->bound);
    zactor_destroy (&self->watcher);
    zactor_destroy (&self->zauth);
    auth_principals_destroy (&self->principals);
    auth_principal_reset (&self->anonymous);
    zcert_destroy (&self->cert);
    free (self->cert_path);
    free (self->principals_path);
    free (self);
    *self_p = NULL;
}

bool
curve_on (const curve_t *self)
{
    return self->on;
}

zsock_t *
curve_bind (curve_t *self, int type, const char *endpoint, curve_peer_t peer,
            size_t message_max)
{
    bool tcp = strncmp (endpoint, "tcp://", 6) == 0;
    bool secure = self->on && (peer == CURVE_PARTY || tcp);
    if (!self->on && !curve_endpoint_local (endpoint)) {
        log_error ("%s: bind \"%s\" refused: not loopback or ipc, and curve is off; set curve "
                   "yes (with curve_secret_file and principals)", self->who, endpoint);
        return NULL;
    }
    if (secure && !self->cert) {
        log_error ("%s: bind \"%s\" needs CurveZMQ: set curve_secret_file to this daemon's "
                   "secret certificate (gridcall keys new NAME)", self->who, endpoint);
        return NULL;
    }
    //  ZAP must answer before the first CURVE peer can handshake
    if (secure && s_zauth_start (self))
        return NULL;
    zsock_t *sock = gc_socket_new (type, self->who);
    s_bound_t *bound = calloc (1, sizeof *bound);
    if (!sock || !bound) {
        zsock_destroy (&sock);
        free (bound);
        return NULL;
    }
    //  a peer announcing a huge frame is dropped at its header, before any
    //  allocation; one that never finishes its handshake, after handshake_ms
    if (message_max)
        zsock_set_maxmsgsize (sock, (int64_t) (2 * message_max + CURVE_FRAME_SLACK));
    zsock_set_handshake_ivl (sock, self->handshake_ms);
    if (secure) {
        zsock_set_zap_domain (sock, CURVE_ZAP_DOMAIN);
        //  no ZAP handler answering (zauth restarting) fails a handshake
        zsock_set_zap_enforce_domain (sock, 1);
        zsock_set_curve_server (sock, 1);
        zcert_apply (self->cert, sock);
    }
    bound->sock = sock;
    if (secure || tcp) {
        bound->monitor = zsys_sprintf ("inproc://gc-curve-monitor-%p", (void *) sock);
        zmq_socket_monitor (zsock_resolve (sock), bound->monitor,
                            ZMQ_EVENT_ACCEPTED | ZMQ_EVENT_DISCONNECTED
                            | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL
                            | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH);
        zstr_sendx (self->watcher, "WATCH", bound->monitor, endpoint, NULL);
        zsock_wait (self->watcher);
    }
    if (zsock_bind (sock, "%s", endpoint) < 0) {
        log_error ("%s: bind() \"%s\" failed: %s", self->who, endpoint, zmq_strerror (zmq_errno ()));
        zlistx_add_end (self->bound, bound);
        curve_close (self, &sock);
        return NULL;
    }
    //  the bound address ("tcp://...:*" gets its port); czmq's copy is ours
    char *last = zsock_last_endpoint (sock);
    bound->endpoint = strdup (last && *last ? last : endpoint);
    zstr_free (&last);
    zlistx_add_end (self->bound, bound);
    log_info ("%s: bound %s%s", self->who, endpoint,
              secure ? " (CurveZMQ, ZAP)" : " (no security: loopback or ipc)");
    return sock;
}

zsock_t *
curve_connect (curve_t *self, int type, const char *endpoint, const char *server_key)
{
    bool secure = self->on && strncmp (endpoint, "tcp://", 6) == 0;
    char z85 [AUTH_KEY_LEN + 1], err [400];
    if (secure && !self->cert) {
        log_error ("%s: connect \"%s\" needs CurveZMQ: set curve_secret_file", self->who, endpoint);
        return NULL;
    }
    if (secure && curve_public_load (server_key, z85, err, sizeof err)) {
        log_error ("%s: connect \"%s\" needs the server's public key: %s", self->who, endpoint, err);
        return NULL;
    }
    zsock_t *sock = gc_socket_new (type, self->who);
    if (!sock)
        return NULL;
    if (secure) {
        zcert_apply (self->cert, sock);
        zsock_set_curve_serverkey (sock, z85);
    }
    //  a list ("tcp://a:5562,tcp://b:5562": several dispatches, one bound
    //  at a time) connects to each; IMMEDIATE keeps messages off the ones
    //  not listening, so they go to the one that is
    if (strchr (endpoint, ','))
        zsock_set_immediate (sock, 1);
    char *list = strdup (endpoint);
    char *save = NULL;
    for (char *one = list ? strtok_r (list, ",", &save) : NULL; one && sock;
         one = strtok_r (NULL, ",", &save))
        if (zsock_connect (sock, "%s", one) < 0) {
            log_error ("%s: connect() \"%s\" failed: %s", self->who, one,
                       zmq_strerror (zmq_errno ()));
            zsock_destroy (&sock);
        }
    if (!list)
        zsock_destroy (&sock);
    free (list);
    return sock;
}

//  The record of a socket bound here, with the list's cursor on it.
static s_bound_t *
s_bound_find (curve_t *self, zsock_t *sock)
{
    for (s_bound_t *b = zlistx_first (self->bound); b; b = zlistx_next (self->bound))
        if (b->sock == sock)
            return b;
    return NULL;
}

void
curve_close (curve_t *self, zsock_t **sock_p)
{
    if (!sock_p || !*sock_p)
        return;
    s_bound_t *b = self ? s_bound_find (self, *sock_p) : NULL;
    if (b) {
        if (b->monitor) {
            zmq_socket_monitor (zsock_resolve (b->sock), NULL, 0);
            zstr_sendx (self->watcher, "UNWATCH", b->monitor, NULL);
            zsock_wait (self->watcher);
        }
        zlistx_delete (self->bound, zlistx_cursor (self->bound));
        free (b->endpoint);
        free (b->monitor);
        free (b);
    }
    zsock_destroy (sock_p);
}

int
curve_rebind (curve_t *self, zsock_t *sock)
{
    s_bound_t *b = s_bound_find (self, sock);
    if (!b || !b->endpoint)
        return -1;
    //  unbinding ends the sessions the endpoint accepted
    if (zsock_unbind (sock, "%s", b->endpoint))
        log_warning ("%s: unbind() \"%s\" failed: %s", self->who, b->endpoint,
                     zmq_strerror (zmq_errno ()));
    if (zsock_bind (sock, "%s", b->endpoint) < 0) {
        log_error ("%s: bind() \"%s\" again failed: %s", self->who, b->endpoint,
                   zmq_strerror (zmq_errno ()));
        return -1;
    }
    log_notice ("%s: dropped every connection on %s after a revocation; peers reconnect",
                self->who, b->endpoint);
    return 0;
}

const auth_principal_t *
curve_principal (curve_t *self, const char *user_id)
{
    if (!user_id || !*user_id)
        return self->anonymous_set ? &self->anonymous : NULL;
    return auth_principals_find (self->principals, user_id);
}

size_t
curve_tick (curve_t *self)
{
    if (!self->principals_path)
        return 0;
    long long now = gc_mono_ms ();
    unsigned hup = gc_daemon_reload_generation ();
    if (hup == self->hup && now < self->next_check)
        return 0;
    self->next_check = now + CURVE_POLL_MS;
    //  a reload that could not start the new zauth left no ZAP handler
    //  (every handshake is refused): try again
    if (self->zap_wanted && !self->zauth && now >= self->zap_retry_at) {
        self->zap_retry_at = now + CURVE_ZAP_RETRY_MS;
        if (s_zap_publish (self) == 0)
            log_notice ("%s: zauth started again: handshakes are checked", self->who);
    }
    bool asked = hup != self->hup;
    self->hup = hup;
    struct stat st;
    if (stat (self->principals_path, &st)) {
        if (asked || self->seen.st_ino)
            log_error ("%s: principals %s: %s; the keys in force stay", self->who,
                       self->principals_path, strerror (errno));
        memset (&self->seen, 0, sizeof self->seen);
        return 0;
    }
    if (!asked && st.st_ino == self->seen.st_ino && st.st_size == self->seen.st_size
    &&  st.st_mtim.tv_sec == self->seen.st_mtim.tv_sec
    &&  st.st_mtim.tv_nsec == self->seen.st_mtim.tv_nsec)
        return 0;
    self->seen = st;
    char err [512];
    auth_principals_t *fresh = auth_principals_load (self->principals_path, err, sizeof err);
    if (!fresh) {
        log_error ("%s: principals not reloaded: %s; the keys in force stay", self->who, err);
        return 0;
    }
    size_t revoked = auth_principals_revoked (self->principals, fresh);
    auth_principals_destroy (&self->principals);
    self->principals = fresh;
    if (self->zap_wanted)
        s_zap_publish (self);
    atomic_fetch_add (&self->revocations, (unsigned) revoked);
    self->reloads++;
    snprintf (self->reload_note, sizeof self->reload_note, "%zu keys, %zu revoked or changed",
              auth_principals_size (fresh), revoked);
    log_notice ("%s: principals %s reloaded: %s", self->who, self->principals_path,
                self->reload_note);
    return revoked;
}

unsigned
curve_reloads (const curve_t *self, const char **path, const char **note)
{
    if (path)
        *path = self->principals_path ? self->principals_path : "";
    if (note)
        *note = self->reload_note;
    return self->reloads;
}

unsigned
curve_revocations (const curve_t *self)
{
    return atomic_load (&((curve_t *) self)->revocations);
}
