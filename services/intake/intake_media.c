/*  intake_media.c — photo URLs and uploads (intake_media.h). */
#include "intake_media.h"

#include <czmq.h>
#include <errno.h>
#include <fcntl.h>
#include <sodium.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "codec.h"
#include "log.h"

const char *
intake_media_type (const char *data, size_t len)
{
    static const unsigned char png [8] = { 0x89, 'P', 'N', 'G', '\r', '\n', 0x1a, '\n' };
    const unsigned char *d = (const unsigned char *) data;
    //  JPEG: SOI then a marker (FF D8 FF)
    if (len >= 4 && d [0] == 0xff && d [1] == 0xd8 && d [2] == 0xff)
        return "jpg";
    if (len >= 16 && memcmp (d, png, sizeof png) == 0)
        return "png";
    return NULL;
}

int
intake_media_name_valid (const char *name)
{
    size_t len = strlen (name);
    if (len != 68 || (strcmp (name + 64, ".jpg") != 0 && strcmp (name + 64, ".png") != 0))
        return 0;
    for (size_t i = 0; i < 64; i++)
        if (!((name [i] >= '0' && name [i] <= '9') || (name [i] >= 'a' && name [i] <= 'f')))
            return 0;
    return 1;
}

int
intake_media_check_urls (const Gridcall__V1__Report *report, char *reason, size_t reasonlen)
{
    if (report->n_media_urls > INTAKE_MEDIA_URLS_MAX) {
        snprintf (reason, reasonlen, "media_urls holds %zu URLs; at most %d",
                  report->n_media_urls, INTAKE_MEDIA_URLS_MAX);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    for (size_t i = 0; i < report->n_media_urls; i++) {
        const char *url = report->media_urls [i];
        size_t len = strlen (url);
        bool scheme = strncmp (url, "https://", 8) == 0 || strncmp (url, "http://", 7) == 0;
        bool stored = strncmp (url, "media:", 6) == 0 && intake_media_name_valid (url + 6);
        bool clean = len <= INTAKE_MEDIA_URL_MAX && codec_utf8_valid (url, len);
        for (size_t k = 0; clean && k < len; k++)
            if ((unsigned char) url [k] <= ' ' || url [k] == 0x7f || url [k] == '"'
            ||  url [k] == '<' || url [k] == '>')
                clean = false;
        if (!clean || !(stored || (scheme && len > 8))) {
            snprintf (reason, reasonlen, "media_urls[%zu] is not an http(s) URL of at most %d "
                      "bytes without spaces", i, INTAKE_MEDIA_URL_MAX);
            return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
    }
    return 0;
}

int
intake_media_store (const char *dir, const char *data, size_t len, const char *ext,
                    char *name, size_t namelen)
{
    unsigned char md [32];
    if (namelen < INTAKE_MEDIA_NAME_MAX)
        return -1;
    crypto_hash_sha256 (md, (const unsigned char *) data, len);
    sodium_bin2hex (name, namelen, md, sizeof md);
    snprintf (name + 2 * sizeof md, namelen - 2 * sizeof md, ".%s", ext);
    char path [PATH_MAX], tmp [PATH_MAX];
    snprintf (path, sizeof path, "%s/%s", dir, name);
    if (access (path, F_OK) == 0)
        return 0;               //  the same content, stored before
    if (zsys_dir_create ("%s", dir)) {
        log_error ("intake: media_dir %s: %s", dir, strerror (errno));
        return -1;
    }
    snprintf (tmp, sizeof tmp, "%s/.%s.%d.%lx", dir, name, (int) getpid (),
              (unsigned long) pthread_self ());
    int fd = open (tmp, O_WRONLY | O_CREAT | O_EXCL, 0644);
    size_t done = 0;
    while (fd >= 0 && done < len) {
        ssize_t n = write (fd, data + done, len - done);
        if (n <= 0)
            break;
        done += (size_t) n;
    }
    //  on disk before the case names it
    bool written = fd >= 0 && done == len && fsync (fd) == 0;
    if (fd >= 0 && close (fd))
        written = false;
    if (!written || rename (tmp, path)) {
        log_error ("intake: cannot store photo %s: %s", path, strerror (errno));
        if (fd >= 0)
            unlink (tmp);
        return -1;
    }
    return 0;
}
