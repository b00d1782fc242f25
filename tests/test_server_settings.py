"""Server settings that limit a run, on a private server started with them (tests/servers.py),
so that no other test meets them."""

import tempfile
from pathlib import Path
from typing import Iterator

import pytest
from django.core.management import call_command

from online_migrations import OnlineMigrationError, change_table, finish_migration

from .concurrency import Spec, Writers, assert_same_data
from .conftest import Sql
from .servers import add_alias, remove_alias, start_server

ALIAS, DATABASE = "om_private_small_log", "om_private"
# The online log of an index build grows by innodb_sort_buffer_size at a time, up to
# innodb_online_alter_log_max_size: with both at their least, a few hundred writes fill it.
SMALL_LOG = ["--innodb-sort-buffer-size=65536", "--innodb-online-alter-log-max-size=65536"]


@pytest.fixture(scope="module")
def small_online_log(django_db_blocker) -> Iterator[None]:
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder), "small_log", 1, SMALL_LOG)
        try:
            server.sql(f"CREATE DATABASE {DATABASE}")
            add_alias(ALIAS, server, DATABASE)
            with django_db_blocker.unblock():
                call_command("migrate", "online_migrations", database=ALIAS, verbosity=0)
            yield
        finally:
            remove_alias(ALIAS)
            server.stop()


def test_an_index_build_outrun_by_the_application_stops_clearly_and_resumes(small_online_log):
    """The secondary indexes are built after the copy, online: InnoDB logs the writes made
    meanwhile, up to innodb_online_alter_log_max_size, and fails the build past it (error
    1799, "Please try again"). Said so, with the way out; the run then goes on from there."""
    sql = Sql(ALIAS)
    table = "t_log"
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(40) NOT NULL, b int NOT NULL)")
    sql(f"INSERT INTO {table} (a, b) SELECT MD5(seq), seq MOD 1000 FROM seq_1_to_300000")
    spec = Spec(table, ("id",), lambda rnd: {"a": f"w{rnd.randrange(10**9)}", "b": rnd.randrange(1000)},
                auto_key=True, alias=ALIAS)
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    new = (f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(40) NOT NULL, b int NOT NULL,"
           " KEY a (a), KEY b_a (b, a))")
    with writers:
        with pytest.raises(OnlineMigrationError, match="innodb_online_alter_log_max_size = 65,536 bytes"):
            change_table(ALIAS, table, new, [], ["id", "a", "b"], ["id", "a", "b"], chunk_size=50000, chunk_time=0)
        sql("SET GLOBAL innodb_online_alter_log_max_size = 1073741824")
        finish_migration(ALIAS, table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, table, ["id", "a", "b"], spec.control, ["id", "a", "b"])
    assert "KEY `b_a` (`b`,`a`)" in sql(f"SHOW CREATE TABLE {table}")[0][1]
