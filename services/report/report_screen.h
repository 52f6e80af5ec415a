/*  report_screen.h — what the screen and the API show, built from the
    report functions' replies (gc_report_screen, gc_report_cases,
    gc_report_events) and the directory: names beside ids, tiers by name,
    figures derived from counters. Pure functions, no I/O. */
#ifndef REPORT_SCREEN_H
#define REPORT_SCREEN_H

#include <jansson.h>

#include "directory.h"

//  The screen snapshot from a gc_report_screen reply. dir may be NULL
//  (ids then stand for names). Returns NULL when reply is not a
//  successful reply; the caller decrefs.
json_t *report_screen_compose (const json_t *reply, const directory_t *dir);

//  One event as the ticker and the event stream show it: report_screen_event
//  with "photo", the link of the photo a "media" entry added.
json_t *report_screen_ticker_event (const json_t *event, const directory_t *dir);

//  One case row of gc_report_cases as the API shows it (see
//  docs/report-api.md, GET /api/cases). NULL when row is not an object.
json_t *report_screen_row (const json_t *row, const directory_t *dir);

//  One live event of gc_report_events / the ticker as the API shows it.
json_t *report_screen_event (const json_t *event, const directory_t *dir);

//  Chinese labels for the ledger and the screen: a state, a tier name,
//  a channel; the input itself when unknown.
const char *report_screen_state_label (const char *state);
//  A timeline entry's what ("escalated") in Chinese for the ticker; an
//  unknown one gets a general Chinese word, never the English.
const char *report_screen_what_label (const char *what);
//  The Chinese word for a matter's timeline entry (the ticker).
const char *report_screen_matter_label (const char *what);
const char *report_screen_tier_label (const char *tier);
const char *report_screen_channel_label (const char *channel);

#endif
