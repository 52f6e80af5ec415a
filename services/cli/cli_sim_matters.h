/*  cli_sim_matters.h — the simulated street's matters: one per template
    walks 提议定办评 through intake (cli_sim_matters.c). */
#ifndef CLI_SIM_MATTERS_H
#define CLI_SIM_MATTERS_H

#include <stdbool.h>

#include "cli_client.h"
#include "codec.h"
#include "directory.h"
#include "store.h"

typedef struct _sim_matters_t sim_matters_t;

//  The walks, one per community of directory (up to one per template),
//  through gateway (residents) and official (the operator); store reads
//  the matters' stage. All borrowed: they outlive the walks. A step every
//  step_ms of wall time.
sim_matters_t *sim_matters_new (const directory_t *directory, cli_client_t *gateway,
                                cli_client_t *official, store_t *store, long long step_ms);
void sim_matters_destroy (sim_matters_t **self_p);
//  Send the next due step, unless one is in flight.
void sim_matters_tick (sim_matters_t *self);
//  An answer read from intake: true when it was a matter step's (taken).
bool sim_matters_answer (sim_matters_t *self, const codec_msg_t *msg);
//  True when case_id is a task of a walked matter.
bool sim_matters_task (const sim_matters_t *self, const char *case_id);
//  Steps answered with success so far.
long long sim_matters_steps (const sim_matters_t *self);

#endif
