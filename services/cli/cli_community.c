/*  cli_community.c — the community's requests sent to intake with the
    operator's (or grid worker's) key, and its views read from Redis. */
#include "cli_community.h"

#include <limits.h>
#include <stdint.h>
#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cli_args.h"
#include "cli_client.h"
#include "codec.h"
#include "community.pb-c.h"

#define LIST_MAX 20                 //  ids, questions or answers given on one command line

static const char *const s_flags [] = { "--json", "--leave", NULL };

//  A request key: --key, else one made for this run.
static const char *
s_key (int argc, char **argv, char *buf, size_t size)
{
    snprintf (buf, size, "cli-%d-%lld-%u", (int) getpid (), (long long) zclock_time (),
              (unsigned) randof (1000000));
    return cli_opt (argc, argv, "--key", buf);
}

//  Send one request to intake and print its answer; the exit status.
static int
s_send (const config_t *config, const char *type, const ProtobufCMessage *body)
{
    codec_msg_t reply;
    if (cli_client_ask (config, type, body, &reply))
        return 1;
    int rc = cli_client_refused (type, &reply);
    if (!rc && strcmp (reply.type, "community.ok") == 0) {
        const Gridcall__V1__CommunityAck *a = (const Gridcall__V1__CommunityAck *) reply.body;
        printf ("%s %s%s: %s\n", *a->id ? a->id : a->ref, a->status,
                a->duplicate ? " (already done)" : "", a->note);
    }
    codec_msg_reset (&reply);
    return rc;
}

//  Split "A,B,C" into items (pointing into copy, which the caller frees).
static size_t
s_split (const char *list, char **copy, char **items)
{
    size_t n = 0;
    *copy = strdup (list ? list : "");
    for (char *rest = *copy, *item; *copy && (item = strsep (&rest, ",")) && n < LIST_MAX; )
        if (*item)
            items [n++] = item;
    return n;
}

//  Read a view through gc_community_read and print it as JSON.
static int
s_view (const config_t *config, const char *view, const char *arg, const char *quarter)
{
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, "gc_community_read", view, arg ? arg : "",
                                 quarter ? quarter : "", NULL);
    int rc = 1;
    if (!reply)
        fprintf (stderr, "gridcall: community %s: no answer from Redis\n", view);
    else
    if (!json_is_true (json_object_get (reply, "ok")))
        fprintf (stderr, "gridcall: community %s: %s: %s\n", view,
                 json_string_value (json_object_get (reply, "code")),
                 json_string_value (json_object_get (reply, "message")));
    else {
        json_object_del (reply, "ok");
        char *text = json_dumps (reply, JSON_INDENT (2) | JSON_SORT_KEYS);
        printf ("%s\n", text ? text : "");
        free (text);
        rc = 0;
    }
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

//  survey answer S --grid G --respondent R q1=yes q2=no ...
static int
s_answer (const config_t *config, int argc, char **argv, const char *survey)
{
    Gridcall__V1__SurveyAnswerItem items [LIST_MAX];
    Gridcall__V1__SurveyAnswerItem *ptrs [LIST_MAX];
    size_t n = 0;
    for (int skip = 2; n < LIST_MAX; skip++) {
        const char *word = cli_positional (argc, argv, skip, s_flags);
        if (!word)
            break;
        const char *eq = strchr (word, '=');
        if (!eq || (strcmp (eq + 1, "yes") && strcmp (eq + 1, "no"))) {
            fprintf (stderr, "gridcall: \"%s\": answers are QUESTION=yes or QUESTION=no\n", word);
            return 2;
        }
        gridcall__v1__survey_answer_item__init (&items [n]);
        items [n].question = strndup (word, (size_t) (eq - word));
        items [n].yes = strcmp (eq + 1, "yes") == 0;
        items [n].text = "";
        ptrs [n] = &items [n];
        n++;
    }
    char buf [96];
    Gridcall__V1__SurveyAnswer a = GRIDCALL__V1__SURVEY_ANSWER__INIT;
    a.key = (char *) s_key (argc, argv, buf, sizeof buf);
    a.survey = (char *) survey;
    a.grid = (char *) cli_opt (argc, argv, "--grid", "");
    a.respondent = (char *) cli_opt (argc, argv, "--respondent", "");
    a.n_answers = n;
    a.answers = ptrs;
    int rc = s_send (config, "survey.answer", &a.base);
    for (size_t i = 0; i < n; i++)
        free (items [i].question);
    return rc;
}

static int
s_usage (void)
{
    fprintf (stderr,
        "usage: gridcall community VIEW [ID] [--quarter 2026Q3]\n"
        "         views: lists matching agreements unit person survey chain team\n"
        "       gridcall community need --grid G --category C [--person P] [--residents N] TEXT\n"
        "       gridcall community detect [--grid G] [--days N] [--min N]\n"
        "       gridcall community answer SURVEY --grid G --respondent WHO q1=yes q2=no ...\n"
        "       gridcall community design ID --name N --goal G --needs N1,N2 --volunteers N\n"
        "                [--skills S1,S2] [--units U1,U2]\n"
        "       gridcall community claim PROJECT --person P|--unit U [--leave]\n"
        "       gridcall community done|cancel PROJECT --reason TEXT\n"
        "       gridcall community hours --person P|--unit U --minutes N [--project P] [--note T]\n"
        "       gridcall community book VENUE --from MS --to MS --purpose TEXT [--people N]\n"
        "       gridcall community rate UNIT QUARTER SCORE [--comment TEXT]\n");
    return 2;
}

int
cli_community (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 0, s_flags);
    const char *arg = cli_positional (argc, argv, 1, s_flags);
    char buf [96];
    if (!verb)
        return s_usage ();
    static const char *views [] = { "lists", "matching", "agreements", "unit", "person",
                                    "survey", "chain", "team", NULL };
    for (size_t i = 0; views [i]; i++)
        if (strcmp (verb, views [i]) == 0)
            return s_view (config, verb, strcmp (verb, "agreements") == 0 ? cli_opt (argc, argv, "--quarter", arg) : arg,
                           cli_opt (argc, argv, "--quarter", NULL));
    if (strcmp (verb, "need") == 0 && arg) {
        Gridcall__V1__NeedRecord m = GRIDCALL__V1__NEED_RECORD__INIT;
        m.key = (char *) s_key (argc, argv, buf, sizeof buf);
        m.grid = (char *) cli_opt (argc, argv, "--grid", "");
        m.category = (char *) cli_opt (argc, argv, "--category", "");
        m.text = (char *) arg;
        m.source = GRIDCALL__V1__NEED_SOURCE__NEED_SOURCE_VISIT;
        m.person = (char *) cli_opt (argc, argv, "--person", "");
        long long residents;
        if (cli_number ("--residents", cli_opt (argc, argv, "--residents", "0"), 0, UINT32_MAX,
                        &residents))
            return 2;
        m.residents = (uint32_t) residents;
        return s_send (config, "need.record", &m.base);
    }
    if (strcmp (verb, "detect") == 0) {
        Gridcall__V1__NeedsDetect m = GRIDCALL__V1__NEEDS_DETECT__INIT;
        m.grid = (char *) cli_opt (argc, argv, "--grid", "");
        long long days, min;
        if (cli_number ("--days", cli_opt (argc, argv, "--days", "30"), 0, UINT32_MAX, &days)
        ||  cli_number ("--min", cli_opt (argc, argv, "--min", "3"), 0, UINT32_MAX, &min))
            return 2;
        m.window_days = (uint32_t) days;
        m.min_reports = (uint32_t) min;
        return s_send (config, "needs.detect", &m.base);
    }
    if (strcmp (verb, "answer") == 0 && arg)
        return s_answer (config, argc, argv, arg);
    if (strcmp (verb, "design") == 0 && arg) {
        char *copies [3];
        char *needs [LIST_MAX], *skills [LIST_MAX], *units [LIST_MAX];
        Gridcall__V1__ProjectDesign m = GRIDCALL__V1__PROJECT_DESIGN__INIT;
        m.id = (char *) arg;
        m.name = (char *) cli_opt (argc, argv, "--name", "");
        m.goal = (char *) cli_opt (argc, argv, "--goal", "");
        m.n_needs = s_split (cli_opt (argc, argv, "--needs", ""), &copies [0], needs);
        m.needs = needs;
        m.n_skills = s_split (cli_opt (argc, argv, "--skills", ""), &copies [1], skills);
        m.skills = skills;
        m.n_units = s_split (cli_opt (argc, argv, "--units", ""), &copies [2], units);
        m.units = units;
        long long volunteers;
        int rc = cli_number ("--volunteers", cli_opt (argc, argv, "--volunteers", "0"), 0,
                             UINT32_MAX, &volunteers) ? 2 : 0;
        m.volunteers = (uint32_t) volunteers;
        if (!rc)
            rc = s_send (config, "project.design", &m.base);
        for (int i = 0; i < 3; i++)
            free (copies [i]);
        return rc;
    }
    if (strcmp (verb, "claim") == 0 && arg) {
        Gridcall__V1__ProjectClaim m = GRIDCALL__V1__PROJECT_CLAIM__INIT;
        m.project = (char *) arg;
        m.person = (char *) cli_opt (argc, argv, "--person", "");
        m.unit = (char *) cli_opt (argc, argv, "--unit", "");
        m.leave = cli_flag (argc, argv, "--leave");
        return s_send (config, "project.claim", &m.base);
    }
    if ((strcmp (verb, "done") == 0 || strcmp (verb, "cancel") == 0) && arg) {
        Gridcall__V1__ProjectStatusChange m = GRIDCALL__V1__PROJECT_STATUS_CHANGE__INIT;
        m.project = (char *) arg;
        m.status = strcmp (verb, "done") == 0 ? GRIDCALL__V1__PROJECT_STATUS__PROJECT_STATUS_DONE
                                              : GRIDCALL__V1__PROJECT_STATUS__PROJECT_STATUS_CANCELLED;
        m.reason = (char *) cli_opt (argc, argv, "--reason", "");
        return s_send (config, "project.status", &m.base);
    }
    if (strcmp (verb, "hours") == 0) {
        Gridcall__V1__ServiceLog m = GRIDCALL__V1__SERVICE_LOG__INIT;
        m.key = (char *) s_key (argc, argv, buf, sizeof buf);
        m.person = (char *) cli_opt (argc, argv, "--person", "");
        m.unit = (char *) cli_opt (argc, argv, "--unit", "");
        long long minutes;
        if (cli_number ("--minutes", cli_opt (argc, argv, "--minutes", "0"), 0, UINT32_MAX,
                        &minutes))
            return 2;
        m.minutes = (uint32_t) minutes;
        m.project = (char *) cli_opt (argc, argv, "--project", "");
        m.note = (char *) cli_opt (argc, argv, "--note", "");
        return s_send (config, "service.log", &m.base);
    }
    if (strcmp (verb, "book") == 0 && arg) {
        Gridcall__V1__VenueBooking m = GRIDCALL__V1__VENUE_BOOKING__INIT;
        m.key = (char *) s_key (argc, argv, buf, sizeof buf);
        m.venue = (char *) arg;
        long long from, to, people;
        if (cli_number ("--from (Unix ms)", cli_opt (argc, argv, "--from", ""), 1, LLONG_MAX, &from)
        ||  cli_number ("--to (Unix ms)", cli_opt (argc, argv, "--to", ""), 1, LLONG_MAX, &to)
        ||  cli_number ("--people", cli_opt (argc, argv, "--people", "0"), 0, UINT32_MAX, &people))
            return 2;
        m.from_ms = from;
        m.to_ms = to;
        m.people = (uint32_t) people;
        m.purpose = (char *) cli_opt (argc, argv, "--purpose", "");
        m.project = (char *) cli_opt (argc, argv, "--project", "");
        return s_send (config, "venue.book", &m.base);
    }
    const char *quarter = cli_positional (argc, argv, 2, s_flags);
    const char *score = cli_positional (argc, argv, 3, s_flags);
    if (strcmp (verb, "rate") == 0 && arg && quarter && score) {
        Gridcall__V1__UnitRating m = GRIDCALL__V1__UNIT_RATING__INIT;
        m.unit = (char *) arg;
        m.quarter = (char *) quarter;
        long long value;
        if (cli_number ("score", score, 0, UINT32_MAX, &value))
            return 2;
        m.score = (uint32_t) value;
        m.comment = (char *) cli_opt (argc, argv, "--comment", "");
        return s_send (config, "unit.rate", &m.base);
    }
    return s_usage ();
}
