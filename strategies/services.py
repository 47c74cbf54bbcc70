"""Strategy flows: create, rename and delete strategies, add versions, validate bodies.

A body is checked by the DSL (strategies.dsl.validate_body: JSON Schema and semantic checks
together) before anything is stored. Its errors leave as one 400 problem whose pointers lead
into the request document: the services take `body_pointer`, where the body sits in the
request (`/body` in every request of this API), and prefix each DSL pointer with it.
"""

from __future__ import annotations

from collections import Counter
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import ProtectedError, RestrictedError

from accounts.models import User
from config.problems import ValidationProblem
from strategies.dsl import FieldError, InvalidBody, validate_body
from strategies.engine import Plan, compile_strategy
from strategies.exceptions import StrategyInUse, VersionUnchanged
from strategies.models import Strategy, StrategyVersion, body_sha256, canonical_json
from workspaces.models import Workspace
from workspaces.services import record_audit

BODY_POINTER = "/body"
NAME_TAKEN = "A strategy with this name already exists in the workspace."
# Far above any valid body (the schema bounds indicators, comparisons, nesting and text to a
# few kilobytes) and low enough that validating junk stays cheap: checking stray megabytes
# of items would cost the server seconds per request.
MAX_BODY_BYTES = 64 * 1024


def body_errors(body: Any, *, body_pointer: str = BODY_POINTER) -> list[dict[str, str]]:
    """Every DSL error of `body` as problem errors `{pointer, detail, code}`; [] when valid.

    Each pointer is the DSL's pointer into the body prefixed with `body_pointer`, e.g.
    `/body/indicators/0/period`; `code` is the DSL's stable error code. A body of more than
    MAX_BODY_BYTES of JSON gets the single error `too-large` instead, without being checked.
    """
    too_large = _size_error(body, body_pointer)
    if too_large:
        return [too_large]
    return _prefixed(validate_body(body), body_pointer)


def _size_error(body: Any, body_pointer: str) -> dict[str, str] | None:
    size = len(canonical_json(body).encode("utf-8"))
    if size <= MAX_BODY_BYTES:
        return None
    detail = f"The body has {size} bytes of JSON; at most {MAX_BODY_BYTES} are allowed."
    return {"pointer": body_pointer, "detail": detail, "code": "too-large"}


def _prefixed(errors: list[FieldError], body_pointer: str) -> list[dict[str, str]]:
    return [
        {"pointer": body_pointer + error.pointer, "detail": error.detail, "code": error.code}
        for error in errors
    ]


def _invalid(errors: list[dict[str, str]]) -> ValidationProblem:
    count = len(errors)
    detail = errors[0]["detail"] if count == 1 else f"The request has {count} errors."
    return ValidationProblem(errors, detail=detail)


def validate_strategy_body(body: Any, *, body_pointer: str = BODY_POINTER) -> None:
    """Raise a ValidationProblem listing every error of `body`; return quietly when valid."""
    errors = body_errors(body, body_pointer=body_pointer)
    if errors:
        raise _invalid(errors)


def compile_body(body: Any, *, body_pointer: str = BODY_POINTER) -> Plan:
    """Validate `body` and compile it into the engine's plan (its warm-up, lookback, …).

    Raises a ValidationProblem with every error, pointers prefixed like `body_errors`.
    """
    too_large = _size_error(body, body_pointer)
    if too_large:
        raise _invalid([too_large])
    try:
        return compile_strategy(body)
    except InvalidBody as exc:
        raise _invalid(_prefixed(exc.errors, body_pointer)) from None


def _add_version(*, strategy: Strategy, actor: User | None, body: Any) -> StrategyVersion:
    """Store the next version of `strategy`; the caller holds the strategy's row lock."""
    latest = strategy.versions.order_by("-number").values_list("number", flat=True).first()
    return StrategyVersion.objects.create(
        strategy=strategy, number=(latest or 0) + 1, body=body, created_by=actor
    )


@transaction.atomic
def create_strategy(
    *,
    workspace: Workspace,
    actor: User | None,
    name: str,
    body: Any,
    description: str = "",
    body_pointer: str = BODY_POINTER,
) -> Strategy:
    """Create a strategy named `name` with `body` as its version 1.

    A taken name and every body error are reported together, in one ValidationProblem.
    """
    errors = body_errors(body, body_pointer=body_pointer)
    if Strategy.objects.filter(workspace=workspace, name=name).exists():
        errors.insert(0, {"pointer": "/name", "detail": NAME_TAKEN, "code": "name-taken"})
    if errors:
        raise _invalid(errors)
    try:
        # A savepoint: a concurrent create of the same name must not break the transaction.
        with transaction.atomic():
            strategy = Strategy.objects.create(
                workspace=workspace, name=name, description=description, created_by=actor
            )
    except IntegrityError:
        raise ValidationProblem.at("/name", NAME_TAKEN) from None
    version = _add_version(strategy=strategy, actor=actor, body=body)
    record_audit(
        action="strategy.create",
        actor=actor,
        workspace=workspace,
        target=strategy,
        details={"name": name, "version": version.number, "body_sha256": version.body_sha256},
    )
    return strategy


@transaction.atomic
def create_version(
    *, strategy: Strategy, actor: User | None, body: Any, body_pointer: str = BODY_POINTER
) -> StrategyVersion:
    """Add version n+1 of `strategy` with `body`; earlier versions are left untouched.

    Refused (409) when `body` is the latest version's body (same canonical JSON).
    """
    validate_strategy_body(body, body_pointer=body_pointer)
    # Lock the strategy row: concurrent saves queue here, and each then reads the number the
    # previous one committed, so two saves never compute the same next number.
    strategy = Strategy.objects.select_for_update().get(pk=strategy.pk)
    latest = strategy.versions.order_by("-number").first()
    if latest is not None and latest.body_sha256 == body_sha256(body):
        raise VersionUnchanged(
            detail=f"Version {latest.number} already has this body; change something first."
        )
    version = _add_version(strategy=strategy, actor=actor, body=body)
    strategy.save(update_fields=["updated_at"])
    record_audit(
        action="strategy.version_create",
        actor=actor,
        workspace=strategy.workspace,
        target=version,
        details={
            "strategy_id": str(strategy.pk),
            "version": version.number,
            "body_sha256": version.body_sha256,
        },
    )
    return version


@transaction.atomic
def update_strategy(
    *,
    strategy: Strategy,
    actor: User | None,
    name: str | None = None,
    description: str | None = None,
) -> Strategy:
    """Rename `strategy` and/or change its description; its versions are not touched."""
    changes: dict[str, dict[str, str]] = {}
    for field, value in (("name", name), ("description", description)):
        if value is not None and value != getattr(strategy, field):
            changes[field] = {"from": getattr(strategy, field), "to": value}
            setattr(strategy, field, value)
    if not changes:
        return strategy
    if (
        "name" in changes
        and Strategy.objects.filter(workspace_id=strategy.workspace_id, name=name)
        .exclude(pk=strategy.pk)
        .exists()
    ):
        raise ValidationProblem.at("/name", NAME_TAKEN)
    try:
        with transaction.atomic():
            strategy.save(update_fields=[*changes, "updated_at"])
    except IntegrityError:
        raise ValidationProblem.at("/name", NAME_TAKEN) from None
    record_audit(
        action="strategy.update",
        actor=actor,
        workspace=strategy.workspace,
        target=strategy,
        details={"changed": sorted(changes), "name": changes.get("name")},
    )
    return strategy


def _in_use_detail(objects: set[Any]) -> str:
    counts = Counter(str(obj._meta.verbose_name_plural) for obj in objects)
    used_by = ", ".join(f"{count} {label}" for label, count in sorted(counts.items()))
    return f"Versions of this strategy are used by {used_by}; delete those first."


@transaction.atomic
def delete_strategy(*, strategy: Strategy, actor: User | None) -> None:
    """Delete `strategy` with all its versions, unless a backtest or a bot uses one (409).

    Other apps protect what they use (`on_delete=PROTECT`/`RESTRICT` towards StrategyVersion);
    the delete itself finds those references, so a new user of versions needs no change here.
    """
    # Recorded first, while the strategy still has its id; a refused delete rolls it back.
    record_audit(
        action="strategy.delete",
        actor=actor,
        workspace=strategy.workspace,
        target=strategy,
        details={"name": strategy.name, "versions": strategy.versions.count()},
    )
    try:
        strategy.delete()
    except ProtectedError as exc:
        raise StrategyInUse(detail=_in_use_detail(exc.protected_objects)) from None
    except RestrictedError as exc:
        raise StrategyInUse(detail=_in_use_detail(exc.restricted_objects)) from None
