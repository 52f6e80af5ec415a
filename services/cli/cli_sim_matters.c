/*  cli_sim_matters.c — the simulated street's matters (议题): one matter
    per template walks 提议定办评 through intake as residents and the
    community would (docs/matters.md), so the screen's board moves. Its
    tasks are cases the simulated units take and grid workers verify like
    any other; the vote waits for the template's public notice (case time)
    and is taken twice, at two meetings: short of quorum, then passing. One request is in
    flight at a time; its answer advances the walk. */
#include "cli_sim_matters.h"

#include <czmq.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "codec.h"
#include "store.h"

#define RETRY_STEPS 5           //  a refused step (notice still running) waits this many steps
#define OPTION "方案一"

//  A demo matter: its template, the levels of its two deliberations, its
//  tasks (key, category of the demo directory, text). The n-th takes place
//  in the first grid of the directory's n-th community.
typedef struct {
    const char *template_;
    const char *title;
    int levels [2];             //  MeetingLevel of the two deliberations
    const char *tasks [3][3];
} sim_script_t;

static const sim_script_t s_scripts [] = {
    { "renovation", "安达小区3号楼供水管网与路面改造", { 1, 2 },
      { { "pipes", "infra.water_leak", "更换3号楼供水主管" },
        { "paving", "infra.road", "楼前路面硬化" },
        { "cleanup", "env.sanitation", "施工后环境清理（志愿服务队）" } } },
    { "property_selection", "天骄小区物业续聘", { 1, 2 },
      { { "contract", "property.service", "与选定物业签约并公示服务标准" },
        { "handover", "env.garbage", "交接期间垃圾清运" }, { NULL, NULL, NULL } } },
    { "owners_committee", "和谐小区第二届业委会选举", { 3, 2 },
      { { "filing", "property.service", "业委会备案与印章交接" },
        { NULL, NULL, NULL }, { NULL, NULL, NULL } } },
};
#define SCRIPTS (sizeof s_scripts / sizeof s_scripts [0])

//  The walk of one matter: what it did last and what it waits for.
typedef enum {
    W_PROPOSE, W_MEET1, W_DELIB1, W_MEET2, W_DELIB2, W_NOTICE, W_MEET3, W_VOTE_SHORT,
    W_MEET4, W_VOTE, W_TASKS, W_WAIT_TASKS, W_EVAL1, W_EVAL2, W_EVAL3, W_CLOSE, W_DONE
} walk_t;

typedef struct {
    const sim_script_t *script;
    const char *grid;           //  where (borrowed from the directory)
    const char *community;
    walk_t at;
    char matter_id [64];
    char meeting_id [64];
    long long due;              //  monotonic ms of its next step
    char tasks [3][64];         //  its task cases (residents evaluate the matter, not them)
} sim_walk_t;

struct _sim_matters_t {
    cli_client_t *gateway;      //  borrowed: residents
    cli_client_t *official;     //  borrowed: the community operator
    store_t *store;             //  borrowed: reads the matter's stage
    sim_walk_t walks [SCRIPTS];
    sim_walk_t *inflight;       //  the walk whose request waits for its answer
    long long sent_at;
    unsigned seq;
    long long steps;            //  requests answered with success
    long long step_ms;          //  wall ms between a matter's steps
};

sim_matters_t *
sim_matters_new (const directory_t *directory, cli_client_t *gateway, cli_client_t *official,
                 store_t *store, long long step_ms)
{
    sim_matters_t *self = calloc (1, sizeof *self);
    if (!self)
        return NULL;
    self->gateway = gateway;
    self->official = official;
    self->store = store;
    self->step_ms = step_ms < 100 ? 100 : step_ms;     //  no busy loop
    long long now = zclock_mono ();
    size_t walks = 0;
    for (size_t g = 0; g < directory_grid_count (directory) && walks < SCRIPTS; g++) {
        const dir_grid_t *grid = directory_grid (directory, g);
        bool seen = false;
        for (size_t i = 0; i < walks; i++)
            seen |= streq (self->walks [i].community, grid->community);
        if (seen)
            continue;
        sim_walk_t *w = &self->walks [walks];
        w->script = &s_scripts [walks];
        w->grid = grid->id;
        w->community = grid->community;
        w->due = now + step_ms / 3 + (long long) walks * 3 * step_ms;
        walks++;
    }
    for (size_t i = walks; i < SCRIPTS; i++)
        self->walks [i].at = W_DONE;    //  a directory of fewer communities
    return self;
}

void
sim_matters_destroy (sim_matters_t **self_p)
{
    if (self_p && *self_p) {
        free (*self_p);
        *self_p = NULL;
    }
}

long long
sim_matters_steps (const sim_matters_t *self)
{
    return self->steps;
}

static int
s_meeting (sim_matters_t *self, sim_walk_t *w, int level)
{
    char key [64];
    snprintf (key, sizeof key, "simh-%d-%u", (int) getpid (), ++self->seq);
    char *agenda [] = { w->matter_id };
    Gridcall__V1__MeetingSchedule m = GRIDCALL__V1__MEETING_SCHEDULE__INIT;
    static char *venues [] = { "", "网格议事点", "社区党群服务中心", "议事之家（公证处会议室）",
                               "街道会议室" };
    m.idempotency_key = key;
    m.level = (Gridcall__V1__MeetingLevel) level;
    m.community = (char *) w->community;
    m.grid = level == 1 ? (char *) w->grid : "";
    m.venue = venues [level];
    //  a meeting's time is case time (docs/matters.md): now on the case
    //  clock, which runs time_scale times wall time in the demo
    json_t *clock = store_callv (self->store, "gc_clock_get", "1", NULL);
    long long case_now = (long long) json_number_value (json_object_get (clock, "case_now"));
    json_decref (clock);
    m.at_ms = case_now > 0 ? case_now : zclock_time ();
    m.agenda = agenda;
    m.n_agenda = 1;
    m.operator_ = "社区书记";
    return cli_client_send (self->official, "meeting.schedule", &m.base);
}

static int
s_deliberate (sim_matters_t *self, sim_walk_t *w)
{
    char *people [] = { "网格员", "楼栋长", "居民代表", "共建单位代表" };
    Gridcall__V1__Opinion o = GRIDCALL__V1__OPINION__INIT;
    Gridcall__V1__Opinion *ops [] = { &o };
    o.who = "居民代表";
    o.text = "希望尽快实施，施工期间注意出行安全";
    Gridcall__V1__MatterDeliberate m = GRIDCALL__V1__MATTER_DELIBERATE__INIT;
    m.matter_id = w->matter_id;
    m.meeting_id = w->meeting_id;
    m.participants = people;
    m.n_participants = 4;
    m.opinions = ops;
    m.n_opinions = 1;
    m.minutes = "与会人员一致同意推进，形成" OPTION;
    m.operator_ = "社区书记";
    return cli_client_send (self->official, "matter.deliberate", &m.base);
}

static int
s_vote (sim_matters_t *self, sim_walk_t *w, uint32_t yes)
{
    Gridcall__V1__Tally t = GRIDCALL__V1__TALLY__INIT, against = GRIDCALL__V1__TALLY__INIT;
    Gridcall__V1__Tally *tallies [] = { &t, &against };
    t.option = OPTION;
    t.votes = yes;
    against.option = "against";
    against.votes = 4;
    Gridcall__V1__MatterVote m = GRIDCALL__V1__MATTER_VOTE__INIT;
    m.matter_id = w->matter_id;
    m.meeting_id = w->meeting_id;
    m.eligible = 120;
    m.tallies = tallies;
    m.n_tallies = 2;
    m.operator_ = "社区书记";
    return cli_client_send (self->official, "matter.vote", &m.base);
}

//  True when the matter's tasks are done (its stage is EVALUATE).
static bool
s_tasks_done (sim_matters_t *self, sim_walk_t *w)
{
    json_t *reply = store_callv (self->store, "gc_matter_get", w->matter_id, NULL);
    const char *stage = json_string_value (json_object_get (json_object_get (reply, "matter"), "stage"));
    bool done = stage && strcmp (stage, "EVALUATE") == 0;
    json_decref (reply);
    return done;
}

//  Send the walk's next request. Returns 0 when one is in flight.
static int
s_step (sim_matters_t *self, sim_walk_t *w)
{
    const sim_script_t *s = w->script;
    switch (w->at) {
        case W_PROPOSE: {
            char key [64];
            snprintf (key, sizeof key, "simm-%d-%u", (int) getpid (), ++self->seq);
            Gridcall__V1__MatterPropose m = GRIDCALL__V1__MATTER_PROPOSE__INIT;
            m.idempotency_key = key;
            m.template_ = (char *) s->template_;
            m.grid = (char *) w->grid;
            m.title = (char *) s->title;
            m.text = "居民通过“请你来协商”平台提出";
            m.channel = GRIDCALL__V1__CHANNEL__CHANNEL_RESIDENT_APP;
            m.proposer = "居民代表";
            return cli_client_send (self->gateway, "matter.propose", &m.base);
        }
        case W_MEET1:
        case W_MEET2:
            return s_meeting (self, w, s->levels [w->at == W_MEET1 ? 0 : 1]);
        case W_MEET3:
        case W_MEET4:               //  a failed vote is retaken at a new meeting
            return s_meeting (self, w, 2);
        case W_DELIB1:
        case W_DELIB2:
            return s_deliberate (self, w);
        case W_NOTICE: {
            char *options [] = { OPTION };
            Gridcall__V1__MatterNotice m = GRIDCALL__V1__MATTER_NOTICE__INIT;
            m.matter_id = w->matter_id;
            m.options = options;
            m.n_options = 1;
            m.note = "张贴于单元门及小区公告栏";
            m.operator_ = "社区书记";
            return cli_client_send (self->official, "matter.notice", &m.base);
        }
        case W_VOTE_SHORT:
            return s_vote (self, w, 50);        //  58 of 120 vote: short of 2/3
        case W_VOTE:
            return s_vote (self, w, 96);
        case W_TASKS: {
            Gridcall__V1__MatterTask tasks [3], *list [3];
            size_t n = 0;
            for (; n < 3 && s->tasks [n][0]; n++) {
                gridcall__v1__matter_task__init (&tasks [n]);
                tasks [n].key = (char *) s->tasks [n][0];
                tasks [n].category = (char *) s->tasks [n][1];
                tasks [n].text = (char *) s->tasks [n][2];
                list [n] = &tasks [n];
            }
            Gridcall__V1__MatterTasks m = GRIDCALL__V1__MATTER_TASKS__INIT;
            m.matter_id = w->matter_id;
            m.tasks = list;
            m.n_tasks = n;
            m.operator_ = "社区书记";
            return cli_client_send (self->official, "matter.tasks", &m.base);
        }
        case W_WAIT_TASKS:
            if (s_tasks_done (self, w))
                w->at = W_EVAL1;
            w->due = zclock_mono () + self->step_ms;
            return -1;
        case W_EVAL1:
        case W_EVAL2:
        case W_EVAL3: {
            static char *residents [] = { "居民甲", "居民乙", "居民丙" };
            Gridcall__V1__MatterEvaluate m = GRIDCALL__V1__MATTER_EVALUATE__INIT;
            m.matter_id = w->matter_id;
            m.score = 5 - (uint32_t) (w->at - W_EVAL1) % 2;
            m.resident = residents [w->at - W_EVAL1];
            m.comment = "满意";
            return cli_client_send (self->gateway, "matter.evaluate", &m.base);
        }
        case W_CLOSE: {
            Gridcall__V1__MatterClose m = GRIDCALL__V1__MATTER_CLOSE__INIT;
            m.matter_id = w->matter_id;
            m.note = "评议结果张榜公布";
            m.operator_ = "社区书记";
            return cli_client_send (self->official, "matter.close", &m.base);
        }
        case W_DONE:
            break;
    }
    return -1;
}

void
sim_matters_tick (sim_matters_t *self)
{
    long long now = zclock_mono ();
    if (self->inflight && now - self->sent_at < 10000)
        return;
    self->inflight = NULL;          //  an answer lost: the step is sent again
    for (size_t i = 0; i < SCRIPTS; i++) {
        sim_walk_t *w = &self->walks [i];
        if (w->at == W_DONE || w->due > now)
            continue;
        if (s_step (self, w) == 0) {
            self->inflight = w;
            self->sent_at = now;
            return;
        }
    }
}

bool
sim_matters_answer (sim_matters_t *self, const codec_msg_t *msg)
{
    sim_walk_t *w = self->inflight;
    bool ours = streq (msg->type, "matter.ok");
    if (!ours && msg->body && streq (msg->type, "error")) {
        const char *ref = ((const Gridcall__V1__Error *) msg->body)->ref;
        ours = strncmp (ref, "simm-", 5) == 0 || strncmp (ref, "simh-", 5) == 0
            || (w && streq (ref, w->matter_id));
    }
    if (!ours || !w)
        return ours;
    self->inflight = NULL;
    long long now = zclock_mono ();
    if (streq (msg->type, "error")) {
        //  the notice still runs, or the tasks are not done: later
        w->due = now + RETRY_STEPS * self->step_ms;
        return true;
    }
    const Gridcall__V1__MatterAck *ack = (const Gridcall__V1__MatterAck *) msg->body;
    self->steps++;
    if (w->at == W_PROPOSE)
        snprintf (w->matter_id, sizeof w->matter_id, "%s", ack->matter_id);
    if (w->at == W_MEET1 || w->at == W_MEET2 || w->at == W_MEET3 || w->at == W_MEET4)
        snprintf (w->meeting_id, sizeof w->meeting_id, "%s", ack->matter_id);
    for (size_t i = 0; w->at == W_TASKS && i < ack->n_case_ids && i < 3; i++)
        snprintf (w->tasks [i], sizeof w->tasks [i], "%s", ack->case_ids [i]);
    w->at++;
    w->due = now + self->step_ms;
    return true;
}

bool
sim_matters_task (const sim_matters_t *self, const char *case_id)
{
    for (size_t i = 0; i < SCRIPTS; i++)
        for (size_t t = 0; t < 3; t++)
            if (streq (self->walks [i].tasks [t], case_id))
                return true;
    return false;
}
