"""Operator console: users (passwords are only ever shown as Django's hash summary)."""

from django.contrib import admin
from django.contrib.auth.admin import UserAdmin as DjangoUserAdmin

from accounts.models import User
from workspaces.models import Membership


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    fields = ["workspace", "role", "created_at"]
    readonly_fields = ["created_at"]
    autocomplete_fields = ["workspace"]


@admin.register(User)
class UserAdmin(DjangoUserAdmin):
    list_display = ["username", "email", "is_active", "is_staff", "date_joined", "last_login"]
    list_filter = ["is_active", "is_staff", "is_superuser", "date_joined"]
    search_fields = ["username", "email", "id"]
    ordering = ["-date_joined"]
    inlines = [MembershipInline]
