"""makemigrations --online writes online operations for changes to existing tables; the file
applies with migrate and leaves makemigrations --check clean."""

import io
import shutil
import sys
import uuid
from pathlib import Path

import pytest
from django.core.management import call_command
from django.db.migrations.loader import MigrationLoader
from django.test import override_settings

from online_migrations.operations import OnlineAddIndex, OnlineAlterTable, OnlineRenameColumn

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
