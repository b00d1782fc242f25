"""Chunk bounds on a real server: scanned for any key, counted for dense integer keys."""

import pytest

from online_migrations.chunker import Chunker, Key
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
