"""Chunk bounds on a real server: scanned for any key, counted for dense integer keys; and the
first chunk's size on a table of wide rows."""

from unittest import mock

import pytest

from online_migrations import change_table, engine, finish_migration
from online_migrations.chunker import Chunker, Key, first_chunk_rows
from online_migrations.session import Session

PRIMARY = Key("PRIMARY", ("id",))


@pytest.fixture
def session(sql):
    session = Session("default", lock_wait_timeout=5)
    queries = []
    rows = session.rows
    session.rows = lambda statement, params=None: queries.append(statement) or rows(statement, params)
    session.queries = queries
    yield session
    session.connection.close()


def table(sql, name, ids):
    sql(f"CREATE TABLE `{name}` (id bigint NOT NULL PRIMARY KEY, v int)")
    sql(f"INSERT INTO `{name}` (id) VALUES " + ", ".join(f"({i})" for i in ids))
    sql(f"ANALYZE TABLE `{name}`")


def walk(session, name, size, **bounds):
    chunker = Chunker(session, name, PRIMARY, **bounds)
    session.queries.clear()
    chunks = list(iter(lambda: chunker.next(size), None))
    return chunks, len(session.queries)


def rows_in(sql, name, chunk):
    where, params = chunk.condition(["id"])
    return [r[0] for r in sql(f"SELECT id FROM `{name}` WHERE {where} ORDER BY id", params)]


def test_a_dense_key_is_walked_by_counting_without_a_query(sql, session):
    """Gaps make chunks smaller, never bigger, and every row is in exactly one chunk."""
    ids = [i for i in range(1, 1001) if i % 7]  # one value in seven missing: dense
    table(sql, "t_dense", ids)
    chunks, queries = walk(session, "t_dense", 100)
    assert queries == 0
    assert [c.upper for c in chunks[:3]] == [(100,), (200,), (300,)]
    assert chunks[-1].upper == (1000,)
    sizes = [len(rows_in(sql, "t_dense", c)) for c in chunks]
    assert max(sizes) <= 100 and sum(sizes) == len(ids)


def test_a_resumed_walk_counts_from_where_it_stopped(sql, session):
    table(sql, "t_resume", range(1, 1001))
    chunks, _ = walk(session, "t_resume", 300, after=(450,))
    assert [(c.lower, c.upper) for c in chunks] == [((450,), (750,)), ((750,), (1000,))]
    chunks, _ = walk(session, "t_resume", 300, start=(450,), limit=(800,))
    assert [(c.lower, c.lower_inclusive, c.upper) for c in chunks] == [((450,), True, (749,)), ((749,), False, (800,))]


def test_a_sparse_key_is_walked_row_by_row_count(sql, session):
    ids = list(range(10, 10_001, 10))  # one value in ten used
    table(sql, "t_sparse", ids)
    chunks, queries = walk(session, "t_sparse", 100)
    assert queries == len(chunks)
    assert [len(rows_in(sql, "t_sparse", c)) for c in chunks] == [100] * 10


def test_the_first_chunk_of_wide_rows_reads_tens_of_megabytes_not_gigabytes(sql, session, caplog):
    """2,000 rows of 64 KiB documents are 128 MiB: a first chunk of seconds (of a minute, for
    rows of a megabyte), its rows locked all along. The first chunk is held to 32 MiB by the
    server's average row length (TEXT stored off the page included); the sizes follow the
    copy's pace from there. A fixed chunk size (chunk_time 0) stays as chosen."""
    sql("CREATE TABLE `docs` (id int NOT NULL PRIMARY KEY, body longtext NOT NULL)")
    sql("INSERT INTO `docs` SELECT seq, REPEAT(MD5(seq), 2048) FROM seq_1_to_1000")
    sql("ANALYZE TABLE `docs`")
    assert 400 <= first_chunk_rows(session, "docs", 2000) <= 600
    sql("CREATE TABLE `narrow` (id int NOT NULL PRIMARY KEY, v int)")
    sql("INSERT INTO `narrow` SELECT seq, seq FROM seq_1_to_1000")
    sql("ANALYZE TABLE `narrow`")
    assert first_chunk_rows(session, "narrow", 2000) == 2000
    # Without statistics yet (a table just filled, restored from a dump): by its files.
    sql("CREATE TABLE `fresh_docs` (id int NOT NULL PRIMARY KEY, body longtext NOT NULL) STATS_AUTO_RECALC=0")
    sql("INSERT INTO `fresh_docs` SELECT seq, REPEAT(MD5(seq), 2048) FROM seq_1_to_1000")
    assert 300 <= first_chunk_rows(session, "fresh_docs", 2000) <= 600

    copied = []
    real_copy_chunk = engine.copy_chunk
    with mock.patch.object(engine, "copy_chunk", lambda s, st, chunk, *a, **k: copied.append(chunk) or
                           real_copy_chunk(s, st, chunk, *a, **k)):
        change_table("default", "docs", "CREATE TABLE `docs` (id int NOT NULL PRIMARY KEY, body longtext NOT NULL, "
                     "n int)", [], ["id", "body"], ["id", "body", "n"])
    assert 400 <= copied[0].upper[0] <= 600
    finish_migration("default", "docs")
    assert sql.value("SELECT COUNT(*) FROM `docs`") == 1000
