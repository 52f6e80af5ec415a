/*  store_fn.h — every Redis function the daemons and the CLI call, with
    the number of arguments each takes after the key prefix: the typed
    face of the Lua library (services/common/lua). The store refuses a call
    to a function not in the table or with the wrong count, before Redis
    sees it; tests/integration/test_names.py checks the table against the
    loaded library's FUNCTION LIST (names and no-writes flags). */
#ifndef GC_STORE_FN_H
#define GC_STORE_FN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *name;           //  "gc_register"
    int min_args;               //  arguments after the prefix
    int max_args;               //  -1: any number (a list of ids)
    bool readonly;              //  flagged no-writes: called with FCALL_RO, so a
                                //  read-only Redis user (report's) may call it
} store_fn_t;

//  The table, ending with a NULL name.
extern const store_fn_t store_fns [];

//  Check a call of fn with argc arguments. Returns the table entry when fn
//  is known and argc fits; else NULL with reason filled.
const store_fn_t *store_fn_check (const char *fn, int argc, char *reason, size_t reasonlen);

#endif
