"""The engine against a real server, while other connections insert, update and delete."""

import datetime
import time

import pytest

from online_migrations import abort_migration, change_table, finish_migration, restart_copy
from online_migrations.sql import quote_name

from .concurrency import Spec, Writers, assert_same_data
from .tables import KEY_SHAPES, fill

INDEX = "CREATE INDEX `amount_idx` ON `{table}` (`amount`)"
RENAMES = {"name": "title"}


def wait_for(condition, timeout=30.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.01)


def mapped(shape):
    """(new table columns, control table columns) holding the same data after the change."""
    keys = shape.key_columns()
    return keys + ["title", "amount", "blob"], keys + ["name", "amount", "blob"]


def migrate(shape, table, **options):
    change_table(
        "default", table, shape.dest_sql(table), [INDEX.format(table=table)],
        shape.origin_columns(), shape.dest_columns(), renames=RENAMES, **options,
    )


@pytest.mark.parametrize("kind", list(KEY_SHAPES))
def test_copy_loses_nothing_under_concurrent_writes(sql, kind, caplog):
    caplog.set_level("INFO", logger="online_migrations")
    shape, table = KEY_SHAPES[kind], f"t_{kind}"
    sql(shape.origin_sql(table))
    spec = shape.spec(table)
    fill(sql, spec, 3000)
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    with writers:
        wait_for(lambda: writers.writes > 50)
        before = writers.writes
        migrate(shape, table, chunk_size=37, throttle=0.002, busy_statement_time=0.0005)
        during = writers.writes - before
        wait_for(lambda: writers.writes > before + during + 50)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert during > 100, f"only {during} writes happened during the copy: the test proves little"
    assert writers.counts.key_updates and writers.counts.deletes and writers.counts.inserts
    assert "the application writes to the table: chunks of 0.05s, by statements of about 0.5 ms" in caplog.text
    finish_migration("default", table)
    assert_same_data(sql, table, *mapped(shape)[:1], spec.control, mapped(shape)[1])
    assert sql.triggers() == []
    assert not [t for t in sql.tables() if t.startswith("_")], "shadow or old table left behind"
    assert sql.value(f"SELECT COUNT(*) FROM `{table}` WHERE `added` = 7") == sql.value(f"SELECT COUNT(*) FROM `{table}`")


def test_swap_under_concurrent_writes(sql):
    """Writers that only touch columns both schemas share go on through the swap."""
    shape, table = KEY_SHAPES["auto_increment"], "t_swap"
    sql(shape.origin_sql(table))
    fill(sql, shape.spec(table), 2000)
    spec = shape.spec(table)
    spec.make_row = lambda rnd: {"amount": rnd.randrange(10**6), "blob": rnd.randbytes(8)}
    sql(f"ALTER TABLE `{table}` ALTER `name` SET DEFAULT ''")
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    dest = shape.dest_sql(table).replace("`title` varchar(64) NOT NULL", "`title` varchar(64) NOT NULL DEFAULT ''")
    with writers:
        change_table("default", table, dest, [], shape.origin_columns(), shape.dest_columns(),
                     renames=RENAMES, chunk_size=100)
        before = writers.writes
        finish_migration("default", table)
        wait_for(lambda: writers.writes > before + 100)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, table, ["id", "title", "amount", "blob"], spec.control, ["id", "name", "amount", "blob"])


def test_a_key_made_case_sensitive_loses_nothing_under_concurrent_writes(sql, caplog):
    """The string key sorts differently in the new table (utf8mb4_bin: 'Z' before 'a'), so
    the verification picks the new table's rows by the original's keys, and counts both
    tables at the end; all of it while writers insert, update, re-key and delete."""
    caplog.set_level("INFO", logger="online_migrations")
    shape, table = KEY_SHAPES["string"], "t_case"
    sql(shape.origin_sql(table))
    spec = shape.spec(table)
    fill(sql, spec, 3000)
    columns = shape.origin_columns()
    dest = shape.origin_sql(table) + " COLLATE=utf8mb4_bin"
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    # Until the swap: from then on the table tells 'y' from 'Y' and the control table does not,
    # so the same write can reach different rows in the two.
    with writers:
        wait_for(lambda: writers.writes > 50)
        change_table("default", table, dest, [], columns, columns, chunk_size=37, throttle=0.002)
    finish_migration("default", table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert writers.counts.key_updates and writers.counts.deletes and writers.counts.inserts
    assert "the key sorts differently in the new table" in caplog.text
    assert "verified: the new table holds the same rows" in caplog.text
    assert_same_data(sql, table, columns, spec.control, columns)


@pytest.mark.parametrize("before, after", [
    ("timestamp(3) NULL", "datetime(3) NULL"), ("datetime(3) NULL", "timestamp(3) NULL"),
    ("timestamp NULL", "varchar(40) NULL"), ("varchar(40) NULL", "timestamp NULL"),
], ids=["to_datetime", "to_timestamp", "timestamp_to_text", "text_to_timestamp"])
def test_a_timestamp_made_datetime_is_converted_in_the_runs_time_zone_whatever_the_writers_zone(
        sql, before, after, caplog):
    """The server converts to and from TIMESTAMP in the writing session's time zone: the
    copy's for the rows it copies, the application's (+05:00 here) for those the triggers
    write. Every row must come out as a plain ALTER TABLE in the server's zone would make it."""
    caplog.set_level("INFO", logger="online_migrations")
    table = "t_zone"
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, at {before})")
    sql(f"INSERT INTO {table} (at) SELECT '2026-01-01' + INTERVAL seq MINUTE FROM seq_1_to_3000")
    sql(f"INSERT INTO {table} (at) VALUES (NULL)")
    start = datetime.datetime(2026, 6, 1)
    spec = Spec(table, ("id",), lambda rnd: {"at": start + datetime.timedelta(seconds=rnd.randrange(10**7))},
                auto_key=True, session=("SET time_zone = '+05:00'",))
    writers = Writers(spec, threads=4)
    writers.prepare(sql)  # the control table keeps the original type: read here, in the run's zone
    for name in (table, spec.control):  # a zero date, which the writers do not know, stays zero
        sql(f"INSERT INTO {name} (id, at) VALUES (100000, '0000-00-00 00:00:00')")
    with writers:  # until the swap: from then on the application writes the new type itself
        wait_for(lambda: writers.writes > 50)
        change_table("default", table, f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, at {after})",
                     [], ["id", "at"], ["id", "at"], chunk_size=37, throttle=0.002)
    finish_migration("default", table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert writers.counts.inserts and writers.counts.updates
    assert "verified: the new table holds the same rows" in caplog.text
    if "varchar" not in before + after:  # text is left out of the verification, by name
        assert "`at` (" not in caplog.text
    assert_same_data(sql, table, ["id", "at"], spec.control, ["id", "at"])
    assert sql.value(f"SELECT CONCAT(at) FROM {table} WHERE id = 100000").startswith("0000-00-00 00:00:00")


def test_zero_dates_are_copied_and_forwarded_whatever_the_servers_sql_mode(sql):
    """A server whose sql_mode has NO_ZERO_DATE (MySQL 8's default, TRADITIONAL), and an
    application whose sessions drop it and write zero dates: the original holds them, and so
    must the new table. Our sessions and triggers ran under the server's mode: the copy
    stopped on the first zero date ("fix the data"), and every application write of one
    failed while the triggers were there."""
    table = "t_zero"
    sql("SET SESSION sql_mode = ''")
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, d datetime NOT NULL, e date NOT NULL)")
    sql(f"INSERT INTO {table} (d, e) SELECT IF(seq % 3, '2026-01-01', '0000-00-00'), IF(seq % 4, '2026-02-03',"
        " '2026-00-00') FROM seq_1_to_2000")
    spec = Spec(table, ("id",), lambda rnd: {"d": rnd.choice(["0000-00-00 00:00:00", "2026-05-06 07:08:09"]),
                                             "e": rnd.choice(["0000-00-00", "2026-07-00", "2026-07-08"])},
                auto_key=True, session=("SET SESSION sql_mode = ''",))
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    server_mode = sql.value("SELECT @@global.sql_mode")
    sql("SET GLOBAL sql_mode = 'TRADITIONAL'")
    try:
        with writers:
            wait_for(lambda: writers.writes > 50)
            change_table("default", table, f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                         " d datetime NOT NULL, e date NOT NULL, f int)", [], ["id", "d", "e"], ["id", "d", "e", "f"],
                         chunk_size=37, throttle=0.002)
            before_swap = writers.writes
            finish_migration("default", table)
            wait_for(lambda: writers.writes > before_swap + 100)
    finally:
        sql("SET GLOBAL sql_mode = %s", [server_mode])
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, table, ["id", "d", "e"], spec.control, ["id", "d", "e"])
    assert sql.value(f"SELECT COUNT(*) FROM {table} WHERE d = 0") > 500


def test_the_servers_sql_mode_changes_neither_our_statements_nor_the_data(sql):
    """A server whose sql_mode has ONLY_FULL_GROUP_BY (MySQL 8's default; it refused the
    GROUP BY that looks for duplicates of a new unique key), ANSI_QUOTES, PIPES_AS_CONCAT and
    NO_BACKSLASH_ESCAPES; and a row whose AUTO_INCREMENT key is 0, written under
    NO_AUTO_VALUE_ON_ZERO (as mysqldump restores one): the copy and the triggers gave it a new
    key, as a plain ALTER TABLE does without a word."""
    table = "t_modes"
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, code varchar(20) NOT NULL,"
        " note varchar(40) NULL)")
    sql(f"INSERT INTO {table} (code, note) SELECT CONCAT('c', seq), CONCAT('a\\\\b''c', seq) FROM seq_1_to_2000")
    sql("SET SESSION sql_mode = 'NO_AUTO_VALUE_ON_ZERO'")
    sql(f"INSERT INTO {table} VALUES (0, 'c0', 'zero')")
    spec = Spec(table, ("id",), lambda rnd: {"code": f"w{rnd.randrange(10**12)}",
                                             "note": rnd.choice(["x\\y'z", None, '"q"'])}, auto_key=True)
    writers = Writers(spec, threads=3)
    writers.prepare(sql)
    server_mode = sql.value("SELECT @@global.sql_mode")
    sql("SET GLOBAL sql_mode = 'ONLY_FULL_GROUP_BY,ANSI_QUOTES,PIPES_AS_CONCAT,NO_BACKSLASH_ESCAPES,"
        "STRICT_TRANS_TABLES'")
    try:
        with writers:
            wait_for(lambda: writers.writes > 50)
            change_table("default", table, f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY,"
                         " code varchar(30) NOT NULL, note varchar(60) NULL, UNIQUE KEY code (code))", [],
                         ["id", "code", "note"], ["id", "code", "note"], chunk_size=37, throttle=0.002)
            for name in (table, spec.control):  # the zero key, written again through the triggers
                sql(f"DELETE FROM {name} WHERE id = 0")
                sql(f"INSERT INTO {name} VALUES (0, 'c0', 'again')")
            writers.stop()
            finish_migration("default", table)
    finally:
        sql("SET GLOBAL sql_mode = %s", [server_mode])
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, table, ["id", "code", "note"], spec.control, ["id", "code", "note"])
    assert sql(f"SELECT note FROM {table} WHERE id = 0") == [("again",)]


def test_a_table_partitioned_by_date_keys_rows_by_id_and_date_and_loses_nothing(sql, caplog):
    """Partitioning by a date, the usual reason to rebuild a big table, needs the date in every
    unique key: the new table's PRIMARY KEY (id, created) has no key on `id` alone, which the
    run asked for. A key that starts with the original's serves the triggers and the copy."""
    caplog.set_level("INFO", logger="online_migrations")
    table = "t_dated"
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, created datetime NOT NULL, v int NOT NULL)")
    sql(f"INSERT INTO {table} (created, v) SELECT '2025-06-01' + INTERVAL seq * 97 MINUTE, seq FROM seq_1_to_5000")
    start = datetime.datetime(2025, 1, 1)
    spec = Spec(table, ("id",), lambda rnd: {"created": start + datetime.timedelta(minutes=rnd.randrange(10**6)),
                                             "v": rnd.randrange(1000)}, auto_key=True)
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    with writers:
        wait_for(lambda: writers.writes > 50)
        change_table("default", table, f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT, created datetime "
                     "NOT NULL, v int NOT NULL, PRIMARY KEY (id, created)) PARTITION BY RANGE COLUMNS (created) ("
                     "PARTITION p2025 VALUES LESS THAN ('2026-01-01'), PARTITION p2026 VALUES LESS THAN "
                     "('2027-01-01'), PARTITION later VALUES LESS THAN (MAXVALUE))", [], ["id", "created", "v"],
                     ["id", "created", "v"], chunk_size=37, throttle=0.002)
        finish_migration("default", table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert writers.counts.inserts and writers.counts.key_updates and writers.counts.deletes
    assert "verified: the new table holds the same rows" in caplog.text
    assert_same_data(sql, table, ["id", "created", "v"], spec.control, ["id", "created", "v"])
    assert "PARTITION BY RANGE" in sql(f"SHOW CREATE TABLE {table}")[0][1]


def test_rows_changed_before_and_after_the_copy_reaches_them(sql):
    """Every trigger path, without timing luck: the copy stops half way (limit), rows on both
    sides of it are inserted, updated, re-keyed and deleted, then the copy goes on (start)."""
    shape, table = KEY_SHAPES["random_int"], "t_paths"
    sql(shape.origin_sql(table))
    sql(f"INSERT INTO `{table}` (id, name) VALUES (10, 'a'), (20, 'b'), (30, 'c'), (40, 'd'), (50, 'e'), (60, 'f')")
    migrate(shape, table, limit=30)
    shadow = f"_{table}_new"
    assert [r[0] for r in sql(f"SELECT id FROM `{shadow}` ORDER BY id")] == [10, 20, 30]
    sql(f"UPDATE `{table}` SET name = 'A' WHERE id = 10")          # copied row, key kept
    sql(f"UPDATE `{table}` SET name = 'E' WHERE id = 50")          # not yet copied: nothing to do
    sql(f"UPDATE `{table}` SET id = 25 WHERE id = 20")             # copied row moves behind the copy
    sql(f"UPDATE `{table}` SET id = 70 WHERE id = 30")             # copied row moves ahead of it
    sql(f"UPDATE `{table}` SET id = 5 WHERE id = 40")              # uncopied row moves behind it
    sql(f"DELETE FROM `{table}` WHERE id IN (10, 60)")             # one copied, one not
    sql(f"INSERT INTO `{table}` (id, name) VALUES (1, 'new low'), (100, 'new high')")
    assert sorted(sql(f"SELECT id, title FROM `{shadow}`")) == [(1, "new low"), (5, "d"), (25, "b"), (70, "c"), (100, "new high")]
    restart_copy("default", table, shape.origin_columns(), shape.dest_columns(), start=30, renames=RENAMES)
    finish_migration("default", table)
    assert sorted(sql(f"SELECT id, title FROM `{table}`")) == [
        (1, "new low"), (5, "d"), (25, "b"), (50, "E"), (70, "c"), (100, "new high")
    ]


def test_awkward_names_and_values(sql):
    """Reserved words, backticks, spaces, unicode and % in names (MySQLdb formats a statement
    with parameters whole, names too); NULLs, emoji and binary values."""
    table = "select`from %s order"
    q = quote_name(table)
    sql(f"CREATE TABLE {q} (`key``s` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `where` varchar(50) NULL,"
        " `na%me 名` text NULL, `bin` blob NULL) DEFAULT CHARSET=utf8mb4")
    rows = [("😀 '\"\\", "漢字 `x`", b"\x00\xff\x00'"), (None, None, None), ("", "", b"")]
    with sql.conn.cursor() as cursor:
        into = f"INSERT INTO {q} (`where`, `na%me 名`, `bin`)".replace("%", "%%")  # MySQLdb's escape
        cursor.executemany(into + " VALUES (%s, %s, %s)", rows * 50)
    dest = (f"CREATE TABLE {q} (`key``s` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `group` varchar(50) NULL,"
            " `na%me 名` text NULL, `bin` blob NULL, `order` int NULL) DEFAULT CHARSET=utf8mb4")
    sql(f"CREATE TABLE `control` LIKE {q}")
    sql(f"INSERT INTO `control` SELECT * FROM {q}")
    change_table("default", table, dest, [f"CREATE INDEX `i``x` ON {q} (`group`)"],
                 ["key`s", "where", "na%me 名", "bin"], ["key`s", "group", "na%me 名", "bin", "order"],
                 renames={"where": "group"}, chunk_size=7)
    sql(f"UPDATE {q} SET `where` = '🦄' WHERE `key``s` = 2")
    sql("UPDATE `control` SET `where` = '🦄' WHERE `key``s` = 2")
    finish_migration("default", table)
    assert_same_data(sql, table, ["key`s", "group", "na%me 名", "bin"], "control", ["key`s", "where", "na%me 名", "bin"])


def test_long_table_names_get_short_unique_shadow_names(sql):
    table = "t" * 60 + "_one"
    shape = KEY_SHAPES["auto_increment"]
    sql(shape.origin_sql(table))
    fill(sql, shape.spec(table), 100)
    migrate(shape, table, limit=50)
    leftovers = [t for t in sql.tables() if t.startswith("_")]
    assert len(leftovers) == 1 and len(leftovers[0]) <= 64
    assert all(len(name) <= 64 for name in sql.triggers())
    restart_copy("default", table, shape.origin_columns(), shape.dest_columns(), start=50, renames=RENAMES)
    finish_migration("default", table)
    assert table in sql.tables() and sql.value(f"SELECT COUNT(*) FROM `{table}`") == 100


def test_keep_old_table_and_auto_increment_carried_over(sql):
    shape, table = KEY_SHAPES["auto_increment"], "t_keep"
    sql(shape.origin_sql(table))
    fill(sql, shape.spec(table), 100)
    sql(f"DELETE FROM `{table}` WHERE id > 90")
    migrate(shape, table)
    finish_migration("default", table, keep_old_table=True)
    assert "_t_keep_old" in sql.tables()
    sql(f"INSERT INTO `{table}` (title) VALUES ('next')")
    assert sql.value(f"SELECT MAX(id) FROM `{table}`") == 101, "ids of deleted rows must not be handed out again"


def test_abort_leaves_the_table_as_it_was(sql):
    shape, table = KEY_SHAPES["composite"], "t_abort"
    sql(shape.origin_sql(table))
    fill(sql, shape.spec(table), 300)
    before = sql.schema()
    checksum = sql(f"CHECKSUM TABLE `{table}`")
    migrate(shape, table, limit=(10, "m"))
    assert sql.schema() != before
    abort_migration("default", table)
    assert sql.schema() == before
    assert sql(f"CHECKSUM TABLE `{table}`") == checksum


def test_plain_secondary_indexes_are_built_after_the_copy(sql, caplog):
    """Deferred to one build at the end, and the table comes out as if created directly."""
    caplog.set_level("INFO", logger="online_migrations")
    shape, table = KEY_SHAPES["auto_increment"], "t_idx"
    sql(shape.origin_sql(table))
    fill(sql, shape.spec(table), 500)
    indexes = [f"CREATE INDEX `b_idx` ON `{table}` (`blob`(8), `added` DESC)",
               f"CREATE UNIQUE INDEX `u_idx` ON `{table}` (`title`, `id`)",
               f"CREATE INDEX `a_idx` ON `{table}` (`amount`) COMMENT 'it''s for sums'"]
    change_table("default", table, shape.dest_sql(table), indexes, shape.origin_columns(), shape.dest_columns(),
                 renames=RENAMES, chunk_size=100, chunk_time=0)
    assert "built the secondary indexes of `_t_idx_new`" in caplog.text
    finish_migration("default", table)
    sql(shape.dest_sql("expected"))
    for statement in indexes:
        sql(statement.replace(f"`{table}`", "`expected`"))
    def definition(name):
        return sql(f"SHOW CREATE TABLE `{name}`")[0][1].split("\n", 1)[1].split(") ENGINE")[0]
    assert definition(table) == definition("expected")


def test_only_plain_indexes_at_the_end_of_the_list_are_deferred(sql):
    from online_migrations.indexes import deferrable
    from online_migrations.plan import describe
    from online_migrations.session import Session

    sql("CREATE TABLE `parent` (`id` int PRIMARY KEY)")
    sql("CREATE TABLE `t` (`id` int PRIMARY KEY, `p` int, `a` int, `b` varchar(50), `c` int, `g` point NOT NULL,"
        " UNIQUE KEY `a_u` (`a`), KEY `p_a` (`p`, `a`), KEY `c_i` (`c`), FULLTEXT KEY `b_f` (`b`),"
        " KEY `a_c` (`a`, `c`), CONSTRAINT `fk` FOREIGN KEY (`p`) REFERENCES `parent` (`id`))")
    with Session("default", 1) as session:
        assert [index.name for index in deferrable(describe(session, "t"))] == ["c_i", "a_c"]


def test_a_write_the_new_table_cannot_hold_fails_instead_of_being_cut(sql):
    """The triggers run under a strict sql_mode whatever the application's session uses."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` VALUES (1, 'short')")
    change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` varchar(8))", [], ["id", "a"], ["id", "a"])
    sql("SET SESSION sql_mode = ''")
    with pytest.raises(Exception, match="Data too long for column 'a'"):
        sql("UPDATE `t` SET a = 'far too long for it' WHERE id = 1")
    assert sql("SELECT a FROM `t`") == [("short",)]
