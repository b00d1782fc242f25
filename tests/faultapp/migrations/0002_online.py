from django.db import migrations, models

from online_migrations.operations import OnlineAlterTable


class Migration(migrations.Migration):
    dependencies = [("faultapp", "0001_initial"), ("online_migrations", "__latest__")]

    operations = [
        OnlineAlterTable(
            "item",
            operations=[
                migrations.RenameField("item", "name", "title"),
                migrations.AddField("item", "added", models.IntegerField(db_default=7)),
            ],
            # Slow and copied (not instant), so that the fault tests can stop it where they want.
            instant=False, chunk_size=25, chunk_time=0, throttle=0.01,
        ),
    ]
