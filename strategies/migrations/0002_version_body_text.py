import json

from django.db import migrations, models


def fill_body_text(apps, schema_editor):
    # Versions saved before this field existed: their key order is whatever the database kept.
    StrategyVersion = apps.get_model("strategies", "StrategyVersion")
    for version in StrategyVersion.objects.filter(body_text="").iterator():
        StrategyVersion.objects.filter(pk=version.pk).update(
            body_text=json.dumps(version.body, ensure_ascii=False)
        )


class Migration(migrations.Migration):
    dependencies = [
        ("strategies", "0001_initial"),
    ]

    operations = [
        migrations.AddField(
            model_name="strategyversion",
            name="body_text",
            field=models.TextField(default="", editable=False),
            preserve_default=False,
        ),
        migrations.RunPython(fill_body_text, migrations.RunPython.noop),
        migrations.AddConstraint(
            model_name="strategyversion",
            constraint=models.CheckConstraint(
                condition=models.Q(("number__gte", 1)), name="version_number_gte_1"
            ),
        ),
    ]
