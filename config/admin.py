"""Operator-console pieces shared by the apps' admin modules."""


class ReadOnlyAdminMixin:
    """For rows only services write (audit trail, journals, results, venue books): operators
    read and search; nobody adds, edits or deletes them here. Without declared read-only
    fields, every model field is shown read-only. Works for ModelAdmin and inlines."""

    def get_readonly_fields(self, request, obj=None):
        declared = super().get_readonly_fields(request, obj)
        return declared or [field.name for field in self.model._meta.fields]

    def has_add_permission(self, request, obj=None) -> bool:
        return False

    def has_change_permission(self, request, obj=None) -> bool:
        return False

    def has_delete_permission(self, request, obj=None) -> bool:
        return False
