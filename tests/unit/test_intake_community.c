/*  test_intake_community.c — the community's requests as intake checks
    them and the gc_community arguments it builds, by example. */

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <string.h>

#include "auth.h"
#include "community.pb-c.h"
#include "gridcall.pb-c.h"
#include "intake_community.h"

static auth_principal_t
s_principal (const char *text)
{
    auth_principal_t p;
    char err [256];
    assert_int_equal (auth_principal_parse (text, &p, err, sizeof err), 0);
    return p;
}

static void
test_kinds_and_actions (void **state)
{
    (void) state;
    auth_action_t action;
    assert_true (intake_community_kind ("need.record", &action));
    assert_int_equal (action, AUTH_NEED);
    assert_true (intake_community_kind ("project.claim", &action));
    assert_int_equal (action, AUTH_SERVE);
    assert_true (intake_community_kind ("unit.rate", &action));
    assert_int_equal (action, AUTH_PLAN);
    assert_false (intake_community_kind ("report", &action));
}

static void
test_a_visit_becomes_its_call (void **state)
{
    (void) state;
    auth_principal_t worker = s_principal ("grid-worker 白国晨 grids G01,G02");
    Gridcall__V1__NeedRecord m = GRIDCALL__V1__NEED_RECORD__INIT;
    m.key = "k1";
    m.grid = "G01";
    m.category = "svc.meal";
    m.text = "独居老人需要送餐";
    m.source = GRIDCALL__V1__NEED_SOURCE__NEED_SOURCE_VISIT;
    m.residents = 3;
    intake_community_call_t call;
    memset (&call, 0, sizeof call);
    char reason [256];
    assert_int_equal (intake_community_build ("need.record", &m.base, "grid-worker:白国晨", &worker,
                                              1000, &call, reason, sizeof reason), 0);
    const char *want [] = { "need.record", "grid-worker:白国晨", "grids:G01,G02", "k1", "G01",
                            "svc.meal", "独居老人需要送餐", "VISIT", "", "3" };
    assert_int_equal (call.argc, 10);
    for (int i = 0; i < call.argc; i++)
        assert_string_equal (call.argv [i], want [i]);
    assert_string_equal (call.ref, "k1");
    assert_string_equal (call.grid, "G01");
    //  without the text: the field is named
    m.text = "";
    assert_int_equal (intake_community_build ("need.record", &m.base, "w", &worker, 1000, &call,
                                              reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "text is required");
    m.text = "x";
    m.source = 0;
    assert_int_equal (intake_community_build ("need.record", &m.base, "w", &worker, 1000, &call,
                                              reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    intake_community_reset (&call);
    auth_principal_reset (&worker);
}

static void
test_lists_and_items (void **state)
{
    (void) state;
    auth_principal_t op = s_principal ("operator o community C01");
    char *needs [] = { "N000001", "N000003" };
    Gridcall__V1__ProjectDesign d = GRIDCALL__V1__PROJECT_DESIGN__INIT;
    d.id = "P1";
    d.name = "助餐";
    d.goal = "送餐";
    d.n_needs = 2;
    d.needs = needs;
    d.volunteers = 2;
    intake_community_call_t call;
    memset (&call, 0, sizeof call);
    char reason [256];
    assert_int_equal (intake_community_build ("project.design", &d.base, "operator:o", &op, 1000,
                                              &call, reason, sizeof reason), 0);
    assert_string_equal (call.argv [2], "community:C01");
    assert_string_equal (call.argv [6], "N000001,N000003");
    assert_string_equal (call.argv [9], "2");
    //  a list item outside the id charset, and too many volunteers
    char *bad [] = { "N1", "N 2" };
    d.needs = bad;
    assert_int_equal (intake_community_build ("project.design", &d.base, "o", &op, 1000, &call,
                                              reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_non_null (strstr (reason, "needs[1]"));
    d.needs = needs;
    d.volunteers = 1001;
    assert_int_equal (intake_community_build ("project.design", &d.base, "o", &op, 1000, &call,
                                              reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_BAD_VALUE);
    assert_string_equal (reason, "volunteers 1001 is outside 1..1000");

    //  a survey's answers travel as a JSON array
    Gridcall__V1__SurveyAnswerItem a1 = GRIDCALL__V1__SURVEY_ANSWER_ITEM__INIT;
    a1.question = "q1";
    a1.yes = 1;
    a1.text = "要";
    Gridcall__V1__SurveyAnswerItem *items [] = { &a1 };
    Gridcall__V1__SurveyAnswer s = GRIDCALL__V1__SURVEY_ANSWER__INIT;
    s.key = "k";
    s.survey = "S1";
    s.grid = "G01";
    s.respondent = "501户";
    s.n_answers = 1;
    s.answers = items;
    assert_int_equal (intake_community_build ("survey.answer", &s.base, "o", &op, 1000, &call,
                                              reason, sizeof reason), 0);
    assert_string_equal (call.argv [7], "[{\"question\":\"q1\",\"yes\":true,\"text\":\"要\"}]");
    a1.question = "";
    assert_int_equal (intake_community_build ("survey.answer", &s.base, "o", &op, 1000, &call,
                                              reason, sizeof reason),
                      GRIDCALL__V1__ERROR_CODE__ERROR_MISSING_FIELD);
    assert_string_equal (reason, "answers[0].question is required");
    intake_community_reset (&call);
    auth_principal_reset (&op);
}

int
main (void)
{
    const struct CMUnitTest tests [] = {
        cmocka_unit_test (test_kinds_and_actions),
        cmocka_unit_test (test_a_visit_becomes_its_call),
        cmocka_unit_test (test_lists_and_items),
    };
    return cmocka_run_group_tests_name ("intake_community", tests, NULL, NULL);
}
