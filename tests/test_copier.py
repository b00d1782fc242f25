"""One chunk's copy against a real server, with an application transaction in its way."""

import threading
import time
from contextlib import contextmanager

import pytest

from online_migrations.chunker import Chunk, Chunker, Key
from online_migrations.copier import (
    CAREFUL_COPIES, STATEMENT_SECONDS, CopyStatement, StatementCost, copy_chunk, takes_autoinc_lock,
)
from online_migrations.mapping import ColumnMapping
from online_migrations.session import Session

from .conftest import connect

TABLE = "t_copier"
SHADOW = "_t_copier_new"


@pytest.fixture
def tables(sql):
    for name in (TABLE, SHADOW):
        sql(f"CREATE TABLE `{name}` (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, name varchar(20) NOT NULL)")
    sql(f"INSERT INTO `{TABLE}` (name) SELECT CONCAT('row ', seq) FROM seq_1_to_100")
    session = Session("default", lock_wait_timeout=5)
    yield sql, session
    session.connection.close()


def statement(session):
    mapping = ColumnMapping((("id", "id"), ("name", "name")))
    return CopyStatement(TABLE, SHADOW, mapping, Key("PRIMARY", ("id",)), "PRIMARY", takes_autoinc_lock(session, SHADOW))


def autoinc_statement(session):
    """The statement, where its INSERT holds the AUTO-INC lock (innodb_autoinc_lock_mode below 2)."""
    copy = statement(session)
    if not copy.autoinc_lock:
        pytest.skip("the server runs with innodb_autoinc_lock_mode 2: the INSERT takes no AUTO-INC lock")
    return copy


def copying(session, copy, retries):
    """The first hundred rows copied on another thread; the rows it copied, once joined."""
    copied = []
    worker = threading.Thread(target=lambda: copied.append(copy_chunk(session, copy, Chunk(None, False, (100,)), retries)))
    worker.start()
    return worker, copied


def short_statements(copy, monkeypatch):
    """Busy chunks go by statements of 25 rows."""
    copy.cost.timed(25, 0.001)
    monkeypatch.setattr(copy.cost, "rows_per_statement", lambda: 25)


def watch_inserts(session, monkeypatch, before=lambda count: None):
    """The parameters of the INSERTs the session runs from now on; `before(n)` runs before
    the n-th."""
    inserts, execute = [], session.execute

    def watched(statement, params=None):
        if statement.startswith("INSERT"):
            inserts.append(params)
            before(len(inserts))
        return execute(statement, params)

    monkeypatch.setattr(session, "execute", watched)
    return inserts


@contextmanager
def keyed_copy(sql, table, key):
    """`table` and its shadow, with `key` (a column definition) as their primary key and an
    int `n`; a session of its own and the copy statement between them."""
    column = key.split()[0]
    for name in (table, f"_{table}_new"):
        sql(f"CREATE TABLE `{name}` ({key} NOT NULL PRIMARY KEY, n int NOT NULL)")
    session = Session("default", lock_wait_timeout=5)
    mapping = ColumnMapping(((column, column), ("n", "n")))
    try:
        yield session, CopyStatement(table, f"_{table}_new", mapping, Key("PRIMARY", (column,)), "PRIMARY")
    finally:
        session.connection.close()


def test_a_chunk_that_meets_a_lock_waits_for_it_then_copies_the_committed_row(tables):
    """Under innodb_autoinc_lock_mode 1 the optimistic NOWAIT copy gives up on the locked row
    and the chunk is copied again with its locks taken first; the copy carries the row as the
    application committed it, and the next chunks go the careful way at once."""
    sql, session = tables
    copy = autoinc_statement(session)
    app = connect()
    app.autocommit(False)
    app.cursor().execute(f"UPDATE `{TABLE}` SET name = 'changed' WHERE id = 50")
    worker, copied = copying(session, copy, 3)
    time.sleep(0.3)
    assert worker.is_alive(), "the chunk did not wait for the application's lock"
    app.commit()
    app.close()
    worker.join(10)
    assert copied == [100]
    assert sql.value(f"SELECT name FROM `{SHADOW}` WHERE id = 50") == "changed"
    assert sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`") == 100
    assert copy.careful == CAREFUL_COPIES


def test_a_careful_chunk_waits_for_a_gap_the_application_holds_without_the_auto_inc_lock(tables):
    """In REPEATABLE READ the application's trigger UPDATE (or DELETE) of a row not copied yet
    locks the gap in the new table where the copy goes next. A careful chunk that waited for
    it held the AUTO-INC lock meanwhile, and the application's next insert, which needs that
    lock, deadlocked with it: the application was the victim (40% of the transactions that
    update a row, then insert one, measured by hand). The chunk now copies its last row
    first, alone: it waits for the gap before it takes the AUTO-INC lock."""
    sql, session = tables
    copy = autoinc_statement(session)
    copy.careful = CAREFUL_COPIES
    sql(f"INSERT INTO `{SHADOW}` SELECT * FROM `{TABLE}` WHERE id = 60")  # a row the triggers wrote ahead
    app = connect()
    app.cursor().execute("SET SESSION TRANSACTION ISOLATION LEVEL REPEATABLE READ")
    app.autocommit(False)
    # No such row yet: locks the gap above row 60, which the chunk reaches holding the AUTO-INC lock.
    app.cursor().execute(f"UPDATE `{SHADOW}` SET name = 'x' WHERE id = 80")
    worker, copied = copying(session, copy, 20)
    time.sleep(0.3)
    app.cursor().execute(f"INSERT INTO `{SHADOW}` (id, name) VALUES (1000, 'inserted meanwhile')")
    app.commit()
    app.close()
    worker.join(30)
    assert copied == [100]
    assert sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`") == 101


def test_an_uncontended_chunk_copies_in_one_go(tables):
    sql, session = tables
    copy = statement(session)
    assert copy_chunk(session, copy, Chunk((10,), False, (60,)), 3) == 50
    assert sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`") == 50
    assert copy.careful == 0


@pytest.mark.parametrize("autoinc_lock", [True, False])
def test_while_the_application_writes_a_chunk_is_copied_by_short_statements_each_committed(
    tables, monkeypatch, autoinc_lock,
):
    """The application's writes wait for the share locks of the chunk's rows, and under
    innodb_autoinc_lock_mode 1 each of its inserts for the AUTO-INC lock of the INSERT ...
    SELECT running: a busy chunk is cut into statements of STATEMENT_SECONDS each, by the rows
    per second the statements took so far (here 25 rows a statement), and each commits on its
    own: the rows of the first are the application's to see (and their locks released) before
    the chunk ends."""
    sql, session = tables
    copy = autoinc_statement(session) if autoinc_lock else statement(session)
    copy.autoinc_lock = autoinc_lock
    short_statements(copy, monkeypatch)
    seen = []
    inserts = watch_inserts(
        session, monkeypatch, lambda count: count == 2 and seen.append(sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`")),
    )
    assert copy_chunk(session, copy, Chunk((0,), False, (100,)), 3, busy=True) == 100
    assert len(inserts) == 4
    assert seen == [25]
    assert sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`") == 100
    inserts.clear()
    copy_chunk(session, copy, Chunk((100,), False, (200,)), 3)
    assert len(inserts) == 1


def test_a_busy_chunk_stopped_halfway_is_copied_again_whole(tables, monkeypatch):
    """Its first statements stay committed when the run dies after them (the checkpoint holds
    the chunk before); the resumed run copies the whole chunk again, keeping what the
    application (through the triggers) changed there meanwhile."""
    sql, session = tables
    copy = statement(session)
    short_statements(copy, monkeypatch)
    execute = session.execute

    def dying(count):
        if count == 3:
            raise ConnectionError("the run died")

    watch_inserts(session, monkeypatch, dying)
    with pytest.raises(ConnectionError):
        copy_chunk(session, copy, Chunk((0,), False, (100,)), 3, busy=True)
    assert session.connection.get_autocommit()  # the run's next statements (its checkpoint) commit on their own
    assert sql.value(f"SELECT COUNT(*) FROM `{SHADOW}`") == 50
    for table in (TABLE, SHADOW):  # what the application and its triggers did meanwhile
        sql(f"UPDATE `{table}` SET name = 'newer' WHERE id = 10")
        sql(f"DELETE FROM `{table}` WHERE id = 20")
    monkeypatch.setattr(session, "execute", execute)
    assert copy_chunk(session, copy, Chunk((0,), False, (100,)), 3, busy=True) == 99
    assert session.connection.get_autocommit()
    assert sql(f"SELECT * FROM `{SHADOW}` ORDER BY id") == sql(f"SELECT * FROM `{TABLE}` ORDER BY id")
    assert sql.value(f"SELECT name FROM `{SHADOW}` WHERE id = 10") == "newer"


def test_the_statements_of_a_busy_chunk_follow_the_time_they_take():
    """Sized by rows, not by a count: a chunk cut into a fixed number of statements shrank with
    the commits' cost (the chunk's time includes them) until each statement copied a few rows.
    The sizes alternate a third below and above the wanted one, for StatementCost's fit."""
    cost = StatementCost()
    assert cost.rows_per_statement() is None  # nothing timed yet: the chunk goes whole
    cost.timed(5000, 0.05)  # 100,000 rows/s: 100 rows in STATEMENT_SECONDS
    assert [cost.rows_per_statement() for _ in range(4)] == [133, 67, 133, 67]
    cost.timed(0, 0.001)  # a stretch of deleted rows: not a slower server
    assert cost.fit() == (0.0, 1e-5)


def test_the_time_a_statement_should_take_is_busy_statement_time():
    cost = StatementCost(seconds=0.0005)
    cost.timed(5000, 0.05)  # 100,000 rows/s: 50 rows in 0.5 ms
    assert [cost.rows_per_statement() for _ in range(2)] == [67, 33]


def test_statements_do_not_shrink_to_nothing_when_their_fixed_cost_nears_the_time_wanted():
    """Each statement takes 0.9 ms whatever its rows, and 3 µs a row. Sized by rows per
    second alone they shrank toward the 33 rows (0.1 ms of rows) that fit beside the fixed
    part (on a slow day of the benchmark, ~17 rows and a copy 10 times slower); sized by the
    fit, they take as many rows as the fixed part is worth."""
    cost = StatementCost()
    cost.timed(15_000, 0.0009 + 15_000 * 3e-6)  # a first chunk copied whole
    sizes = []
    for _ in range(200):
        rows = cost.rows_per_statement()
        sizes.append(rows)
        cost.timed(rows, 0.0009 + rows * 3e-6)
    fixed, per_row = cost.fit()
    assert fixed == pytest.approx(0.0009) and per_row == pytest.approx(3e-6)
    assert sum(sizes[-20:]) / 20 == pytest.approx(300, rel=0.02)


def test_a_statement_grows_at_most_threefold_however_cheap_the_fit_makes_rows():
    """Two statements that took the same time whatever their rows (a noisy moment) fit a part
    per row near nothing: followed, the next statement would take a whole chunk's rows, which
    the application's writes would wait for."""
    cost = StatementCost()
    cost.timed(100, 0.001)
    cost.timed(200, 0.001 + 1e-9)
    fixed, per_row = cost.fit()
    assert STATEMENT_SECONDS / per_row > 100_000
    assert cost.rows_per_statement() == 600
    cost.timed(600, 0.003)  # timed at its size, the fit comes back
    assert cost.rows_per_statement() < 600


def test_a_busy_chunk_of_a_string_key_is_cut_too(sql, monkeypatch):
    """The statements' bounds are found as the chunks' are, whatever the key."""
    with keyed_copy(sql, "t_copier_s", "code varchar(10)") as (session, copy):
        sql("INSERT INTO `t_copier_s` SELECT CONCAT('k', LPAD(seq, 3, '0')), seq FROM seq_0_to_99")
        short_statements(copy, monkeypatch)
        inserts = watch_inserts(session, monkeypatch)
        assert copy_chunk(session, copy, Chunk(None, False, ("k099",)), 3, busy=True) == 100
    assert len(inserts) == 4
    assert sql.value("SELECT COUNT(*) FROM `_t_copier_s_new`") == 100


def test_a_busy_chunk_of_a_sparse_integer_key_is_cut_by_its_rows(sql, monkeypatch):
    """Where the walk of the whole table found the key too sparse to count in, so are the
    chunk's statements: a part of the key range cannot be judged by the table's row estimate
    (here 5,000 rows in the first 5,000 values, then one per hundred values), and cut by 25
    values a statement, the chunk's 100 rows took some 400 statements of a row or none."""
    with keyed_copy(sql, "t_copier_sparse", "id int") as (session, copy):
        sql("INSERT INTO `t_copier_sparse` SELECT seq, seq FROM seq_1_to_5000")
        sql("INSERT INTO `t_copier_sparse` SELECT 10000 + 100 * seq, seq FROM seq_0_to_99")
        sql("ANALYZE TABLE `t_copier_sparse`")
        assert not Chunker(session, "t_copier_sparse", copy.key).dense
        short_statements(copy, monkeypatch)
        inserts = watch_inserts(session, monkeypatch)
        assert copy_chunk(session, copy, Chunk((9999,), False, (19900,)), 3, busy=True) == 100
    assert len(inserts) == 4
