/*  codec.c — encode and decode [type][protobuf] messages for each
    conversation, with size, type and UTF-8 checks. */
#include "codec.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

const codec_entry_t codec_reporter [] = {
    { "report", &gridcall__v1__report__descriptor },
    { "verify", &gridcall__v1__verify__descriptor },
    { "evaluate", &gridcall__v1__evaluate__descriptor },
    { "extend.decide", &gridcall__v1__extend_decision__descriptor },
    { "park", &gridcall__v1__park__descriptor },
    { "unpark", &gridcall__v1__unpark__descriptor },
    { "order.decide", &gridcall__v1__order_decision__descriptor },
    { "merge", &gridcall__v1__merge__descriptor },
    //  the community's lists (community.proto, docs/community.md)
    { "need.record", &gridcall__v1__need_record__descriptor },
    { "needs.detect", &gridcall__v1__needs_detect__descriptor },
    { "survey.create", &gridcall__v1__survey__descriptor },
    { "survey.answer", &gridcall__v1__survey_answer__descriptor },
    { "service.log", &gridcall__v1__service_log__descriptor },
    { "venue.book", &gridcall__v1__venue_booking__descriptor },
    { "project.design", &gridcall__v1__project_design__descriptor },
    { "project.claim", &gridcall__v1__project_claim__descriptor },
    { "project.status", &gridcall__v1__project_status_change__descriptor },
    { "unit.rate", &gridcall__v1__unit_rating__descriptor },
    { "community.ok", &gridcall__v1__community_ack__descriptor },
    { "matter.propose", &gridcall__v1__matter_propose__descriptor },
    { "matter.promote", &gridcall__v1__matter_promote__descriptor },
    { "meeting.schedule", &gridcall__v1__meeting_schedule__descriptor },
    { "meeting.agenda", &gridcall__v1__meeting_agenda__descriptor },
    { "matter.deliberate", &gridcall__v1__matter_deliberate__descriptor },
    { "matter.notice", &gridcall__v1__matter_notice__descriptor },
    { "matter.vote", &gridcall__v1__matter_vote__descriptor },
    { "matter.tasks", &gridcall__v1__matter_tasks__descriptor },
    { "matter.evaluate", &gridcall__v1__matter_evaluate__descriptor },
    { "matter.close", &gridcall__v1__matter_close__descriptor },
    { "matter.ok", &gridcall__v1__matter_ack__descriptor },
    { "report.ok", &gridcall__v1__report_reply__descriptor },
    { "ack", &gridcall__v1__ack__descriptor },
    { "error", &gridcall__v1__error__descriptor },
    { NULL, NULL }
};

const codec_entry_t codec_unit [] = {
    { "hello", &gridcall__v1__hello__descriptor },
    { "heartbeat", &gridcall__v1__heartbeat__descriptor },
    { "bye", &gridcall__v1__heartbeat__descriptor },
    { "accept", &gridcall__v1__accept__descriptor },
    { "decline", &gridcall__v1__decline__descriptor },
    { "progress", &gridcall__v1__progress__descriptor },
    { "resolve", &gridcall__v1__resolve__descriptor },
    { "extend", &gridcall__v1__extend_request__descriptor },
    { "welcome", &gridcall__v1__welcome__descriptor },
    { "offer", &gridcall__v1__offer__descriptor },
    { "withdrawn", &gridcall__v1__withdrawn__descriptor },
    { "ok", &gridcall__v1__unit_ack__descriptor },
    { "error", &gridcall__v1__error__descriptor },
    { NULL, NULL }
};

const codec_entry_t codec_work [] = {
    { "case.dispatch", &gridcall__v1__case_ref__descriptor },
    { "notify.job", &gridcall__v1__job_ref__descriptor },
    { NULL, NULL }
};

const codec_entry_t codec_events [] = {
    { "case.", &gridcall__v1__notification__descriptor },
    { "matter.", &gridcall__v1__notification__descriptor },
    { NULL, NULL }
};

//  Find the entry for a type; an entry ending in '.' matches as a prefix.
static const codec_entry_t *
s_lookup (const codec_entry_t *conversation, const char *type)
{
    for (const codec_entry_t *e = conversation; e->type; e++) {
        size_t n = strlen (e->type);
        if (e->type [n - 1] == '.' ? strncmp (type, e->type, n) == 0
                                   : strcmp (type, e->type) == 0)
            return e;
    }
    return NULL;
}

//  False when msg or a message inside it holds a field number 0: protobuf-c
//  1.4 reads one written in two bytes (80 00) as an unknown field, and
//  packs it back as bytes it refuses. Such a body is not protobuf.
static bool
s_field_numbers_valid (const ProtobufCMessage *msg)
{
    for (unsigned i = 0; i < msg->n_unknown_fields; i++)
        if (msg->unknown_fields [i].tag == 0)
            return false;
    const ProtobufCMessageDescriptor *desc = msg->descriptor;
    for (unsigned i = 0; i < desc->n_fields; i++) {
        const ProtobufCFieldDescriptor *f = &desc->fields [i];
        const char *at = (const char *) msg + f->offset;
        const char *quantifier = (const char *) msg + f->quantifier_offset;
        if (f->type != PROTOBUF_C_TYPE_MESSAGE
        || ((f->flags & PROTOBUF_C_FIELD_FLAG_ONEOF) && *(const uint32_t *) quantifier != f->id))
            continue;
        size_t count = f->label == PROTOBUF_C_LABEL_REPEATED ? *(const size_t *) quantifier : 1;
        ProtobufCMessage *const *items = f->label == PROTOBUF_C_LABEL_REPEATED
            ? *(ProtobufCMessage *const *const *) at : (ProtobufCMessage *const *) at;
        for (size_t k = 0; k < count; k++)
            if (items [k] && !s_field_numbers_valid (items [k]))
                return false;
    }
    return true;
}

void
codec_msg_reset (codec_msg_t *msg)
{
    zframe_destroy (&msg->identity);
    if (msg->body)
        protobuf_c_message_free_unpacked (msg->body, NULL);
    memset (msg, 0, sizeof *msg);
}

static int
s_reject (codec_msg_t *msg, int code, const char *fmt, ...)
{
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (msg->reason, sizeof msg->reason, fmt, ap);
    va_end (ap);
    msg->error = code;
    return 0;
}

int
codec_recv (void *sock, bool router, const codec_entry_t *conversation,
            size_t max_bytes, codec_msg_t *msg)
{
    zmsg_t *zmsg = zmsg_recv (sock);
    if (!zmsg) {
        memset (msg, 0, sizeof *msg);
        return -1;
    }
    return codec_decode (&zmsg, router, conversation, max_bytes, msg);
}

int
codec_decode (zmsg_t **zmsg_p, bool router, const codec_entry_t *conversation,
              size_t max_bytes, codec_msg_t *msg)
{
    memset (msg, 0, sizeof *msg);
    zmsg_t *zmsg = *zmsg_p;
    *zmsg_p = NULL;
    if (router)
        msg->identity = zmsg_pop (zmsg);
    int rc = 0;
    zframe_t *type = zmsg_first (zmsg);
    zframe_t *body = zmsg_next (zmsg);
    //  who sent it is what the handshake proved, never a field of the body
    const char *user_id = type ? zframe_meta (type, "User-Id") : NULL;
    if (user_id && strlen (user_id) < sizeof msg->user_id)
        strcpy (msg->user_id, user_id);
    if (router && !msg->identity)
        rc = -1;
    else
    if (!type || zmsg_size (zmsg) > 2)
        s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_MALFORMED,
                  "expected 2 frames [type][body], got %zu", zmsg_size (zmsg));
    else
    if (zframe_size (type) == 0 || zframe_size (type) >= CODEC_TYPE_MAX)
        s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_TYPE,
                  "type frame of %zu bytes", zframe_size (type));
    else {
        memcpy (msg->type, zframe_data (type), zframe_size (type));
        msg->type [zframe_size (type)] = 0;
        const codec_entry_t *entry = s_lookup (conversation, msg->type);
        size_t size = body ? zframe_size (body) : 0;
        if (!entry || !codec_utf8_valid (msg->type, strlen (msg->type))
        ||  strlen (msg->type) != zframe_size (type)) {
            snprintf (msg->type, sizeof msg->type, "?");
            s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_UNKNOWN_TYPE,
                      "unknown message type");
        }
        else
        if (size > max_bytes)
            s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_TOO_LARGE,
                      "body of %zu bytes exceeds the limit of %zu", size, max_bytes);
        else {
            const uint8_t *data = body ? zframe_data (body) : (const uint8_t *) "";
            msg->body = protobuf_c_message_unpack (entry->desc, NULL, size, data);
            if (msg->body && !s_field_numbers_valid (msg->body)) {
                protobuf_c_message_free_unpacked (msg->body, NULL);
                msg->body = NULL;
            }
            const char *nul = msg->body ? codec_nul_field (entry->desc, data, size) : NULL;
            if (!msg->body)
                s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_MALFORMED,
                          "body is not a valid %s message", entry->desc->short_name);
            else
            if (nul) {
                protobuf_c_message_free_unpacked (msg->body, NULL);
                msg->body = NULL;
                s_reject (msg, GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE,
                          "%s holds a NUL byte", nul);
            }
        }
        //  who the peer authenticated as (ZAP), when the socket has security
        const char *user_id = zframe_meta (type, "User-Id");
        if (user_id)
            snprintf (msg->user_id, sizeof msg->user_id, "%s", user_id);
    }
    zmsg_destroy (&zmsg);
    return rc;
}

int
codec_send (void *sock, zframe_t *identity, const char *type, const ProtobufCMessage *body)
{
    size_t size = protobuf_c_message_get_packed_size (body);
    zmsg_t *zmsg = zmsg_new ();
    if (identity)
        zmsg_append (zmsg, &(zframe_t *) { zframe_dup (identity) });
    zmsg_addstr (zmsg, type);
    zframe_t *frame = zframe_new (NULL, size);
    protobuf_c_message_pack (body, zframe_data (frame));
    zmsg_append (zmsg, &frame);
    int rc = zmsg_send (&zmsg, sock);
    zmsg_destroy (&zmsg);
    return rc;
}

int
codec_digest (const ProtobufCMessage *body, char *hex, size_t hexlen)
{
    uint8_t stack [4096];
    size_t size = protobuf_c_message_get_packed_size (body);
    uint8_t *packed = size <= sizeof stack ? stack : malloc (size);
    zdigest_t *digest = packed ? zdigest_new () : NULL;
    if (!digest) {
        if (packed != stack)
            free (packed);
        return -1;
    }
    protobuf_c_message_pack (body, packed);
    zdigest_update (digest, packed, size);
    snprintf (hex, hexlen, "%s", zdigest_string (digest));
    zdigest_destroy (&digest);
    if (packed != stack)
        free (packed);
    return 0;
}

int
codec_send_error (void *sock, zframe_t *identity, int code, const char *ref,
                  const char *fmt, ...)
{
    char text [512];
    va_list ap;
    va_start (ap, fmt);
    vsnprintf (text, sizeof text, fmt, ap);
    va_end (ap);
    Gridcall__V1__Error error = GRIDCALL__V1__ERROR__INIT;
    error.code = code;
    error.message = text;
    error.ref = (char *) (ref ? ref : "");
    return codec_send (sock, identity, "error", &error.base);
}

bool
codec_text_control (unsigned char c)
{
    return (c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7F;
}

bool
codec_utf8_valid (const char *text, size_t len)
{
    const unsigned char *s = (const unsigned char *) text;
    size_t i = 0;
    while (i < len) {
        unsigned char c = s [i];
        size_t n;
        unsigned min;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        }
        if ((c & 0xE0) == 0xC0) { n = 1; min = 0x80; cp = c & 0x1F; }
        else
        if ((c & 0xF0) == 0xE0) { n = 2; min = 0x800; cp = c & 0x0F; }
        else
        if ((c & 0xF8) == 0xF0) { n = 3; min = 0x10000; cp = c & 0x07; }
        else
            return false;
        for (size_t k = 1; k <= n; k++) {
            if (i + k >= len || (s [i + k] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (s [i + k] & 0x3F);
        }
        //  overlong forms, surrogates and beyond U+10FFFF are not UTF-8
        if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += n + 1;
    }
    return true;
}

//  Read a varint at data [*pos]; false past the end or when over 10 bytes.
static bool
s_varint (const uint8_t *data, size_t len, size_t *pos, uint64_t *value)
{
    *value = 0;
    for (int shift = 0; shift < 64 && *pos < len; shift += 7) {
        uint8_t byte = data [(*pos)++];
        *value |= (uint64_t) (byte & 0x7F) << shift;
        if (!(byte & 0x80))
            return true;
    }
    return false;
}

//  Walk the wire form itself: after unpacking, a string is a C string and
//  its length on the wire is gone. depth bounds nested messages.
static const char *
s_nul_field (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len, int depth)
{
    size_t pos = 0;
    while (pos < len) {
        uint64_t key, n;
        if (!s_varint (data, len, &pos, &key))
            return NULL;
        switch (key & 7) {
            case 0:
                if (!s_varint (data, len, &pos, &n))
                    return NULL;
                break;
            case 1: pos += 8; break;
            case 5: pos += 4; break;
            case 2: {
                if (!s_varint (data, len, &pos, &n) || n > len - pos)
                    return NULL;
                const ProtobufCFieldDescriptor *field =
                    protobuf_c_message_descriptor_get_field (desc, (unsigned) (key >> 3));
                if (field && field->type == PROTOBUF_C_TYPE_STRING && memchr (data + pos, 0, n))
                    return field->name;
                if (field && field->type == PROTOBUF_C_TYPE_MESSAGE && depth < 8) {
                    const char *inner = s_nul_field (field->descriptor, data + pos, n, depth + 1);
                    if (inner)
                        return inner;
                }
                pos += n;
                break;
            }
            default:
                return NULL;        //  groups: protobuf-c refused them already
        }
    }
    return NULL;
}

const char *
codec_nul_field (const ProtobufCMessageDescriptor *desc, const uint8_t *data, size_t len)
{
    return s_nul_field (desc, data, len, 0);
}

bool
codec_id_char (int c)
{
    return (c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')
        || c == '.' || c == '_' || c == '-';
}

bool
codec_id_valid (const char *text, size_t max)
{
    size_t len = text ? strlen (text) : 0;
    if (len == 0 || len > max)
        return false;
    for (size_t i = 0; i < len; i++)
        if (!codec_id_char ((unsigned char) text [i]))
            return false;
    return true;
}

int
codec_check_id (const char *field, const char *id, size_t max, char *reason, size_t reasonlen)
{
    size_t len = id ? strlen (id) : 0;
    if (len == 0)
        return 0;
    if (!codec_utf8_valid (id, len)) {
        snprintf (reason, reasonlen, "%s is not valid UTF-8", field);
        return GRIDCALL__V1__ERROR_CODE__ERROR_INVALID_UTF8;
    }
    if (len > max) {
        snprintf (reason, reasonlen, "%s is %zu bytes, more than %zu", field, len, max);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    if (!codec_id_valid (id, max)) {
        snprintf (reason, reasonlen, "%s may hold only A-Z a-z 0-9 . _ -", field);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    return 0;
}

int
codec_check_name (const char *field, const char *name, size_t max, char *reason, size_t reasonlen)
{
    int rc = codec_check_text (field, name, max, reason, reasonlen);
    if (rc)
        return rc;
    for (const unsigned char *c = (const unsigned char *) (name ? name : ""); *c; c++)
        if (*c < 0x20 || *c == 0x7F) {
            snprintf (reason, reasonlen, "%s holds a control character", field);
            return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
    return 0;
}

int
codec_check_time (const char *field, int64_t ms, bool optional, char *reason, size_t reasonlen)
{
    if ((optional && ms == 0) || (ms > 0 && ms <= CODEC_TIME_MAX))
        return 0;
    snprintf (reason, reasonlen, "%s %lld is not a time in Unix ms (1..%lld)", field,
              (long long) ms, CODEC_TIME_MAX);
    return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
}

int
codec_check_text (const char *field, const char *text, size_t max,
                  char *reason, size_t reasonlen)
{
    size_t len = text ? strlen (text) : 0;
    if (len > max) {
        snprintf (reason, reasonlen, "%s is %zu bytes, more than %zu", field, len, max);
        return GRIDCALL__V1__ERROR_CODE__ERROR_TEXT_TOO_LONG;
    }
    if (!codec_utf8_valid (text ? text : "", len)) {
        snprintf (reason, reasonlen, "%s is not valid UTF-8", field);
        return GRIDCALL__V1__ERROR_CODE__ERROR_INVALID_UTF8;
    }
    //  line breaks and tabs are text; other C0 controls are not, and XML
    //  (Open311's .xml answers) cannot carry them at all
    for (size_t i = 0; i < len; i++)
        if (codec_text_control ((unsigned char) text [i])) {
            snprintf (reason, reasonlen, "%s holds a control character (byte %zu)", field, i);
            return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
    return 0;
}

//  Names of enum values come from the proto's own descriptors, without
//  the value prefix ("STATE_ACCEPTED" -> "ACCEPTED"): one home for each
//  name (proto/gridcall.proto), which the Lua library is tested against.
static const char *
s_name (const ProtobufCEnumDescriptor *desc, const char *prefix, int value, const char *none)
{
    const ProtobufCEnumValue *v = value > 0 ? protobuf_c_enum_descriptor_get_value (desc, value) : NULL;
    size_t skip = strlen (prefix);
    return v && strncmp (v->name, prefix, skip) == 0 ? v->name + skip : none;
}

static int
s_parse (const ProtobufCEnumDescriptor *desc, const char *prefix, const char *name)
{
    size_t skip = strlen (prefix);
    for (unsigned i = 0; name && *name && i < desc->n_values; i++)
        if (desc->values [i].value > 0 && strncmp (desc->values [i].name, prefix, skip) == 0
        &&  strcmp (desc->values [i].name + skip, name) == 0)
            return desc->values [i].value;
    return 0;
}

const char *codec_tier_name (int tier)
{ return s_name (&gridcall__v1__tier__descriptor, "TIER_", tier, ""); }
const char *codec_state_name (int state)
{ return s_name (&gridcall__v1__case_state__descriptor, "STATE_", state, ""); }
int codec_state_parse (const char *name)
{ return s_parse (&gridcall__v1__case_state__descriptor, "STATE_", name); }
const char *codec_channel_name (int channel)
{ return s_name (&gridcall__v1__channel__descriptor, "CHANNEL_", channel, "UNSPECIFIED"); }
int codec_channel_parse (const char *name)
{ return s_parse (&gridcall__v1__channel__descriptor, "CHANNEL_", name); }
const char *codec_error_name (int code)
{ return s_name (&gridcall__v1__error_code__descriptor, "ERROR_", code, "UNSPECIFIED"); }
int codec_error_parse (const char *name)
{ return s_parse (&gridcall__v1__error_code__descriptor, "ERROR_", name); }
