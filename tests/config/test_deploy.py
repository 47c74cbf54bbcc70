"""Every deployment runs one worker per queue, with the same concurrency setting and default."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import pytest
import yaml

from config.celery import WORKER_QUEUES

ROOT = Path(__file__).resolve().parents[2]
CONCURRENCY = re.compile(
    r"--concurrency=\$\{(?P<var>CELERY_CONCURRENCY_[A-Z]+)(:-(?P<default>\d+))?\}"
)


def worker_commands(commands: dict[str, str]) -> dict[str, tuple[str, str, str | None]]:
    """{process: (queue, concurrency variable, default)} of the celery workers among `commands`."""
    workers = {}
    for process, command in commands.items():
        words = shlex.split(command)
        if "worker" not in words or "celery" not in Path(words[0]).name:
            continue
        queues = words[words.index("-Q") + 1]
        match = CONCURRENCY.search(command)
        assert match, f"{process}: no --concurrency=${{CELERY_CONCURRENCY_<QUEUE>}}"
        workers[process] = (queues, match["var"], match["default"])
    return workers


def procfile() -> dict[str, str]:
    lines = (ROOT / "Procfile").read_text().splitlines()
    return dict(line.split(": ", 1) for line in lines if line.strip())


def systemd_units() -> dict[str, str]:
    units = {}
    for path in (ROOT / "deploy/systemd").glob("botmarket-worker*.service"):
        text = path.read_text()
        [exec_start] = re.findall(r"^ExecStart=(.*)$", text, re.MULTILINE)
        defaults = dict(re.findall(r"^Environment=(CELERY_CONCURRENCY_[A-Z]+)=(\d+)$", text, re.M))
        # systemd has no ${VAR:-default}: the unit's Environment= line carries the default.
        command = CONCURRENCY.sub(
            lambda m, defaults=defaults: (
                f"--concurrency=${{{m['var']}:-{defaults.get(m['var'], '')}}}"
            ),
            exec_start,
        )
        units[path.stem] = command.replace("%%", "%")
    return units


def compose_services() -> dict[str, str]:
    compose = yaml.safe_load((ROOT / "deploy/docker-compose.yml").read_text())
    return {name: service.get("command") or "" for name, service in compose["services"].items()}


def readme_defaults() -> dict[str, str]:
    rows = re.findall(
        r"^\| `(CELERY_CONCURRENCY_[A-Z]+)` \| `(\d+)` \|", (ROOT / "README.md").read_text(), re.M
    )
    return dict(rows)


@pytest.mark.parametrize(
    "deployment",
    [
        pytest.param(procfile, id="Procfile"),
        pytest.param(systemd_units, id="systemd"),
        pytest.param(compose_services, id="compose"),
    ],
)
def test_each_queue_has_a_worker_of_its_own_with_its_documented_concurrency(deployment):
    workers = worker_commands({k: v for k, v in deployment().items() if isinstance(v, str)})
    queues = sorted(queue for queue, _, _ in workers.values())
    assert queues == sorted(WORKER_QUEUES)  # one worker per queue, none serving two
    documented = readme_defaults()
    for process, (queue, variable, default) in workers.items():
        assert variable == f"CELERY_CONCURRENCY_{queue.upper()}", process
        assert default == documented[variable], (process, default, documented)


def test_the_procfile_keeps_the_process_types_of_the_spec():
    types = set(procfile())
    assert {"web", "worker", "beat"} <= types
    assert types - {"web", "beat"} == {
        f"worker-{q}" if q != "default" else "worker" for q in WORKER_QUEUES
    }


def test_make_run_stays_light_on_two_cores():
    # Everything `make run` starts on a laptop: no queue gets more than two pool processes.
    for _, _, default in worker_commands(procfile()).values():
        assert 1 <= int(default) <= 2
