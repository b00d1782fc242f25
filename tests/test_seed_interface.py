"""The seed's interface: its example migration as written, the command, and its errors."""

import datetime
import re
import time
from unittest import mock

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections

from campaigns.models import Campaign
from online_migrations import (
    OnlineMigrationError, alter_online, change_table, engine, finish_migration, indexes, restart_copy,
)
from online_migrations.checksum import ALONE, SHARING, verify
from online_migrations.models import OnlineRun
from online_migrations.describe import show_create_table
from online_migrations.session import Session

SEED_COLUMNS = "id, name, objective, description, budget, goal_value, post_id, start_date, end_date"


@pytest.fixture
def campaign(sql):
    """The `campaign` table in its original shape with some rows; put back afterwards."""
    def reset():
        sql("DROP TABLE IF EXISTS `campaign`")
        with connection.schema_editor() as editor:
            editor.create_model(Campaign)

    reset()
    with sql.conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT INTO campaign ({SEED_COLUMNS}) VALUES (NULL, %s, %s, %s, %s, %s, %s, %s, %s)",
            [(f"name {i} 😀", "reach", f"desc {i}", i, None if i % 3 else i * 2, f"p{i}", "2024-01-02 03:04:05", None)
             for i in range(1, 501)],
        )
    yield sql
    reset()


def test_the_seed_example_migration_runs_as_written(campaign, caplog):
    caplog.set_level("INFO", logger="online_migrations")
    before = campaign("SELECT id, name, objective, budget, goal_value, post_id, start_date, end_date FROM campaign ORDER BY id")
    call_command("online_migration", "campaigns", "run", "0001_campaign", "--chunk-size", "64")
    assert "copy done: 500 rows" in caplog.text
    call_command("online_migration", "campaigns", "restart", "0001_campaign", "--start=100", "--limit=200")
    assert "copy done: 101 rows" in caplog.text, "rows already copied count as read, not as lost"
    call_command("online_migration", "campaigns", "rename", "0001_campaign")
    # 601: the restart read rows 100 to 200 again.
    assert re.search(r"`campaign`: done: 601 rows read by the copy; verified in [\d.]+s; the swap held writes for [\d.]+s; "
                     r"0:00:\d\d since the run started", caplog.text)
    after = campaign(
        "SELECT id, display_name, objective, budget, goal_spend, post_id, start_date, end_date FROM campaign ORDER BY id"
    )
    assert after == before
    columns = [r[0] for r in campaign("SHOW COLUMNS FROM campaign")]
    assert columns == ["id", "display_name", "objective", "budget", "goal_spend", "post_id", "start_date",
                       "end_date", "created_time", "like_count"]
    assert {r[2] for r in campaign("SHOW INDEX FROM campaign")} == {"PRIMARY", "campaign_87a49a9a", "campaign_87a49a9z"}
    assert campaign.triggers() == [] and campaign.tables().count("_campaign_old") == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["nope", "run", "0001_campaign"], "No installed app with label 'nope'"),
        (["campaigns", "run", "0002_missing"], "has no online migration '0002_missing'"),
        (["testapp", "rename", "0001_no_rename"], "defines no function 'rename'"),
        (["campaigns", "rename", "0001_campaign"], "no shadow table `_campaign_new`"),
        (["campaigns", "restart", "0001_campaign"], "has no shadow table `_campaign_new`"),
        (["campaigns", "run", "0001_campaign", "--chunk-size", "0"], "chunk_size must be a whole number"),
        (["campaigns", "run", "0001_campaign", "--start", "1", "2"], "does not fit the key of `campaign`"),
    ],
)
def test_command_errors_change_nothing(campaign, args, message):
    before = campaign.schema()
    with pytest.raises(CommandError, match=message):
        call_command("online_migration", *args)
    assert campaign.schema() == before


DEST = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `b` varchar(10), `c` int DEFAULT 3)"


@pytest.mark.parametrize(
    "kwargs, message",
    [
        (dict(origin_columns=["id", "a"]), r"origin_columns lists 2 columns but the table has 3 .*not listed: `b`"),
        (dict(origin_columns=["id", "a", "b", "zz"]), r"not in the table: `zz`"),
        (dict(dest_columns=["id", "b"]), r"dest_columns lists 2 columns .* not listed: `c`"),
        (dict(origin_columns=["id", "a", "a", "b"]), "listed twice: `a`"),
        (dict(renames={"x": "b"}), r"`x` \(renamed to `b`\) is not in origin_columns"),
        (dict(renames={"a": "nope"}), r"`nope` \(the new name of `a`\) is not in dest_columns"),
        (dict(renames={"a": "b"}), "several columns would be copied into `b`"),
        (dict(dest_table_sql="CREATE TABLE `t` (`id` int PRIMARY KEY, `b` nosuchtype)"), "The server rejects the new schema"),
        (dict(dest_table_sql="CREATE TABLE `other` (`id` int PRIMARY KEY)"), "names table `other`"),
        (dict(dest_table_sql="CREATE TABLE `t` (`id` int, `b` varchar(10), `c` int)"), "no primary or unique NOT NULL key"),
        (dict(dest_indexes=["CREATE INDEX i ON `x` (`b`)"]), "names table `x`"),
        (dict(dest_indexes=["CREATE INDEX i ON `t` (`nope`)"]), "The server rejects the new schema"),
        (dict(dest_indexes="CREATE INDEX i ON `t` (`b`)"), "must be a list"),
        (dict(table="missing"), "Table `missing` does not exist in database"),
        (dict(alias="other"), "Unknown database alias 'other'"),
        (dict(chunk_sise=10), "unknown option"),
        (dict(start=(1, 2)), "does not fit the key"),
    ],
)
def test_bad_input_is_refused_before_anything_changes(sql, kwargs, message):
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(10), `b` int)")
    sql("INSERT INTO `t` VALUES (1, 'x', 2)")
    before = sql.schema()
    call = dict(alias="default", table="t", dest_table_sql=DEST, dest_indexes=[], origin_columns=["id", "a", "b"],
                dest_columns=["id", "b", "c"], renames=None)
    call.update(kwargs)
    with pytest.raises(OnlineMigrationError, match=message):
        change_table(**call)
    assert sql.schema() == before


VERSIONED_COLUMNS = ("`s` timestamp(6) GENERATED ALWAYS AS ROW START, `e` timestamp(6) GENERATED ALWAYS AS ROW END,"
                     " PERIOD FOR SYSTEM_TIME (`s`, `e`)")
PLAIN = "(`id` int PRIMARY KEY, `a` int)"
NEW = "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int, `b` int)"


@pytest.mark.parametrize(
    "create, dest, message",
    [
        (f"{PLAIN} ENGINE=Aria", NEW, "Table `t` uses the Aria storage engine; the online copy needs InnoDB"),
        (PLAIN, f"{NEW} ENGINE=MyISAM", r"The new table of `t` \(dest_table_sql\) uses the MyISAM storage engine"),
        (f"{PLAIN} WITH SYSTEM VERSIONING", NEW, "Table `t` is system-versioned"),
        (f"(`id` int PRIMARY KEY, `a` int, {VERSIONED_COLUMNS}) WITH SYSTEM VERSIONING", NEW, "is system-versioned"),
        ("(`id` int PRIMARY KEY, `a` int WITH SYSTEM VERSIONING)", NEW, "is system-versioned"),
        (PLAIN, f"{NEW} WITH SYSTEM VERSIONING", r"The new table of `t` \(dest_table_sql\) is system-versioned"),
        (PLAIN, NEW.replace("`b` int", "`b` int WITH SYSTEM VERSIONING"), r"\(dest_table_sql\) is system-versioned"),
        ("(`id` int PRIMARY KEY, `a` int, `f` date NOT NULL DEFAULT '2000-01-01', `u` date NOT NULL DEFAULT '2001-01-01',"
         " PERIOD FOR `p` (`f`, `u`))", NEW, "cannot change a table whose definition it cannot read"),
    ],
    ids=["aria", "new-myisam", "versioned", "versioned-columns", "versioned-column", "new-versioned",
         "new-versioned-column", "unreadable"],
)
def test_tables_the_copy_cannot_take_are_refused(sql, create, dest, message):
    """Not InnoDB: no transactions to copy and verify with. System-versioned: the copy would
    leave the history behind, and the swap drop it; a new versioned table would begin its
    history with the copy's writes. A definition we cannot read (here an application-time
    period): we cannot tell what the copy would get wrong."""
    sql(f"CREATE TABLE `t` {create}")
    sql("INSERT INTO `t` (`id`, `a`) VALUES (1, 2)")
    sql("UPDATE `t` SET `a` = 3")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match=message):
        change_table("default", "t", dest, [], ["id", "a"], ["id", "a", "b"])
    assert sql.schema() == before


def test_a_server_whose_temporary_tables_use_another_engine_is_no_reason_to_refuse(sql):
    """The new schema is tried on a TEMPORARY table first; with default_tmp_storage_engine set
    (to Aria, say, as some servers are for speed) it would get that engine where the real
    table gets InnoDB, and be refused as "not InnoDB"."""
    sql(f"CREATE TABLE `t` {PLAIN}")
    sql("INSERT INTO `t` VALUES (1, 2)")
    sql("SET GLOBAL default_tmp_storage_engine = 'Aria'")
    try:
        change_table("default", "t", NEW, [], ["id", "a"], ["id", "a", "b"])
        finish_migration("default", "t")
    finally:
        sql("SET GLOBAL default_tmp_storage_engine = NULL")
    assert "ENGINE=InnoDB" in sql("SHOW CREATE TABLE `t`")[0][1]
    assert sql("SELECT * FROM `t`") == [(1, 2, None)]


@pytest.mark.parametrize("written", ["plain", "as SHOW CREATE TABLE has it"])
def test_a_partitioned_new_schema_is_tried_unpartitioned_then_made_as_written(sql, written):
    """The server takes no partitioned TEMPORARY table, on which the new schema is tried first;
    the shadow table gets the PARTITION BY clause (and the server checks it then)."""
    partitions = "PARTITION BY RANGE (id) (PARTITION p0 VALUES LESS THAN (100), PARTITION p1 VALUES LESS THAN MAXVALUE)"
    sql(f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` int) {partitions}")
    sql("INSERT INTO `t` SELECT seq, seq FROM seq_1_to_300")
    dest = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` int, `b` int) "
    dest += partitions if written == "plain" else f"/*!50100 {partitions} */"
    change_table("default", "t", dest, [], ["id", "a"], ["id", "a", "b"])
    finish_migration("default", "t")
    assert "PARTITION `p1` VALUES LESS THAN MAXVALUE" in sql("SHOW CREATE TABLE `t`")[0][1]
    assert sql("SELECT COUNT(*), SUM(a), COUNT(b) FROM `t` PARTITION (p0)") == [(99, 4950, 0)]
    assert sql.value("SELECT COUNT(*) FROM `t`") == 300


@pytest.mark.parametrize("cap, value", [("max_statement_time", "0.02"), ("max_join_size", "500"), ("sql_select_limit", "1"), ("sql_safe_updates", "1")])
def test_a_server_wide_cap_on_queries_does_not_stop_the_run(sql, cap, value):
    """Server-wide caps against runaway queries stopped our long statements: max_statement_time
    killed an idle chunk meant to take 0.5 s here, an index build or the drop of a big table
    in real life, after the copy; max_join_size refused the checks that read the whole table
    (error 1104); sql_select_limit cut the list of our triggers short, which then seemed
    dropped by someone else."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(40))")
    sql("INSERT INTO `t` SELECT seq, MD5(seq) FROM seq_1_to_100000")
    before = sql.value(f"SELECT @@global.{cap}")
    sql(f"SET GLOBAL {cap} = {value}")
    try:
        change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(40) NOT NULL, "
                     "UNIQUE KEY (`a`))", [], ["id", "a"], ["id", "a"], chunk_size=50000)
        finish_migration("default", "t")
    finally:
        sql(f"SET GLOBAL {cap} = %s", [before])
    assert sql.value("SELECT COUNT(*) FROM `t`") == 100000


def test_a_table_kept_in_a_data_directory_of_its_own_stays_there(sql):
    """DATA DIRECTORY (a big table on a disk of its own) is kept by a plain ALTER TABLE; a new
    schema without it would have moved the table to the server's data directory."""
    place = sql.value("SELECT SUBSTRING_INDEX(@@tmpdir, ':', 1)").rstrip("/") + "/"
    table = f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(40)) DATA DIRECTORY='{place}'"
    sql(table)
    sql("INSERT INTO `t` SELECT seq, MD5(seq) FROM seq_1_to_100")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match=re.escape(f"is kept in DATA DIRECTORY='{place}'")):
        change_table("default", "t", table.split(" DATA DIRECTORY")[0], [], ["id", "a"], ["id", "a"])
    assert sql.schema() == before
    change_table("default", "t", table.replace("varchar(40)", "varchar(50)"), [], ["id", "a"], ["id", "a"])
    finish_migration("default", "t")
    assert f"DATA DIRECTORY='{place}'" in show_create_table(sql.conn.cursor(), "t")


def test_our_sessions_ignore_the_applications_client_side_timeouts(sql):
    """An alias with OPTIONS read_timeout (a web application's guard) dropped our connection in
    the middle of any statement longer than that: an index build or a drop, after the copy."""
    with mock.patch.dict(connection.settings_dict["OPTIONS"], {"read_timeout": 1, "write_timeout": 1}):
        with Session("default", lock_wait_timeout=5) as session:
            assert session.value("SELECT SLEEP(1.5)") == 0


def test_a_table_of_hundreds_of_columns(sql):
    """sqlparse's grouping refuses a statement of more than 10,000 tokens ("Maximum number of
    tokens exceeded"): the new schema of a table of some 700 commented columns was refused
    with sqlparse's own error. Its statements are read token by token, ungrouped."""
    columns = [f"c{n}" for n in range(700)]
    definitions = ", ".join(f"`{c}` int NOT NULL DEFAULT {n} COMMENT 'column {n}'" for n, c in enumerate(columns))
    sql(f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, {definitions})")
    sql("INSERT INTO `t` (`id`) SELECT seq FROM seq_1_to_300")
    dest = f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, {definitions}, `x` int NOT NULL DEFAULT 1)"
    change_table("default", "t", dest, [], ["id", *columns], ["id", *columns, "x"], chunk_time=0)
    finish_migration("default", "t")
    assert sql("SELECT COUNT(*), SUM(c699), SUM(x) FROM `t`") == [(300, 300 * 699, 300)]


def test_the_log_says_how_big_a_table_just_filled_is(sql, caplog):
    """information_schema.TABLES has sizes as of the last statistics: a table just filled
    showed "the table takes 0 MiB". Its files say what the disk holds."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `body` varchar(200) NOT NULL)"
        " STATS_AUTO_RECALC=0")  # as the statistics of a table filled a moment ago are
    sql("INSERT INTO `t` (`body`) SELECT REPEAT('x', 200) FROM seq_1_to_100000")
    assert sql.value("SELECT DATA_LENGTH FROM information_schema.TABLES WHERE TABLE_SCHEMA = DATABASE()"
                     " AND TABLE_NAME = 't'") < 2**20  # the statistics lag behind
    change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `body` "
                 "varchar(200) NOT NULL, `x` int)", [], ["id", "body"], ["id", "body", "x"])
    finish_migration("default", "t")
    size = int(re.search(r"the table takes (\d+) MiB", caplog.text).group(1))
    assert 15 <= size <= 60, caplog.text


def test_full_text_and_spatial_indexes_in_the_new_schema(sql):
    """InnoDB takes neither on a TEMPORARY table, where the new schema is tried first: both
    were refused ("Cannot create FULLTEXT index on temporary InnoDB table"). The trial now
    leaves them out, and the new table has them, in its CREATE TABLE or in dest_indexes."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `body` text, `at` point NOT NULL)")
    sql("INSERT INTO `t` SELECT seq, CONCAT('word', seq, ' hello'), POINT(seq, seq) FROM seq_1_to_3000")
    dest = ("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `body` text, `at` point NOT NULL, `x` int,"
            " FULLTEXT KEY `t_body` (`body`))")
    change_table("default", "t", dest, ["CREATE SPATIAL INDEX `t_at` ON `t` (`at`)"], ["id", "body", "at"],
                 ["id", "body", "at", "x"])
    finish_migration("default", "t")
    assert sorted(r[2] for r in sql("SHOW INDEX FROM `t`")) == ["PRIMARY", "t_at", "t_body"]
    assert sql.value("SELECT COUNT(*) FROM `t` WHERE MATCH(`body`) AGAINST ('hello')") == 3000


def test_dates_a_timestamp_cannot_hold_are_refused_before_the_copy(sql):
    """A DATETIME made TIMESTAMP: dates past 2038 or before 1970, or not whole ones, stopped the
    copy at its first warning, part of the way through; a zero date is fine (it stays zero)."""
    sql("SET SESSION sql_mode = ''")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `at` datetime NOT NULL)")
    sql("INSERT INTO `t` SELECT seq, '2026-01-01' + INTERVAL seq HOUR FROM seq_1_to_3000")
    sql("UPDATE `t` SET `at` = CASE id WHEN 7 THEN '2040-01-01' WHEN 8 THEN '1960-05-05' WHEN 9 THEN '2026-07-00'"
        " WHEN 10 THEN '0000-00-00' END WHERE id IN (7, 8, 9, 10)")
    schema = sql.schema()
    with pytest.raises(OnlineMigrationError) as error:
        change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `at` timestamp NOT NULL)",
                     [], ["id", "at"], ["id", "at"])
    message = str(error.value)
    for expected in ["`at` (timestamp) holds only whole dates from 1970 to 2038 (UTC), not those of 3 row(s)",
                     "(`id`) 7, 8, 9", "Nothing was copied"]:
        assert expected in message, message
    assert sql.schema() == schema


@pytest.mark.parametrize("keys, why", [
    ("UNIQUE KEY (`a`), KEY (`b`)", r"`a` \(`a` can be NULL, which it lets repeat\)"),
    ("PRIMARY KEY (`b`, `t`(8))", r"the primary key \(it holds only a prefix of `t`\)"),
    ("UNIQUE KEY `long` (`b`, `t`)", r"`long` \(USING HASH, which cannot be read in order\)"),
    ("KEY (`b`)", "it has no unique key at all"),
], ids=["nullable", "prefix", "hash", "none"])
def test_a_table_without_a_usable_key_is_refused(sql, keys, why):
    """Each unique key that cannot identify the rows in order is named, with why."""
    sql(f"CREATE TABLE `nokey` (`a` int NULL, `b` int NOT NULL, `t` text NOT NULL, {keys})")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match=f"has no primary key or unique key that the copy can walk: {why}"):
        change_table("default", "nokey", "CREATE TABLE `nokey` (`a` int, `b` int, `t` text)", [], ["a", "b", "t"],
                     ["a", "b", "t"])
    assert sql.schema() == before


def test_leftovers_and_foreign_triggers_are_refused(sql):
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` int)")
    sql("CREATE TRIGGER `audit` AFTER INSERT ON `t` FOR EACH ROW SET @x = 1")
    with pytest.raises(OnlineMigrationError, match="has triggers of its own: `audit`"):
        change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])
    sql("DROP TRIGGER `audit`")
    change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])
    with pytest.raises(OnlineMigrationError, match="already has a shadow table `_t_new`"):
        change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])


def test_swap_refused_when_the_triggers_are_gone(sql):
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` int)")
    change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])
    sql("DROP TRIGGER `_t_upd`")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match="the triggers `_t_upd` are gone"):
        finish_migration("default", "t")
    with pytest.raises(OnlineMigrationError, match="are missing"):
        restart_copy("default", "t", ["id", "a"], ["id", "a"])
    assert sql.schema() == before


def test_a_copy_that_would_change_data_stops(sql):
    """What the checks up front do not foresee (here: text into an integer column) still
    stops the copy at its first warning."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` VALUES (1, '12'), (2, 'twelve')")
    with pytest.raises(OnlineMigrationError, match=r"raised warnings .*Incorrect integer value: 'twelve'"):
        change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])
    assert sql("SELECT * FROM `t` ORDER BY id") == [(1, "12"), (2, "twelve")]
    assert sql("SELECT COUNT(*) FROM `_t_new`") == [(0,)], "the failed chunk was rolled back"
    sql("UPDATE `t` SET a = '12' WHERE id = 2")
    restart_copy("default", "t", ["id", "a"], ["id", "a"])  # the data fixed, the run resumes
    finish_migration("default", "t")
    assert sql("SELECT * FROM `t` ORDER BY id") == [(1, 12), (2, 12)]


def test_a_warning_after_many_expected_ones_still_stops_the_copy(sql):
    """Rows the triggers put in the new table ahead of the copy (the application inserts
    them) make the chunk that reaches them warn of duplicates, which are expected. The server
    lists only `max_error_count` warnings (64 by default): a warning past those, of data
    changed to fit, went unseen, and the chunk was committed with it."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), `n` int NOT NULL DEFAULT 0)")
    sql("INSERT INTO `t` (id, a) SELECT seq, seq FROM seq_101_to_200")
    sql("UPDATE `t` SET a = 'twelve' WHERE id = 150")
    real_create_triggers = engine.create_triggers

    def create_triggers_then_insert(*args, **kwargs):
        real_create_triggers(*args, **kwargs)
        sql("INSERT INTO `t` (id, a) SELECT seq, seq FROM seq_1_to_100")

    with mock.patch.object(engine, "create_triggers", create_triggers_then_insert):
        with pytest.raises(OnlineMigrationError, match=r"raised warnings .*Incorrect integer value: 'twelve'"):
            change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int, `n` int NOT NULL DEFAULT 0)",
                         [], ["id", "a", "n"], ["id", "a", "n"], chunk_size=200, chunk_time=0)
    assert sql("SELECT COUNT(*) FROM `_t_new`") == [(100,)], "the failed chunk was rolled back"


def test_warnings_the_server_does_not_list_are_counted(sql):
    with Session("default", 1) as session:
        session.execute("SET SESSION max_error_count = 1")
        session.rows("SELECT CAST('x' AS SIGNED), CAST('y' AS SIGNED)")
        assert session.warnings() == [(1292, "Truncated incorrect INTEGER value: 'x'"),
                                      (None, "and 1 more warnings the server did not list")]


LOSSY = [
    ("`a` varchar(20)", "`a` varchar(5)", "'much too long'", r"`a` \(varchar\(5\)\) is too short for 1 row\(s\), e.g. keys \(`id`\) 2"),
    ("`a` varchar(20) NULL", "`a` varchar(20) NOT NULL", "NULL", r"`a` becomes NOT NULL but holds NULL 1 row"),
    ("`a` int", "`a` tinyint unsigned", "300", r"`a` \(tinyint\(3\) unsigned\) cannot hold 1 row"),
    ("`a` decimal(8,3)", "`a` decimal(8,2)", "1.235", r"`a` \(decimal\(8,2\)\) would round or cannot hold 1 row"),
    ("`a` varchar(20) CHARACTER SET utf8mb4", "`a` varchar(20) CHARACTER SET latin1", "'emoji 😀'",
     r"`a` in latin1 cannot hold the characters of 1 row"),
    ("`a` tinytext CHARACTER SET latin1", "`a` tinytext CHARACTER SET utf8mb4", "REPEAT('\u00e9', 200)",
     r"`a` \(tinytext\) is too short for 1 row"),
    ("`a` varchar(20)", "`a` varchar(20), UNIQUE KEY `a_u` (`a`)", "'x'",
     r"the new unique key `a_u` \(`a`\) has duplicates: \('x'\) 2 times"),
    ("`a` varchar(20) COLLATE utf8mb4_bin, UNIQUE KEY `a_u` (`a`)",
     "`a` varchar(20) COLLATE utf8mb4_general_ci, UNIQUE KEY `a_u` (`a`)", "'X'",
     r"the new unique key `a_u` \(`a`\) has duplicates: \('[xX]'\) 2 times"),
]


@pytest.mark.parametrize("before, after, value, message", LOSSY)
def test_changes_that_would_lose_data_are_refused_up_front(sql, before, after, value, message):
    sql(f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, {before})")
    sql(f"INSERT INTO `t` VALUES (1, {'1' if 'int' in before or 'decimal' in before else repr('x')}), (2, {value})")
    schema = sql.schema()
    with pytest.raises(OnlineMigrationError, match=message):
        change_table("default", "t", f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, {after})", [],
                     ["id", "a"], ["id", "a"])
    assert sql.schema() == schema


@pytest.mark.parametrize("before, after, value, message", [
    ("DEFAULT CHARSET=utf8mb4", "DEFAULT CHARSET=latin1", "'emoji 😀'", r"`a` in latin1 cannot hold the characters of 1 row"),
    ("DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin", "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_general_ci", "'X'",
     r"the new unique key `a_u` \(`a`\) has duplicates: \('[xX]'\) 2 times"),
], ids=["charset", "collation"])
def test_a_table_wide_conversion_that_would_lose_data_is_refused_up_front(sql, before, after, value, message):
    """The table's default character set and collation, which SHOW CREATE TABLE names on no
    column, count like a column's own."""
    sql(f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), UNIQUE KEY `a_u` (`a`)) {before}")
    sql(f"INSERT INTO `t` VALUES (1, 'x'), (2, {value})")
    schema = sql.schema()
    with pytest.raises(OnlineMigrationError, match=message):
        change_table("default", "t", f"CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), "
                     f"UNIQUE KEY `a_u` (`a`)) {after}", [], ["id", "a"], ["id", "a"])
    assert sql.schema() == schema


def test_command_line_options_reach_calls_that_do_not_pass_them_on(campaign):
    """The seed's `rename(**kwargs)` ignores its kwargs; --keep-old-table must still count."""
    call_command("online_migration", "campaigns", "run", "0001_campaign")
    call_command("online_migration", "campaigns", "rename", "0001_campaign", "--keep-old-table")
    assert "_campaign_old" in campaign.tables()
    assert campaign.value("SELECT COUNT(*) FROM `_campaign_old`") == 500


def test_restart_without_start_resumes_from_the_checkpoint(campaign, caplog):
    caplog.set_level("INFO", logger="online_migrations")
    call_command("online_migration", "campaigns", "run", "0001_campaign", "--limit", "300", "--chunk-size", "50")
    call_command("online_migration", "campaigns", "restart", "0001_campaign")
    assert "resuming after key (300,)" in caplog.text
    assert "copy done: 200 rows" in caplog.text
    call_command("online_migration", "campaigns", "rename", "0001_campaign")
    assert campaign.value("SELECT COUNT(*) FROM campaign") == 500
    assert campaign("SELECT state FROM online_migrations_run") == [("done",)]


def test_options_come_from_arguments_over_the_command_line_over_the_setting():
    from django.test import override_settings

    from online_migrations.options import Options, command_line_options

    with override_settings(ONLINE_MIGRATIONS={"chunk_size": 10, "throttle": 0.5, "max_lag": 3}):
        with command_line_options(throttle=0.25, keep_old_table=True):
            options = Options.from_kwargs("test", max_lag=None, keep_old_table=False)
    assert (options.chunk_size, options.throttle, options.max_lag, options.keep_old_table) == (10, 0.25, 3, False)
    with override_settings(ONLINE_MIGRATIONS={"chunk_sise": 10}):
        with pytest.raises(OnlineMigrationError, match="settings.ONLINE_MIGRATIONS: unknown option"):
            Options.from_kwargs("test")


def assert_tampering_is_found(sql, tamper, repair, key):
    """A row of the new table changed behind the triggers' back (`tamper`) stops the swap,
    naming its key; put back (`repair`), the swap goes ahead."""
    sql(tamper)
    with pytest.raises(OnlineMigrationError, match=rf"Verification failed: .* for the keys \(`id`\) {key}\."):
        finish_migration("default", "t")
    sql(repair)
    finish_migration("default", "t")


def test_the_swap_is_refused_when_the_new_table_differs(sql, caplog):
    """Verification before the swap: a row changed behind the triggers' back is found."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), `b` decimal(6,2))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq), seq / 7 FROM seq_1_to_5000")
    new = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), `b` decimal(8,3))"
    change_table("default", "t", new, [], ["id", "a", "b"], ["id", "a", "b"])
    sql("UPDATE `_t_new` SET a = 'tampered' WHERE id = 4321")
    before = sql.schema()
    with pytest.raises(OnlineMigrationError, match=r"Verification failed: .* for the keys \(`id`\) 4321\."):
        finish_migration("default", "t")
    assert sql.schema() == before
    assert "not compared: `b` (decimal(6,2) -> decimal(8,3))" in caplog.text
    sql("UPDATE `_t_new` SET a = 'row 4321' WHERE id = 4321")
    finish_migration("default", "t")
    assert "verified: the new table holds the same rows" in caplog.text


@pytest.mark.parametrize("column", ["n", "a", "c", "t"])
def test_columns_whose_text_survives_the_change_are_verified(sql, caplog, column):
    """A character set converted (latin1 to utf8mb4, for the whole table), integers and
    strings resized, a CHAR made VARCHAR: their values read the same before and after, so
    the verification compares them, and finds a row changed behind the triggers' back."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `n` int, `a` varchar(20), `c` char(8), `t` text)"
        " DEFAULT CHARSET=latin1")
    sql("INSERT INTO `t` SELECT seq, seq * 3, CONCAT('caf\u00e9 ', seq), 'na\u00efve', REPEAT('\u00e0', seq % 7)"
        " FROM seq_1_to_3000")
    new = ("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `n` bigint, `a` varchar(40), `c` varchar(8), `t` mediumtext)"
           " DEFAULT CHARSET=utf8mb4")
    change_table("default", "t", new, [], ["id", "n", "a", "c", "t"], ["id", "n", "a", "c", "t"])
    assert_tampering_is_found(sql, f"UPDATE `_t_new` SET `{column}` = 7 WHERE id = 1234",
                              "UPDATE `_t_new` SET `n` = 3702, `a` = 'caf\u00e9 1234', `c` = 'na\u00efve',"
                              " `t` = REPEAT('\u00e0', 2) WHERE id = 1234", 1234)
    assert "not compared" not in caplog.text
    assert "the copy converts the character set of `a` (latin1 -> utf8mb4), `c` (latin1 -> utf8mb4), `t`" in caplog.text
    assert "verified: the new table holds the same rows" in caplog.text
    assert sql("SELECT `a`, `c`, `t` FROM `t` WHERE id = 1234") == [("caf\u00e9 1234", "na\u00efve", "\u00e0\u00e0")]


def test_an_enum_whose_labels_change_is_verified_label_by_label(sql, caplog):
    """A label added, one re-cased (the copy matches 'paid' to 'Paid' under the column's _ci
    collation), the table converted to utf8mb4 and an ENUM made VARCHAR: the verification
    compares them all, and finds a row changed behind the triggers' back."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `s` enum('new','paid') NOT NULL, `k` enum('a','b'))"
        " DEFAULT CHARSET=latin1")
    sql("INSERT INTO `t` SELECT seq, IF(seq % 3, 'new', 'paid'), IF(seq % 5, 'a', NULL) FROM seq_1_to_3000")
    new = ("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `s` enum('new','Paid','refunded') NOT NULL,"
           " `k` varchar(10)) DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci")
    change_table("default", "t", new, [], ["id", "s", "k"], ["id", "s", "k"])
    assert_tampering_is_found(sql, "UPDATE `_t_new` SET `s` = 'refunded' WHERE id = 1234",
                              "UPDATE `_t_new` SET `s` = 'new' WHERE id = 1234", 1234)
    assert "not compared" not in caplog.text
    assert "verified: the new table holds the same rows" in caplog.text
    assert sql("SELECT s, COUNT(*), COUNT(k) FROM `t` GROUP BY s ORDER BY s") == [("new", 2000, 1600), ("Paid", 1000, 800)]


def test_rows_longer_than_max_allowed_packet_are_verified(sql, caplog):
    """The verification hashes each row's values joined in one string, which the server makes
    NULL past max_allowed_packet: such rows (two 600 kB texts here, under a 1 MB packet) were
    left out of the checksums on both sides without a word. Long values are hashed one by one."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` mediumtext, `b` mediumblob)")
    sql("INSERT INTO `t` SELECT seq, REPEAT('a', 600000), REPEAT('b', 600000) FROM seq_1_to_20")
    change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` mediumtext, `b` mediumblob,"
                 " `c` int)", [], ["id", "a", "b"], ["id", "a", "b", "c"])
    packet = sql.value("SELECT @@global.max_allowed_packet")
    sql("SET GLOBAL max_allowed_packet = 1048576")
    try:
        assert_tampering_is_found(sql, "UPDATE `_t_new` SET `a` = CONCAT('A', SUBSTR(`a`, 2)) WHERE id = 7",
                                  "UPDATE `_t_new` SET `a` = CONCAT('a', SUBSTR(`a`, 2)) WHERE id = 7", 7)
    finally:
        sql("SET GLOBAL max_allowed_packet = %s", [packet])
    assert "verified: the new table holds the same rows" in caplog.text


@pytest.mark.parametrize("before, after", [
    ("DEFAULT CHARSET=latin1", "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci"),
    ("DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci", "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_bin"),
], ids=["charset", "collation"])
def test_a_key_that_sorts_differently_in_the_new_table_is_verified(sql, caplog, before, after):
    """The chunks are ranges of the original's key; in the new table the same range holds
    other rows ('Zulu' < 'a' in utf8mb4_bin, not in utf8mb4_unicode_ci), so the new table's
    rows are picked by the original's keys instead, and counted whole at the end."""
    caplog.set_level("INFO", logger="online_migrations")
    sql(f"CREATE TABLE `t` (`k` varchar(20) PRIMARY KEY, `a` int) {before}")
    words = ["a", "B", "c", "\u00c5ke", "\u00e4pple", "zeta", "Zulu", "\u00f6st", "Ober", "y", "\u00fc", "u"]
    with sql.conn.cursor() as cursor:
        cursor.executemany("INSERT INTO `t` VALUES (%s, %s)", [(f"{w}{i}", i) for i, w in enumerate(words * 300)])
    change_table("default", "t", f"CREATE TABLE `t` (`k` varchar(20) PRIMARY KEY, `a` int) {after}", [],
                 ["k", "a"], ["k", "a"])
    sql("INSERT INTO `_t_new` VALUES ('extra', 1)")  # behind the triggers' back
    with pytest.raises(OnlineMigrationError, match=r"holds 3601 rows, the original 3600: .* keys \(`k`\) 'extra'"):
        finish_migration("default", "t")
    assert "sorts differently in the new table" in caplog.text
    sql("DELETE FROM `_t_new` WHERE `k` = 'extra'")
    sql("UPDATE `_t_new` SET `a` = -1 WHERE `k` = 'Zulu6'")
    with pytest.raises(OnlineMigrationError, match=r"for the keys \(`k`\) Zulu6\."):
        finish_migration("default", "t")
    sql("UPDATE `_t_new` SET `a` = 6 WHERE `k` = 'Zulu6'")
    finish_migration("default", "t")
    assert sql("SELECT COUNT(*) FROM `t`") == [(3600,)]


def test_filled_nulls_are_verified_as_the_new_column_stores_the_fill(sql, caplog):
    """A column made NOT NULL gets the fill where it was NULL (AlterField's default): the
    verification compares it with the fill as the new column stores it, here a date literal
    that a DATETIME keeps with its time."""
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `at` datetime NULL, `n` varchar(5) NULL) DEFAULT CHARSET=latin1")
    sql("INSERT INTO `t` VALUES (1, NULL, NULL), (2, '2024-05-06 07:08:09', 'na\u00efv'), (3, NULL, 'x')")

    def build(shadow):
        sql(f"CREATE TABLE `{shadow}` (`id` int NOT NULL PRIMARY KEY, `at` datetime NOT NULL,"
            " `n` varchar(5) NOT NULL) DEFAULT CHARSET=utf8mb4")

    alter_online("default", "t", build, ["id", "at", "n"], ["id", "at", "n"],
                 fills={"at": "'2000-01-01'", "n": "'\u00e9'"}, swap_tables=False)
    assert_tampering_is_found(sql, "UPDATE `_t_new` SET `at` = '2000-01-02' WHERE id = 3",
                              "UPDATE `_t_new` SET `at` = '2000-01-01' WHERE id = 3", 3)
    assert "not compared" not in caplog.text
    assert sql("SELECT `id`, `at`, `n` FROM `t` ORDER BY `id`") == [
        (1, datetime.datetime(2000, 1, 1), "\u00e9"), (2, datetime.datetime(2024, 5, 6, 7, 8, 9), "na\u00efv"),
        (3, datetime.datetime(2000, 1, 1), "x"),
    ]


def test_rows_the_original_lost_without_a_trigger_are_found(sql):
    """A TRUNCATE fires no trigger: the new table keeps rows beyond the original's last key."""
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000")
    change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))", [],
                 ["id", "a"], ["id", "a"])
    sql("TRUNCATE TABLE `t`")
    with pytest.raises(OnlineMigrationError, match=r"Verification failed: .* for the keys \(`id`\) 1, 10, 100, "):
        finish_migration("default", "t")
    assert "_t_new" in sql.tables()


@pytest.mark.parametrize("written, pace", [(True, SHARING), (False, ALONE)])
def test_the_verification_leaves_cores_to_an_application_that_writes(sql, caplog, monkeypatch, written, pace):
    """Two connections hashing rows take both cores of a small server; while the application
    writes to the table (by UPDATE_TIME; a table the test has not written for 10 s is had by
    stubbing that check), the comparison runs on one."""
    caplog.set_level("INFO", logger="online_migrations")
    paces = []
    monkeypatch.setattr(engine, "verify", lambda session, plan, pace: paces.append(pace) or verify(session, plan, pace))
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000")
    change_table("default", "t", "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))", [],
                 ["id", "a"], ["id", "a"])
    sql("UPDATE `_t_new` SET a = 'tampered' WHERE id = 4321")
    if written:
        sql("INSERT INTO `t` VALUES (6000, 'new')")
    else:
        monkeypatch.setattr(engine, "written_recently", lambda session, table: False)
    with pytest.raises(OnlineMigrationError, match=r"Verification failed: .* for the keys \(`id`\) 4321\."):
        finish_migration("default", "t")
    assert paces == [pace]
    assert ("verifying on one connection" in caplog.text) == written


@pytest.mark.parametrize("after_copy, verified_again, refused", [
    (None, False, False),
    ("INSERT INTO `t` VALUES (6000, 'new')", True, False),
    ("UPDATE `_t_new` SET a = 'tampered' WHERE id = 4321", True, True),
    ("TRUNCATE TABLE `t`", True, True),  # deletes every row without firing a trigger
])
def test_an_idle_copy_is_verified_during_the_index_build(sql, caplog, monkeypatch, after_copy, verified_again,
                                                        refused):
    """The swap takes that verification for its own only while neither table is written."""
    caplog.set_level("INFO", logger="online_migrations")
    build = indexes.build

    def slow_build(*args):
        """The verification begins on the next whole second: a build of a few rows is over sooner."""
        time.sleep(1.2)
        build(*args)

    monkeypatch.setattr(indexes, "build", slow_build)
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000")
    new = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), KEY `t_a` (`a`))"
    change_table("default", "t", new, [], ["id", "a"], ["id", "a"], busy_chunk_time=0)
    assert "verifying the new table while its indexes are built" in caplog.text
    if after_copy:
        sql(after_copy)
    caplog.clear()
    if refused:
        with pytest.raises(OnlineMigrationError, match=r"Verification failed"):
            finish_migration("default", "t")
        assert "_t_new" in sql.tables()
    else:
        finish_migration("default", "t")
        assert [r[2] for r in sql("SHOW INDEX FROM `t`")] == ["PRIMARY", "t_a"]
    assert ("verified: the new table holds the same rows" in caplog.text) == (verified_again and not refused)
    assert ("neither table has changed since" in caplog.text) != verified_again


def test_a_user_without_the_process_privilege_verifies_again_at_the_swap(sql, caplog, monkeypatch):
    """Telling whether the tables changed since the verification beside the index build reads
    information_schema.INNODB_SYS_TABLES, which takes the PROCESS privilege: an application's
    database user failed there, at the swap (1227). It now verifies again instead."""
    caplog.set_level("INFO", logger="online_migrations")
    build = indexes.build
    monkeypatch.setattr(indexes, "build", lambda *args: (time.sleep(1.2), build(*args)))
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq) FROM seq_1_to_5000")
    database = connection.settings_dict["NAME"]
    sql("CREATE USER IF NOT EXISTS 'om_plain'@'127.0.0.1'")
    sql(f"GRANT ALL ON `{database}`.* TO 'om_plain'@'127.0.0.1'")
    connections.settings["om_plain"] = {**connections.settings["default"], "USER": "om_plain", "PASSWORD": ""}
    try:
        new = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), KEY `t_a` (`a`))"
        change_table("om_plain", "t", new, [], ["id", "a"], ["id", "a"], busy_chunk_time=0)
        assert "verifying the new table while its indexes are built" in caplog.text
        caplog.clear()
        finish_migration("om_plain", "t")
    finally:
        del connections.settings["om_plain"]
        sql("DROP USER 'om_plain'@'127.0.0.1'")
    assert "verified: the new table holds the same rows" in caplog.text
    assert "without the PROCESS privilege" in caplog.text
    assert [r[2] for r in sql("SHOW INDEX FROM `t`")] == ["PRIMARY", "t_a"]


def test_a_build_over_before_the_verification_began_leaves_it_to_the_swap(sql, caplog):
    caplog.set_level("INFO", logger="online_migrations")
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20))")
    sql("INSERT INTO `t` SELECT seq, CONCAT('row ', seq) FROM seq_1_to_500")
    new = "CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` varchar(20), KEY `t_a` (`a`))"
    change_table("default", "t", new, [], ["id", "a"], ["id", "a"], busy_chunk_time=0)
    assert "the indexes were built before the verification began; it is done before the swap" in caplog.text
    assert "verified:" not in caplog.text
    finish_migration("default", "t")
    assert "verified: the new table holds the same rows" in caplog.text


def test_a_checkpoint_table_from_an_older_version_is_named(sql):
    field = OnlineRun._meta.get_field("verification")
    with connection.schema_editor() as editor:
        editor.remove_field(OnlineRun, field)
    try:
        with pytest.raises(OnlineMigrationError, match=r"from an older version of online_migrations \(Unknown column "
                           r"'verification'.*\)\. Run `./manage.py migrate online_migrations --database default`"):
            finish_migration("default", "t")
    finally:
        with connection.schema_editor() as editor:
            editor.add_field(OnlineRun, field)


def test_a_run_whose_triggers_were_replaced_is_not_continued(sql):
    sql("CREATE TABLE `t` (`id` int NOT NULL PRIMARY KEY, `a` int)")
    change_table("default", "t", "CREATE TABLE `t` (`id` int PRIMARY KEY, `a` int)", [], ["id", "a"], ["id", "a"])
    sql("DROP TRIGGER `_t_ins`")
    sql("CREATE TRIGGER `_t_ins` AFTER INSERT ON `t` FOR EACH ROW SET @nothing = 1")
    with pytest.raises(OnlineMigrationError, match=r"The triggers `_t_ins` on `t` are not the ones .*online_migration abort t"):
        restart_copy("default", "t", ["id", "a"], ["id", "a"])
