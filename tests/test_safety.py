"""What keeps a run safe on a busy server: one run per table, other people's DDL noticed,
metadata locks waited for without stalling the application, chunks sized by time."""

import re
import threading
import time
from unittest import mock

import pytest

from online_migrations import (
    OnlineMigrationError, abort_migration, change_table, engine, finish_migration, restart_copy,
)
from online_migrations.chunker import ChunkSizer, written_recently
from online_migrations.describe import show_create_table
from online_migrations.run_lock import lock_name
from online_migrations.session import Session

from .concurrency import HeldMetadataLock
from .conftest import Sql, connect
from .tables import KEY_SHAPES, fill

SHAPE = KEY_SHAPES["auto_increment"]


def migrate(table, **options):
    change_table("default", table, SHAPE.dest_sql(table), [], SHAPE.origin_columns(), SHAPE.dest_columns(),
                 renames={"name": "title"}, **options)


def later(seconds, action):
    """Run `action` on another connection after `seconds`, like someone else would."""
    def run():
        time.sleep(seconds)
        other = Sql()
        action(other)
        other.conn.close()
    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def test_a_second_run_on_the_same_table_is_refused(sql):
    sql(SHAPE.origin_sql("t"))
    database = sql.value("SELECT DATABASE()")
    other = Sql()
    assert other.value("SELECT GET_LOCK(%s, 0)", [lock_name(database, "t")]) == 1
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match="Another online migration of `t` is running"):
        migrate("t")
    assert sql.schema() == before
    other.conn.close()  # a dead run's lock goes with its connection, once the server sees it gone
    deadline = time.monotonic() + 10
    while not sql.value("SELECT IS_FREE_LOCK(%s)", [lock_name(database, "t")]):
        assert time.monotonic() < deadline
        time.sleep(0.01)
    migrate("t")


def assert_thrown_away(sql):
    """The run is gone, and the application writes to the table again: triggers that named a
    dropped column failed every insert ("Unknown column 'note' in 'NEW'") until someone aborted."""
    assert "_t_new" not in sql.tables() and not sql.triggers()
    assert sql.value("SELECT state FROM online_migrations_run ORDER BY id DESC LIMIT 1") == "aborted"
    sql("INSERT INTO `t` (`name`) VALUES ('written after')")


@pytest.mark.parametrize(
    "change, message",
    [
        ("ALTER TABLE `t` ADD COLUMN `sneaky` int", "`t` was altered by someone else"),
        ("ALTER TABLE `t` DROP COLUMN `note`", "`t` was altered by someone else"),
        ("DROP TRIGGER `_t_upd`", "were dropped by someone else"),
    ],
)
def test_someone_elses_ddl_during_the_copy_throws_the_run_away(sql, change, message):
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 2000)

    def once_copying(other):
        while not other.value("SELECT COUNT(*) FROM online_migrations_run WHERE rows_copied > 100"):
            time.sleep(0.01)
        other(change)

    later(0, once_copying)
    with pytest.raises(OnlineMigrationError, match=message + ".* The run was thrown away at once"):
        migrate("t", chunk_size=20, chunk_time=0, throttle=0.01, progress_interval=0)
    assert_thrown_away(sql)


@pytest.mark.parametrize("change", ["ALTER TABLE `t` ADD COLUMN `sneaky` int", "ALTER TABLE `t` ADD INDEX (`amount`)",
                                    "ALTER TABLE `t` DROP COLUMN `note`"])
def test_someone_elses_ddl_between_run_and_rename_throws_the_run_away(sql, change):
    """`rename` runs in another process than the copy: it compares the original table with the
    definition the run recorded, or the swap would drop the new column with the old table."""
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 200)
    migrate("t")
    sql(change)
    with pytest.raises(OnlineMigrationError, match="`t` was altered by someone else .* the tables were not swapped"):
        finish_migration("default", "t")
    assert_thrown_away(sql)


def test_someone_elses_ddl_while_a_run_is_interrupted_throws_it_away_as_it_resumes(sql):
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 200)
    migrate("t", limit=100)
    sql("ALTER TABLE `t` DROP COLUMN `note`")
    with pytest.raises(OnlineMigrationError, match="`t` was altered by someone else .* thrown away at once"):
        restart_copy("default", "t", SHAPE.origin_columns(), SHAPE.dest_columns(), renames={"name": "title"})
    assert_thrown_away(sql)


def test_a_transaction_that_keeps_the_copy_waiting_too_long_is_named(sql, caplog):
    """An application transaction that writes a row and stays open holds locks the copy needs
    (the row, and in REPEATABLE READ the gap the triggers' UPDATE looked for it in the new
    table): the copy stopped with a bare "Lock wait timeout exceeded" after its retries."""
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 500)
    holder = connect()
    holder.autocommit(False)
    real, locked = engine.copy_chunk, []

    def copy_chunk(*args, **kwargs):
        if not locked:  # once the triggers are in
            holder.cursor().execute("UPDATE `t` SET `amount` = 1 WHERE `id` = 250")
            locked.append(250)
        return real(*args, **kwargs)

    try:
        with mock.patch.object(engine, "copy_chunk", copy_chunk), pytest.raises(OnlineMigrationError) as error:
            migrate("t", chunk_size=100, copy_retries=1)
    finally:
        holder.rollback()
        holder.close()
    message = str(error.value)
    for expected in ["Copying `t` stopped: the chunk of keys", "waited for locks the application's transactions hold",
                     "2 times", "Nothing is lost", "copy_retries"]:
        assert expected in message, message
    assert re.search(r"has had a transaction open for \d+s .* if it touched the table, the copy waits for it",
                     caplog.text), caplog.text
    abort_migration("default", "t")


def test_ddl_waits_for_a_long_transaction_without_stalling_the_application(sql, caplog):
    """A transaction that has read the table holds its metadata lock; our CREATE TRIGGER
    waits for it at most a second at a time, so the application's queries, which queue behind
    a waiting DDL, get through in between."""
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 100)
    with HeldMetadataLock("t", "UPDATE `t` SET amount = amount + 1 WHERE id = 1") as held:
        migrate("t")
    assert held.elapsed >= 2.5, "the DDL must have waited for the transaction"
    assert "has had a transaction open" in caplog.text
    assert "waiting for a metadata lock" in caplog.text or "Lock wait timeout" in caplog.text
    assert len(held.while_held()) > 20, "the application's queries kept flowing while we waited"
    assert max(held.while_held()) < 1.6, f"an application query waited {max(held.while_held()):.2f}s behind our DDL"
    finish_migration("default", "t")


def test_a_metadata_lock_never_obtained_stops_the_setup_or_the_swap_clearly(sql, caplog):
    """A transaction that keeps the table open for longer than all the tries: the run stopped
    with the server's bare 1205 after minutes of them, at the setup or at the swap."""
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 100)
    before = sql.schema()
    holder = Sql()
    holder.conn.autocommit(False)
    holder("SELECT COUNT(*) FROM `t`")
    try:
        with pytest.raises(OnlineMigrationError, match="metadata lock 2 times .* never got it; nothing was changed"):
            migrate("t", ddl_retries=1)
        assert "has had a transaction open" in caplog.text, "the holder is named"
        holder.conn.rollback()
        assert sql.schema() == before
        migrate("t")
        holder("SELECT COUNT(*) FROM `t`")
        with pytest.raises(OnlineMigrationError, match="the swap waited .* never got it .* were not swapped"):
            finish_migration("default", "t", ddl_retries=1)
    finally:
        holder.conn.rollback()
        holder.conn.close()
    finish_migration("default", "t")  # once the transaction has ended
    assert "`title`" in show_create_table(sql.conn.cursor(), "t")


def test_chunk_sizes_follow_the_target_time_without_swinging():
    sizer = ChunkSizer(1000, 0.5)
    sizer.record(1000, 0.05)  # 20k rows/s: wants 10k, may only double
    assert sizer.size == 2000
    for _ in range(10):
        sizer.record(sizer.size, sizer.size / 20_000)
    assert 9_000 <= sizer.size <= 10_000
    sizer.record(sizer.size, 30.0)  # one stall: halves at most
    assert sizer.size >= 4_500
    fixed = ChunkSizer(1000, 0)
    fixed.record(1000, 10)
    assert fixed.size == 1000


def test_chunks_are_short_at_once_while_the_application_writes_and_grow_back_slowly():
    sizer = ChunkSizer(10_000, 0.5, busy_seconds=0.05)
    sizer.record(10_000, 0.5)  # 20k rows/s, calm: 10k rows take the 0.5 s wanted
    assert sizer.size == 10_000
    sizer.record(10_000, 0.5, busy=True)  # the application writes: 1k rows (0.05 s) at once
    assert sizer.busy and sizer.size == 1_000
    sizer.record(1_000, 0.05, busy=True)
    assert sizer.size == 1_000
    sizer.record(1_000, 0.05, busy=False)  # calm again: back to 10k, doubling at most
    assert not sizer.busy and sizer.size == 2_000
    always_long = ChunkSizer(10_000, 0.5, busy_seconds=0)
    always_long.record(10_000, 0.5, busy=True)
    assert not always_long.busy and always_long.size == 10_000


def test_writes_to_the_table_are_seen_for_a_while(sql):
    sql("CREATE TABLE `t_quiet` (id int PRIMARY KEY)")
    sql("CREATE TABLE `t_written` (id int PRIMARY KEY)")
    session = Session("default", lock_wait_timeout=5)
    try:
        sql("INSERT INTO `t_written` VALUES (1)")
        assert written_recently(session, "t_written")
        assert not written_recently(session, "t_quiet")
        time.sleep(2.1)
        assert not written_recently(session, "t_written", seconds=1)
    finally:
        session.connection.close()
