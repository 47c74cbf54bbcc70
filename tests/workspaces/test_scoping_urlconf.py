"""Workspace scoping of every route, generated from the URL conf: a new endpoint is covered as
soon as it is routed, without editing this file.

For every route whose view is `workspace_scoped` and every method it answers:

- a caller who is not a member of the workspace in `X-Workspace-Id` gets 403
  `not-a-workspace-member`, even for an object id that exists in that workspace;
- an id of another workspace's object in the path gets 404 `not-found`;
- an id of another workspace's object in a body field or query parameter that names a
  workspace-owned object (a `WorkspaceRelatedField` of the request or query serializer the
  OpenAPI schema documents) gets 404 `not-found` with that field's pointer.

The objects come from `tests.factories.factory_for(model)`. A route whose model has no factory
fails, naming the factory to add.
"""

from __future__ import annotations

import json
import re
import uuid
from dataclasses import dataclass, field

import pytest
from django.urls import Resolver404, resolve
from drf_spectacular.generators import EndpointEnumerator, SchemaGenerator
from drf_spectacular.plumbing import ComponentRegistry
from drf_spectacular.settings import spectacular_settings
from rest_framework import serializers

from tests.conftest import assert_problem
from tests.factories import factory_for
from workspaces.fields import WorkspaceRelatedField

pytestmark = pytest.mark.django_db

BODY_METHODS = ("POST", "PUT", "PATCH")


@dataclass(frozen=True)
class Reference:
    """A field naming a workspace-owned object: where it is sent and what it must name."""

    location: str  # "body" or "query"
    pointer: tuple[str, ...]  # field names from the outermost serializer down
    field: WorkspaceRelatedField


@dataclass
class Operation:
    method: str
    path: str  # e.g. /api/v1/lab/datasets/{pk}
    callback: object
    view: object
    path_params: list[str]
    references: list[Reference] = field(default_factory=list)

    @property
    def name(self) -> str:
        return f"{self.method} {self.path}"

    @property
    def lookup(self) -> str | None:
        """The path parameter holding the object's id (a detail route), or None."""
        if not self.path_params:
            return None
        kwarg = self.view.lookup_url_kwarg or self.view.lookup_field
        return kwarg if kwarg in self.path_params else None


def _serializer_instance(candidate):
    if isinstance(candidate, dict):  # per media type, e.g. JSON and multipart
        candidate = next(iter(candidate.values()), None)
    if isinstance(candidate, type) and issubclass(candidate, serializers.BaseSerializer):
        return candidate()
    if isinstance(candidate, serializers.Serializer):
        return candidate
    return None


def _references(serializer, location: str, prefix: tuple[str, ...] = ()) -> list[Reference]:
    found = []
    for name, declared in serializer.fields.items():
        if declared.read_only:
            continue
        if isinstance(declared, WorkspaceRelatedField):
            found.append(Reference(location, (*prefix, name), declared))
        elif isinstance(declared, serializers.Serializer):
            found.extend(_references(declared, location, (*prefix, name)))
    return found


def _operations() -> list[Operation]:
    generator = SchemaGenerator()
    operations = []
    for path, regex, method, callback in EndpointEnumerator().get_api_endpoints():
        if not getattr(callback.cls, "workspace_scoped", False):
            continue
        # The view as the OpenAPI generator sees it, so the request and query serializers are
        # the ones the schema documents (extend_schema overrides included).
        view = generator.create_view(callback, method)
        view.request = spectacular_settings.GET_MOCK_REQUEST(method, path, view, None)
        view.schema.get_operation(path, regex, "^/api/", method, ComponentRegistry())
        operation = Operation(
            method=method,
            path=path,
            callback=callback,
            view=view,
            path_params=re.findall(r"{(\w+)}", path),
        )
        if method in BODY_METHODS:
            body = _serializer_instance(view.schema.get_request_serializer())
            if body is not None:
                operation.references += _references(body, "body")
        for parameter in view.schema.get_override_parameters():
            query = _serializer_instance(parameter)
            if query is not None:
                operation.references += _references(query, "query")
        operations.append(operation)
    return operations


OPERATIONS = _operations()
DETAIL = [op for op in OPERATIONS if op.lookup]
REFERENCES = [(op, ref) for op in OPERATIONS for ref in op.references]


def _create(model, workspace_field: str, workspace):
    factory = factory_for(model)
    if factory is None:
        pytest.fail(
            f"No factory for {model._meta.label}, which a workspace-scoped route serves or "
            f"names: add `{model.__name__}Factory` to tests/factories.py."
        )
    return factory(**{workspace_field: workspace})


def _url(operation: Operation, obj=None) -> str:
    """The operation's URL: `obj`'s id as the lookup, a value the route accepts for the rest."""
    url = operation.path
    for name in operation.path_params:
        if name == operation.lookup:
            url = url.replace(f"{{{name}}}", str(obj.pk))
            continue
        for candidate in ("1", str(uuid.uuid4()), "x"):
            attempt = url.replace(f"{{{name}}}", candidate, 1)
            try:
                if resolve(re.sub(r"{\w+}", str(uuid.uuid4()), attempt)).func is (
                    operation.callback
                ):
                    url = attempt
                    break
            except Resolver404:
                continue
        else:
            pytest.fail(f"{operation.name}: no value found for the path parameter {name!r}")
    return url


def _send(client, method: str, url: str, body=None, query=None):
    if query:
        url = f"{url}?{'&'.join(f'{key}={value}' for key, value in query.items())}"
    payload = json.dumps(body) if body is not None else "{}"
    return client.generic(method, url, payload, content_type="application/json")


def _nest(pointer: tuple[str, ...], value) -> dict:
    body: dict = {}
    node = body
    for name in pointer[:-1]:
        node = node.setdefault(name, {})
    node[pointer[-1]] = value
    return body


def test_the_url_conf_has_the_scoped_routes_this_test_is_about():
    """Discovery itself works: the known scoped routes, their detail routes and references."""
    names = {op.name for op in OPERATIONS}
    assert {
        "GET /api/v1/audit",
        "GET /api/v1/exchange-connections/{pk}",
        "POST /api/v1/terminal/orders",
        "GET /api/v1/terminal/instruments",
        "DELETE /api/v1/lab/datasets/{pk}",
        "GET /api/v1/strategies/{pk}/versions/{number}",
    } <= names
    assert "GET /api/v1/workspaces" not in names  # named in the path, not by the header
    referenced = {(op.name, ref.location, ref.pointer) for op, ref in REFERENCES}
    assert {
        ("POST /api/v1/terminal/orders", "body", ("connection",)),
        ("GET /api/v1/terminal/orders", "query", ("connection",)),
        ("POST /api/v1/lab/backtests", "body", ("dataset",)),
        ("POST /api/v1/lab/datasets", "body", ("connection",)),
    } <= referenced


@pytest.mark.parametrize("operation", OPERATIONS, ids=lambda op: op.name)
def test_a_non_member_gets_403(operation, workspace, outsider_api):
    own = None
    if operation.lookup:
        own = _create(operation.view.queryset.model, operation.view.workspace_field, workspace)
    response = _send(outsider_api, operation.method, _url(operation, own))
    assert_problem(response, 403, "not-a-workspace-member")


@pytest.mark.parametrize("operation", DETAIL, ids=lambda op: op.name)
def test_another_workspaces_object_in_the_path_is_404(operation, other_workspace, owner_api):
    queryset = operation.view.queryset
    assert queryset is not None, f"{operation.name}: the view needs a `queryset`"
    foreign = _create(queryset.model, operation.view.workspace_field, other_workspace)
    response = _send(owner_api, operation.method, _url(operation, foreign))
    assert_problem(response, 404, "not-found")
    assert queryset.model.objects.filter(pk=foreign.pk).exists()


@pytest.mark.parametrize(
    ("operation", "reference"),
    REFERENCES,
    ids=lambda item: item.name if isinstance(item, Operation) else "/".join(item.pointer),
)
def test_another_workspaces_id_in_a_body_or_query_is_404_at_the_field(
    operation, reference, workspace, other_workspace, owner_api
):
    own = None
    if operation.lookup:
        own = _create(operation.view.queryset.model, operation.view.workspace_field, workspace)
    foreign = _create(reference.field.model, reference.field.workspace_field, other_workspace)
    if reference.location == "body":
        response = _send(
            owner_api,
            operation.method,
            _url(operation, own),
            _nest(reference.pointer, str(foreign.pk)),
        )
    else:
        name = reference.pointer[-1]
        response = _send(
            owner_api, operation.method, _url(operation, own), query={name: foreign.pk}
        )
    body = assert_problem(response, 404, "not-found")
    assert [error["pointer"] for error in body["errors"]] == ["/" + "/".join(reference.pointer)]
