/*  test_intake_matters.c — the matter requests intake checks and turns
    into store calls (intake_matters.c). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <string.h>
#include <cmocka.h>

#include "intake_matters.h"
#include "codec.h"

static const intake_env_t s_env = { 2000, "3600", "86400" };

static void
test_a_proposal_becomes_its_call (void **state)
{
    (void) state;
    Gridcall__V1__MatterPropose m = GRIDCALL__V1__MATTER_PROPOSE__INIT;
    m.idempotency_key = "app-7";
    m.template_ = "renovation";
    m.grid = "G01";
    m.title = "3号楼管网改造";
    m.channel = GRIDCALL__V1__CHANNEL__CHANNEL_RESIDENT_APP;
    m.proposer = "张桂兰";
    intake_call_t call = { .area = "" };
    char reason [256];
    assert_int_equal (intake_matter_propose (&s_env, &m.base, "gateway:app", &call, reason,
                                             sizeof reason), 0);
    assert_int_equal (call.argc, 10);
    assert_string_equal (call.argv [0], "app-7");
    assert_string_equal (call.argv [5], "RESIDENT_APP");
    assert_string_equal (call.argv [7], "gateway:app");
    assert_string_equal (call.grid, "G01");
    assert_string_equal (call.channel, "RESIDENT_APP");
    assert_int_equal (strlen (call.argv [9]), 40);     //  the content's digest
    m.title = "";
    assert_int_equal (intake_matter_propose (&s_env, &m.base, "gateway:app", &call, reason,
                                             sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "title is required");
    intake_call_free (&call);
}

static void
test_lists_go_as_json_and_are_bounded (void **state)
{
    (void) state;
    Gridcall__V1__Tally yes = GRIDCALL__V1__TALLY__INIT, no = GRIDCALL__V1__TALLY__INIT;
    Gridcall__V1__Tally *tallies [] = { &yes, &no };
    yes.option = "方案A";
    yes.votes = 90;
    no.option = "against";
    no.votes = 5;
    Gridcall__V1__MatterVote v = GRIDCALL__V1__MATTER_VOTE__INIT;
    v.matter_id = "TJ-M20261130-0001";
    v.meeting_id = "TJ-H20261130-001";
    v.eligible = 120;
    v.tallies = tallies;
    v.n_tallies = 2;
    intake_call_t call = { .area = "C01" };
    char reason [256];
    assert_int_equal (intake_matter_vote (&s_env, &v.base, "operator:w", &call, reason,
                                          sizeof reason), 0);
    assert_string_equal (call.argv [3], "[[\"方案A\",90],[\"against\",5]]");
    assert_string_equal (call.argv [7], "C01");
    assert_string_equal (call.argv [9], "3600");
    intake_call_free (&call);
    assert_null (call.blob [0]);
    v.eligible = 0;
    assert_int_equal (intake_matter_vote (&s_env, &v.base, "operator:w", &call, reason,
                                          sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);

    char *agenda [21];
    for (int i = 0; i < 21; i++)
        agenda [i] = "TJ-M20261130-0001";
    Gridcall__V1__MeetingSchedule s = GRIDCALL__V1__MEETING_SCHEDULE__INIT;
    s.idempotency_key = "k";
    s.level = GRIDCALL__V1__MEETING_LEVEL__LEVEL_GRID;
    s.grid = "G01";
    s.venue = "议事之家";
    s.at_ms = 1764460800000;
    s.agenda = agenda;
    s.n_agenda = 21;
    assert_int_equal (intake_meeting_schedule (&s_env, &s.base, "operator:w", &call, reason,
                                               sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_non_null (strstr (reason, "agenda"));
    s.n_agenda = 1;
    s.level = 9;
    assert_int_equal (intake_meeting_schedule (&s_env, &s.base, "operator:w", &call, reason,
                                               sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    s.level = GRIDCALL__V1__MEETING_LEVEL__LEVEL_GRID;
    assert_int_equal (intake_meeting_schedule (&s_env, &s.base, "operator:w", &call, reason,
                                               sizeof reason), 0);
    assert_string_equal (call.argv [1], "GRID");
    assert_string_equal (call.argv [6], "[\"TJ-M20261130-0001\"]");
    intake_call_free (&call);
}

static void
test_an_agenda_grows_by_ids (void **state)
{
    (void) state;
    char *add [] = { "TJ-M20261130-0001", "TJ-M20261130-0002" };
    Gridcall__V1__MeetingAgenda m = GRIDCALL__V1__MEETING_AGENDA__INIT;
    m.meeting_id = "TJ-H20261130-002";
    intake_call_t call = { .area = "C01" };
    char reason [256];
    assert_int_equal (intake_meeting_agenda (&s_env, &m.base, "operator:w", &call, reason,
                                             sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    m.add = add;
    m.n_add = 2;
    assert_int_equal (intake_meeting_agenda (&s_env, &m.base, "operator:w", &call, reason,
                                             sizeof reason), 0);
    assert_string_equal (call.argv [1], "[\"TJ-M20261130-0001\",\"TJ-M20261130-0002\"]");
    assert_string_equal (call.argv [3], "C01");
    intake_call_free (&call);
    add [1] = "no spaces";
    assert_int_equal (intake_meeting_agenda (&s_env, &m.base, "operator:w", &call, reason,
                                             sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
}

static void
test_evaluations_are_scored_one_to_five (void **state)
{
    (void) state;
    Gridcall__V1__MatterEvaluate e = GRIDCALL__V1__MATTER_EVALUATE__INIT;
    e.matter_id = "TJ-M20261130-0001";
    e.resident = "居民甲";
    e.score = 6;
    intake_call_t call = { .area = "", .channels = "RESIDENT_APP,HOTLINE" };
    char reason [256];
    assert_int_equal (intake_matter_evaluate (&s_env, &e.base, "gateway:app", &call, reason,
                                              sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    e.score = 4;
    assert_int_equal (intake_matter_evaluate (&s_env, &e.base, "gateway:app", &call, reason,
                                              sizeof reason), 0);
    assert_string_equal (call.argv [1], "4");
    //  the sender's channels go with it: the store checks the matter's
    assert_int_equal (call.argc, 6);
    assert_string_equal (call.argv [5], "RESIDENT_APP,HOTLINE");
    e.resident = "";
    assert_int_equal (intake_matter_evaluate (&s_env, &e.base, "gateway:app", &call, reason,
                                              sizeof reason), GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_a_proposal_becomes_its_call),
        cmocka_unit_test (test_lists_go_as_json_and_are_bounded),
        cmocka_unit_test (test_an_agenda_grows_by_ids),
        cmocka_unit_test (test_evaluations_are_scored_one_to_five),
    };
    return cmocka_run_group_tests (tests, NULL, NULL);
}
