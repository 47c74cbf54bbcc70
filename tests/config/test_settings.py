"""Production settings, the embedded default's pieces, and the demo seed."""

import base64
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.conf import settings
from django.core.management import call_command

from accounts.models import User
from config.redis_urls import celery_broker_url, with_db
from workspaces.models import Membership, Role

ROOT = Path(__file__).resolve().parents[2]


def _manage(*args, env_overrides, tmp_path):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("SECRET_", "BOTMARKET_", "DJANGO_"))
    }
    env.update(
        {
            "BOTMARKET_VAR_DIR": str(tmp_path),
            "REDIS_URL": settings.REDIS_URL,
            "DATABASE_URL": f"sqlite:///{tmp_path}/prod.sqlite3",
            **env_overrides,
        }
    )
    return subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


PRODUCTION = {
    "BOTMARKET_ENV": "production",
    "SECRET_KEY": "x" * 20 + base64.b64encode(os.urandom(40)).decode(),
    "SECRET_ENCRYPTION_KEY": base64.b64encode(os.urandom(32)).decode(),
    "ALLOWED_HOSTS": "bots.example.com",
}


def test_check_deploy_with_production_env_prints_no_warnings(tmp_path):
    result = _manage("check", "--deploy", env_overrides=PRODUCTION, tmp_path=tmp_path)
    assert result.returncode == 0, result.stderr
    assert "System check identified no issues (0 silenced)." in result.stdout
    assert "WARNING" not in result.stdout + result.stderr


def test_production_refuses_to_start_without_a_valid_encryption_key(tmp_path):
    broken = {**PRODUCTION, "SECRET_ENCRYPTION_KEY": "bm90LTMyLWJ5dGVz"}
    result = _manage("check", env_overrides=broken, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_ENCRYPTION_KEY must decode to 32 bytes" in result.stderr
    assert "bm90LTMyLWJ5dGVz" not in result.stderr

    missing = {k: v for k, v in PRODUCTION.items() if k != "SECRET_ENCRYPTION_KEY"}
    result = _manage("check", env_overrides=missing, tmp_path=tmp_path)
    assert result.returncode != 0
    assert "SECRET_ENCRYPTION_KEY" in result.stderr


def test_embedded_default_generates_keys_into_var(tmp_path):
    env = {"BOTMARKET_ENV": "development", "REDIS_URL": settings.REDIS_URL}
    first = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECRET_KEY)",
        env_overrides=env,
        tmp_path=tmp_path,
    )
    second = _manage(
        "shell",
        "-c",
        "from django.conf import settings as s; print(s.SECRET_KEY)",
        env_overrides=env,
        tmp_path=tmp_path,
    )
    assert first.returncode == 0, first.stderr
    assert first.stdout == second.stdout  # kept, not regenerated per process
    assert (tmp_path / "secret_key").stat().st_mode & 0o077 == 0
    key = base64.b64decode((tmp_path / "encryption_key").read_text())
    assert len(key) == 32


def test_one_redis_url_gives_each_client_its_own_database():
    assert with_db("redis://h:6379/0", 1) == "redis://h:6379/1"
    assert with_db("redis://h:6379/4", 2) == "redis://h:6379/6"
    assert with_db("unix:///v/redis.sock?db=0", 1) == "unix:///v/redis.sock?db=1"
    assert (
        celery_broker_url("unix:///v/redis.sock?db=0")
        == "redis+socket:///v/redis.sock?virtual_host=0"
    )
    assert celery_broker_url("redis://h:6379/3") == "redis://h:6379/3"


@pytest.mark.django_db
def test_seed_demo_is_idempotent(capsys):
    call_command("seed_demo")
    call_command("seed_demo")
    demo = User.objects.get(username="demo")
    assert demo.check_password("demo-trader-2026")
    memberships = Membership.objects.filter(user=demo, workspace__name="Demo workspace")
    assert memberships.count() == 1
    assert memberships.get().role == Role.OWNER
