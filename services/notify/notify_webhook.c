/*  notify_webhook.c — webhook POSTs on one libcurl multi handle driven by
    the caller's poll loop (CURLMOPT_SOCKETFUNCTION/TIMERFUNCTION and
    curl_multi_socket_action), with HMAC-SHA256 signatures over a timestamp
    and the body, and random delivery ids, both from libcrypto. */
#include "notify_webhook.h"

#include <ctype.h>
#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/rand.h>
#include <arpa/inet.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon.h"
#include "log.h"

#define REPLY_KEEP 120          //  bytes of a failed response kept for the log
#define HOST_CONNECTIONS_MAX 64 //  parallel connections to one receiver

typedef struct _transfer_t transfer_t;
struct _transfer_t {
    CURL *easy;                 //  the curl handle, owned
    struct curl_slist *headers; //  request headers, owned
    void *tag;                  //  caller's tag, returned on completion
    int target;                 //  caller's target index
    char error [CURL_ERROR_SIZE];   //  curl's error text
    char reply [REPLY_KEEP + 1];    //  start of the response body
    size_t reply_len;           //  bytes kept in reply
    transfer_t *prev;           //  running transfers, for abandoning them
    transfer_t *next;
};

struct _notify_webhook_t {
    CURLM *multi;               //  the multi handle
    char *secret;               //  HMAC key, "" for unsigned
    char *noproxy;              //  this machine, and the environment's no_proxy
    long timeout_ms;            //  bound on each transfer
    notify_webhook_done_fn *done;   //  completion callback
    void *done_arg;             //  its argument
    zmq_pollitem_t *socks;      //  sockets curl wants watched (fd, events)
    size_t nsocks;              //  entries used in socks
    size_t socks_max;           //  entries allocated
    long long timer_at;         //  monotonic ms when curl wants a call, -1 none
    transfer_t *transfers;      //  running transfers (list head)
    size_t running;             //  their count
};

//  CURLMOPT_SOCKETFUNCTION: record which events curl wants on socket s.
static int
s_socket_cb (CURL *easy, curl_socket_t s, int what, void *userp, void *socketp)
{
    (void) easy;
    (void) socketp;
    notify_webhook_t *self = userp;
    size_t i = 0;
    while (i < self->nsocks && self->socks [i].fd != s)
        i++;
    if (what == CURL_POLL_REMOVE) {
        if (i < self->nsocks)
            self->socks [i] = self->socks [--self->nsocks];
        return 0;
    }
    if (i == self->nsocks) {
        if (self->nsocks == self->socks_max) {
            size_t max = self->socks_max ? self->socks_max * 2 : 16;
            zmq_pollitem_t *socks = realloc (self->socks, max * sizeof *socks);
            if (!socks)
                return -1;          //  curl fails the transfer
            self->socks = socks;
            self->socks_max = max;
        }
        self->nsocks++;
    }
    self->socks [i] = (zmq_pollitem_t) { NULL, s, 0, 0 };
    if (what == CURL_POLL_IN || what == CURL_POLL_INOUT)
        self->socks [i].events |= ZMQ_POLLIN;
    if (what == CURL_POLL_OUT || what == CURL_POLL_INOUT)
        self->socks [i].events |= ZMQ_POLLOUT;
    return 0;
}

//  CURLMOPT_TIMERFUNCTION: remember when curl wants to be called.
static int
s_timer_cb (CURLM *multi, long timeout_ms, void *userp)
{
    (void) multi;
    notify_webhook_t *self = userp;
    self->timer_at = timeout_ms < 0 ? -1 : gc_mono_ms () + timeout_ms;
    return 0;
}

//  CURLOPT_WRITEFUNCTION: keep the start of the response for the log.
static size_t
s_write_cb (char *data, size_t size, size_t nmemb, void *userp)
{
    transfer_t *transfer = userp;
    size_t n = size * nmemb;
    size_t room = REPLY_KEEP - transfer->reply_len;
    size_t keep = n < room ? n : room;
    memcpy (transfer->reply + transfer->reply_len, data, keep);
    transfer->reply_len += keep;
    transfer->reply [transfer->reply_len] = 0;
    return n;
}

notify_webhook_t *
notify_webhook_new (const char *secret, long timeout_ms, notify_webhook_done_fn *done,
                    void *arg)
{
    notify_webhook_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->secret = strdup (secret ? secret : "");
    //  this machine is never reached through a proxy (an unsigned target is
    //  allowed because it is local, and must stay so); CURLOPT_NOPROXY
    //  replaces the environment's no_proxy, so that list is kept too
    const char *env = getenv ("no_proxy");
    if (!env || !*env)
        env = getenv ("NO_PROXY");
    if (asprintf (&self->noproxy, "localhost,127.0.0.0/8,::1%s%s", env && *env ? "," : "",
                  env && *env ? env : "") < 0)
        self->noproxy = NULL;
    self->timeout_ms = timeout_ms;
    self->done = done;
    self->done_arg = arg;
    self->timer_at = -1;
    self->multi = curl_multi_init ();
    if (!self->secret || !self->noproxy || !self->multi) {
        log_error ("notify: curl_multi_init() failed");
        notify_webhook_destroy (&self);
        return NULL;
    }
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETFUNCTION, s_socket_cb);
    curl_multi_setopt (self->multi, CURLMOPT_SOCKETDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERFUNCTION, s_timer_cb);
    curl_multi_setopt (self->multi, CURLMOPT_TIMERDATA, self);
    curl_multi_setopt (self->multi, CURLMOPT_MAX_HOST_CONNECTIONS, (long) HOST_CONNECTIONS_MAX);
    return self;
}

//  Unlink a transfer from the running list and free it.
static void
s_transfer_destroy (notify_webhook_t *self, transfer_t **transfer_p)
{
    transfer_t *transfer = *transfer_p;
    if (transfer->prev)
        transfer->prev->next = transfer->next;
    else
        self->transfers = transfer->next;
    if (transfer->next)
        transfer->next->prev = transfer->prev;
    if (transfer->easy) {
        curl_multi_remove_handle (self->multi, transfer->easy);
        curl_easy_cleanup (transfer->easy);
    }
    curl_slist_free_all (transfer->headers);
    free (transfer);
    self->running--;
    *transfer_p = NULL;
}

void
notify_webhook_destroy (notify_webhook_t **self_p)
{
    if (!self_p || !*self_p)
        return;
    notify_webhook_t *self = *self_p;
    while (self->transfers) {
        transfer_t *transfer = self->transfers;
        s_transfer_destroy (self, &transfer);
    }
    if (self->multi)
        curl_multi_cleanup (self->multi);
    free (self->socks);
    free (self->secret);
    free (self->noproxy);
    free (self);
    *self_p = NULL;
}

//  Append one "Name: value" header ("Name:" alone when value is NULL, which
//  removes a header curl would add). Returns 0 or -1.
static int
s_header (transfer_t *transfer, const char *name, const char *value)
{
    char line [NOTIFY_URL_MAX];
    snprintf (line, sizeof line, "%s:%s%s", name, value ? " " : "", value ? value : "");
    struct curl_slist *list = curl_slist_append (transfer->headers, line);
    if (!list)
        return -1;
    transfer->headers = list;
    return 0;
}

int
notify_webhook_post (notify_webhook_t *self, const char *url, const char *event,
                     const char *job, int attempt, const char *body, size_t len,
                     void *tag, int target)
{
    transfer_t *transfer = calloc (1, sizeof *transfer);
    if (!transfer)
        return -1;
    transfer->tag = tag;
    transfer->target = target;
    char number [16];
    char signature [NOTIFY_SIGNATURE_MAX];
    char delivery [NOTIFY_DELIVERY_LEN + 1];
    snprintf (number, sizeof number, "%d", attempt);
    int rc = notify_webhook_delivery_id (delivery, sizeof delivery);
    //  an empty "Expect:" stops curl waiting for 100-continue on larger bodies
    if (rc == 0)
        rc = s_header (transfer, "Content-Type", "application/json")
           | s_header (transfer, "X-Gridcall-Event", event)
           | s_header (transfer, "X-Gridcall-Job", job)
           | s_header (transfer, "X-Gridcall-Delivery", delivery)
           | s_header (transfer, "X-Gridcall-Attempt", number)
           | s_header (transfer, "Expect", NULL);
    if (rc == 0 && *self->secret) {
        //  signed when sent, so each retry carries a fresh time
        rc = notify_webhook_sign (self->secret, (long long) time (NULL), body, len,
                                  signature, sizeof signature);
        if (rc == 0)
            rc = s_header (transfer, "X-Gridcall-Signature", signature);
    }
    CURL *easy = rc == 0 ? curl_easy_init () : NULL;
    if (!easy) {
        log_error ("notify: cannot prepare the POST to \"%s\": out of memory or no random "
                   "bytes for its delivery id", url);
        curl_slist_free_all (transfer->headers);
        free (transfer);
        return -1;
    }
    transfer->easy = easy;
    curl_easy_setopt (easy, CURLOPT_URL, url);
    curl_easy_setopt (easy, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt (easy, CURLOPT_NOPROXY, self->noproxy);
    curl_easy_setopt (easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt (easy, CURLOPT_TIMEOUT_MS, self->timeout_ms);
    curl_easy_setopt (easy, CURLOPT_USERAGENT, "gridcall-notify/1");
    curl_easy_setopt (easy, CURLOPT_HTTPHEADER, transfer->headers);
    curl_easy_setopt (easy, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t) len);
    curl_easy_setopt (easy, CURLOPT_COPYPOSTFIELDS, body);
    curl_easy_setopt (easy, CURLOPT_WRITEFUNCTION, s_write_cb);
    curl_easy_setopt (easy, CURLOPT_WRITEDATA, transfer);
    curl_easy_setopt (easy, CURLOPT_ERRORBUFFER, transfer->error);
    curl_easy_setopt (easy, CURLOPT_PRIVATE, transfer);
    //  link first so a failed add unwinds through s_transfer_destroy
    transfer->next = self->transfers;
    if (self->transfers)
        self->transfers->prev = transfer;
    self->transfers = transfer;
    self->running++;
    CURLMcode mrc = curl_multi_add_handle (self->multi, easy);
    if (mrc != CURLM_OK) {
        log_error ("notify: curl_multi_add_handle() \"%s\" failed: %s", url,
                   curl_multi_strerror (mrc));
        curl_easy_cleanup (easy);
        transfer->easy = NULL;
        s_transfer_destroy (self, &transfer);
        return -1;
    }
    return 0;
}

size_t
notify_webhook_running (const notify_webhook_t *self)
{
    return self->running;
}

size_t
notify_webhook_sockets (const notify_webhook_t *self)
{
    return self->nsocks;
}

size_t
notify_webhook_pollitems (const notify_webhook_t *self, zmq_pollitem_t *items, size_t max)
{
    size_t n = self->nsocks < max ? self->nsocks : max;
    for (size_t i = 0; i < n; i++) {
        items [i] = self->socks [i];
        items [i].revents = 0;
    }
    return n;
}

long
notify_webhook_timeout (const notify_webhook_t *self)
{
    if (self->timer_at < 0)
        return -1;
    long long left = self->timer_at - gc_mono_ms ();
    return left < 0 ? 0 : (long) left;
}

//  Report every transfer curl has finished, then free it.
static void
s_collect (notify_webhook_t *self)
{
    CURLMsg *msg;
    int queued;
    while ((msg = curl_multi_info_read (self->multi, &queued))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        transfer_t *transfer = NULL;
        curl_easy_getinfo (msg->easy_handle, CURLINFO_PRIVATE, (char **) &transfer);
        if (!transfer)
            continue;
        long status = 0;
        char reason [CURL_ERROR_SIZE + REPLY_KEEP + 32];
        if (msg->data.result == CURLE_OK)
            curl_easy_getinfo (msg->easy_handle, CURLINFO_RESPONSE_CODE, &status);
        bool ok = msg->data.result == CURLE_OK && status >= 200 && status <= 299;
        if (msg->data.result != CURLE_OK)
            snprintf (reason, sizeof reason, "%s",
                      *transfer->error ? transfer->error : curl_easy_strerror (msg->data.result));
        else {
            //  keep only printable bytes of the receiver's answer
            for (size_t i = 0; i < transfer->reply_len; i++)
                if (!isprint ((unsigned char) transfer->reply [i]))
                    transfer->reply [i] = ' ';
            snprintf (reason, sizeof reason, "HTTP %ld%s%s", status,
                      transfer->reply_len ? ": " : "", transfer->reply);
        }
        void *tag = transfer->tag;
        int target = transfer->target;
        s_transfer_destroy (self, &transfer);
        if (self->done)
            self->done (self->done_arg, tag, target, ok, status, ok ? "" : reason);
    }
}

void
notify_webhook_dispatch (notify_webhook_t *self, const zmq_pollitem_t *items, size_t count)
{
    int running = 0;
    for (size_t i = 0; i < count; i++) {
        int events = 0;
        if (items [i].revents & ZMQ_POLLIN)
            events |= CURL_CSELECT_IN;
        if (items [i].revents & ZMQ_POLLOUT)
            events |= CURL_CSELECT_OUT;
        if (items [i].revents & ZMQ_POLLERR)
            events |= CURL_CSELECT_ERR;
        if (events)
            curl_multi_socket_action (self->multi, items [i].fd, events, &running);
    }
    if (self->timer_at >= 0 && gc_mono_ms () >= self->timer_at) {
        self->timer_at = -1;
        curl_multi_socket_action (self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    s_collect (self);
}

int
notify_webhook_parse_list (const char *list, char **urls, int max, char *err, size_t errlen)
{
    int count = 0;
    const char *p = list ? list : "";
    while (*p) {
        const char *comma = strchr (p, ',');
        const char *end = comma ? comma : p + strlen (p);
        while (p < end && isspace ((unsigned char) *p))
            p++;
        const char *last = end;
        while (last > p && isspace ((unsigned char) last [-1]))
            last--;
        size_t len = (size_t) (last - p);
        if (len > 0) {
            char *url = NULL;
            bool good = len <= NOTIFY_URL_MAX && (url = strndup (p, len));
            for (size_t i = 0; good && i < len; i++)
                if (!isgraph ((unsigned char) url [i]))
                    good = false;
            CURLU *parsed = good ? curl_url () : NULL;
            char *scheme = NULL;
            char *host = NULL;
            good = parsed && curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK
                && curl_url_get (parsed, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK
                && curl_url_get (parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK
                && (strcasecmp (scheme, "http") == 0 || strcasecmp (scheme, "https") == 0)
                && *host;
            curl_free (scheme);
            curl_free (host);
            curl_url_cleanup (parsed);
            for (int i = 0; good && i < count; i++)
                if (strcmp (urls [i], url) == 0) {
                    snprintf (err, errlen, "webhooks: \"%s\" is listed twice", url);
                    free (url);
                    goto fail;
                }
            if (!good) {
                snprintf (err, errlen, "webhooks: \"%.*s\" is not an http:// or https:// URL",
                          (int) (len > 200 ? 200 : len), p);
                free (url);
                goto fail;
            }
            if (count == max) {
                snprintf (err, errlen, "webhooks: more than %d URLs", max);
                free (url);
                goto fail;
            }
            urls [count++] = url;
        }
        p = comma ? comma + 1 : end;
    }
    return count;
fail:
    while (count > 0)
        free (urls [--count]);
    return -1;
}

void
notify_webhook_token (const char *url, char *out, size_t outlen)
{
    uint32_t hash = 2166136261u;
    for (const unsigned char *p = (const unsigned char *) url; *p; p++) {
        hash ^= *p;
        hash *= 16777619u;
    }
    snprintf (out, outlen, "%08x", hash);
}

bool
notify_webhook_local (const char *url)
{
    CURLU *parsed = curl_url ();
    char *host = NULL;
    bool local = false;
    if (parsed && curl_url_set (parsed, CURLUPART_URL, url, 0) == CURLUE_OK
    &&  curl_url_get (parsed, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        //  an IPv6 host comes bracketed
        size_t len = strlen (host);
        if (len > 2 && host [0] == '[' && host [len - 1] == ']') {
            memmove (host, host + 1, len - 2);
            host [len - 2] = 0;
        }
        struct in_addr in4;
        struct in6_addr in6;
        local = strcasecmp (host, "localhost") == 0
             || (inet_pton (AF_INET, host, &in4) == 1 && (ntohl (in4.s_addr) >> 24) == 127)
             || (inet_pton (AF_INET6, host, &in6) == 1 && IN6_IS_ADDR_LOOPBACK (&in6));
    }
    curl_free (host);
    curl_url_cleanup (parsed);
    return local;
}

int
notify_webhook_hmac_hex (const char *secret, const char *data, size_t len, char *out,
                         size_t outlen)
{
    unsigned char md [EVP_MAX_MD_SIZE];
    unsigned int md_len = 0;
    if (outlen < NOTIFY_HMAC_HEX
    ||  !HMAC (EVP_sha256 (), secret, (int) strlen (secret), (const unsigned char *) data,
               len, md, &md_len)
    ||  md_len != 32)
        return -1;
    for (unsigned int i = 0; i < md_len; i++)
        snprintf (out + 2 * i, 3, "%02x", md [i]);
    return 0;
}

int
notify_webhook_sign (const char *secret, long long at_s, const char *body, size_t len,
                     char *out, size_t outlen)
{
    if (outlen < NOTIFY_SIGNATURE_MAX)
        return -1;
    //  the signed text is "<t>.<body>", the timestamp as it appears in the header
    char stamp [24];
    int stamp_len = snprintf (stamp, sizeof stamp, "%lld.", at_s);
    char *signed_text = malloc ((size_t) stamp_len + len + 1);
    if (!signed_text)
        return -1;
    memcpy (signed_text, stamp, (size_t) stamp_len);
    memcpy (signed_text + stamp_len, body, len);
    char hex [NOTIFY_HMAC_HEX];
    int rc = notify_webhook_hmac_hex (secret, signed_text, (size_t) stamp_len + len, hex,
                                      sizeof hex);
    free (signed_text);
    if (rc == 0)
        snprintf (out, outlen, "t=%lld,v1=%s", at_s, hex);
    return rc;
}

int
notify_webhook_delivery_id (char *out, size_t outlen)
{
    unsigned char bytes [NOTIFY_DELIVERY_LEN / 2];
    if (outlen < NOTIFY_DELIVERY_LEN + 1 || RAND_bytes (bytes, (int) sizeof bytes) != 1)
        return -1;
    for (size_t i = 0; i < sizeof bytes; i++)
        snprintf (out + 2 * i, 3, "%02x", bytes [i]);
    return 0;
}
