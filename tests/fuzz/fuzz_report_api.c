/*  fuzz_report_api.c — libFuzzer harness for the report's URL routing and
    query filters (report_api.c): what report_http.c does with a request
    line before any Redis call. Input: a request target as a browser sends
    it, "/api/cases?grid=G01&state=open&limit=20". The query is split the
    way libmicrohttpd splits it (report_http.c leaves values escaped; the
    API decodes them). An input that starts with '{' is a store reply
    instead (gc_case_get, gc_stats: JSON text as store_reply reads it),
    turned into the API's answers. See docs/fuzzing.md. */
#include <assert.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "report_api.h"

#define ARGS_MAX 32             //  query arguments kept, as libmicrohttpd would
#define VALUES_MAX 12           //  decoded values one request may ask for
#define VALUE_MAX 256           //  bytes of one decoded value, with its NUL

int LLVMFuzzerTestOneInput (const uint8_t *data, size_t size);

typedef struct {
    const char *keys [ARGS_MAX];    //  raw keys, as sent
    const char *values [ARGS_MAX];  //  raw values, NULL for "key" without '='
    int count;                      //  arguments
    char decoded [VALUES_MAX][VALUE_MAX];
    int used;                       //  decoded values handed out
} query_t;

//  Split "a=1&b=2" in place, as libmicrohttpd does with no unescaping.
static void
s_query_split (query_t *q, char *text)
{
    for (char *save = NULL, *arg = strtok_r (text, "&", &save); arg && q->count < ARGS_MAX;
         arg = strtok_r (NULL, "&", &save)) {
        char *eq = strchr (arg, '=');
        if (eq)
            *eq = 0;
        q->keys [q->count] = arg;
        q->values [q->count++] = eq ? eq + 1 : NULL;
    }
}

//  The first argument of that name (libmicrohttpd compares keys without
//  case), decoded as report_http.c's s_arg does.
static const char *
s_get (void *ctx, const char *name)
{
    query_t *q = (query_t *) ctx;
    for (int i = 0; i < q->count; i++)
        if (strcasecmp (q->keys [i], name) == 0) {
            if (!q->values [i] || q->used >= VALUES_MAX)
                return NULL;
            char *out = q->decoded [q->used];
            if (report_api_arg_decode (q->values [i], out, VALUE_MAX))
                return NULL;
            assert (strlen (out) < VALUE_MAX);
            q->used++;
            return out;
        }
    return NULL;
}

static bool
s_id_ok (const char *id)
{
    return !*id || report_api_case_id_valid (id, strlen (id));
}

//  A filter that parsed holds only what the API documents.
static void
s_check_filter (const report_filter_t *f)
{
    assert (f->limit >= 1 && f->limit <= REPORT_LIMIT_MAX);
    assert (f->cursor >= 0);
    assert (!f->from_ms || !f->to_ms || f->to_ms > f->from_ms);
    assert (s_id_ok (f->grid) && s_id_ok (f->community));
    assert (s_id_ok (f->category) && s_id_ok (f->unit));
    assert (strlen (f->states) < sizeof f->states);
    char *json = report_api_filter_json (f, f->cursor, f->limit);
    assert (json);
    json_error_t error;
    json_t *doc = json_loads (json, 0, &error);
    assert (json_is_object (doc));
    assert (json_integer_value (json_object_get (doc, "limit")) == f->limit);
    json_t *states = json_object_get (doc, "states");
    size_t i;
    json_t *state;
    json_array_foreach (states, i, state)
        assert (report_api_state_known (json_string_value (state)));
    json_decref (doc);
    free (json);
}

//  The answers built from a store reply: a status the API documents and
//  a body that serialises, whatever the reply held.
static void
s_answers (const uint8_t *data, size_t size)
{
    json_t *reply = json_loadb ((const char *) data, size, 0, NULL);
    if (!reply)
        return;
    json_t *(*answer []) (const json_t *, int *) = {
        report_api_case_answer, report_api_stats_answer, report_api_health_answer
    };
    for (size_t i = 0; i < sizeof answer / sizeof answer [0]; i++) {
        int status = 0;
        json_t *body = answer [i] (reply, &status);
        assert (body);
        assert (status == 200 || status == 404 || status == 502 || status == 503);
        char *text = json_dumps (body, JSON_COMPACT);
        assert (text);
        free (text);
        json_decref (body);
    }
    json_decref (reply);
}

int
LLVMFuzzerTestOneInput (const uint8_t *data, size_t size)
{
    if (size > 0 && data [0] == '{') {
        s_answers (data, size);
        return 0;
    }
    //  a request target holds no NUL: libmicrohttpd ends it there
    char *target = strndup ((const char *) data, size);
    assert (target);
    char *query = strchr (target, '?');
    if (query)
        *query++ = 0;

    char id [REPORT_CASE_ID_MAX + 1];
    report_route_t route = report_api_route (target, id);
    size_t len = strlen (target);
    assert ((route == REPORT_ROUTE_TOO_LONG) == (len > REPORT_URL_MAX));
    if (route == REPORT_ROUTE_CASE) {
        assert (report_api_case_id_valid (id, strlen (id)));
        assert (strcmp (target + strlen ("/api/cases/"), id) == 0);
    }
    if (route == REPORT_ROUTE_STATIC) {
        //  a static file name can never leave static_dir
        assert (id [0] != '.' && !strchr (id, '/'));
        assert (report_api_case_id_valid (id, strlen (id)));
    }

    query_t *q = calloc (1, sizeof *q);
    assert (q);
    if (query)
        s_query_split (q, query);
    report_filter_t filter;
    char err [160] = "";
    if (report_api_filter_parse (&filter, s_get, q, 480, err, sizeof err) == 0)
        s_check_filter (&filter);
    else
        assert (*err);          //  a 400 says which argument is wrong
    free (q);
    free (target);
    return 0;
}
