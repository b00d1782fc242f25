"""Server settings that limit a run, on a private server started with them (tests/servers.py),
so that no other test meets them."""

from typing import Iterator

import pytest

from online_migrations import OnlineMigrationError, change_table, finish_migration

from .concurrency import Spec, Writers, assert_same_data
from .conftest import Sql
from .servers import private_alias

SMALL_LOG_ALIAS, FULL_ALIAS, DATABASE = "om_private_small_log", "om_private_full", "om_private"
# The online log of an index build grows by innodb_sort_buffer_size at a time, up to
# innodb_online_alter_log_max_size: with both at their least, a few hundred writes fill it.
SMALL_LOG = ["--innodb-sort-buffer-size=65536", "--innodb-online-alter-log-max-size=65536"]
# The system tablespace may grow to 100 MiB (its files are about 70 at the start): a table
# made there while innodb_file_per_table is off soon finds the "disk" full.
SMALL_SYSTEM_TABLESPACE = ["--innodb-data-file-path=ibdata1:4M:autoextend:max:100M"]


@pytest.fixture(scope="module")
def small_online_log(django_db_blocker) -> Iterator[None]:
    with private_alias(SMALL_LOG_ALIAS, DATABASE, SMALL_LOG, django_db_blocker):
        yield


@pytest.fixture(scope="module")
def small_tablespace(django_db_blocker) -> Iterator[None]:
    with private_alias(FULL_ALIAS, DATABASE, SMALL_SYSTEM_TABLESPACE, django_db_blocker):
        yield


def test_an_index_build_outrun_by_the_application_stops_clearly_and_resumes(small_online_log):
    """The secondary indexes are built after the copy, online: InnoDB logs the writes made
    meanwhile, up to innodb_online_alter_log_max_size, and fails the build past it (error
    1799, "Please try again"). Said so, with the way out; the run then goes on from there."""
    sql = Sql(SMALL_LOG_ALIAS)
    table = "t_log"
    sql(f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(200) NOT NULL, b int NOT NULL)")
    sql(f"INSERT INTO {table} (a, b) SELECT MD5(seq), seq MOD 1000 FROM seq_1_to_300000")
    # Values of 200 characters: each write logs ~0.4 KiB for the two indexes being built, so a
    # few hundred writes during the build overflow the log, however fast the build goes.
    spec = Spec(table, ("id",), lambda rnd: {"a": f"w{rnd.randrange(10**9):0>199}", "b": rnd.randrange(1000)},
                auto_key=True, alias=SMALL_LOG_ALIAS)
    writers = Writers(spec, threads=4)
    writers.prepare(sql)
    new = (f"CREATE TABLE {table} (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a varchar(200) NOT NULL, b int NOT NULL,"
           " KEY a (a), KEY b_a (b, a))")
    with writers:
        with pytest.raises(OnlineMigrationError, match="innodb_online_alter_log_max_size = 65,536 bytes"):
            change_table(SMALL_LOG_ALIAS, table, new, [], ["id", "a", "b"], ["id", "a", "b"], chunk_size=50000,
                         chunk_time=0)
        sql("SET GLOBAL innodb_online_alter_log_max_size = 1073741824")
        finish_migration(SMALL_LOG_ALIAS, table)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, table, ["id", "a", "b"], spec.control, ["id", "a", "b"])
    assert "KEY `b_a` (`b`,`a`)" in sql(f"SHOW CREATE TABLE {table}")[0][1]


def test_a_copy_that_finds_the_disk_full_is_thrown_away(small_tablespace):
    """A full disk stopped the copy with the triggers left in place, so the application's
    writes, which the triggers also make to the new table, would fail as well for as long as
    the run waited to be resumed or aborted. It is thrown away at once, giving the space back."""
    sql = Sql(FULL_ALIAS)
    sql("CREATE TABLE big (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(200) NOT NULL)")
    sql("INSERT INTO big (v) SELECT REPEAT('x', 200) FROM seq_1_to_600000")
    sql("SET GLOBAL innodb_file_per_table = 0")  # the new table goes to the small system tablespace
    with pytest.raises(OnlineMigrationError, match=r"the new table cannot grow \(The table '_big_new' is full\)"):
        change_table(FULL_ALIAS, "big", "CREATE TABLE big (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, v varchar(250) "
                     "NOT NULL)", [], ["id", "v"], ["id", "v"])
    assert sql("SHOW TABLES LIKE '\\_big%'") == [] and sql("SHOW TRIGGERS") == []
    sql("INSERT INTO big (v) VALUES ('the application writes again')")
    assert sql.value("SELECT COUNT(*) FROM big") == 600001
