"""Time zones on a private server whose system zone has daylight saving time (Europe/Berlin,
set by TZ): the one the application's sessions get, and the engine's (UTC) must not leak
into what the application sees."""

import datetime
import time
from typing import Iterator

import pytest

from online_migrations import change_table, finish_migration
from online_migrations.guard import report_long_transactions
from online_migrations.session import Session

from .concurrency import Spec, Writers, assert_same_data
from .conftest import Sql, connect
from .servers import private_alias

ALIAS, DATABASE = "om_private_berlin", "om_private"
# Berlin's clocks went back from 03:00 to 02:00 at 01:00 UTC: 02:00-03:00 came twice.
FALL_BACK = datetime.datetime(2026, 10, 25, 1, 0)


@pytest.fixture(scope="module")
def berlin(django_db_blocker) -> Iterator[None]:
    with private_alias(ALIAS, DATABASE, [], django_db_blocker, env={"TZ": "Europe/Berlin"}):
        yield


@pytest.fixture
def utc_sql(berlin) -> Iterator[Sql]:
    """The test's view of the private server, in UTC: every TIMESTAMP reads as one instant."""
    helper = Sql(ALIAS)
    helper("SET time_zone = '+00:00'")
    yield helper
    for (name,) in helper("SHOW TABLES"):
        if name not in ("online_migrations_run", "django_migrations"):
            helper(f"DROP TABLE `{name}`")
    helper.conn.close()


def test_a_timestamp_key_is_walked_through_the_hour_that_comes_twice(utc_sql):
    """A key read in Berlin time names the first and the second 02:30 alike, and a chunk
    bounded there took one for the other: the copy skipped an hour of rows (and the
    verification stopped the run after the whole copy)."""
    table = "readings"
    create = (f"CREATE TABLE {table} (device int NOT NULL, at timestamp NOT NULL, value int NOT NULL,"
              " PRIMARY KEY (device, at))")
    utc_sql(create)
    utc_sql(f"INSERT INTO {table} SELECT d.seq, %s + INTERVAL m.seq MINUTE, m.seq FROM seq_1_to_3 d, seq_0_to_299 m",
            [FALL_BACK - datetime.timedelta(hours=2)])
    spec = Spec(table, ("device", "at"), lambda rnd: {
        "device": rnd.randrange(1, 4), "at": FALL_BACK + datetime.timedelta(seconds=rnd.randrange(-7200, 7200)),
        "value": rnd.randrange(1000)}, session=("SET time_zone = '+00:00'",), alias=ALIAS)
    writers = Writers(spec, threads=3)
    writers.prepare(utc_sql)
    with writers:
        change_table(ALIAS, table, create.replace("value int NOT NULL", "value bigint NOT NULL"), [],
                     ["device", "at", "value"], ["device", "at", "value"], chunk_size=37, chunk_time=0,
                     throttle=0.002)
        assert writers.writes > 20
    finish_migration(ALIAS, table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert writers.counts.inserts and writers.counts.key_updates and writers.counts.deletes
    assert_same_data(utc_sql, table, ["device", "at", "value"], spec.control, ["device", "at", "value"])


def test_a_timestamp_default_means_what_it_says_in_the_applications_zone(utc_sql):
    """DEST_TABLE_SQL is the user's statement: its literals are read in the application's
    zone, as a plain ALTER TABLE of theirs would read them, not in the engine's UTC."""
    table = "events"
    utc_sql(f"CREATE TABLE {table} (id int NOT NULL PRIMARY KEY)")
    utc_sql(f"INSERT INTO {table} VALUES (1)")
    change_table(ALIAS, table, f"CREATE TABLE {table} (id int NOT NULL PRIMARY KEY, "
                 "at timestamp NOT NULL DEFAULT '2026-07-01 12:00:00')", [], ["id"], ["id", "at"])
    finish_migration(ALIAS, table)
    utc_sql(f"INSERT INTO {table} (id) VALUES (2)")
    assert utc_sql(f"SELECT CONCAT(at) FROM {table} ORDER BY id") == [("2026-07-01 10:00:00",)] * 2  # CEST


def test_a_stored_column_computed_from_a_timestamp_is_computed_in_the_applications_zone(utc_sql):
    """A stored generated column depends on the zone of the session that writes the row: the
    copy must compute it as the application (and a plain ALTER TABLE) would, in Berlin, not in
    the engine's UTC, which put rows written before 01:00 or 02:00 in Berlin on the day before."""
    table = "visits"
    utc_sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, at timestamp NOT NULL,"
            " day date AS (DATE(at)) STORED)")
    berlin_sql = Sql(ALIAS)  # the server's zone, as the application's sessions have it
    berlin_sql(f"INSERT INTO {table} (at) SELECT '2026-06-30 20:00:00' + INTERVAL seq * 7 MINUTE FROM seq_1_to_200")
    before = berlin_sql(f"SELECT id, day FROM {table} ORDER BY id")
    assert len({day for _, day in before}) == 2
    change_table(ALIAS, table, f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, at timestamp "
                 "NOT NULL, day date AS (DATE(at)) STORED, note varchar(20))", [], ["id", "at", "day"],
                 ["id", "at", "day", "note"],
                 chunk_size=37)
    finish_migration(ALIAS, table)
    assert berlin_sql(f"SELECT id, day FROM {table} ORDER BY id") == before


def test_the_age_of_an_open_transaction_is_told_in_any_zone(utc_sql, caplog):
    """The server shows when a transaction started in its system zone (Berlin), whatever the
    session's (our UTC): a transaction open for two seconds looked an hour younger."""
    caplog.set_level("WARNING", logger="online_migrations")
    utc_sql("CREATE TABLE t (id int PRIMARY KEY)")
    holder = connect(ALIAS)
    try:
        holder.autocommit(False)
        holder.cursor().execute("SELECT COUNT(*) FROM t")
        time.sleep(2)
        with Session(ALIAS, 1) as session:
            report_long_transactions(session, "t", 60)
            assert "has had a transaction open" not in caplog.text
            report_long_transactions(session, "t", 1)
        assert "has had a transaction open" in caplog.text
    finally:
        holder.close()
