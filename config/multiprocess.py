"""The folder of prometheus_client's multiprocess mode, set up before any metric exists.

Counters and histograms are kept by the process that counts them: the web, beat, and each
Celery worker with its prefork pool processes. In multiprocess mode every process writes its
values to files of its own (`<type>_<pid>.db`) in one folder per host,
`PROMETHEUS_MULTIPROC_DIR`, and a scrape merges the files (config.metrics). The mode is picked
when prometheus_client is imported, from that environment variable, so settings set it first.

`prepare` empties the folder when it starts the host's processes anew: when no process that
wrote there is alive any more. A process that starts while others run (one worker restarted)
keeps their files, and the merged counters never go down while the host runs; the files of
the processes that ended are kept until then, as their counts are part of the totals.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

ENV = "PROMETHEUS_MULTIPROC_DIR"


def _pid_of(path: Path) -> int | None:
    try:
        return int(path.stem.rsplit("_", 1)[-1])
    except ValueError:
        return None


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # alive, someone else's
        return True
    return True


def clean_stale(path: Path) -> None:
    """Empty `path` of metric files when none of the processes that wrote them is alive."""
    files = list(path.glob("*.db"))
    writers = {_pid_of(file) for file in files} - {None, os.getpid()}
    # Only the files listed here are removed: a process that starts meanwhile writes new
    # ones, and a living writer keeps them all.
    if not any(_alive(pid) for pid in writers):
        for file in files:
            file.unlink(missing_ok=True)


def prepare(path: Path) -> Path:
    """Use `path` as this process's metrics folder: create it, empty it if it is stale, and
    make prometheus_client write there. Call before any metric is created."""
    path.mkdir(parents=True, exist_ok=True)
    clean_stale(path)
    os.environ[ENV] = str(path)
    if "prometheus_client" in sys.modules:
        from prometheus_client import values

        if not getattr(values.ValueClass, "_multiprocess", False):
            # Imported before the settings (a script): pick the mode again for what is
            # created from now on (nothing of ours has created a metric yet).
            values.ValueClass = values.get_value_class()
    return path
