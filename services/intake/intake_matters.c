/*  intake_matters.c — checks the matter requests (matters.proto) and
    builds their store calls (75_matters.lua): ids, names and texts
    bounded, lists bounded and passed as JSON. */
#include "intake_matters.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "intake_check.h"

#define AGENDA_MAX 20
#define PARTICIPANTS_MAX 200
#define OPINIONS_MAX 100
#define OPTIONS_MAX 10
#define TASKS_MAX 20
#define ELIGIBLE_MAX 1000000

#define FIELDS(f) intake_check_fields (f, sizeof f / sizeof f [0], reason, reasonlen)

void
intake_call_free (intake_call_t *call)
{
    for (size_t i = 0; i < sizeof call->blob / sizeof call->blob [0]; i++) {
        free (call->blob [i]);
        call->blob [i] = NULL;
    }
}

//  Keep a JSON value's text as the call's blob n; returns it, or NULL when
//  out of memory. Takes the value.
static const char *
s_blob (intake_call_t *call, int n, json_t *value)
{
    call->blob [n] = value ? json_dumps (value, JSON_COMPACT) : NULL;
    json_decref (value);
    return call->blob [n];
}

static int
s_oom (char *reason, size_t reasonlen)
{
    snprintf (reason, reasonlen, "out of memory");
    return GRIDCALL__V1__ERROR_CODE__ERROR_INTERNAL;
}

//  Check a list of strings, each of kind, at most max of them.
static int
s_list (const char *name, char **items, size_t count, size_t max, size_t each_max,
        field_kind_t kind, char *reason, size_t reasonlen)
{
    if (count > max) {
        snprintf (reason, reasonlen, "%s: at most %zu, not %zu", name, max, count);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    for (size_t i = 0; i < count; i++) {
        intake_field_t f [] = { { name, items [i], each_max, 1, kind } };
        int rc = FIELDS (f);
        if (rc)
            return rc;
    }
    return 0;
}

static json_t *
s_strings (char **items, size_t count)
{
    json_t *list = json_array ();
    for (size_t i = 0; list && i < count; i++)
        json_array_append_new (list, json_string (items [i]));
    return list;
}

int
intake_matter_propose (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                       intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterPropose *m = (const Gridcall__V1__MatterPropose *) body;
    call->ref = m->idempotency_key;
    intake_field_t f [] = {
        { "idempotency_key", m->idempotency_key, INTAKE_KEY_MAX, 1, F_ID },
        { "template", m->template_, INTAKE_ID_MAX, 1, F_ID },
        { "grid", m->grid, INTAKE_ID_MAX, 1, F_ID },
        { "title", m->title, 200, 1, F_TEXT },
        { "text", m->text, env->text_max, 0, F_TEXT },
        { "proposer", m->proposer, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (rc)
        return rc;
    if ((int) m->channel < 0 || m->channel > GRIDCALL__V1__CHANNEL__CHANNEL_OPERATOR) {
        snprintf (reason, reasonlen, "channel %d is not a known channel", (int) m->channel);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    //  the key remembers what it was used for: the proposal without its key
    Gridcall__V1__MatterPropose content = *m;
    content.idempotency_key = "";
    if (codec_digest (&content.base, call->hash, sizeof call->hash))
        return s_oom (reason, reasonlen);
    call->grid = m->grid;
    call->channel = codec_channel_name (m->channel);
    const char *args [] = { m->idempotency_key, m->template_, m->grid, m->title, m->text,
                            call->channel, m->proposer, who, call->area, call->hash };
    memcpy (call->argv, args, sizeof args);
    call->argc = 10;
    return 0;
}

int
intake_matter_promote (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                       intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterPromote *m = (const Gridcall__V1__MatterPromote *) body;
    call->ref = m->case_id;
    intake_field_t f [] = {
        { "case_id", m->case_id, INTAKE_ID_MAX, 1, F_ID },
        { "template", m->template_, INTAKE_ID_MAX, 1, F_ID },
        { "title", m->title, 200, 1, F_TEXT },
        { "note", m->note, env->text_max, 0, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    const char *args [] = { m->case_id, m->template_, m->title, m->note, who, call->area,
                            m->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 7;
    return FIELDS (f);
}

int
intake_meeting_schedule (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                         intake_call_t *call, char *reason, size_t reasonlen)
{
    (void) env;
    const Gridcall__V1__MeetingSchedule *m = (const Gridcall__V1__MeetingSchedule *) body;
    static const char *levels [] = { "", "GRID", "COMMUNITY", "JOINT", "STREET" };
    call->ref = m->idempotency_key;
    intake_field_t f [] = {
        { "idempotency_key", m->idempotency_key, INTAKE_KEY_MAX, 1, F_ID },
        { "community", m->community, INTAKE_ID_MAX, 0, F_ID },
        { "grid", m->grid, INTAKE_ID_MAX, 0, F_ID },
        { "venue", m->venue, 200, 1, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (!rc)
        rc = s_list ("agenda", m->agenda, m->n_agenda, AGENDA_MAX, INTAKE_ID_MAX, F_ID,
                     reason, reasonlen);
    if (!rc)
        rc = codec_check_time ("at_ms", m->at_ms, false, reason, reasonlen);
    if (rc)
        return rc;
    if ((int) m->level < 1 || m->level > GRIDCALL__V1__MEETING_LEVEL__LEVEL_STREET) {
        snprintf (reason, reasonlen, "level must be GRID, COMMUNITY, JOINT or STREET");
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    snprintf (call->num [0], sizeof call->num [0], "%lld", (long long) m->at_ms);
    const char *agenda = s_blob (call, 0, s_strings (m->agenda, m->n_agenda));
    if (!agenda)
        return s_oom (reason, reasonlen);
    const char *args [] = { m->idempotency_key, levels [m->level], m->community, m->grid,
                            m->venue, call->num [0], agenda, who, call->area, m->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 10;
    return 0;
}

int
intake_meeting_agenda (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                       intake_call_t *call, char *reason, size_t reasonlen)
{
    (void) env;
    const Gridcall__V1__MeetingAgenda *m = (const Gridcall__V1__MeetingAgenda *) body;
    call->ref = m->meeting_id;
    intake_field_t f [] = {
        { "meeting_id", m->meeting_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (!rc)
        rc = s_list ("add", m->add, m->n_add, AGENDA_MAX, INTAKE_ID_MAX, F_ID, reason, reasonlen);
    if (rc)
        return rc;
    if (m->n_add == 0) {
        snprintf (reason, reasonlen, "add: at least one matter");
        return GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
    }
    const char *add = s_blob (call, 0, s_strings (m->add, m->n_add));
    if (!add)
        return s_oom (reason, reasonlen);
    const char *args [] = { m->meeting_id, add, who, call->area, m->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return 0;
}

int
intake_matter_deliberate (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                          intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterDeliberate *m = (const Gridcall__V1__MatterDeliberate *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "meeting_id", m->meeting_id, INTAKE_ID_MAX, 1, F_ID },
        { "minutes", m->minutes, env->text_max, 1, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (!rc)
        rc = s_list ("participants", m->participants, m->n_participants, PARTICIPANTS_MAX,
                     INTAKE_NAME_MAX, F_NAME, reason, reasonlen);
    if (!rc && m->n_opinions > OPINIONS_MAX) {
        snprintf (reason, reasonlen, "opinions: at most %d", OPINIONS_MAX);
        rc = GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    json_t *opinions = rc ? NULL : json_array ();
    for (size_t i = 0; !rc && i < m->n_opinions; i++) {
        intake_field_t o [] = {
            { "opinions.who", m->opinions [i]->who, INTAKE_NAME_MAX, 1, F_NAME },
            { "opinions.text", m->opinions [i]->text, env->text_max, 1, F_TEXT },
        };
        rc = FIELDS (o);
        if (!rc)
            json_array_append_new (opinions, json_pack ("{s:s, s:s}", "who", m->opinions [i]->who,
                                                        "text", m->opinions [i]->text));
    }
    if (rc) {
        json_decref (opinions);
        return rc;
    }
    const char *people = s_blob (call, 0, s_strings (m->participants, m->n_participants));
    const char *said = s_blob (call, 1, opinions);
    if (!people || !said)
        return s_oom (reason, reasonlen);
    const char *args [] = { m->matter_id, m->meeting_id, people, said, m->minutes, who,
                            call->area, m->operator_, env->scale };
    memcpy (call->argv, args, sizeof args);
    call->argc = 9;
    return 0;
}

int
intake_matter_notice (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                      intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterNotice *m = (const Gridcall__V1__MatterNotice *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "note", m->note, env->text_max, 0, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (!rc)
        rc = s_list ("options", m->options, m->n_options, OPTIONS_MAX, 200, F_TEXT,
                     reason, reasonlen);
    if (rc)
        return rc;
    if (m->n_options == 0) {
        snprintf (reason, reasonlen, "options: at least one is put to notice");
        return GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
    }
    const char *options = s_blob (call, 0, s_strings (m->options, m->n_options));
    if (!options)
        return s_oom (reason, reasonlen);
    const char *args [] = { m->matter_id, options, m->note, who, call->area, m->operator_,
                            env->scale };
    memcpy (call->argv, args, sizeof args);
    call->argc = 7;
    return 0;
}

int
intake_matter_vote (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                    intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterVote *m = (const Gridcall__V1__MatterVote *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "meeting_id", m->meeting_id, INTAKE_ID_MAX, 1, F_ID },
        { "note", m->note, env->text_max, 0, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (rc)
        return rc;
    if (m->eligible < 1 || m->eligible > ELIGIBLE_MAX || m->abstained > ELIGIBLE_MAX) {
        snprintf (reason, reasonlen, "eligible must be 1..%d", ELIGIBLE_MAX);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    if (m->n_tallies == 0 || m->n_tallies > OPTIONS_MAX + 1) {
        snprintf (reason, reasonlen, "tallies: 1..%d, one per option (and \"against\")",
                  OPTIONS_MAX + 1);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    json_t *tallies = json_array ();
    for (size_t i = 0; !rc && i < m->n_tallies; i++) {
        intake_field_t t [] = { { "tallies.option", m->tallies [i]->option, 200, 1, F_TEXT } };
        rc = FIELDS (t);
        if (!rc && m->tallies [i]->votes > ELIGIBLE_MAX) {
            snprintf (reason, reasonlen, "tallies.votes: at most %d", ELIGIBLE_MAX);
            rc = GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
        }
        if (!rc)
            json_array_append_new (tallies, json_pack ("[s, I]", m->tallies [i]->option,
                                                       (json_int_t) m->tallies [i]->votes));
    }
    if (rc) {
        json_decref (tallies);
        return rc;
    }
    const char *text = s_blob (call, 0, tallies);
    if (!text)
        return s_oom (reason, reasonlen);
    snprintf (call->num [0], sizeof call->num [0], "%u", m->eligible);
    snprintf (call->num [1], sizeof call->num [1], "%u", m->abstained);
    const char *args [] = { m->matter_id, m->meeting_id, call->num [0], text, call->num [1],
                            m->note, who, call->area, m->operator_, env->scale };
    memcpy (call->argv, args, sizeof args);
    call->argc = 10;
    return 0;
}

int
intake_matter_tasks (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                     intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterTasks *m = (const Gridcall__V1__MatterTasks *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    int rc = FIELDS (f);
    if (rc)
        return rc;
    if (m->n_tasks == 0 || m->n_tasks > TASKS_MAX) {
        snprintf (reason, reasonlen, "tasks: 1..%d", TASKS_MAX);
        return m->n_tasks ? GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE
                          : GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD;
    }
    json_t *tasks = json_array ();
    for (size_t i = 0; !rc && i < m->n_tasks; i++) {
        const Gridcall__V1__MatterTask *t = m->tasks [i];
        intake_field_t tf [] = {
            { "tasks.key", t->key, 32, 1, F_ID },
            { "tasks.category", t->category, INTAKE_ID_MAX, 1, F_ID },
            { "tasks.text", t->text, env->text_max, 1, F_TEXT },
            { "tasks.grid", t->grid, INTAKE_ID_MAX, 0, F_ID },
        };
        rc = FIELDS (tf);
        if (!rc)
            json_array_append_new (tasks, json_pack ("[s, s, s, s]", t->key, t->category, t->text,
                                                     t->grid));
    }
    if (rc) {
        json_decref (tasks);
        return rc;
    }
    const char *text = s_blob (call, 0, tasks);
    if (!text)
        return s_oom (reason, reasonlen);
    const char *args [] = { m->matter_id, text, who, call->area, m->operator_, env->scale,
                            env->idem_ttl };
    memcpy (call->argv, args, sizeof args);
    call->argc = 7;
    return 0;
}

int
intake_matter_evaluate (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                        intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterEvaluate *m = (const Gridcall__V1__MatterEvaluate *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "comment", m->comment, env->text_max, 0, F_TEXT },
        { "resident", m->resident, INTAKE_NAME_MAX, 1, F_NAME },
    };
    int rc = FIELDS (f);
    if (rc)
        return rc;
    if (m->score < 1 || m->score > 5) {
        snprintf (reason, reasonlen, "score must be 1..5, not %u", m->score);
        return GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE;
    }
    snprintf (call->num [0], sizeof call->num [0], "%u", m->score);
    //  the store checks the sender's channels against the matter's
    //  (docs/matters.md): a gateway evaluates the matters of its channels
    const char *args [] = { m->matter_id, call->num [0], m->comment, m->resident, who,
                            call->channels };
    memcpy (call->argv, args, sizeof args);
    call->argc = 6;
    return 0;
}

int
intake_matter_close (const intake_env_t *env, const ProtobufCMessage *body, const char *who,
                     intake_call_t *call, char *reason, size_t reasonlen)
{
    const Gridcall__V1__MatterClose *m = (const Gridcall__V1__MatterClose *) body;
    call->ref = m->matter_id;
    intake_field_t f [] = {
        { "matter_id", m->matter_id, INTAKE_ID_MAX, 1, F_ID },
        { "note", m->note, env->text_max, 0, F_TEXT },
        { "operator", m->operator_, INTAKE_NAME_MAX, 0, F_NAME },
    };
    const char *args [] = { m->matter_id, m->note, who, call->area, m->operator_ };
    memcpy (call->argv, args, sizeof args);
    call->argc = 5;
    return FIELDS (f);
}
