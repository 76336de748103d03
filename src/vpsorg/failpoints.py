"""Crash points for tests of crash recovery: the process dies at a named step, as abruptly
as `kill -9` (no cleanup, no commit).

`VPSORG_FAILPOINTS=worker.after_claim,worker.after_driver` arms them for one process (the
tests start a worker with it, then a healthy one). Points:

- `worker.after_claim`: the claim is committed, the driver not yet called;
- `worker.after_driver`: the driver call returned, nothing recorded yet;
- `worker.before_commit`: the outcome is written but its transaction not committed;
- `worker.migrate_stopped`: a migration's source machine is stopped, not yet received;
- `worker.migrate_received`: the target has received the machine, the source's not yet destroyed;
- `webhooks.after_send`: a webhook delivery was sent (and answered), its outcome not yet recorded.

Unset (always, in production) a check costs a dictionary lookup.
"""

import logging
import os

log = logging.getLogger(__name__)
ENV = "VPSORG_FAILPOINTS"


def hit(name: str) -> None:
    armed = os.environ.get(ENV)
    if armed and name in armed.split(","):
        log.critical("failpoint %s: the process dies here", name)
        logging.shutdown()
        os._exit(70)
