/*  intake_check.h — validation of reporter requests before they reach
    Redis: required fields, sizes, UTF-8, ids in the id charset, names
    without control characters, time fields in range, enum ranges. What
    needs the directory (known grid and category) or the case clock (a
    deadline not passed, at most a year ahead) is checked inside the
    transition. */
#ifndef INTAKE_CHECK_H
#define INTAKE_CHECK_H

#include <stddef.h>

#include "codec.h"
#include "gridcall.pb-c.h"
#include "timers.pb-c.h"

#define INTAKE_KEY_MAX CODEC_KEY_MAX    //  idempotency key
#define INTAKE_ID_MAX CODEC_ID_MAX      //  grid, category, building, case ids
#define INTAKE_NAME_MAX CODEC_NAME_MAX  //  reporter, verifier, operator, resident
#define INTAKE_PLACE_MAX 256            //  location, address_string

//  Each returns 0 when the request may go on, or an ERROR_CODE with a
//  sentence for the sender in reason.
int intake_check_report (const Gridcall__V1__Report *report, size_t text_max,
                         char *reason, size_t reasonlen);
int intake_check_verify (const Gridcall__V1__Verify *verify, size_t text_max,
                         char *reason, size_t reasonlen);
int intake_check_evaluate (const Gridcall__V1__Evaluate *evaluate, size_t text_max,
                           char *reason, size_t reasonlen);
//  extend.decide, park, unpark: an operator acting on a case's clock.
int intake_check_decision (const Gridcall__V1__ExtendDecision *decision, size_t text_max,
                           char *reason, size_t reasonlen);
int intake_check_park (const Gridcall__V1__Park *park, size_t text_max,
                       char *reason, size_t reasonlen);
int intake_check_unpark (const Gridcall__V1__Unpark *unpark, size_t text_max,
                         char *reason, size_t reasonlen);
//  order.decide: the community places a service-card order, or declines it
//  with a reason.
int intake_check_order (const Gridcall__V1__OrderDecision *order, size_t text_max,
                        char *reason, size_t reasonlen);

//  merge: an operator merges a duplicate case into the case kept.
int intake_check_merge (const Gridcall__V1__Merge *merge, size_t text_max,
                        char *reason, size_t reasonlen);

#endif
