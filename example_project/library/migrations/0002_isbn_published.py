"""Written by hand: two new columns and an index on the big `library_book` table, in one
online copy of the table instead of three blocking ALTER TABLEs."""

from django.db import migrations, models

from online_migrations.operations import OnlineAlterTable


class Migration(migrations.Migration):
    # online_migrations records each run in a table of its own.
    dependencies = [("library", "0001_initial"), ("online_migrations", "__latest__")]

    operations = [
        OnlineAlterTable(
            "book",
            operations=[
                migrations.AddField("book", "isbn", models.CharField(max_length=13, default="")),
                migrations.AddField("book", "published", models.DateField(null=True)),
                migrations.AddIndex(
                    "book", models.Index(fields=["author", "published"], name="library_book_author_pub_idx")
                ),
            ],
            chunk_size=5000,
        ),
    ]
