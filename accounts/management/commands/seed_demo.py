"""`manage.py seed_demo`: the demo user, their workspace and every app's demo data. Idempotent."""

from __future__ import annotations

import importlib

from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import transaction

from accounts.models import User
from workspaces.models import Membership, Role, Workspace
from workspaces.services import create_workspace

DEMO_USERNAME = "demo"
DEMO_EMAIL = "demo@botmarket.local"
DEMO_PASSWORD = "demo-trader-2026"  # noqa: S105  (a published demo login, like the README's)
DEMO_WORKSPACE = "Demo workspace"


class Command(BaseCommand):
    help = "Create (or top up) the demo account, its workspace and each app's demo data."

    def add_arguments(self, parser):
        parser.add_argument("--password", default=DEMO_PASSWORD, help="Demo user's password.")

    @transaction.atomic
    def handle(self, *args, password: str, **options):
        user = User.objects.filter(username=DEMO_USERNAME).first()
        if user is None:
            user = User.objects.create_user(
                username=DEMO_USERNAME, email=DEMO_EMAIL, password=password
            )
            self.stdout.write(f"created user {DEMO_USERNAME}")
        if not settings.PRODUCTION and not user.is_superuser:
            # The embedded demo doubles as the operator: it opens the admin console too.
            user.is_staff = user.is_superuser = True
            user.save(update_fields=["is_staff", "is_superuser"])
        membership = (
            Membership.objects.select_related("workspace")
            .filter(user=user, workspace__name=DEMO_WORKSPACE, role=Role.OWNER)
            .first()
        )
        workspace: Workspace = (
            membership.workspace
            if membership
            else create_workspace(name=DEMO_WORKSPACE, owner=user)
        )
        # Every app may contribute demo data through `<app>.seed.seed_demo(workspace=, user=)`.
        for config in apps.get_app_configs():
            try:
                module = importlib.import_module(f"{config.name}.seed")
            except ModuleNotFoundError as exc:
                if exc.name != f"{config.name}.seed":
                    raise
                continue
            for line in module.seed_demo(workspace=workspace, user=user) or []:
                self.stdout.write(f"{config.label}: {line}")
        self.stdout.write(self.style.SUCCESS(f"demo workspace {workspace.pk} is ready"))
