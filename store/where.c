// where.c - where the store is, from the WELCOME that names it.
// SPDX-License-Identifier: MIT
//
// Apart from store.c, which needs hiredis, so that what only reads a
// WELCOME (the executor's init frame, its fuzz target) links no
// connection code.
#include <string.h>

#include "store.h"

void
sl__store_where_from_welcome(sl__store_where *where, const sl__welcome *m)
{
    memset(where, 0, sizeof(*where));
    uint32_t n =
        m->n_stores < SL_STORE_MAX_SHARDS ? m->n_stores : SL_STORE_MAX_SHARDS;
    for (uint32_t i = 0; i < n; i++) {
        sl__fmt(where->addrs[i], sizeof(where->addrs[i]), "%.*s",
                (int) m->stores[i].len, m->stores[i].p);
        where->opts.addrs[i] = where->addrs[i];
    }
    where->opts.n_addrs = (int) n;
    sl__fmt(where->password, sizeof(where->password), "%.*s",
            (int) m->password.len, m->password.p);
    where->opts.password = where->password;
}
