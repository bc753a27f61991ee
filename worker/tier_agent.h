// tier_agent.h - a worker's part in its node's object tier: it makes the
// tier when the node has none, and a thread of its own serves the other
// nodes' wants of the tier's objects (store/node.h) and sweeps the tier.
// SPDX-License-Identifier: MIT
#ifndef SL_WORKER_TIER_AGENT_H
#define SL_WORKER_TIER_AGENT_H

#include "../store/node.h"

typedef struct sl__tier_agent sl__tier_agent;

// Connect to the store, read the cluster's id, make (or open) the tier of
// node with budget bytes (0: the tier's, or the default), sweep it, and
// start the thread. On error errbuf says why and *out is NULL.
sl_err sl__tier_agent_start(sl__tier_agent **out, const sl__store_opts *store,
                            const char *node, uint64_t budget,
                            char errbuf[SL_ERRSTR_LEN]);
// The cluster's id, the node's name as the tier spells it, its directory.
const char *sl__tier_agent_cluster(const sl__tier_agent *a);
const char *sl__tier_agent_node(const sl__tier_agent *a);
const char *sl__tier_agent_path(const sl__tier_agent *a);
// The tier's usage (from any thread).
void sl__tier_agent_usage(const sl__tier_agent *a, sl__tier_usage *out);
// Stop the thread (within a quarter second) and close. Accepts NULL.
void sl__tier_agent_stop(sl__tier_agent **a_p);

#endif
