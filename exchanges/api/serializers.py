"""Connection serializers: credentials go in (write-only), never come out."""

from __future__ import annotations

from rest_framework import serializers

from exchanges.models import ExchangeConnection

_SECRET_STYLE = {"input_type": "password"}


def _secret_field(help_text: str) -> serializers.CharField:
    return serializers.CharField(
        write_only=True,
        required=False,
        allow_blank=True,
        max_length=512,
        style=_SECRET_STYLE,
        help_text=help_text,
    )


class ConnectionSerializer(serializers.ModelSerializer):
    """A connection as the API shows it: `api_key_hint` is all that is told of the credentials."""

    has_credentials = serializers.SerializerMethodField(
        help_text="Whether credentials are stored (they are never returned)."
    )

    class Meta:
        model = ExchangeConnection
        fields = [
            "id",
            "name",
            "exchange",
            "mode",
            "api_key_hint",
            "has_credentials",
            "status",
            "last_checked_at",
            "last_error",
            "last_latency_ms",
            "created_at",
            "updated_at",
        ]
        read_only_fields = fields

    def get_has_credentials(self, connection: ExchangeConnection) -> bool:
        return bool(connection.encrypted_secret)


class ConnectionCreateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120)
    exchange = serializers.CharField(
        max_length=64, help_text="`demo` or a ccxt exchange id, e.g. `binance`."
    )
    mode = serializers.ChoiceField(
        choices=ExchangeConnection.Mode.choices,
        help_text="`demo` for the demo exchange, `testnet` for a ccxt exchange's sandbox; "
        "`live` is refused until live trading is approved.",
    )
    api_key = _secret_field("Write-only. Not needed for demo.")
    api_secret = _secret_field("Write-only.")
    passphrase = _secret_field("Write-only; for exchanges that need one (e.g. OKX).")


class ConnectionUpdateSerializer(serializers.Serializer):
    name = serializers.CharField(max_length=120, required=False)
    exchange = serializers.CharField(
        max_length=64, required=False, help_text="Cannot change; accepted only if unchanged."
    )
    mode = serializers.ChoiceField(choices=ExchangeConnection.Mode.choices, required=False)
    api_key = _secret_field("Write-only. Any credential sent replaces all stored ones.")
    api_secret = _secret_field("Write-only. Any credential sent replaces all stored ones.")
    passphrase = _secret_field("Write-only. Any credential sent replaces all stored ones.")


class ConnectionTestSerializer(serializers.Serializer):
    ok = serializers.BooleanField()
    latency_ms = serializers.IntegerField()
    checked_at = serializers.DateTimeField()
    message = serializers.CharField()
