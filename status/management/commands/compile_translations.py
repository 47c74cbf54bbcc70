"""`manage.py compile_translations`: build .mo files from the .po sources with polib.

Django's compilemessages needs GNU gettext's msgfmt, which a fresh machine may lack; polib is a
pinned Python dependency, so the setup command can always compile.
"""

from pathlib import Path

import polib
from django.apps import apps
from django.conf import settings
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Compile every project and app locale/*/LC_MESSAGES/*.po into its .mo."

    def handle(self, *args, **options):
        count = 0
        # Project catalogues plus each app's own <app>/locale (where its pages' strings live).
        # Only this project's apps: installed packages ship their own compiled catalogues.
        base = Path(settings.BASE_DIR).resolve()
        app_dirs = [
            Path(config.path) / "locale"
            for config in apps.get_app_configs()
            if Path(config.path).resolve().is_relative_to(base)
            and ".venv" not in Path(config.path).parts
        ]
        for locale_dir in [*settings.LOCALE_PATHS, *app_dirs]:
            for po_path in sorted(Path(locale_dir).glob("*/LC_MESSAGES/*.po")):
                polib.pofile(str(po_path)).save_as_mofile(str(po_path.with_suffix(".mo")))
                count += 1
        self.stdout.write(f"compiled {count} catalogue(s)")
