"""The instant path of the online operations, on a real server: changes the server can make
with ALGORITHM=INSTANT are made so, without a copy; the others, or all with instant=False,
are copied. Either way the table ends up as plain migrations make it."""

import logging
from unittest import mock

import pytest
from django.db import connections, models
from django.db.migrations.state import ModelState
from django.db.migrations import operations as dj

from online_migrations import OnlineMigrationError
from online_migrations.operations import OnlineAlterTable, instant

from .concurrency import HeldMetadataLock
from .conftest import Sql
from .test_operations import APP, TABLE, apply, create_table, drop, initial_state, rows, show_create, unapply

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def info_log(caplog):
    caplog.set_level(logging.INFO, logger="online_migrations")


def table_id(sql, table=TABLE):
    """InnoDB's id of the table: a copy (ours or the server's) makes a new table, with a new id."""
    name = f"{sql.value('SELECT DATABASE()')}/{table}"
    for view in ("INNODB_SYS_TABLES", "INNODB_TABLES"):  # MariaDB, MySQL 8
        try:
            return sql.value(f"SELECT TABLE_ID FROM information_schema.{view} WHERE NAME = %s", [name])
        except Exception:
            continue
    raise AssertionError("no InnoDB table list in information_schema")


def runs(sql, table=TABLE):
    return sql("SELECT state FROM online_migrations_run WHERE table_name = %s", [table])


def plain_result(sql, changes, rows_count=200):
    """SHOW CREATE TABLE and rows after the plain operations, on a table of its own."""
    create_table(initial_state(), rows=rows_count)
    apply(changes(), initial_state())
    result = show_create(sql), rows(sql)
    drop(sql)
    return result


def online(sql, changes, rows_count=200, **options):
    """Apply `changes` online; returns whether the table was copied."""
    create_table(initial_state(), rows=rows_count)
    before = table_id(sql)
    apply([OnlineAlterTable("item", changes(), chunk_size=50, **options)], initial_state())
    return table_id(sql) != before


def nullable_field():
    return [dj.AddField("item", "pages", models.IntegerField(null=True))]


def not_null_field():
    return [dj.AddField("item", "pages", models.IntegerField(default=7))]


def rename():
    return [dj.RenameField("item", "name", "title")]


def remove():
    return [dj.RemoveField("item", "note")]


def several():
    return [*nullable_field(), *rename(), *remove(),
            dj.AddField("item", "flag", models.BooleanField(default=True))]


def add_index():
    return [dj.AddIndex("item", models.Index(fields=["qty"], name="opstest_qty_idx"))]


@pytest.mark.parametrize("changes", [nullable_field, rename, remove, several], ids=lambda f: f.__name__)
def test_instant_changes_take_no_copy_and_match_plain(sql, caplog, changes):
    plain = plain_result(sql, changes)
    copied = online(sql, changes)

    assert not copied, "the table was rebuilt"
    assert (show_create(sql), rows(sql)) == plain
    assert runs(sql) == [], "no online run (shadow table, triggers, copy) was started"
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()
    assert "`opstest_item`: path: instant (the server makes it with ALGORITHM=INSTANT" in caplog.text
    assert "`opstest_item`: changed instantly: ALTER TABLE `opstest_item`" in caplog.text


def test_a_not_null_field_with_a_default_takes_whichever_path_the_server_allows(sql, caplog):
    plain = plain_result(sql, not_null_field)
    copied = online(sql, not_null_field)

    assert (show_create(sql), rows(sql)) == plain  # the default filled the rows, then went, as plainly
    assert "DEFAULT" not in [line for line in show_create(sql).splitlines() if "`pages`" in line][0]
    assert ("path: online copy" if copied else "path: instant") in caplog.text
    assert sql.value(f"SELECT COUNT(*) FROM {TABLE} WHERE pages <> 7") == 0


def test_an_index_is_copied(sql, caplog):
    plain = plain_result(sql, add_index)
    copied = online(sql, add_index)

    assert copied
    assert (show_create(sql), rows(sql)) == plain
    assert runs(sql) == [("done",)]
    assert "path: online copy (Django runs 'CREATE INDEX `opstest_qty_idx` ON `opstest_item`" in caplog.text


def test_instant_false_forces_the_copy(sql, caplog):
    plain = plain_result(sql, nullable_field)
    copied = online(sql, nullable_field, instant=False)

    assert copied
    assert (show_create(sql), rows(sql)) == plain
    assert runs(sql) == [("done",)]
    assert "path: online copy (instant=False turns the instant path off)" in caplog.text


def test_backwards_is_instant_too(sql):
    create_table(initial_state(), rows=50)
    apply(several(), initial_state())
    unapply(several(), initial_state())
    plain = show_create(sql), rows(sql)
    drop(sql)

    create_table(initial_state(), rows=50)
    before = table_id(sql)
    operation = OnlineAlterTable("item", several())
    apply([operation], initial_state())
    unapply([operation], initial_state())

    assert (show_create(sql), rows(sql)) == plain  # `note` comes back last and empty, as plainly
    assert table_id(sql) == before and runs(sql) == []


def test_a_refusal_on_the_table_after_the_probe_said_yes_falls_back_to_the_copy(sql, caplog):
    """The probe and the table may disagree (another version's rules, a table changed in
    between): the server refuses the one ALGORITHM=INSTANT statement, leaving the table as it
    was, and the table is copied."""
    plain = plain_result(sql, add_index)
    forced = instant.Path(True, "forced by the test",
                          f"ALTER TABLE `{TABLE}` ADD INDEX `opstest_qty_idx` (`qty`), ALGORITHM=INSTANT")
    with mock.patch.object(instant, "choose", return_value=forced):
        copied = online(sql, add_index)

    assert copied
    assert (show_create(sql), rows(sql)) == plain
    assert "refused ALGORITHM=INSTANT on the table after all" in caplog.text


def test_a_system_versioned_table_is_refused_with_its_history_kept(sql):
    """The server refuses to ALTER it (system_versioning_alter_history=ERROR), instantly or
    not, and a copy would lose the history: the operation stops before anything changes."""
    create_table(initial_state(), rows=20)
    sql(f"ALTER TABLE {TABLE} ADD SYSTEM VERSIONING")
    sql(f"UPDATE {TABLE} SET qty = qty + 1")
    before, history = show_create(sql), sql(f"SELECT COUNT(*) FROM {TABLE} FOR SYSTEM_TIME ALL")
    with pytest.raises(OnlineMigrationError, match="is system-versioned"):
        apply([OnlineAlterTable("item", nullable_field())], initial_state())
    assert (show_create(sql), sql(f"SELECT COUNT(*) FROM {TABLE} FOR SYSTEM_TIME ALL")) == (before, history)
    assert history == [(40,)] and runs(sql) == [] and not sql.triggers()


def test_instant_ddl_waits_for_a_long_transaction_without_stalling_the_application(sql, caplog):
    """A transaction that has read the table holds its metadata lock; the instant ALTER waits
    for it at most lock_wait_timeout at a time, giving way in between, like our other DDL."""
    create_table(initial_state(), rows=100)
    before = table_id(sql)
    with HeldMetadataLock(TABLE, f"UPDATE {TABLE} SET qty = qty + 1 WHERE id = 1") as held:
        apply([OnlineAlterTable("item", nullable_field())], initial_state())
    assert held.elapsed >= 2.5, "the ALTER must have waited for the transaction"
    assert "has had a transaction open" in caplog.text and "Lock wait timeout" in caplog.text
    assert len(held.while_held()) > 20, "the application's queries kept flowing while we waited"
    assert max(held.while_held()) < 1.6, f"an application query waited {max(held.while_held()):.2f}s behind our DDL"
    assert table_id(sql) == before and "`pages` int(11) DEFAULT NULL" in show_create(sql)


def test_a_lock_never_obtained_stops_with_the_table_unchanged(sql):
    create_table(initial_state(), rows=10)
    before = show_create(sql)
    holder = Sql()
    holder.conn.autocommit(False)
    holder(f"SELECT COUNT(*) FROM {TABLE}")
    try:
        with pytest.raises(OnlineMigrationError, match="never got it; nothing was changed"):
            apply([OnlineAlterTable("item", nullable_field(), ddl_retries=1)], initial_state())
    finally:
        holder.conn.commit()
        holder.conn.close()
    assert show_create(sql) == before


def test_sqlmigrate_names_the_path(sql):
    create_table(initial_state(), rows=10)
    schema = sql.schema()
    _, collected = apply([OnlineAlterTable("item", not_null_field() + rename())], initial_state(), collect_sql=True)
    plan = "\n".join(collected)
    assert "-- Path: instant (the server makes it with ALGORITHM=INSTANT" in plan
    assert ("ALTER TABLE `opstest_item` ADD COLUMN `pages` integer DEFAULT 7 NOT NULL, RENAME COLUMN `name` TO "
            "`title`, ALGORITHM=INSTANT;\n") in plan
    assert plan.endswith("ALTER TABLE `opstest_item` ALTER COLUMN `pages` DROP DEFAULT;")
    assert "CREATE TRIGGER" not in plan

    _, collected = apply([OnlineAlterTable("item", nullable_field() + add_index())], initial_state(),
                         collect_sql=True)
    plan = "\n".join(collected)
    assert "-- Path: online copy (Django runs 'CREATE INDEX `opstest_qty_idx`" in plan
    assert "CREATE TRIGGER" in plan
    assert sql.schema() == schema, "the probes are gone, nothing changed"


@pytest.mark.parametrize("change, instantly", [
    (nullable_field, True),
    (lambda: [dj.AlterField("item", "parent", models.ForeignKey("parent", models.CASCADE, null=True,
                                                                 db_constraint=True, db_column="parent_ref"))], False),
], ids=["new column", "foreign key column"])
def test_a_table_with_foreign_keys_of_its_own_changes_instantly_unless_they_are_touched(sql, change, instantly):
    """The empty copies the change is tried on lack the table's foreign keys: a change of a
    column of one, or of a constraint, is copied; a change elsewhere is made in place (the
    child tables are usually the big ones: an events table pointing at its users)."""
    state = initial_state()
    state.add_model(ModelState(APP, "Parent", [("id", models.BigAutoField(primary_key=True))]))
    state.models[APP, "item"].fields["parent"] = models.ForeignKey("parent", models.CASCADE, null=True)
    with connections["default"].schema_editor() as editor:
        editor.create_model(state.apps.get_model(APP, "Parent"))
    create_table(state, rows=10)
    before = table_id(sql)
    try:
        apply([OnlineAlterTable("item", change())], state)
        assert (table_id(sql) == before) == instantly
        assert "REFERENCES `opstest_parent` (`id`)" in show_create(sql)
    finally:
        drop(sql)
        sql("DROP TABLE `opstest_parent`")


def test_a_table_other_tables_reference_changes_instantly_and_keeps_them(sql):
    """Its children's foreign keys are no reason to copy: a new column on `orders` while
    `order_items` point at it is the most common change of a big table. They stay as they were."""
    create_table(initial_state(), rows=10)
    sql(f"CREATE TABLE `opstest_child` (`id` int PRIMARY KEY, `item_id` bigint, CONSTRAINT `opstest_child_item`"
        f" FOREIGN KEY (`item_id`) REFERENCES `{TABLE}` (`id`) ON DELETE CASCADE)")
    sql(f"INSERT INTO `opstest_child` SELECT id, id FROM `{TABLE}`")
    before = table_id(sql)
    try:
        apply([OnlineAlterTable("item", nullable_field())], initial_state())
        assert table_id(sql) == before, "copied"
        assert "REFERENCES `opstest_item` (`id`) ON DELETE CASCADE" in sql("SHOW CREATE TABLE `opstest_child`")[0][1]
        with pytest.raises(Exception) as error:
            sql("INSERT INTO `opstest_child` VALUES (99, 999999)")
        assert error.value.args[0] == 1452
        sql(f"DELETE FROM `{TABLE}` WHERE id = 1")
        assert sql.value("SELECT COUNT(*) FROM `opstest_child`") == 9
    finally:
        sql("DROP TABLE `opstest_child`")
        drop(sql)
