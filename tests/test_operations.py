"""OnlineAlterTable, OnlineRenameColumn and OnlineAddIndex on a real MariaDB table, against
the same operations applied plainly."""

import datetime
import re
import uuid
from unittest import mock

import pytest
from django.db import connections, models
from django.db.migrations import operations as dj
from django.db.migrations.migration import Migration
from django.db.migrations.state import ModelState, ProjectState
from django.db.migrations.writer import MigrationWriter
from django.db.models.functions import Lower, Now
from django.test import override_settings

from online_migrations import OnlineMigrationError, engine
from online_migrations.describe import show_create_table
from online_migrations.operations import OnlineAddIndex, OnlineAlterTable, OnlineRenameColumn

from .concurrency import Spec, Writers, assert_same_data

APP, TABLE = "opstest", "opstest_item"


def initial_state():
    state = ProjectState()
    state.add_model(ModelState(APP, "Item", [
        ("id", models.BigAutoField(primary_key=True)),
        ("name", models.CharField(max_length=50)),
        ("qty", models.IntegerField()),
        ("note", models.CharField(max_length=20, null=True)),
        ("code", models.CharField(max_length=10)),
    ], options={"indexes": [models.Index(fields=["code"], name="opstest_code_idx")]}))
    return state


def many_changes():
    """A bit of everything a table copy can do, in one list."""
    return [
        dj.AddField("item", "pages", models.IntegerField(default=7)),
        dj.AddField("item", "flag", models.BooleanField(default=True, db_index=True)),
        dj.RemoveField("item", "note"),
        dj.AlterField("item", "code", models.CharField(max_length=32, unique=True)),
        dj.RenameField("item", "name", "title"),
        dj.AlterField("item", "qty", models.BigIntegerField(db_column="quantity")),
        dj.AddIndex("item", models.Index(fields=["title", "qty"], name="opstest_title_qty_idx")),
        dj.RemoveIndex("item", "opstest_code_idx"),
        dj.AddConstraint("item", models.CheckConstraint(condition=models.Q(qty__gte=0), name="opstest_qty_gte_0")),
        dj.AlterUniqueTogether("item", {("title", "pages")}),
    ]


def create_table(state, alias="default", rows=0):
    with connections[alias].schema_editor() as editor:
        editor.create_model(state.apps.get_model(APP, "Item"))
    if rows:
        with connections[alias].cursor() as cursor:
            cursor.executemany(
                f"INSERT INTO {TABLE} (name, qty, note, code) VALUES (%s, %s, %s, %s)",
                [(f"item {n}", n % 100, None if n % 3 else f"n{n}", f"c{n}") for n in range(rows)],
            )


def apply(operations, state, alias="default", collect_sql=False):
    """Apply operations as a migration does; returns the new state (and the collected SQL)."""
    migration = Migration("0002_change", APP)
    migration.operations = operations
    with connections[alias].schema_editor(collect_sql=collect_sql, atomic=False) as editor:
        new_state = migration.apply(state.clone(), editor, collect_sql=collect_sql)
    return (new_state, editor.collected_sql) if collect_sql else new_state


def unapply(operations, state, alias="default"):
    migration = Migration("0002_change", APP)
    migration.operations = operations
    with connections[alias].schema_editor(atomic=False) as editor:
        return migration.unapply(state.clone(), editor)


def show_create(sql, table=TABLE):
    return re.sub(r" AUTO_INCREMENT=\d+", "", show_create_table(sql.conn.cursor(), table))


def rows(sql, table=TABLE):
    return sql(f"SELECT * FROM `{table}` ORDER BY 1")


def drop(sql, table=TABLE):
    sql(f"DROP TABLE `{table}`")


@pytest.mark.django_db(transaction=True)
def test_online_table_is_what_plain_migrations_make(sql):
    state = initial_state()
    create_table(state, rows=500)
    plain_state = apply(many_changes(), state)
    plain_ddl, plain_rows = show_create(sql), rows(sql)
    drop(sql)

    create_table(state, rows=500)
    online_state = apply([OnlineAlterTable("item", many_changes(), chunk_size=100)], state)

    assert show_create(sql) == plain_ddl
    assert rows(sql) == plain_rows
    assert online_state.models[APP, "item"].fields.keys() == plain_state.models[APP, "item"].fields.keys()
    assert sql.tables() == sorted(["opstest_item", *[t for t in sql.tables() if t != TABLE]])
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()


@pytest.mark.django_db(transaction=True)
def test_a_table_kept_in_a_data_directory_of_its_own_stays_there(sql):
    """CREATE TABLE ... LIKE leaves DATA DIRECTORY out: the online table moved to the server's
    data directory, where a plain ALTER TABLE keeps it in its own."""
    state = initial_state()
    place = sql.value("SELECT SUBSTRING_INDEX(@@tmpdir, ':', 1)").rstrip("/") + "/"

    def create_in_place():
        create_table(state)
        ddl = show_create(sql)
        drop(sql)
        sql(f"{ddl} DATA DIRECTORY='{place}'")
        sql(f"INSERT INTO {TABLE} (name, qty, code) SELECT CONCAT('n', seq), seq, seq FROM seq_1_to_300")

    create_in_place()
    apply(many_changes(), state)
    plain = show_create(sql), rows(sql)
    drop(sql)
    create_in_place()
    apply([OnlineAlterTable("item", many_changes(), instant=False, chunk_size=100)], state)
    assert (show_create(sql), rows(sql)) == plain
    assert f"DATA DIRECTORY='{place}'" in plain[0]


@pytest.mark.django_db(transaction=True)
def test_online_rename_and_add_index_match_plain(sql):
    state = initial_state()
    plain = [dj.RenameField("item", "note", "remark"),
             dj.AddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx"))]
    create_table(state, rows=50)
    apply(plain, state)
    plain_ddl, plain_rows = show_create(sql), rows(sql)
    drop(sql)

    create_table(state, rows=50)
    apply([OnlineRenameColumn("item", "note", "remark"),
           OnlineAddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx"))], state)
    assert (show_create(sql), rows(sql)) == (plain_ddl, plain_rows)


@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_lose_nothing(sql):
    state = initial_state()
    create_table(state, rows=20000)
    writers = Writers(Spec(TABLE, ("id",), lambda rnd: {"name": f"w{rnd.randrange(10**6)}", "qty": rnd.randrange(100),
                                                         "code": "w"}, auto_key=True))
    writers.prepare(sql)
    operation = OnlineAlterTable("item", [
        dj.AddField("item", "pages", models.IntegerField(default=7)),
        dj.AlterField("item", "name", models.CharField(max_length=80)),
        dj.RenameField("item", "note", "remark"),
        dj.AddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx")),
    ], chunk_size=500)
    # The application writes through the swap, until Django's default of the new NOT NULL column
    # is dropped: after that, old code that does not set the column fails, online or not.
    real_run_after_swap = engine.run_after_swap

    def drop_defaults_after_writes(*args, **kwargs):
        writers.stop()
        real_run_after_swap(*args, **kwargs)

    with writers, mock.patch.object(engine, "run_after_swap", drop_defaults_after_writes):
        apply([operation], state)
    counts = writers.counts

    assert not counts.other_errors, counts.other_errors[:3]
    assert counts.inserts and counts.updates and counts.deletes and counts.key_updates
    assert_same_data(sql, TABLE, ["id", "name", "qty", "remark", "code"],
                     writers.spec.control, ["id", "name", "qty", "note", "code"])
    # Rows the triggers inserted got the new column's default too, which is gone again now.
    assert sql.value(f"SELECT COUNT(*) FROM {TABLE} WHERE pages <> 7") == 0
    assert "DEFAULT" not in [line for line in show_create(sql).splitlines() if "`pages`" in line][0]


@pytest.mark.django_db(transaction=True)
def test_backwards_is_online_and_restores_the_table(sql):
    state = initial_state()
    create_table(state, rows=300)
    before_ddl = show_create(sql)
    before = sql(f"SELECT id, name, qty, code FROM {TABLE} ORDER BY id")
    changes = [
        dj.AddField("item", "pages", models.IntegerField(default=7)),
        dj.RenameField("item", "name", "title"),
        dj.AlterField("item", "code", models.CharField(max_length=32, unique=True)),
        dj.AddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx")),
    ]
    operation = OnlineAlterTable("item", changes, chunk_size=50)
    assert operation.reversible
    apply([operation], state)
    assert "`title`" in show_create(sql)

    unapply([operation], state)
    assert show_create(sql) == before_ddl
    assert sql(f"SELECT id, name, qty, code FROM {TABLE} ORDER BY id") == before
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()


@pytest.mark.django_db(transaction=True)
def test_sqlmigrate_prints_the_plan_and_runs_nothing(sql):
    state = initial_state()
    create_table(state, rows=10)
    schema = sql.schema()
    _, collected = apply([OnlineAlterTable("item", [
        dj.AddField("item", "pages", models.IntegerField(default=7)),
        dj.RenameField("item", "name", "title"),
    ], chunk_size=123, instant=False)], state, collect_sql=True)
    plan = "\n".join(collected)

    assert sql.schema() == schema
    for expected in [
        "-- Path: online copy (instant=False turns the instant path off)",
        "CREATE TABLE `_opstest_item_new` LIKE `opstest_item`;",
        "ALTER TABLE `_opstest_item_new` ADD COLUMN `pages` integer DEFAULT 7 NOT NULL;",
        "ALTER TABLE `_opstest_item_new` RENAME COLUMN `name` TO `title`;",
        "CREATE TRIGGER `_opstest_item_del` AFTER DELETE ON `opstest_item`",
        "one statement per chunk (123 rows to start with)",
        "INSERT IGNORE INTO `_opstest_item_new` (`id`, `title`, `qty`, `note`, `code`) SELECT `id`, `name`, `qty`, "
        "`note`, `code` FROM `opstest_item`",
        "RENAME TABLE `opstest_item` TO `_opstest_item_old`, `_opstest_item_new` TO `opstest_item`;",
        "DROP TABLE `_opstest_item_old`;",
        "ALTER TABLE `opstest_item` ALTER COLUMN `pages` DROP DEFAULT;",
    ]:
        assert expected in plan, f"{expected!r} not in:\n{plan}"
    steps = ["ADD COLUMN", "CREATE TRIGGER", "INSERT IGNORE", "RENAME TABLE", "DROP DEFAULT"]
    assert [plan.index(step) for step in steps] == sorted(plan.index(step) for step in steps)


@pytest.mark.django_db(transaction=True)
def test_a_table_whose_definition_cannot_be_read_is_left_alone(sql):
    create_table(initial_state(), rows=5)
    sql(f"ALTER TABLE {TABLE} ADD COLUMN f date NOT NULL DEFAULT '2000-01-01', ADD COLUMN u date NOT NULL"
        " DEFAULT '2001-01-01', ADD PERIOD FOR p (f, u)")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match=r"Cannot parse table `opstest_item`: .* found 'PERIOD FOR .* plain"
                                                   r" ALTER TABLE, and tell us what SHOW CREATE TABLE prints"):
        apply([OnlineAlterTable("item", [dj.AddField("item", "pages", models.IntegerField(null=True))])], initial_state())
    assert sql.schema() == before


@pytest.mark.django_db(transaction=True)
def test_drift_stops_the_migration_unless_allowed(sql):
    state = initial_state()
    create_table(state, rows=10)
    sql(f"ALTER TABLE {TABLE} MODIFY qty bigint NOT NULL, DROP COLUMN note, ADD COLUMN extra int")
    schema = sql.schema()
    change = [dj.AddField("item", "pages", models.IntegerField(default=7))]

    with pytest.raises(OnlineMigrationError) as error:
        apply([OnlineAlterTable("item", change)], state)
    message = str(error.value)
    for expected in ["`opstest_item` is not what the migration history says",
                     "column `note` (varchar(20)) is missing", "column `extra` (int(11)) is not in the migrations",
                     "column `qty` is bigint(20), the migrations say int(11)", "allow_drift=True"]:
        assert expected in message, message
    assert sql.schema() == schema

    with override_settings(ONLINE_MIGRATIONS={"allow_drift": True}):
        apply([OnlineAlterTable("item", change)], state)
    ddl = show_create(sql)
    assert "`qty` bigint(20) NOT NULL" in ddl and "`extra` int(11)" in ddl and "`pages` int(11) NOT NULL" in ddl


@pytest.mark.parametrize("wrapped, named", [
    (dj.CreateModel("other", [("id", models.AutoField(primary_key=True))]), "CreateModel"),
    (dj.DeleteModel("item"), "DeleteModel"),
    (dj.RenameModel("item", "thing"), "RenameModel"),
    (dj.AlterModelTable("item", "things"), "AlterModelTable"),
    (dj.RunSQL("SELECT 1"), "RunSQL"),
    (dj.AddField("other", "pages", models.IntegerField(default=0)), "changes another model"),
    (dj.AddField("item", "tags", models.ManyToManyField("auth.Group")), "many-to-many"),
])
def test_operations_that_a_copy_cannot_do_are_refused(wrapped, named):
    with pytest.raises(OnlineMigrationError) as error:
        OnlineAlterTable("item", [wrapped])
    assert named in str(error.value) and "OnlineAlterTable('item') cannot wrap" in str(error.value)


def test_removing_a_many_to_many_field_is_refused_when_the_state_is_built():
    state = initial_state()
    dj.AddField("item", "tags", models.ManyToManyField("auth.Group")).state_forwards(APP, state)
    with pytest.raises(OnlineMigrationError, match="RemoveField.*many-to-many"):
        OnlineAlterTable("item", [dj.RemoveField("item", "tags")]).state_forwards(APP, state)


def test_unknown_options_are_refused_when_the_migration_loads():
    with pytest.raises(OnlineMigrationError, match="unknown option.*chunksize"):
        OnlineAddIndex("item", models.Index(fields=["qty"], name="i"), chunksize=10)


def test_state_describe_and_names_are_those_of_the_wrapped_operations():
    state, plain = initial_state(), initial_state()
    OnlineAlterTable("item", many_changes()).state_forwards(APP, state)
    for operation in many_changes():
        operation.state_forwards(APP, plain)
    assert state.models[APP, "item"].fields.keys() == plain.models[APP, "item"].fields.keys()
    assert state.models[APP, "item"].options == plain.models[APP, "item"].options
    assert OnlineRenameColumn("item", "name", "title").describe() == "Rename field name on item to title, online"
    assert OnlineRenameColumn("item", "name", "title").migration_name_fragment == "online_rename_name_item_title"
    assert OnlineAddIndex("item", models.Index(fields=["qty"], name="qty_idx")).migration_name_fragment == "online_item_qty_idx"
    assert OnlineAlterTable("item", many_changes()).migration_name_fragment == "online_alter_item"
    assert OnlineAlterTable("item", many_changes()).describe().startswith("Online change of item: Add field pages to item; ")


def test_migration_files_round_trip():
    migration = Migration("0002_online", APP)
    migration.operations = [
        OnlineAlterTable("item", many_changes(), chunk_size=500, keep_old_table=True),
        OnlineRenameColumn("item", "title", "headline"),
        OnlineAddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx"), throttle=0.5),
    ]
    text = MigrationWriter(migration).as_string()
    assert "import online_migrations.operations" in text
    assert "online_migrations.operations.OnlineAlterTable(" in text
    namespace = {}
    exec(compile(text, "0002_online.py", "exec"), namespace)
    again = Migration("0002_online", APP)
    again.operations = namespace["Migration"].operations
    assert MigrationWriter(again).as_string() == text
    assert [type(op) for op in again.operations] == [OnlineAlterTable, OnlineRenameColumn, OnlineAddIndex]
    assert again.operations[0].options == {"chunk_size": 500, "keep_old_table": True}
    assert again.operations[2].options == {"throttle": 0.5}


@pytest.mark.django_db(transaction=True, databases=["default", "sqlite"])
def test_other_databases_get_the_plain_operations():
    state = initial_state()
    create_table(state, alias="sqlite", rows=5)
    operation = OnlineAlterTable("item", [
        dj.AddField("item", "pages", models.IntegerField(default=7)),
        dj.RenameField("item", "name", "title"),
    ])
    apply([operation], state, alias="sqlite")
    with connections["sqlite"].cursor() as cursor:
        columns = [c.name for c in connections["sqlite"].introspection.get_table_description(cursor, TABLE)]
        cursor.execute(f"SELECT DISTINCT pages FROM {TABLE}")
        assert cursor.fetchall() == [(7,)]
    assert "title" in columns and "name" not in columns
    unapply([operation], state, alias="sqlite")
    with connections["sqlite"].cursor() as cursor:
        columns = [c.name for c in connections["sqlite"].introspection.get_table_description(cursor, TABLE)]
        cursor.execute(f"DROP TABLE {TABLE}")
    assert "name" in columns and "pages" not in columns


@pytest.mark.django_db(transaction=True)
def test_a_column_made_not_null_gets_its_default_where_it_was_null_like_plain_django(sql):
    """Plain AlterField fills the NULLs with the default first; online, the copy and the
    triggers do, also for NULLs the application writes during the copy. (A % in the default
    is text in a statement with parameters, not a placeholder.)"""
    change = [dj.AlterField("item", "note", models.CharField(max_length=20, default="50%s off"))]
    state = initial_state()
    create_table(state, rows=300)
    apply(change, state)
    plain_ddl = show_create(sql)
    drop(sql)

    create_table(state, rows=300)
    writers = Writers(Spec(TABLE, ("id",), lambda rnd: {"name": "w", "qty": 1, "code": "w",
                                                        "note": rnd.choice([None, "x"])}, auto_key=True))
    writers.prepare(sql)
    real_swap = engine.swap

    def swap_after_writes(*args, **kwargs):  # after the swap, writing NULL fails, online or not
        writers.stop()
        return real_swap(*args, **kwargs)

    with writers, mock.patch.object(engine, "swap", swap_after_writes):
        apply([OnlineAlterTable("item", change, instant=False, chunk_size=50, chunk_time=0, throttle=0.005)], state)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert show_create(sql) == plain_ddl
    assert sql(f"SELECT COUNT(*) FROM {TABLE} WHERE note IS NULL") == [(0,)]
    assert sql(f"SELECT id, COALESCE(note, '50%s off') FROM {writers.spec.control} ORDER BY id") == sql(
        f"SELECT id, note FROM {TABLE} ORDER BY id")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("instant", [True, False], ids=["instant", "copy"])
def test_a_binary_default_is_read_and_kept(sql, instant):
    """SHOW CREATE TABLE prints a binary column's default as its raw bytes, which are no UTF-8:
    the table is still read (and probed, on the instant path) and keeps them.

    Django makes a BinaryField a longblob, whose default the server prints in hex; only
    (var)binary columns show raw bytes, hence the column made by hand and allow_drift."""
    state = initial_state()
    dj.AddField("item", "tag", models.BinaryField(null=True)).state_forwards(APP, state)
    change = [dj.RenameField("item", "name", "title"), dj.AddField("item", "pages", models.IntegerField(null=True))]

    def create_tagged():
        create_table(initial_state(), rows=50)
        sql(f"ALTER TABLE {TABLE} ADD COLUMN tag varbinary(4) DEFAULT x'ff005c27'")

    create_tagged()
    apply(change, state)
    plain_ddl, plain_rows = show_create(sql), rows(sql)
    drop(sql)

    create_tagged()
    apply([OnlineAlterTable("item", change, instant=instant, allow_drift=True, chunk_size=20)], state)
    assert (show_create(sql), rows(sql)) == (plain_ddl, plain_rows)
    assert r"DEFAULT '\0\\'''" in plain_ddl.replace("\udcff", "")


def typed_state():
    """A table with a nullable column of each type whose default Django's quote_value
    returns as bytes."""
    state = ProjectState()
    state.add_model(ModelState(APP, "Item", [
        ("id", models.BigAutoField(primary_key=True)),
        ("u", models.UUIDField(null=True)),
        ("flag", models.BooleanField(null=True)),
        ("j", models.JSONField(null=True)),
        ("f", models.FloatField(null=True)),
        ("t", models.DateTimeField(null=True)),
    ]))
    return state


def create_typed():
    create_table(typed_state())
    with connections["default"].cursor() as cursor:
        cursor.executemany(f"INSERT INTO {TABLE} (u, flag, j, f, t) VALUES (%s, %s, %s, %s, %s)", [
            (uuid.UUID(int=n).hex, n % 3 == 0, '{"n": %d}' % n, n / 3, datetime.datetime(2024, 1, 2, 3, 4, n))
            if n % 2 else (None,) * 5 for n in range(60)
        ])


TYPED_DEFAULTS = {
    "u": models.UUIDField(default=uuid.UUID(int=5)),
    "flag": models.BooleanField(default=False),
    "j": models.JSONField(default=dict),
    "f": models.FloatField(default=0.1),
    "t": models.DateTimeField(default=datetime.datetime(2020, 2, 3, 4, 5, 6, tzinfo=datetime.timezone.utc)),
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("name", list(TYPED_DEFAULTS))
def test_nulls_made_not_null_get_a_default_of_any_type(sql, name):
    """The default becomes an SQL literal in the copy, the triggers and the checkpoint: a
    UUID's or a boolean's came out as "b'...'" (a syntax error, a plan that could not be
    saved)."""
    change = lambda: [dj.AlterField("item", name, TYPED_DEFAULTS[name].clone())]
    create_typed()
    apply(change(), typed_state())
    plain = show_create(sql), rows(sql)
    drop(sql)
    create_typed()
    apply([OnlineAlterTable("item", change(), instant=False, chunk_size=20)], typed_state())
    assert (show_create(sql), rows(sql)) == plain


@pytest.mark.django_db(transaction=True)
def test_a_field_added_with_a_uuid_default_is_instant(sql, caplog):
    caplog.set_level("INFO", logger="online_migrations")
    change = lambda: [dj.AddField("item", "ref", models.UUIDField(default=uuid.UUID(int=5)))]
    create_typed()
    apply(change(), typed_state())
    plain = show_create(sql), rows(sql)
    drop(sql)
    create_typed()
    apply([OnlineAlterTable("item", change())], typed_state())
    assert (show_create(sql), rows(sql)) == plain
    assert "path: instant" in caplog.text


SMALL_CHANGES = {
    "db_default": lambda: [dj.AddField("item", "n", models.IntegerField(db_default=5))],
    "db_default_now": lambda: [dj.AddField("item", "at", models.DateTimeField(db_default=Now()))],
    "db_default_set": lambda: [dj.AlterField("item", "qty", models.IntegerField(db_default=3))],
    "db_collation": lambda: [dj.AlterField("item", "code", models.CharField(max_length=10, db_collation="utf8mb4_bin"))],
    "db_comment": lambda: [dj.AlterField("item", "qty", models.IntegerField(db_comment="how many"))],
    "check": lambda: [dj.AddConstraint("item", models.CheckConstraint(condition=models.Q(qty__gte=0), name="qty_pos"))],
    "char_to_text": lambda: [dj.AlterField("item", "name", models.TextField())],
    "generated_stored": lambda: [dj.AddField("item", "double", models.GeneratedField(
        expression=models.F("qty") * 2, output_field=models.IntegerField(), db_persist=True))],
    "generated_virtual": lambda: [dj.AddField("item", "lower", models.GeneratedField(
        expression=Lower("name"), output_field=models.CharField(max_length=50), db_persist=False))],
    "unique_together": lambda: [dj.AlterUniqueTogether("item", {("name", "qty")})],
    "descending_index": lambda: [dj.AddIndex("item", models.Index(fields=["-qty", "name"], name="qty_desc_idx"))],
    "rename_index": lambda: [dj.RenameIndex("item", new_name="opstest_code_renamed", old_name="opstest_code_idx")],
    "db_index": lambda: [dj.AlterField("item", "qty", models.IntegerField(db_index=True))],
}


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("instant", [True, False], ids=["instant", "copy"])
@pytest.mark.parametrize("name", list(SMALL_CHANGES))
def test_one_change_at_a_time_matches_plain(sql, name, instant):
    """Changes the copy itself does not care about (a default, a collation, a comment, a
    check, an index's name) still make a difference to the table: one was once taken for a
    migration already applied, and recorded without touching the table."""
    changes = SMALL_CHANGES[name]
    create_table(initial_state(), rows=50)
    apply(changes(), initial_state())
    plain_ddl, plain_rows = show_create(sql), rows(sql)
    drop(sql)
    create_table(initial_state(), rows=50)
    apply([OnlineAlterTable("item", changes(), instant=instant, chunk_size=20)], initial_state())
    assert show_create(sql) == plain_ddl
    if name != "db_default_now":  # the rows get the time of their own ALTER
        assert rows(sql) == plain_rows


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("instant", [True, False], ids=["instant", "copy"])
@pytest.mark.parametrize("name", list(SMALL_CHANGES))
def test_one_change_at_a_time_goes_back(sql, name, instant):
    create_table(initial_state(), rows=30)
    before = show_create(sql), rows(sql)
    operation = [OnlineAlterTable("item", SMALL_CHANGES[name](), instant=instant, chunk_size=20)]
    apply(operation, initial_state())
    unapply(operation, initial_state())
    assert (show_create(sql), rows(sql)) == before

@pytest.mark.django_db(transaction=True)
def test_a_new_unique_field_with_one_default_for_every_row_is_refused_up_front(sql):
    """Every copied row gets the default: a unique key over it has duplicates before the copy
    starts, and the copy's first chunk would fail on them, leaving a run to clean up."""
    create_table(initial_state(), rows=50)
    before = sql.schema()
    change = [dj.AddField("item", "slug", models.CharField(max_length=10, default="x", unique=True))]
    with pytest.raises(OnlineMigrationError, match=r"the new unique key `slug` \(`slug`\) has duplicates: \('x'\) 50 times"):
        apply([OnlineAlterTable("item", change, instant=False)], initial_state())
    assert sql.schema() == before


@pytest.mark.django_db(transaction=True)
def test_a_resumed_run_drops_the_defaults_django_drops(sql):
    """Django drops the default of a column it adds once the rows have it; an online run
    keeps it for the copy and the triggers, and drops it after the swap. A run resumed by
    running the migration again (in another process, say) does not build the shadow table,
    where those statements were gathered: it left `DEFAULT 7` behind."""
    state = initial_state()
    create_table(state, rows=500)
    change = [dj.AddField("item", "pages", models.IntegerField(default=7))]
    apply(change, state)
    plain = show_create(sql)
    drop(sql)
    create_table(state, rows=500)
    operation = OnlineAlterTable("item", change, instant=False)
    with mock.patch.object(engine, "_copy", side_effect=RuntimeError("killed")), pytest.raises(RuntimeError):
        apply([operation], state)
    assert sql("SELECT state FROM online_migrations_run WHERE table_name = %s", [TABLE]) == [("triggers",)]
    apply([operation], state)
    assert show_create(sql) == plain


@pytest.mark.django_db(transaction=True)
def test_django_s_own_connection_outlives_a_copy_longer_than_wait_timeout(sql):
    """The server closes Django's idle connection after wait_timeout (8 hours by default; 1 s
    here) while the engine copies on its own: the migration executor, recording the migration
    on that connection next, failed with "server has gone away" after the change was made."""
    state = initial_state()
    create_table(state, rows=400)
    with connections["default"].cursor() as cursor:
        cursor.execute("SET SESSION wait_timeout = 1")
    apply([OnlineAlterTable("item", [dj.AddField("item", "pages", models.IntegerField(default=7))], instant=False,
                            chunk_size=20, chunk_time=0, throttle=0.1)], state)
    with connections["default"].cursor() as cursor:
        cursor.execute("SELECT COUNT(*) FROM django_migrations")
    assert "`pages`" in show_create(sql)
