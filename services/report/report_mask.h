/*  report_mask.h — phone numbers masked out of what the report shows
    anyone but the export role: 13800000000 becomes 138****0000. Pure
    functions, no I/O, safe from any thread. */
#ifndef REPORT_MASK_H
#define REPORT_MASK_H

#include <jansson.h>
#include <stdbool.h>

//  Mask the phone numbers in text: the four digits before the last four
//  (fewer when shorter) become '*'. In free text (person false) a number
//  is a mainland mobile (1[3-9] and 9 digits, optionally +86 / 0086 and
//  3-4-4 groups split by '-' or ' ') or a landline with its area code
//  (0 + 2-3 digits, optional '-', 7-8 digits), standing alone: not part
//  of an id like TJ-20261127-000042 or a longer number. In a person field
//  (person true: a reporter, a who) every run of 7 or more digits counts.
//  Returns a copy the caller frees, or NULL on no memory.
char *report_mask_text (const char *text, bool person);

//  Mask every string of doc in place (object keys are left alone): the
//  values of "reporter" and "who" as person fields, the rest as free text.
//  Returns 0, or -1 on no memory (doc may then be partly masked).
int report_mask_json (json_t *doc);

#endif
