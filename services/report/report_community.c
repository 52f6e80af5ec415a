/*  report_community.c — the community's lists and ledgers, read for HTTP. */
#include "report_community.h"

#include <microhttpd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "report_api.h"
#include "report_ledger.h"

#define BOM "\xEF\xBB\xBF"

//  Call gc_community_read; the reply, or NULL with *status and *error set.
static json_t *
s_read (store_t *store, const char *view, const char *a1, const char *a2, int *status,
        json_t **error)
{
    const char *argv [3] = { view, a1 ? a1 : "", a2 ? a2 : "" };
    json_t *reply = store_call (store, "gc_community_read", 3, argv, NULL);
    if (reply && json_is_true (json_object_get (reply, "ok")))
        return reply;
    if (!reply) {
        *status = MHD_HTTP_SERVICE_UNAVAILABLE;
        *error = report_api_error ("UNAVAILABLE", "the store is unreachable; retry shortly");
    }
    else {
        //  the store's own refusals (no such view, unit, person ...) are
        //  the client's; anything else is ours
        const char *code = json_string_value (json_object_get (reply, "code"));
        const char *message = json_string_value (json_object_get (reply, "message"));
        bool client = code && strcmp (code, "INTERNAL") != 0 && message;
        *status = client ? MHD_HTTP_NOT_FOUND : MHD_HTTP_BAD_GATEWAY;
        *error = report_api_error (client ? code : "STORE_ERROR",
                                   client ? message : "the store answered with an error");
    }
    json_decref (reply);
    return NULL;
}

json_t *
report_community_json (store_t *store, const char *view, const char *arg, const char *quarter,
                       int *status)
{
    json_t *error = NULL;
    //  the ledgers are the CSV route's; every other view is JSON
    if (strcmp (view, "ledger") == 0) {
        *status = MHD_HTTP_NOT_FOUND;
        return report_api_error ("NOT_FOUND", "a ledger is read as /api/community/<name>.csv");
    }
    json_t *reply = s_read (store, view, arg, quarter, status, &error);
    if (!reply)
        return error;
    json_object_del (reply, "ok");
    *status = MHD_HTTP_OK;
    return reply;
}

char *
report_community_csv (store_t *store, const char *ledger, const char *quarter, int *status,
                      json_t **error)
{
    json_t *reply = s_read (store, "ledger", ledger, quarter, status, error);
    if (!reply)
        return NULL;
    char *text = NULL;
    size_t size = 0;
    FILE *out = open_memstream (&text, &size);
    if (!out) {
        json_decref (reply);
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        *error = report_api_error ("INTERNAL", "out of memory");
        return NULL;
    }
    fputs (BOM, out);
    json_t *columns = json_object_get (reply, "columns");
    size_t i, k;
    json_t *value, *row;
    json_array_foreach (columns, i, value)
        report_ledger_cell (out, json_string_value (value), i + 1 == json_array_size (columns));
    json_array_foreach (json_object_get (reply, "rows"), k, row)
        json_array_foreach (row, i, value)
            report_ledger_cell (out, json_string_value (value), i + 1 == json_array_size (row));
    json_decref (reply);
    if (fclose (out) != 0) {
        free (text);
        *status = MHD_HTTP_INTERNAL_SERVER_ERROR;
        *error = report_api_error ("INTERNAL", "out of memory");
        return NULL;
    }
    *status = MHD_HTTP_OK;
    return text;
}
