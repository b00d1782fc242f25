"""makemigrations --online writes online operations for changes to existing tables; the file
applies with migrate and leaves makemigrations --check clean."""

import io
import logging
import re
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db import models
from django.db.migrations import operations as dj
from django.db.migrations.migration import Migration
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings
from MySQLdb import OperationalError

from online_migrations import OnlineMigrationError, abort_migration, change_table, migrate_check
from online_migrations.operations import OnlineAddIndex, OnlineAlterTable, OnlineRenameColumn
from online_migrations.runs import Run

START = Path(__file__).parent / "opsapp" / "migrations_start"
TABLES = ["opsapp_book", "opsapp_reader", "opsapp_shelf", "opsapp_author"]


@pytest.fixture
def migrations_package(tmp_path, monkeypatch, sql):
    """tests.opsapp with its old migrations in a package of their own, its tables made by them,
    and renames answered yes."""
    name = f"opsapp_migrations_{uuid.uuid4().hex[:8]}"
    shutil.copytree(START, tmp_path / name)
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.setattr("builtins.input", lambda prompt="": "y")
    for table in TABLES:
        sql(f"DROP TABLE IF EXISTS `{table}`")
    with override_settings(MIGRATION_MODULES={"opsapp": name}):
        call_command("migrate", "opsapp", verbosity=0)
        yield tmp_path / name
    # The tables now are what models.py says, as the test database had them.
    sql("DELETE FROM django_migrations WHERE app = 'opsapp'")
    for module in [m for m in sys.modules if m.startswith(name)]:
        del sys.modules[module]


def generated(package):
    loader = MigrationLoader(None, ignore_no_migrations=True)
    (name,) = [n for app, n in loader.disk_migrations if app == "opsapp" and n.startswith("0002")]
    return (package / f"{name}.py").read_text(), loader.disk_migrations["opsapp", name].operations


@pytest.mark.django_db(transaction=True)
def test_online_changes_are_grouped_applied_and_leave_nothing_to_do(migrations_package, sql):
    sql("INSERT INTO opsapp_book (name, isbn) VALUES ('Dune', '9780441013593'), ('Emma', '9780141439587')")
    sql("INSERT INTO opsapp_reader (name) VALUES ('Ada')")

    call_command("makemigrations", "opsapp", online=True, name="online_changes", interactive=True, verbosity=0)
    text, operations = generated(migrations_package)

    assert [type(op).__name__ for op in operations] == [
        "CreateModel", "OnlineAlterTable", "OnlineRenameColumn", "OnlineAddIndex"]
    book, reader, shelf = operations[1:]
    assert isinstance(book, OnlineAlterTable) and book.model_name == "book"
    assert [type(op).__name__ for op in book.operations] == ["RenameField", "AddField", "AlterField", "AddIndex"]
    assert isinstance(reader, OnlineRenameColumn) and (reader.old_name, reader.new_name) == ("name", "full_name")
    assert isinstance(shelf, OnlineAddIndex) and shelf.index.name == "opsapp_shelf_label_idx"
    assert "import online_migrations.operations" in text
    assert "('online_migrations', '__latest__')" in text  # the engine's checkpoint table comes first

    schema = sql.schema()
    plan = io.StringIO()
    call_command("sqlmigrate", "opsapp", "0002", stdout=plan)
    assert sql.schema() == schema
    assert "CREATE TABLE `_opsapp_book_new` LIKE `opsapp_book`;" in plan.getvalue()
    # A lone rename is instant: no copy.
    assert "ALTER TABLE `opsapp_reader` RENAME COLUMN `name` TO `full_name`, ALGORITHM=INSTANT;" in plan.getvalue()

    call_command("migrate", "opsapp", verbosity=0)
    assert sql("SELECT title, isbn, pages FROM opsapp_book ORDER BY id") == [
        ("Dune", "9780441013593", 0), ("Emma", "9780141439587", 0)]
    assert sql("SELECT full_name FROM opsapp_reader") == [("Ada",)]
    call_command("makemigrations", "opsapp", check=True, dry_run=True, verbosity=0)  # exits 1 on changes


@pytest.mark.django_db(transaction=True)
def test_without_online_it_is_djangos_makemigrations(migrations_package):
    out = io.StringIO()
    call_command("makemigrations", "opsapp", dry_run=True, interactive=True, verbosity=3, stdout=out)
    assert "migrations.RenameField(" in out.getvalue() and "Online" not in out.getvalue()


def test_the_checkpoint_table_gets_no_new_migration():
    """Online migrations depend on ("online_migrations", "__latest__"), so that a fresh database
    has the checkpoint table in the engine's shape before the first copy. Django resolves that
    to our newest migration: one more, and every database that applied such a migration is
    refused by `migrate` (InconsistentMigrationHistory: applied before its dependency). New
    run state goes into the JSON columns (plan, verification) instead; changing this rule
    means changing how user migrations depend on us first (see models.OnlineRun)."""
    loader = MigrationLoader(None, ignore_no_migrations=True)
    ours = sorted(name for app, name in loader.disk_migrations if app == "online_migrations")
    assert ours == ["0001_onlinerun", "0002_cutover_requested", "0003_plan", "0004_deferred_indexes",
                    "0005_verification"]


PLAIN_CHANGE = '''from django.db import migrations


class Migration(migrations.Migration):
    dependencies = [("opsapp", "0001_initial")]
    operations = [migrations.RemoveField("reader", "name")]
'''


@pytest.mark.django_db(transaction=True)
def test_migrate_refuses_plain_changes_to_a_table_whose_online_run_is_unfinished(migrations_package, sql):
    """The run's triggers name the table's columns as they were: a plain migration that drops
    one made every insert of the application fail ("Unknown column 'name' in 'NEW'")."""
    sql("INSERT INTO opsapp_reader (name) SELECT CONCAT('r', seq) FROM seq_1_to_300")
    change_table("default", "opsapp_reader", "CREATE TABLE `opsapp_reader` (`id` bigint NOT NULL AUTO_INCREMENT "
                 "PRIMARY KEY, `name` varchar(100) NOT NULL, `age` int NOT NULL DEFAULT 0)", [], ["id", "name"],
                 ["id", "name", "age"], limit=100)
    (migrations_package / "0002_plain.py").write_text(PLAIN_CHANGE)
    schema = sql.schema()
    with pytest.raises(OnlineMigrationError) as error:
        call_command("migrate", "opsapp", verbosity=0)
    message = str(error.value)
    for expected in ["Migration opsapp.0002_plain would change `opsapp_reader` (Remove field name from reader)",
                     "whose online run is unfinished (copied, its process gone)", "Nothing was changed",
                     "./manage.py online_migration abort opsapp_reader"]:
        assert expected in message, message
    assert sql.schema() == schema
    sql("INSERT INTO opsapp_reader (name) VALUES ('written after')")

    abort_migration("default", "opsapp_reader")
    call_command("migrate", "opsapp", verbosity=0)
    assert "name" not in [c for c, *_ in sql("SHOW COLUMNS FROM opsapp_reader")]


@pytest.mark.django_db(transaction=True)
def test_a_checkpoint_table_the_check_cannot_read_does_not_stop_migrate(migrations_package, sql, monkeypatch, caplog):
    """A checkpoint table of another version (a column renamed, say) is mended by migrate
    itself: the check before it warns and lets it run."""
    def unreadable(session):
        raise OperationalError(1054, "Unknown column 'rows_estimate' in 'field list'")

    monkeypatch.setattr(migrate_check, "runs_in_flight", unreadable)
    (migrations_package / "0002_plain.py").write_text(PLAIN_CHANGE)
    call_command("migrate", "opsapp", verbosity=0)
    assert "name" not in [c for c, *_ in sql("SHOW COLUMNS FROM opsapp_reader")]
    assert "could not read the online runs in flight from `online_migrations_run`" in caplog.text


def test_an_online_operation_on_the_table_ends_the_run_before_the_plain_changes_after_it():
    online = Migration("0002_online", "opsapp")
    online.operations = [OnlineAlterTable("reader", [dj.AddField("reader", "age", models.IntegerField(default=0))])]
    plain = Migration("0003_plain", "opsapp")
    plain.operations = [dj.RemoveField("reader", "name")]
    run = Run("opsapp_reader", "copied", 300, 300, None, None, holder=None)
    migrate_check._check_plan(run, "opsapp", "reader", [(online, False), (plain, False)], "default")
    with pytest.raises(OnlineMigrationError, match="0003_plain would change `opsapp_reader`"):
        migrate_check._check_plan(run, "opsapp", "reader", [(plain, False), (online, False)], "default")
    with pytest.raises(OnlineMigrationError, match=r"0002_online would change .*, unapplied\)"):
        migrate_check._check_plan(run, "opsapp", "reader", [(online, True)], "default")
    renamed = Migration("0003_rename", "opsapp")
    renamed.operations = [dj.RenameModel("Reader", "Patron")]
    with pytest.raises(OnlineMigrationError, match="0003_rename would change `opsapp_reader` \\(Rename model Reader"):
        migrate_check._check_plan(run, "opsapp", "reader", [(renamed, False)], "default")


ONLINE_CHANGE = '''from django.db import migrations, models

from online_migrations.operations import OnlineAlterTable


class Migration(migrations.Migration):
    dependencies = [("opsapp", "0001_initial"), ("online_migrations", "__latest__")]
    operations = [
        OnlineAlterTable("reader", [migrations.AlterField("reader", "name", models.CharField(max_length=120))],
                         instant=False),
    ]
'''


@pytest.mark.django_db(transaction=True)
def test_migrate_shows_what_the_online_operations_do(migrations_package, sql, monkeypatch):
    """A copy takes minutes or hours; its progress goes to the `online_migrations` logger, which
    a project seldom configures: `migrate` showed nothing until " OK" (or an error)."""
    monkeypatch.setattr(logging.getLogger("online_migrations"), "propagate", False)  # pytest's own handlers
    sql("INSERT INTO opsapp_reader (name) SELECT CONCAT('r', seq) FROM seq_1_to_300")
    (migrations_package / "0002_online.py").write_text(ONLINE_CHANGE)
    out = io.StringIO()
    call_command("migrate", "opsapp", stdout=out)
    text = out.getvalue()
    assert re.search(r"  Applying opsapp\.0002_online\.\.\.\n\d\d:\d\d:\d\d `opsapp_reader`: ", text), text
    assert re.search(r"`opsapp_reader`: copy done: 300 rows .*\n(.*\n)*.*`opsapp_reader`: done: .*\n OK\n", text), text
    quiet = io.StringIO()
    call_command("migrate", "opsapp", "0001", stdout=quiet, verbosity=0)
    assert quiet.getvalue() == ""
