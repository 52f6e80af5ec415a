/*  intake_media.h — photos of a report's place: the URLs a report may
    carry (http, https, or "media:<sha256>.<ext>" for a photo uploaded to
    the doors), and uploads checked by their first bytes (JPEG or PNG) and
    stored under media_dir by the SHA-256 of their content. Pure but for
    intake_media_store. */
#ifndef INTAKE_MEDIA_H
#define INTAKE_MEDIA_H

#include <stddef.h>

#include "gridcall.pb-c.h"

#define INTAKE_MEDIA_URLS_MAX 10    //  URLs one report may carry
#define INTAKE_MEDIA_URL_MAX 1024   //  bytes of one URL
#define INTAKE_MEDIA_NAME_MAX 80    //  "<64 hex>.jpg" and its NUL

//  "jpg" or "png" when data starts as a JPEG or PNG file does; else NULL.
const char *intake_media_type (const char *data, size_t len);
//  True when name is "<64 lower-case hex>.jpg" or ".png": a stored photo.
int intake_media_name_valid (const char *name);
//  Check the media_urls of a report. Returns 0, or an ERROR_CODE with a
//  sentence in reason.
int intake_media_check_urls (const Gridcall__V1__Report *report, char *reason, size_t reasonlen);
//  Store data under dir as "<sha256>.<ext>" (written whole, then renamed
//  into place; a file already there is the same content). The name goes
//  into name. Returns 0, or -1 (logged).
int intake_media_store (const char *dir, const char *data, size_t len, const char *ext,
                        char *name, size_t namelen);

#endif
