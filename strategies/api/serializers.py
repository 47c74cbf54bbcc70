"""Strategy and version serializers: input shapes of the requests and the resources they return."""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from config.problems import ProblemSerializer
from strategies import selectors
from strategies.models import Strategy, StrategyVersion

BODY_HELP = (
    "A strategy body in the DSL (JSON); its JSON Schema is served at "
    "GET /api/v1/strategies/schema and documented in docs/strategy-dsl.md."
)


@extend_schema_field(OpenApiTypes.OBJECT)
class StrategyBodyField(serializers.JSONField):
    """Any JSON value: the DSL's own validation (schema + semantics) judges it, in the service."""

    def __init__(self, **kwargs):
        kwargs.setdefault("help_text", BODY_HELP)
        super().__init__(**kwargs)


# --- input ---------------------------------------------------------------------------------------


class StrategyCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    description = serializers.CharField(
        max_length=5000, allow_blank=True, required=False, default=""
    )
    body = StrategyBodyField(help_text=f"Body of version 1. {BODY_HELP}")


class StrategyUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    description = serializers.CharField(max_length=5000, allow_blank=True, required=False)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        # The body belongs to versions, which never change: say where it goes instead of
        # silently ignoring it.
        if "body" in self.initial_data:
            raise serializers.ValidationError(
                {
                    "body": "Versions are immutable: save a new body with "
                    "POST /api/v1/strategies/{id}/versions."
                }
            )
        return attrs


class StrategyBodySerializer(serializers.Serializer):
    """`{body}`: the request of POST /strategies/validate and POST /strategies/{id}/versions."""

    body = StrategyBodyField()


# --- output --------------------------------------------------------------------------------------


class StrategyVersionSerializer(serializers.ModelSerializer):
    strategy = serializers.UUIDField(source="strategy_id", read_only=True)
    body = serializers.SerializerMethodField(
        help_text="The body exactly as it was saved (its author's key order)."
    )
    body_sha256 = serializers.CharField(
        read_only=True,
        help_text="SHA-256 (hex) of the body's canonical JSON: sorted keys, separators , and :, "
        "UTF-8 unescaped.",
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )
    created_by_id = serializers.UUIDField(read_only=True, allow_null=True)

    class Meta:
        model = StrategyVersion
        fields = [
            "id",
            "strategy",
            "number",
            "body",
            "body_sha256",
            "created_by",
            "created_by_id",
            "created_at",
        ]
        read_only_fields = fields

    @extend_schema_field(OpenApiTypes.OBJECT)
    def get_body(self, version: StrategyVersion) -> Any:
        return version.authored_body


class StrategySerializer(serializers.ModelSerializer):
    versions_count = serializers.SerializerMethodField()
    latest_version = serializers.SerializerMethodField(
        help_text="The highest-numbered version: what a new bot or backtest would pick."
    )
    created_by = serializers.CharField(
        source="created_by.username", read_only=True, allow_null=True
    )

    class Meta:
        model = Strategy
        fields = [
            "id",
            "name",
            "description",
            "versions_count",
            "latest_version",
            "created_by",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_versions_count(self, strategy: Strategy) -> int:
        annotated = getattr(strategy, "versions_count", None)
        return annotated if annotated is not None else strategy.versions.count()

    @extend_schema_field(StrategyVersionSerializer(allow_null=True))
    def get_latest_version(self, strategy: Strategy) -> dict[str, Any] | None:
        latest = selectors.latest_version(strategy=strategy)
        return StrategyVersionSerializer(latest).data if latest is not None else None


class ValidationResultSerializer(serializers.Serializer):
    valid = serializers.BooleanField(help_text="Always true: an invalid body gets a 400 problem.")
    dsl_version = serializers.IntegerField(help_text="The DSL version the body was checked by.")
    warmup = serializers.IntegerField(
        help_text="Candles before the first one that can carry a signal (indicator warm-up)."
    )
    lookback = serializers.IntegerField(
        help_text="Candles a bot loads when it starts, so recursive indicators have settled."
    )


# --- problems ------------------------------------------------------------------------------------


class BodyErrorSerializer(serializers.Serializer):
    pointer = serializers.CharField(
        help_text="RFC 6901 pointer into the request document, e.g. /body/indicators/0/period."
    )
    detail = serializers.CharField()
    code = serializers.CharField(
        required=False,
        help_text="Stable code of a body error (required, unknown-indicator, out-of-range, …); "
        "see docs/strategy-dsl.md.",
    )


class BodyProblemSerializer(ProblemSerializer):
    """A 400 validation problem listing every error of the request, body errors with a code."""

    errors = BodyErrorSerializer(many=True)
