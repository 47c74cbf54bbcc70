"""WorkspaceRelatedField: ids of another workspace's objects are answered like unknown ids."""

import uuid

import pytest
from django.core.exceptions import ImproperlyConfigured
from rest_framework import serializers
from rest_framework.test import APIRequestFactory

from exchanges.models import ExchangeConnection
from strategies.models import StrategyVersion
from tests.factories import ExchangeConnectionFactory, StrategyVersionFactory
from workspaces.exceptions import WorkspaceObjectNotFound
from workspaces.fields import WorkspaceRelatedField

pytestmark = pytest.mark.django_db


class _Inner(serializers.Serializer):
    version = WorkspaceRelatedField(
        queryset=StrategyVersion.objects.all(), workspace_field="strategy__workspace"
    )


class _Body(serializers.Serializer):
    connection = WorkspaceRelatedField(queryset=ExchangeConnection.objects.all())
    amount = serializers.IntegerField()
    inner = _Inner(required=False)


def _context(workspace):
    request = APIRequestFactory().post("/")
    request.workspace = workspace
    return {"request": request}


def test_own_id_validates_to_the_object(workspace):
    own = ExchangeConnectionFactory(workspace=workspace)
    body = _Body(data={"connection": str(own.pk), "amount": 1}, context=_context(workspace))
    assert body.is_valid(), body.errors
    assert body.validated_data["connection"] == own


def test_foreign_and_unknown_ids_are_the_same_404_with_the_pointer(workspace, other_workspace):
    theirs = ExchangeConnectionFactory(workspace=other_workspace)
    nobody = uuid.uuid4()
    answers = []
    for pk in (theirs.pk, nobody):
        body = _Body(data={"connection": str(pk), "amount": 1}, context=_context(workspace))
        with pytest.raises(WorkspaceObjectNotFound) as caught:
            body.is_valid()
        assert caught.value.status_code == 404
        assert caught.value.code == "not-found"
        [error] = caught.value.errors
        assert error["pointer"] == "/connection"
        answers.append(error["detail"].replace(str(pk), "X"))
    assert answers[0] == answers[1]


def test_a_foreign_id_wins_over_other_field_errors(workspace, other_workspace):
    theirs = ExchangeConnectionFactory(workspace=other_workspace)
    body = _Body(data={"connection": str(theirs.pk), "amount": "x"}, context=_context(workspace))
    with pytest.raises(WorkspaceObjectNotFound):
        body.is_valid()


def test_nested_fields_point_into_the_nesting(workspace, other_workspace):
    own = ExchangeConnectionFactory(workspace=workspace)
    theirs = StrategyVersionFactory(strategy__workspace=other_workspace)
    data = {"connection": str(own.pk), "amount": 1, "inner": {"version": str(theirs.pk)}}
    with pytest.raises(WorkspaceObjectNotFound) as caught:
        _Body(data=data, context=_context(workspace)).is_valid()
    assert caught.value.errors[0]["pointer"] == "/inner/version"


def test_a_malformed_id_is_a_400_field_error(workspace):
    body = _Body(data={"connection": "nope", "amount": 1}, context=_context(workspace))
    assert not body.is_valid()
    assert list(body.errors) == ["connection"]


def test_without_a_scoped_request_the_field_refuses_to_guess(workspace):
    own = ExchangeConnectionFactory(workspace=workspace)
    with pytest.raises(ImproperlyConfigured):
        _Body(data={"connection": str(own.pk), "amount": 1}).is_valid()
