"""A test-only fault-injection hook: inert unless the environment variable is set.

`BOTMARKET_FAULT_POINT=<point>` in a worker's environment makes the process that reaches
`fault_point(<point>)` kill itself with SIGKILL, exactly like `kill -9` at that instant: no
`finally`, no rollback handler, no acknowledgement runs. The exactly-once tests
(tests/bots/test_exactly_once.py) start a real worker with it to crash a tick at each of the
three points below and prove that a restarted worker settles what the crash left. Without the
variable (and always in production) the hook does nothing.
"""

from __future__ import annotations

import logging
import os
import signal

from django.conf import settings

logger = logging.getLogger(__name__)

ENV_VAR = "BOTMARKET_FAULT_POINT"
AFTER_JOURNAL = "after_journal"  # the decision and its order intent committed, nothing sent
AFTER_SEND = "after_send"  # the venue has the order; the journal has not recorded its answer
AFTER_ACK = "after_ack"  # the journal acknowledged the order; the run has not recorded it
FAULT_POINTS = (AFTER_JOURNAL, AFTER_SEND, AFTER_ACK)


def fault_point(name: str) -> None:
    """SIGKILL this process if `BOTMARKET_FAULT_POINT` names `name` (never in production)."""
    if os.environ.get(ENV_VAR) != name or settings.PRODUCTION:
        return
    logger.warning("fault.injected", extra={"point": name, "pid": os.getpid()})
    os.kill(os.getpid(), signal.SIGKILL)
