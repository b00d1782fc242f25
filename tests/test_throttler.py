"""The throttler against real servers: a private primary and replica (tests/servers.py), so that
flooding connections and stopping replication disturb no other test run."""

import re
import threading
import time
from contextlib import contextmanager
from typing import Callable, Iterator

import pytest
from django.core.management import call_command
from django.db import connections

from online_migrations import OnlineMigrationError, change_table, finish_migration
from online_migrations.options import Options
from online_migrations.session import Session
from online_migrations.throttler import Throttler, default_critical_load, default_max_load

from .servers import (
    Pair, Server, add_alias, free_port, remove_alias, replication_chain, replication_pair, start_replication,
    start_server,
)

PRIMARY, REPLICA, DATABASE = "om_private_primary", "om_private_replica", "om_private"
# Aliases of servers started by one test: Django keeps a connection per alias, never reuse one.
CHAIN, MASTER_MASTER, PLAIN_USER = "om_private_chain", "om_private_master_master", "om_private_plain_user"
NO_TRIGGER_USER = "om_private_no_trigger_user"


@pytest.fixture(scope="module")
def replication() -> Iterator[Pair]:
    with replication_pair() as pair:
        pair.primary.sql(f"CREATE DATABASE {DATABASE}")
        pair.wait_caught_up()
        add_alias(PRIMARY, pair.primary, DATABASE)
        add_alias(REPLICA, pair.replica, DATABASE)
        try:
            yield pair
        finally:
            remove_alias(PRIMARY)
            remove_alias(REPLICA)


@pytest.fixture
def pair(replication: Pair) -> Iterator[Pair]:
    """The module's pair, with replication running again after each test whatever it did."""
    yield replication
    replication.replica.sql("START SLAVE")
    replication.wait_caught_up()


@pytest.fixture
def session(replication: Pair) -> Iterator[Session]:
    with Session(PRIMARY, 1) as session:
        yield session


def throttler(session: Session, **given) -> Throttler:
    options = dict(max_load=None, critical_load=None, max_lag=1.0, replicas=[], check_interval=0.1, table="t")
    return Throttler(session, **{**options, **given})


class Waiter(threading.Thread):
    """Runs a blocking call in the background and keeps its exception."""

    def __init__(self, call: Callable[[], None]):
        super().__init__(daemon=True)
        self.call = call
        self.error: BaseException | None = None

    def run(self) -> None:
        try:
            self.call()
        except BaseException as error:  # reported by the test
            self.error = error

    def finished_within(self, seconds: float) -> bool:
        self.join(seconds)
        return not self.is_alive()


@contextmanager
def busy_connections(server: Server, count: int, statement: str | None = None) -> Iterator[None]:
    """`count` more connections to `server`, each running `statement` (if any) in the background."""
    opened = [server.connect() for _ in range(count)]
    ids = [connection.thread_id() for connection in opened]
    runners = [Waiter(lambda c=c: c.cursor().execute(statement)) for c in opened] if statement else []
    for runner in runners:
        runner.start()
    try:
        yield
    finally:
        for thread_id in ids if runners else []:
            server.sql("KILL QUERY %s", [thread_id])
        for runner in runners:
            runner.join(10)
        for connection in opened:
            connection.close()


def status(server: Server, name: str) -> int:
    return int(server.sql("SHOW GLOBAL STATUS LIKE %s", [name])[0][1])


def test_options_take_thresholds_as_on_the_command_line():
    opts = Options.from_kwargs("t", max_load="Threads_running=25,Threads_connected=400", replicas="a,b")
    assert opts.max_load == "Threads_running=25,Threads_connected=400"
    for bad, message in [
        (dict(max_load="Threads_running"), "not a list of status variables with limits"),
        (dict(critical_load={"Threads_running": "many"}), "must be a number"),
        (dict(check_interval=0), "check_interval must be a number of seconds > 0"),
        (dict(busy_statement_time=0), "busy_statement_time must be a number of seconds > 0"),
        (dict(replicas=[3306]), "replicas must be a list"),
    ]:
        with pytest.raises(OnlineMigrationError, match=message):
            Options.from_kwargs("t", **bad)


def test_defaults_fit_a_small_and_a_big_server(session):
    idle = throttler(session)
    assert idle.max_load == {"Threads_running": 25.0}
    assert idle.critical_load == {"Threads_running": 50.0}
    # A 64-core primary that runs 40 threads all day pauses at 80 and stops at 160.
    assert default_max_load(40) == {"Threads_running": 80.0}
    assert default_critical_load(40, default_max_load(40)) == {"Threads_running": 160.0}
    # A user's own pause threshold keeps the default stop threshold above it.
    assert default_critical_load(1, {"Threads_running": 100}) == {"Threads_running": 200.0}


def test_unknown_status_variable_is_an_error(session):
    with pytest.raises(OnlineMigrationError, match="Threads_runing: no such status variable"):
        throttler(session, max_load={"Threads_runing": 25})


def test_max_load_pauses_then_resumes(session, replication, caplog):
    limit = status(replication.primary, "Threads_connected") + 5
    t = throttler(session, max_load=f"Threads_connected={limit}", critical_load="Threads_connected=1000")
    caplog.set_level("INFO", logger="online_migrations")
    with busy_connections(replication.primary, 10):
        waiter = Waiter(t.wait)
        waiter.start()
        assert not waiter.finished_within(1.5), "wait() returned while Threads_connected was above max_load"
    assert waiter.finished_within(5), "wait() did not return once the load was back under max_load"
    assert waiter.error is None
    assert t.throttled_seconds["load Threads_connected"] >= 1.5
    assert re.search(rf"copy paused: Threads_connected=\d+ is above max_load {limit}", caplog.text)
    assert "copy resumed" in caplog.text


def test_critical_load_stops_the_run(session, replication):
    t = throttler(session, max_load="Threads_running=100", critical_load="Threads_running=3")
    with busy_connections(replication.primary, 5, "SELECT SLEEP(5)"):
        deadline = time.monotonic() + 5
        while status(replication.primary, "Threads_running") < 6:
            assert time.monotonic() < deadline, "the sleeping queries did not start"
            time.sleep(0.05)
        with pytest.raises(OnlineMigrationError, match=r"Threads_running=\d+ is above critical_load 3") as error:
            t.wait()
    assert "can be resumed" in str(error.value)


def test_replica_lag_pauses_until_the_sql_thread_runs_again(session, pair, caplog):
    pair.replica.sql("STOP SLAVE SQL_THREAD")
    pair.primary.sql(f"CREATE TABLE {DATABASE}.lagging (id int PRIMARY KEY)")
    name = f"127.0.0.1:{pair.replica.port}"
    caplog.set_level("INFO", logger="online_migrations")
    with throttler(session, replicas=[f"mysql://root@{name}"], check_interval=0.2) as t:
        waiter = Waiter(t.wait)
        waiter.start()
        assert not waiter.finished_within(2), "wait() returned while the replica's SQL thread was stopped"
        # NULL Seconds_Behind_Master is "unknown", never 0.
        assert f"replica {name} lag is unknown: Slave_SQL_Running=No" in caplog.text
        pair.replica.sql("START SLAVE SQL_THREAD")
        assert waiter.finished_within(10), "wait() did not return once the replica caught up"
    assert waiter.error is None
    assert t.throttled_seconds[f"replica lag {name}"] >= 2


def test_lag_unknown_for_too_long_stops_the_run(session, pair):
    pair.replica.sql("STOP SLAVE SQL_THREAD")
    pair.primary.sql(f"CREATE TABLE {DATABASE}.unapplied (id int PRIMARY KEY)")
    with throttler(session, replicas=[REPLICA], unknown_lag_timeout=1) as t:
        with pytest.raises(OnlineMigrationError, match=rf"lag of replica {REPLICA} has been unknown") as error:
            t.wait()
    # The binlog positions sampled on the primary bound the lag even when the replica cannot say.
    assert re.search(r"Slave_SQL_Running=No \(at least [1-9][\d.]*s behind the primary's binlog\)", str(error.value))


def test_unreadable_replica_is_an_error(session, replication):
    with pytest.raises(OnlineMigrationError, match="cannot be read"):
        throttler(session, replicas=[f"mysql://root@127.0.0.1:{free_port()}"])
    with pytest.raises(OnlineMigrationError, match="is not a replica"):
        throttler(session, replicas=[f"mysql://root@127.0.0.1:{replication.primary.port}"])


def test_replicas_are_discovered_on_the_primary(session, replication):
    with throttler(session, replicas=None) as t:
        assert [r.name for r in t.replicas] == [f"127.0.0.1:{replication.replica.port}"]
        t.wait()


def test_replicas_of_replicas_are_discovered_and_watched(caplog):
    """The end of a chain lags by its source's lag and its own: a pause there pauses the copy."""
    with replication_chain(3) as (primary, middle, end):
        primary.sql(f"CREATE DATABASE {DATABASE}")
        add_alias(CHAIN, primary, DATABASE)
        try:
            end.sql("STOP SLAVE SQL_THREAD")
            primary.sql("CREATE DATABASE chained")
            caplog.set_level("INFO", logger="online_migrations")
            with Session(CHAIN, 1) as session, throttler(session, replicas=None, check_interval=0.2) as t:
                assert [r.name for r in t.replicas] == [f"127.0.0.1:{middle.port}", f"127.0.0.1:{end.port}"]
                waiter = Waiter(t.wait)
                waiter.start()
                assert not waiter.finished_within(1.5), "wait() returned while the chain's end was stopped"
                assert f"replica 127.0.0.1:{end.port} lag is unknown: Slave_SQL_Running=No" in caplog.text
                end.sql("START SLAVE SQL_THREAD")
                assert waiter.finished_within(10), "wait() did not return once the chain caught up"
            assert waiter.error is None
        finally:
            remove_alias(CHAIN)


def test_a_master_master_primary_is_not_its_own_replica(tmp_path):
    """Each of the two replicates the other: the primary shows up in its replica's SHOW SLAVE
    HOSTS (without an address: it sets no report_host), and is neither watched nor missed."""
    primary = start_server(tmp_path, "a", 1, ["--log-bin=a-bin", "--binlog-format=ROW"])
    other = start_server(tmp_path, "b", 2, ["--log-bin=b-bin", "--binlog-format=ROW", "--log-slave-updates",
                                            "--report-host=127.0.0.1", "--skip-slave-start"])
    try:
        start_replication(primary, other)
        start_replication(other, primary)
        primary.sql(f"CREATE DATABASE {DATABASE}")
        add_alias(MASTER_MASTER, primary, DATABASE)
        with Session(MASTER_MASTER, 1) as session, throttler(session, replicas=None) as t:
            assert [r.name for r in t.replicas] == [f"127.0.0.1:{other.port}"]
    finally:
        remove_alias(MASTER_MASTER)
        other.stop()
        primary.stop()


def test_no_replica_on_a_server_without_binlog(replication):
    with Session(REPLICA, 1) as replica_session:
        assert throttler(replica_session, replicas=None).replicas == []


def test_copy_waits_for_a_lagging_replica_then_finishes(pair, django_db_blocker, caplog):
    """End to end: `change_table` on the primary, replicas discovered, SQL thread stopped. The
    log says, as the copy starts, what it will take of the disk, binary logs included."""
    caplog.set_level("INFO", logger="online_migrations")
    with django_db_blocker.unblock():
        call_command("migrate", "online_migrations", database=PRIMARY, verbosity=0)
    pair.primary.sql(f"CREATE TABLE {DATABASE}.items (id int AUTO_INCREMENT PRIMARY KEY, name varchar(64) NOT NULL)")
    pair.primary.sql(f"INSERT INTO {DATABASE}.items (name) SELECT CONCAT('n', seq) FROM {DATABASE}.seq_1_to_3000")
    pair.wait_caught_up()
    pair.replica.sql("STOP SLAVE SQL_THREAD")
    pair.primary.sql(f"INSERT INTO {DATABASE}.items (name) VALUES ('written while the replica is stopped')")
    copy_run = Waiter(lambda: change_table(
        PRIMARY, "items", "CREATE TABLE `items` (id int AUTO_INCREMENT PRIMARY KEY, title varchar(64) NOT NULL)",
        [], ["id", "name"], ["id", "title"], renames={"name": "title"},
        chunk_size=500, check_interval=0.2,
    ))
    copy_run.start()
    assert not copy_run.finished_within(3), "the copy finished while the replica's SQL thread was stopped"
    pair.replica.sql("START SLAVE SQL_THREAD")
    assert copy_run.finished_within(30), "the copy did not finish once the replica caught up"
    assert copy_run.error is None, copy_run.error
    assert re.search(r"the new one needs about as much free space, and the binary logs about \d+ MiB more until they "
                     r"are purged \(binlog_format=ROW\)", caplog.text), caplog.text
    assert pair.primary.sql(f"SELECT COUNT(*) FROM {DATABASE}._items_new")[0][0] == 3001
    pair.wait_caught_up()
    assert pair.replica.sql(f"SELECT COUNT(*) FROM {DATABASE}._items_new")[0][0] == 3001


def test_triggers_refused_for_want_of_super_are_explained(pair, django_db_blocker):
    """With binary logging on, the server lets only SUPER create triggers unless
    log_bin_trust_function_creators is set: a run by a plain user stops with what to do, and
    nothing left behind."""
    with django_db_blocker.unblock():
        call_command("migrate", "online_migrations", database=PRIMARY, verbosity=0)
    pair.primary.sql(f"CREATE TABLE {DATABASE}.plain (id int PRIMARY KEY, name varchar(20))")
    pair.primary.sql("CREATE USER IF NOT EXISTS 'plain'@'127.0.0.1'")
    pair.primary.sql(f"GRANT ALL ON {DATABASE}.* TO 'plain'@'127.0.0.1'")
    add_alias(PLAIN_USER, pair.primary, DATABASE)
    connections.settings[PLAIN_USER]["USER"] = "plain"
    change = ("CREATE TABLE `plain` (id int PRIMARY KEY, name varchar(40))", [], ["id", "name"], ["id", "name"])
    try:
        with pytest.raises(OnlineMigrationError) as error:
            change_table(PLAIN_USER, "plain", *change)
        message = str(error.value)
        for expected in ["SUPER", "log_bin_trust_function_creators", "`plain`", "Nothing was changed"]:
            assert expected in message, message
        assert pair.primary.sql(f"SHOW TABLES FROM {DATABASE} LIKE '\\_plain%'") == []
        # Allowed to, the same user (without PROCESS either, to name long transactions, nor the
        # right to list the replicas, hence replicas=[]) runs it through.
        pair.primary.sql("SET GLOBAL log_bin_trust_function_creators = 1")
        change_table(PLAIN_USER, "plain", *change, replicas=[])
        finish_migration(PLAIN_USER, "plain")
    finally:
        pair.primary.sql("SET GLOBAL log_bin_trust_function_creators = 0")
        remove_alias(PLAIN_USER)
    assert "varchar(40)" in pair.primary.sql(f"SHOW CREATE TABLE {DATABASE}.plain")[0][1]


def test_a_user_without_the_trigger_privilege_is_told_before_anything_changes(pair, django_db_blocker):
    """Django's migrations need no TRIGGER privilege, so a migration user often lacks it: the
    run failed with the server's bare 1142 once the new table was made and checked."""
    with django_db_blocker.unblock():
        call_command("migrate", "online_migrations", database=PRIMARY, verbosity=0)
    pair.primary.sql(f"CREATE TABLE {DATABASE}.untriggered (id int PRIMARY KEY, name varchar(20))")
    pair.primary.sql("CREATE USER IF NOT EXISTS 'migrator'@'127.0.0.1'")
    pair.primary.sql("GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, ALTER, INDEX, REFERENCES, "
                     f"CREATE TEMPORARY TABLES ON {DATABASE}.* TO 'migrator'@'127.0.0.1'")
    pair.primary.sql("GRANT SUPER ON *.* TO 'migrator'@'127.0.0.1'")  # binary logging is on
    add_alias(NO_TRIGGER_USER, pair.primary, DATABASE)
    connections.settings[NO_TRIGGER_USER]["USER"] = "migrator"
    change = ("CREATE TABLE `untriggered` (id int PRIMARY KEY, name varchar(40))", [], ["id", "name"], ["id", "name"])
    try:
        before = pair.primary.sql(f"SHOW TABLES FROM {DATABASE}")
        with pytest.raises(OnlineMigrationError, match=rf"GRANT TRIGGER ON `{DATABASE}`\.\* TO"):
            change_table(NO_TRIGGER_USER, "untriggered", *change, replicas=[])
        assert pair.primary.sql(f"SHOW TABLES FROM {DATABASE}") == before
        pair.primary.sql(f"GRANT TRIGGER ON {DATABASE}.* TO 'migrator'@'127.0.0.1'")
        change_table(NO_TRIGGER_USER, "untriggered", *change, replicas=[])
        finish_migration(NO_TRIGGER_USER, "untriggered")
    finally:
        remove_alias(NO_TRIGGER_USER)
    assert "varchar(40)" in pair.primary.sql(f"SHOW CREATE TABLE {DATABASE}.untriggered")[0][1]
