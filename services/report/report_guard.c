/*  report_guard.c — tokens per role, the Host check, the header deadline
    (the watchdog shared with intake's doors, httpd.h) and the
    secure-by-default check of the report's options. */
#include "report_guard.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <ifaddrs.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "httpd.h"
#include "log.h"

#define HOSTS_MAX 64                //  names one http_hosts may list
#define HOST_MAX 255                //  longest host name

struct _report_guard_t {
    char *screen_token;         //  "" = none
    char *export_token;
    char *metrics_token;
    bool loopback;              //  http_bind is loopback: empty screen and metrics tokens leave those open
    char *hosts [HOSTS_MAX];    //  allowed Host names, lower case, no brackets
    size_t nhosts;
    bool any_host;              //  http_hosts holds "*"
    httpd_watch_t *watch;       //  the header deadline
};

bool
report_guard_loopback (const char *bind)
{
    return httpd_loopback (bind);
}

static bool
s_numeric (const char *bind)
{
    struct in6_addr addr;
    return inet_pton (AF_INET, bind, &addr) == 1 || inet_pton (AF_INET6, bind, &addr) == 1;
}

//  The host part of a Host header or an http_hosts item, lower case,
//  without brackets, port or a trailing dot, into out. Returns 0, or -1
//  when it is not a plausible host.
static int
s_host_part (const char *text, char *out, size_t outlen)
{
    const char *start = text, *end;
    if (*text == '[') {
        start = text + 1;
        end = strchr (start, ']');
        if (!end || (end [1] && end [1] != ':'))
            return -1;
    }
    else {
        end = strchr (text, ':');
        if (end && strchr (end + 1, ':'))
            end = NULL;                 //  a bare IPv6 address (an http_hosts item)
        if (!end)
            end = text + strlen (text);
    }
    size_t len = (size_t) (end - start);
    if (len > 1 && start [len - 1] == '.')
        len--;
    if (len == 0 || len >= outlen || len > HOST_MAX)
        return -1;
    for (size_t i = 0; i < len; i++) {
        char c = start [i];
        if (!isalnum ((unsigned char) c) && !strchr (".-_:%", c))
            return -1;
        out [i] = (char) tolower ((unsigned char) c);
    }
    out [len] = 0;
    return 0;
}

//  Call fn for each comma-separated item of list (blanks trimmed, empty
//  items skipped). Stops at the first non-zero return and returns it.
static int
s_each_item (const char *list, int (*fn) (void *arg, const char *item), void *arg)
{
    const char *p = list;
    while (*p) {
        const char *comma = strchr (p, ',');
        const char *end = comma ? comma : p + strlen (p);
        while (p < end && isspace ((unsigned char) *p))
            p++;
        const char *last = end;
        while (last > p && isspace ((unsigned char) last [-1]))
            last--;
        char item [HOST_MAX + 8];
        size_t len = (size_t) (last - p);
        if (len >= sizeof item)
            return fn (arg, NULL);
        if (len) {
            memcpy (item, p, len);
            item [len] = 0;
            int rc = fn (arg, item);
            if (rc)
                return rc;
        }
        p = comma ? comma + 1 : end;
    }
    return 0;
}

static int
s_item_valid (void *arg, const char *item)
{
    char host [HOST_MAX + 1];
    if (item && (strcmp (item, "*") == 0 || s_host_part (item, host, sizeof host) == 0))
        return 0;
    snprintf ((char *) arg, 200, "%.120s", item ? item : "(too long)");
    return -1;
}

int
report_guard_check_config (const config_t *config, char *err, size_t errlen)
{
    const char *bind = config_str (config, "http_bind");
    if (!s_numeric (bind)) {
        snprintf (err, errlen, "http_bind \"%s\" is not a numeric IPv4 or IPv6 address", bind);
        return -1;
    }
    const char *screen = config_str (config, "screen_token");
    const char *export = config_str (config, "export_token");
    const char *metrics = config_str (config, "metrics_token");
    if (!report_guard_loopback (bind) && !*screen) {
        snprintf (err, errlen, "http_bind %s is not loopback and screen_token is not set: "
                  "set screen_token_file (and export_token_file, metrics_token_file for those "
                  "roles) to files holding random tokens, or bind 127.0.0.1", bind);
        return -1;
    }
    const char *names [] = { "screen_token", "export_token", "metrics_token" };
    const char *values [] = { screen, export, metrics };
    for (int i = 0; i < 3; i++) {
        if (*values [i] && strlen (values [i]) < REPORT_TOKEN_MIN) {
            snprintf (err, errlen, "%s is shorter than %d characters: use a random one "
                      "(head -c 24 /dev/urandom | base64)", names [i], REPORT_TOKEN_MIN);
            return -1;
        }
        for (int j = 0; j < i; j++)
            if (*values [i] && strcmp (values [i], values [j]) == 0) {
                snprintf (err, errlen, "%s and %s are the same: each role needs its own token",
                          names [j], names [i]);
                return -1;
            }
    }
    long long limit = config_int (config, "connection_limit");
    long long streams = config_int (config, "stream_max");
    if (streams + REPORT_SLOTS_KEPT > limit) {
        snprintf (err, errlen, "stream_max %lld leaves fewer than %d of connection_limit %lld "
                  "for the page and the API: lower stream_max or raise connection_limit",
                  streams, REPORT_SLOTS_KEPT, limit);
        return -1;
    }
    char bad [200];
    if (s_each_item (config_str (config, "http_hosts"), s_item_valid, bad)) {
        snprintf (err, errlen, "http_hosts: \"%s\" is not a host name or address", bad);
        return -1;
    }
    return 0;
}

//  Add one allowed host (an http_hosts item or a default). Returns 0.
static int
s_add_host (void *arg, const char *item)
{
    report_guard_t *self = arg;
    char host [HOST_MAX + 1];
    if (item && strcmp (item, "*") == 0)
        self->any_host = true;
    else
    if (item && self->nhosts < HOSTS_MAX && s_host_part (item, host, sizeof host) == 0) {
        for (size_t i = 0; i < self->nhosts; i++)
            if (strcmp (self->hosts [i], host) == 0)
                return 0;
        self->hosts [self->nhosts] = strdup (host);
        if (self->hosts [self->nhosts])
            self->nhosts++;
    }
    return 0;
}

//  The hosts allowed when http_hosts is empty: localhost, the loopback
//  addresses, and the bind address, or with a wildcard bind every
//  address of this machine and its name.
static void
s_default_hosts (report_guard_t *self, const char *bind)
{
    s_add_host (self, "localhost");
    s_add_host (self, "127.0.0.1");
    s_add_host (self, "::1");
    struct in6_addr any;
    bool wildcard = strcmp (bind, "0.0.0.0") == 0
                 || (inet_pton (AF_INET6, bind, &any) == 1 && IN6_IS_ADDR_UNSPECIFIED (&any));
    if (!wildcard) {
        s_add_host (self, bind);
        return;
    }
    char name [HOST_MAX + 1];
    if (gethostname (name, sizeof name) == 0) {
        name [HOST_MAX] = 0;
        s_add_host (self, name);
    }
    struct ifaddrs *list = NULL;
    if (getifaddrs (&list) != 0)
        return;
    for (struct ifaddrs *a = list; a; a = a->ifa_next) {
        char text [INET6_ADDRSTRLEN];
        if (!a->ifa_addr)
            continue;
        if (a->ifa_addr->sa_family == AF_INET)
            inet_ntop (AF_INET, &((struct sockaddr_in *) a->ifa_addr)->sin_addr, text, sizeof text);
        else
        if (a->ifa_addr->sa_family == AF_INET6)
            inet_ntop (AF_INET6, &((struct sockaddr_in6 *) a->ifa_addr)->sin6_addr, text,
                       sizeof text);
        else
            continue;
        s_add_host (self, text);
    }
    freeifaddrs (list);
}

bool
report_guard_host_ok (const report_guard_t *self, const char *host)
{
    if (!host || self->any_host)
        return true;
    char name [HOST_MAX + 1];
    if (s_host_part (host, name, sizeof name) != 0)
        return false;
    for (size_t i = 0; i < self->nhosts; i++)
        if (strcmp (self->hosts [i], name) == 0)
            return true;
    return false;
}

//  Compare without leaking where the first difference is.
static bool
s_same_secret (const char *given, const char *secret)
{
    size_t n = strlen (secret);
    if (!given || !n || strlen (given) != n)
        return false;
    unsigned char diff = 0;
    for (size_t i = 0; i < n; i++)
        diff |= (unsigned char) (given [i] ^ secret [i]);
    return diff == 0;
}

int
report_guard_roles (const report_guard_t *self, const char *authorization,
                    const char *query_token)
{
    int roles = 0;
    if (self->loopback && !*self->screen_token)
        roles |= REPORT_ROLE_SCREEN;
    if (self->loopback && !*self->metrics_token)
        roles |= REPORT_ROLE_METRICS;
    if (authorization) {
        if (strncasecmp (authorization, "Bearer ", 7) != 0)
            return -1;
        const char *token = authorization + 7;
        if (s_same_secret (token, self->screen_token))
            roles |= REPORT_ROLE_SCREEN;
        else
        if (s_same_secret (token, self->export_token))
            roles |= REPORT_ROLE_SCREEN | REPORT_ROLE_EXPORT;
        else
        if (s_same_secret (token, self->metrics_token))
            roles |= REPORT_ROLE_METRICS;
        else
            return -1;
    }
    if (query_token) {
        if (!s_same_secret (query_token, self->screen_token))
            return -1;
        roles |= REPORT_ROLE_SCREEN;
    }
    return roles;
}

//  ----------------------------------------------------------------------
//  The header deadline (httpd.h)

void *
report_guard_watch (report_guard_t *self, int fd)
{
    return httpd_watch (self->watch, fd);
}

void
report_guard_arm (report_guard_t *self, void *handle)
{
    httpd_arm (self->watch, handle);
}

void
report_guard_disarm (report_guard_t *self, void *handle)
{
    httpd_disarm (self->watch, handle);
}

void
report_guard_unwatch (report_guard_t *self, void *handle)
{
    httpd_unwatch (self->watch, handle);
}

unsigned long
report_guard_cut (const report_guard_t *self)
{
    return httpd_cut (self->watch);
}

report_guard_t *
report_guard_new (const config_t *config, metrics_t *metrics)
{
    report_guard_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    const char *bind = config_str (config, "http_bind");
    self->loopback = report_guard_loopback (bind);
    self->screen_token = strdup (config_str (config, "screen_token"));
    self->export_token = strdup (config_str (config, "export_token"));
    self->metrics_token = strdup (config_str (config, "metrics_token"));
    const char *hosts = config_str (config, "http_hosts");
    if (*hosts)
        s_each_item (hosts, s_add_host, self);
    else
        s_default_hosts (self, bind);
    if (!self->screen_token || !self->export_token || !self->metrics_token) {
        log_error ("report: report_guard_new() failed: out of memory");
        report_guard_destroy (&self);
        return NULL;
    }
    self->watch = httpd_watch_new ("report", config_int (config, "header_timeout_s") * 1000,
                                   metrics);
    if (!self->watch) {
        report_guard_destroy (&self);
        return NULL;
    }
    return self;
}

//  Free a token after wiping it.
static void
s_free_secret (char *secret)
{
    if (secret)
        explicit_bzero (secret, strlen (secret));
    free (secret);
}

void
report_guard_destroy (report_guard_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    report_guard_t *self = *self_p;
    httpd_watch_destroy (&self->watch);
    for (size_t i = 0; i < self->nhosts; i++)
        free (self->hosts [i]);
    s_free_secret (self->screen_token);
    s_free_secret (self->export_token);
    s_free_secret (self->metrics_token);
    free (self);
    *self_p = NULL;
}
