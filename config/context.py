"""Per-request (and per-task) context that every log line and audit row carries.

Context variables, not thread locals: daphne serves requests on asyncio tasks and threads, and each
gets its own copy.
"""

from __future__ import annotations

import re
import uuid
from contextvars import ContextVar

request_id_var: ContextVar[str] = ContextVar("request_id", default="")
user_id_var: ContextVar[str] = ContextVar("user_id", default="")
workspace_id_var: ContextVar[str] = ContextVar("workspace_id", default="")
# The client's address, for audit rows; deliberately not part of every log line.
client_ip_var: ContextVar[str] = ContextVar("client_ip", default="")

# A client-sent id is echoed back and logged: keep it short and printable.
_VALID_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{1,128}$")


def new_request_id() -> str:
    return uuid.uuid4().hex


def accept_request_id(candidate: str | None) -> str:
    """Return the client's request id when it is well formed, otherwise a fresh one."""
    if candidate and _VALID_REQUEST_ID.match(candidate):
        return candidate
    return new_request_id()


def current_request_id() -> str:
    return request_id_var.get()


def bind(*, request_id: str | None = None, user_id=None, workspace_id=None, client_ip=None) -> None:
    """Set the given context fields; None leaves a field as it is."""
    if request_id is not None:
        request_id_var.set(request_id)
    if client_ip is not None:
        client_ip_var.set(client_ip)
    if user_id is not None:
        user_id_var.set(str(user_id))
    if workspace_id is not None:
        workspace_id_var.set(str(workspace_id))


def clear() -> None:
    request_id_var.set("")
    user_id_var.set("")
    workspace_id_var.set("")
    client_ip_var.set("")


def snapshot() -> dict[str, str]:
    return {
        "request_id": request_id_var.get(),
        "user_id": user_id_var.get(),
        "workspace_id": workspace_id_var.get(),
    }
