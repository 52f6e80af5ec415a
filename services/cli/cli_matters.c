/*  cli_matters.c — `gridcall matter ...`: matters (议题) and their
    meetings (docs/matters.md). Reads go to Redis; every step of a matter
    goes through intake, which checks who may take it and commits it. */
#include "cli_matters.h"

#include <czmq.h>
#include <jansson.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli_args.h"
#include "cli_client.h"
#include "codec.h"
#include "store.h"
#include "street.h"

#define LIST_MAX 20                 //  entries of a "|"-separated list option

static const char *const s_flags [] = { "--json", NULL };

static const char *s_usage =
    "usage: gridcall matter templates [load FILE] [--json]\n"
    "       gridcall matter board [--json] | matter show ID [--json]\n"
    "       gridcall matter propose --template T --grid G --title TEXT [--text TEXT] [--proposer P] [--key K]\n"
    "       gridcall matter promote CASE --template T --title TEXT [--note TEXT]\n"
    "       gridcall matter meeting --level GRID|COMMUNITY|JOINT|STREET --venue V [--community C] [--grid G]\n"
    "                               [--at now|+MIN|MS] [--agenda ID|ID] [--key K]\n"
    "       gridcall matter agenda MEETING --add ID|ID\n"
    "       gridcall matter deliberate ID --meeting M --minutes TEXT [--participants A|B] [--opinions WHO:TEXT|...]\n"
    "       gridcall matter notice ID --options A|B [--note TEXT]\n"
    "       gridcall matter vote ID --meeting M --eligible N --tally OPTION=N|against=N [--abstained N]\n"
    "       gridcall matter tasks ID --tasks KEY:CATEGORY:TEXT|...\n"
    "       gridcall matter evaluate ID SCORE --resident R [--comment TEXT]\n"
    "       gridcall matter close ID [--note TEXT]\n"
    "       (--who NAME: the operator's name for the timeline)\n";

//  Split text at '|' into at most LIST_MAX words of buf (a copy the caller
//  frees); returns the count.
static size_t
s_split (const char *text, char **buf, char *words [LIST_MAX])
{
    size_t n = 0;
    *buf = strdup (text ? text : "");
    for (char *save = NULL, *w = strtok_r (*buf, "|", &save); w && n < LIST_MAX;
         w = strtok_r (NULL, "|", &save))
        words [n++] = w;
    return n;
}

static void
s_print_json (const json_t *value)
{
    char *text = json_dumps (value, JSON_INDENT (2) | JSON_SORT_KEYS);
    printf ("%s\n", text ? text : "null");
    free (text);
}

//  Send one matter request to intake and print its answer. Returns 0 or 1.
static int
s_ask (const config_t *config, const char *type, const ProtobufCMessage *body, const char *what)
{
    codec_msg_t answer;
    if (cli_client_ask (config, type, body, &answer))
        return 1;
    int rc = cli_client_refused (what, &answer);
    if (!rc && streq (answer.type, "matter.ok")) {
        const Gridcall__V1__MatterAck *ack = (const Gridcall__V1__MatterAck *) answer.body;
        printf ("%s %s%s", ack->matter_id, what, ack->duplicate ? " already" : "");
        if (*ack->stage)
            printf (": stage %s, next step %s", ack->stage, *ack->step ? ack->step : "(none)");
        printf ("\n");
        if (*ack->result)
            printf ("  %s\n", ack->result);
        for (size_t i = 0; i < ack->n_case_ids; i++)
            printf ("  task case %s\n", ack->case_ids [i]);
    }
    codec_msg_reset (&answer);
    return rc;
}

//  A store read: print its reply as JSON, or through show. Returns 0 or 1.
static int
s_read (const config_t *config, const char *fn, const char *arg, const char *arg2, bool json,
        void (*show) (const json_t *))
{
    store_t *store = cli_store (config);
    if (!store)
        return 1;
    json_t *reply = store_callv (store, fn, arg, arg2, NULL);
    int rc = 1;
    if (!json_is_true (json_object_get (reply, "ok")))
        fprintf (stderr, "gridcall: %s: %s: %s\n", fn,
                 reply ? json_string_value (json_object_get (reply, "code")) : "UNAVAILABLE",
                 reply ? json_string_value (json_object_get (reply, "message")) : "no answer from Redis");
    else {
        if (json || !show)
            s_print_json (reply);
        else
            show (reply);
        rc = 0;
    }
    json_decref (reply);
    store_destroy (&store);
    return rc;
}

static const char *
s_str (const json_t *o, const char *key)
{
    const char *s = json_string_value (json_object_get (o, key));
    return s ? s : "";
}

static void
s_show_board (const json_t *reply)
{
    size_t i;
    json_t *stage, *m;
    json_array_foreach (json_object_get (reply, "stages"), i, stage) {
        json_t *list = json_object_get (json_object_get (reply, "board"), json_string_value (stage));
        printf ("%s (%zu)\n", json_string_value (stage), json_array_size (list));
        size_t j;
        json_array_foreach (list, j, m)
            printf ("  %s  %-10s %-4s %s — next: %s\n", s_str (m, "matter_id"), s_str (m, "template"),
                    s_str (m, "grid"), s_str (m, "title"), s_str (m, "next_step"));
    }
    printf ("meetings:\n");
    int offset = (int) json_integer_value (json_object_get (reply, "utc_offset_minutes"));
    json_array_foreach (json_object_get (reply, "meetings"), i, m) {
        //  a meeting's time is case time, shown as the street's local time
        street_time_t at;
        char when [32];
        street_time (offset, json_integer_value (json_object_get (m, "at")), &at);
        street_format (&at, when, sizeof when);
        printf ("  %s  %s  %s %s  at %s, %s\n", s_str (m, "meeting_id"), s_str (m, "level_name"),
                s_str (m, "community"), s_str (m, "grid"), s_str (m, "venue"), when);
        size_t j;
        json_t *item;
        json_array_foreach (json_object_get (m, "agenda"), j, item)
            printf ("      %s %s\n", s_str (item, "matter_id"), s_str (item, "title"));
    }
}

static void
s_show_matter (const json_t *reply)
{
    const json_t *m = json_object_get (reply, "matter");
    printf ("%s  %s (%s)  grid %s, community %s\n  stage %s; proposed by %s\n", s_str (m, "id"),
            s_str (m, "title"), s_str (m, "template"), s_str (m, "grid"), s_str (m, "community"),
            s_str (m, "stage"), s_str (m, "via"));
    size_t i;
    json_t *e;
    printf ("steps:\n");
    json_array_foreach (json_object_get (m, "steps"), i, e)
        printf ("  [%s] %s %s\n", json_is_true (json_object_get (e, "done")) ? "x" : " ",
                s_str (e, "id"), s_str (e, "name"));
    printf ("timeline:\n");
    json_array_foreach (json_object_get (m, "timeline"), i, e)
        printf ("  %lld  %-12s %-24s %s\n", json_integer_value (json_object_get (e, "at")),
                s_str (e, "what"), s_str (e, "who"), s_str (e, "note"));
}

//  --at: "now", "+MIN" (minutes from now) or Unix ms; -1 (with the
//  line printed) for anything else.
static long long
s_at (const char *text)
{
    long long now = zclock_time (), n;
    if (!text || streq (text, "now"))
        return now;
    if (*text == '+')
        return cli_number ("--at +MIN", text + 1, 0, 5256000, &n) ? -1 : now + n * 60000LL;
    return cli_number ("--at (now, +MIN or Unix ms)", text, 1, LLONG_MAX, &n) ? -1 : n;
}

static int
s_templates (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 1, s_flags);
    if (!verb)
        return s_read (config, "gc_matter_templates", NULL, NULL, true, NULL);
    const char *file = cli_positional (argc, argv, 2, s_flags);
    if (!streq (verb, "load") || !file) {
        fputs (s_usage, stderr);
        return 2;
    }
    char *text = NULL;
    zfile_t *f = zfile_new (NULL, file);
    zchunk_t *chunk = f && zfile_input (f) == 0 ? zfile_read (f, 1 << 20, 0) : NULL;
    if (chunk)
        text = zchunk_strdup (chunk);
    zchunk_destroy (&chunk);
    zfile_destroy (&f);
    if (!text) {
        fprintf (stderr, "gridcall: matter templates load: cannot read %s\n", file);
        return 1;
    }
    char who [256];
    cli_principal (config, who, sizeof who);
    store_t *store = cli_store (config);
    int rc = 1;
    json_t *reply = store ? store_callv (store, "gc_matter_templates_load", text, who, NULL) : NULL;
    if (json_is_true (json_object_get (reply, "ok"))) {
        size_t i;
        json_t *t;
        json_array_foreach (json_object_get (reply, "loaded"), i, t)
            printf ("loaded %s\n", json_string_value (t));
        rc = 0;
    }
    else
    if (store)
        fprintf (stderr, "gridcall: matter templates load: %s: %s\n", s_str (reply, "code"),
                 s_str (reply, "message"));
    json_decref (reply);
    store_destroy (&store);
    free (text);
    return rc;
}

int
cli_matter (const config_t *config, int argc, char **argv)
{
    const char *verb = cli_positional (argc, argv, 0, s_flags);
    const char *id = cli_positional (argc, argv, 1, s_flags);
    const char *who = cli_opt (argc, argv, "--who", "operator");
    bool json = cli_flag (argc, argv, "--json");
    if (!verb) {
        fputs (s_usage, stderr);
        return 2;
    }
    if (streq (verb, "templates"))
        return s_templates (config, argc, argv);
    if (streq (verb, "board"))
        return s_read (config, "gc_matters", "200", "0", json, s_show_board);
    if (streq (verb, "propose")) {
        Gridcall__V1__MatterPropose m = GRIDCALL__V1__MATTER_PROPOSE__INIT;
        char key [64];
        snprintf (key, sizeof key, "cli-%lld-%d", (long long) zclock_time (), (int) getpid ());
        m.idempotency_key = (char *) cli_opt (argc, argv, "--key", key);
        m.template_ = (char *) cli_opt (argc, argv, "--template", "");
        m.grid = (char *) cli_opt (argc, argv, "--grid", "");
        m.title = (char *) cli_opt (argc, argv, "--title", "");
        m.text = (char *) cli_opt (argc, argv, "--text", "");
        m.proposer = (char *) cli_opt (argc, argv, "--proposer", who);
        m.channel = GRIDCALL__V1__CHANNEL__CHANNEL_OPERATOR;
        return s_ask (config, "matter.propose", &m.base, "proposed");
    }
    if (streq (verb, "meeting")) {
        static const char *levels [] = { "", "GRID", "COMMUNITY", "JOINT", "STREET" };
        Gridcall__V1__MeetingSchedule m = GRIDCALL__V1__MEETING_SCHEDULE__INIT;
        const char *level = cli_opt (argc, argv, "--level", "");
        for (int i = 1; i <= 4; i++)
            if (streq (level, levels [i]))
                m.level = (Gridcall__V1__MeetingLevel) i;
        char key [64], *buf = NULL, *agenda [LIST_MAX];
        snprintf (key, sizeof key, "cli-%lld-%d", (long long) zclock_time (), (int) getpid ());
        m.idempotency_key = (char *) cli_opt (argc, argv, "--key", key);
        m.community = (char *) cli_opt (argc, argv, "--community", "");
        m.grid = (char *) cli_opt (argc, argv, "--grid", "");
        m.venue = (char *) cli_opt (argc, argv, "--venue", "");
        long long at = s_at (cli_opt (argc, argv, "--at", "now"));
        if (at < 0)
            return 2;
        m.at_ms = at;
        m.operator_ = (char *) who;
        m.n_agenda = s_split (cli_opt (argc, argv, "--agenda", ""), &buf, agenda);
        m.agenda = agenda;
        int rc = s_ask (config, "meeting.schedule", &m.base, "scheduled");
        free (buf);
        return rc;
    }
    if (!id) {
        fputs (s_usage, stderr);
        return 2;
    }
    if (streq (verb, "agenda")) {
        Gridcall__V1__MeetingAgenda m = GRIDCALL__V1__MEETING_AGENDA__INIT;
        char *buf = NULL, *add [LIST_MAX];
        m.meeting_id = (char *) id;
        m.operator_ = (char *) who;
        m.n_add = s_split (cli_opt (argc, argv, "--add", ""), &buf, add);
        m.add = add;
        int rc = s_ask (config, "meeting.agenda", &m.base, "agenda");
        free (buf);
        return rc;
    }
    if (streq (verb, "show"))
        return s_read (config, "gc_matter_get", id, NULL, json, s_show_matter);
    if (streq (verb, "promote")) {
        Gridcall__V1__MatterPromote m = GRIDCALL__V1__MATTER_PROMOTE__INIT;
        m.case_id = (char *) id;
        m.template_ = (char *) cli_opt (argc, argv, "--template", "");
        m.title = (char *) cli_opt (argc, argv, "--title", "");
        m.note = (char *) cli_opt (argc, argv, "--note", "");
        m.operator_ = (char *) who;
        return s_ask (config, "matter.promote", &m.base, "promoted");
    }
    if (streq (verb, "deliberate")) {
        Gridcall__V1__MatterDeliberate m = GRIDCALL__V1__MATTER_DELIBERATE__INIT;
        char *pbuf = NULL, *obuf = NULL, *people [LIST_MAX], *said [LIST_MAX];
        Gridcall__V1__Opinion ops [LIST_MAX], *opp [LIST_MAX];
        m.matter_id = (char *) id;
        m.meeting_id = (char *) cli_opt (argc, argv, "--meeting", "");
        m.minutes = (char *) cli_opt (argc, argv, "--minutes", "");
        m.operator_ = (char *) who;
        m.n_participants = s_split (cli_opt (argc, argv, "--participants", ""), &pbuf, people);
        m.participants = people;
        m.n_opinions = s_split (cli_opt (argc, argv, "--opinions", ""), &obuf, said);
        for (size_t i = 0; i < m.n_opinions; i++) {
            gridcall__v1__opinion__init (&ops [i]);
            char *colon = strchr (said [i], ':');
            ops [i].who = colon ? said [i] : "";
            ops [i].text = colon ? colon + 1 : said [i];
            if (colon)
                *colon = '\0';
            opp [i] = &ops [i];
        }
        m.opinions = opp;
        int rc = s_ask (config, "matter.deliberate", &m.base, "deliberated");
        free (pbuf);
        free (obuf);
        return rc;
    }
    if (streq (verb, "notice")) {
        Gridcall__V1__MatterNotice m = GRIDCALL__V1__MATTER_NOTICE__INIT;
        char *buf = NULL, *options [LIST_MAX];
        m.matter_id = (char *) id;
        m.note = (char *) cli_opt (argc, argv, "--note", "");
        m.operator_ = (char *) who;
        m.n_options = s_split (cli_opt (argc, argv, "--options", ""), &buf, options);
        m.options = options;
        int rc = s_ask (config, "matter.notice", &m.base, "on notice");
        free (buf);
        return rc;
    }
    if (streq (verb, "vote")) {
        Gridcall__V1__MatterVote m = GRIDCALL__V1__MATTER_VOTE__INIT;
        char *buf = NULL, *words [LIST_MAX];
        Gridcall__V1__Tally tallies [LIST_MAX], *tp [LIST_MAX];
        m.matter_id = (char *) id;
        m.meeting_id = (char *) cli_opt (argc, argv, "--meeting", "");
        long long eligible, abstained;
        if (cli_number ("--eligible", cli_opt (argc, argv, "--eligible", "0"), 0, UINT32_MAX,
                        &eligible)
        ||  cli_number ("--abstained", cli_opt (argc, argv, "--abstained", "0"), 0, UINT32_MAX,
                        &abstained))
            return 2;
        m.eligible = (uint32_t) eligible;
        m.abstained = (uint32_t) abstained;
        m.note = (char *) cli_opt (argc, argv, "--note", "");
        m.operator_ = (char *) who;
        m.n_tallies = s_split (cli_opt (argc, argv, "--tally", ""), &buf, words);
        for (size_t i = 0; i < m.n_tallies; i++) {
            gridcall__v1__tally__init (&tallies [i]);
            //  a vote is taken once a meeting: a typo must not become it
            char *eq = strrchr (words [i], '=');
            long long votes = 0;
            if (!eq || cli_number ("--tally", eq + 1, 0, UINT32_MAX, &votes)) {
                if (!eq)
                    fprintf (stderr, "gridcall: --tally: \"%s\" is not OPTION=VOTES\n", words [i]);
                free (buf);
                return 2;
            }
            tallies [i].votes = (uint32_t) votes;
            *eq = '\0';
            tallies [i].option = words [i];
            tp [i] = &tallies [i];
        }
        m.tallies = tp;
        int rc = s_ask (config, "matter.vote", &m.base, "voted");
        free (buf);
        return rc;
    }
    if (streq (verb, "tasks")) {
        Gridcall__V1__MatterTasks m = GRIDCALL__V1__MATTER_TASKS__INIT;
        char *buf = NULL, *words [LIST_MAX];
        Gridcall__V1__MatterTask tasks [LIST_MAX], *tp [LIST_MAX];
        m.matter_id = (char *) id;
        m.operator_ = (char *) who;
        m.n_tasks = s_split (cli_opt (argc, argv, "--tasks", ""), &buf, words);
        for (size_t i = 0; i < m.n_tasks; i++) {
            gridcall__v1__matter_task__init (&tasks [i]);
            char *save = NULL;
            tasks [i].key = strtok_r (words [i], ":", &save);
            tasks [i].category = strtok_r (NULL, ":", &save);
            tasks [i].text = strtok_r (NULL, "", &save);
            if (!tasks [i].category)
                tasks [i].category = "";
            if (!tasks [i].text)
                tasks [i].text = "";
            tp [i] = &tasks [i];
        }
        m.tasks = tp;
        int rc = s_ask (config, "matter.tasks", &m.base, "carried out as tasks");
        free (buf);
        return rc;
    }
    if (streq (verb, "evaluate")) {
        Gridcall__V1__MatterEvaluate m = GRIDCALL__V1__MATTER_EVALUATE__INIT;
        const char *score = cli_positional (argc, argv, 2, s_flags);
        m.matter_id = (char *) id;
        long long value = 0;
        if (score && cli_number ("score", score, 0, UINT32_MAX, &value))
            return 2;
        m.score = (uint32_t) value;
        m.comment = (char *) cli_opt (argc, argv, "--comment", "");
        m.resident = (char *) cli_opt (argc, argv, "--resident", "");
        return s_ask (config, "matter.evaluate", &m.base, "evaluated");
    }
    if (streq (verb, "close")) {
        Gridcall__V1__MatterClose m = GRIDCALL__V1__MATTER_CLOSE__INIT;
        m.matter_id = (char *) id;
        m.note = (char *) cli_opt (argc, argv, "--note", "");
        m.operator_ = (char *) who;
        return s_ask (config, "matter.close", &m.base, "closed");
    }
    fputs (s_usage, stderr);
    return 2;
}
