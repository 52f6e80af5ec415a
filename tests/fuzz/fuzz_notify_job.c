/*  fuzz_notify_job.c — libFuzzer harness for notify's job reader
    (notify_job.c): the gc_job_get reply as the store hands it over (the
    JSON text Redis returned, read by store_reply), turned into a job, its
    webhook body, its PUB Notification and its done mask. See
    docs/fuzzing.md. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "log.h"
#include "notify_job.h"

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

//  Webhook target tokens, as notify_server.c derives them from the URLs.
static const char *s_tokens [] = { "1a2b3c4d", "deadbeef", "0badf00d" };
#define TOKENS ((int) (sizeof s_tokens / sizeof s_tokens [0]))

static void
s_check_job (notify_job_t *job)
{
    //  the id and event go into HTTP headers and a ZeroMQ topic
    const char *id = notify_job_id (job);
    const char *event = notify_job_event (job);
    assert (*id && strlen (id) <= NOTIFY_JOB_ID_MAX && !strpbrk (id, " \r\n"));
    //  a case's event or a matter's (docs/matters.md)
    assert ((strncmp (event, "case.", 5) == 0 || strncmp (event, "matter.", 7) == 0)
            && strlen (event) < CODEC_TYPE_MAX);
    assert (!strpbrk (event, " \r\n"));
    assert (notify_job_attempts (job) >= 0);

    //  the webhook body is JSON with the job's id and event
    json_error_t error;
    json_t *body = json_loadb (notify_job_body (job), notify_job_body_len (job), 0, &error);
    assert (json_is_object (body));
    assert (strcmp (json_string_value (json_object_get (body, "job_id")), id) == 0);
    assert (strcmp (json_string_value (json_object_get (body, "event")), event) == 0);
    json_decref (body);

    //  the PUB message packs, and reads back as the events conversation
    Gridcall__V1__Notification msg = GRIDCALL__V1__NOTIFICATION__INIT;
    notify_job_notification (job, &msg);
    size_t size = protobuf_c_message_get_packed_size (&msg.base);
    uint8_t *packed = malloc (size ? size : 1);
    assert (packed && protobuf_c_message_pack (&msg.base, packed) == size);
    Gridcall__V1__Notification *back = gridcall__v1__notification__unpack (NULL, size, packed);
    assert (back && strcmp (back->job_id, id) == 0 && strcmp (back->note, msg.note) == 0);
    char reason [160];
    assert (codec_check_text ("note", back->note, 1 << 20, reason, sizeof reason) == 0);
    gridcall__v1__notification__free_unpacked (back, NULL);
    free (packed);
    notify_job_log (job);

    //  the done mask: what was stored, then one more target done, written
    //  and read back
    notify_job_load_mask (job, s_tokens, TOKENS);
    bool published = notify_job_published (job);
    notify_job_set_published (job);
    assert (notify_job_begin (job) == 1);
    assert (notify_job_end (job, 1, true) == 0);
    assert (notify_job_target_done (job, 1));
    char mask [NOTIFY_MASK_MAX];
    assert (notify_job_mask (job, s_tokens, TOKENS, mask, sizeof mask) == 0);
    assert (notify_mask_has (mask, NOTIFY_MASK_PUBLISHED) && notify_mask_has (mask, s_tokens [1]));
    (void) published;
    bool complete = notify_job_complete (job, TOKENS);
    assert (complete == (notify_job_target_done (job, 0) && notify_job_target_done (job, 2)));
    //  the retry delay with notify's own bounds (retry_base_ms, retry_max_ms)
    long long delay = notify_backoff_ms (1000, 3600000, notify_job_attempts (job), 0xFFFFFFFFu);
    assert (delay >= 1 && delay <= 3600000);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    static bool quiet;
    if (!quiet) {
        gc_log_init ("fuzz", GC_LOG_ERROR);     //  a log line per job is noise here
        quiet = true;
    }
    json_error_t error;
    json_t *reply = json_loadb ((const char *) data, size, 0, &error);
    if (!reply)
        return 0;               //  store_reply answers "reply is not JSON" itself
    char reason [160] = "";
    notify_job_t *job = notify_job_new (reply, reason, sizeof reason);
    if (job)
        s_check_job (job);
    else
        assert (*reason);       //  the job is buried with this reason
    notify_job_destroy (&job);
    assert (!job);
    json_decref (reply);
    //  and the mask reader on the raw text, as notify_mask_has reads a
    //  stored done field
    char *text = strndup ((const char *) data, size);
    assert (text);
    notify_mask_has (text, NOTIFY_MASK_PUBLISHED);
    notify_mask_has (text, "");
    free (text);
    return 0;
}
