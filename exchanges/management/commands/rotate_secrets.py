"""`manage.py rotate_secrets`: re-seal every connection's credentials under the current key.

Rotation: put the new key in SECRET_ENCRYPTION_KEY and the old one in SECRET_ENCRYPTION_OLD_KEYS,
restart, run this command, then drop the old key (docs/exchanges.md). Running it again changes
nothing. Exits non-zero if some connection could not be opened by any configured key.
"""

from __future__ import annotations

from django.core.management.base import BaseCommand, CommandError

from exchanges import services


class Command(BaseCommand):
    help = "Re-encrypt every exchange connection's credentials under SECRET_ENCRYPTION_KEY."

    def handle(self, *args, **options):
        report = services.rotate_secrets(actor=None)
        self.stdout.write(
            f"key {report.key_id}: {report.resealed} re-sealed, {report.current} already "
            f"current, {len(report.failed)} failed ({report.total} connections with credentials)"
        )
        if report.failed:
            for connection_id in report.failed:
                self.stdout.write(f"  cannot open connection {connection_id}")
            raise CommandError(
                f"{len(report.failed)} connection(s) could not be opened with the configured keys; "
                "put the key that sealed them into SECRET_ENCRYPTION_OLD_KEYS, or enter their "
                "credentials again."
            )
