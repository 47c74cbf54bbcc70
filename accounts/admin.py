"""Operator console: users (passwords are only ever shown as Django's hash summary) and their
memberships, which are saved through workspaces.services like everywhere else."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.forms import AdminLoginForm
from accounts.models import User
from workspaces.admin import MembershipInline, ServiceWritesAdminMixin

# The console's sign-in goes through the login service too (limit and audit rows).
admin.site.login_form = AdminLoginForm


class UserMembershipInline(MembershipInline):
    """The workspaces of a user (on the user's page)."""

    fields = ["workspace", "role", "created_at"]
    autocomplete_fields = ["workspace"]


@admin.register(User)
class UserAdmin(ServiceWritesAdminMixin, DjangoUserAdmin):
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["username", "email", "id"]
    ordering = ["-date_joined"]
    inlines = [UserMembershipInline]
