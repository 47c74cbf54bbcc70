"""Account serializers: registration, login, WebSocket tickets and the current user."""

from rest_framework import serializers

from accounts.models import User
from workspaces.models import Membership


class UserSerializer(serializers.ModelSerializer):
    class Meta:
        model = User
        fields = ["id", "username", "email", "date_joined"]
        read_only_fields = fields


class RegisterSerializer(serializers.Serializer):
    username = serializers.RegexField(
        r"^[\w.@+-]+$",
        max_length=150,
        min_length=3,
        error_messages={"invalid": "Use letters, digits and @/./+/-/_ only."},
    )
    email = serializers.EmailField(max_length=254)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )


class LoginSerializer(serializers.Serializer):
    username = serializers.CharField(max_length=150)
    password = serializers.CharField(
        write_only=True, max_length=128, style={"input_type": "password"}
    )


class LoginResponseSerializer(serializers.Serializer):
    token = serializers.CharField(help_text="Send as `Authorization: Token <token>`.")
    expiry = serializers.DateTimeField()
    user = UserSerializer()


class WsTicketSerializer(serializers.Serializer):
    ticket = serializers.CharField(
        help_text="Open one WebSocket with `?ticket=<ticket>`; it is used up by that handshake."
    )
    expires_at = serializers.DateTimeField(help_text="Unused after this, the ticket is void.")


class MembershipSummarySerializer(serializers.ModelSerializer):
    workspace_id = serializers.UUIDField(source="workspace.id")
    workspace_name = serializers.CharField(source="workspace.name")

    class Meta:
        model = Membership
        fields = ["workspace_id", "workspace_name", "role"]


class MeSerializer(UserSerializer):
    memberships = MembershipSummarySerializer(many=True)

    class Meta(UserSerializer.Meta):
        fields = [*UserSerializer.Meta.fields, "memberships"]
        read_only_fields = fields
