"""Table descriptions parsed from what this MariaDB really prints, plus hand-written MySQL 8 output.

The server is the ground truth: MariaDB rewrites types, defaults, key order and options, so
every DB test creates a table and parses the server's own SHOW CREATE TABLE.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.db import connection

from online_migrations.describe import (
    Check,
    Column,
    ForeignKey,
    Index,
    IndexPart,
    Table,
    TableDescriptionError,
    describe_table,
    parse_create_table,
)
from online_migrations.sql import quote_name

real_db = pytest.mark.django_db(transaction=True)

MakeTable = Callable[..., Table]


@pytest.fixture
def make_table() -> Iterator[MakeTable]:
    """Creates tables and drops them afterwards (children first), so tests never see each other's tables."""
    names: list[str] = []

    def make(name: str, body: str, options: str = "") -> Table:
        with connection.cursor() as cursor:
            cursor.execute(f"CREATE TABLE {quote_name(name)} ({body}) {options}")
            names.append(name)
            return describe_table(cursor, name)

    yield make
    with connection.cursor() as cursor:
        for name in reversed(names):
            cursor.execute(f"DROP TABLE {quote_name(name)}")


def column(name: str, type: str, **fields: Any) -> Column:
    """A nullable plain column as MariaDB shows it (``DEFAULT NULL``), with ``fields`` overriding."""
    plain: dict[str, Any] = {
        "nullable": True,
        "default": "NULL",
        "auto_increment": False,
        "charset": None,
        "collation": None,
        "generated": None,
        "stored": False,
        "on_update": None,
        "comment": None,
        "invisible": False,
    }
    return Column(name=name, type=type, **(plain | fields))


def part(column: str, length: int | None = None, descending: bool = False) -> IndexPart:
    return IndexPart(column, length, descending)


# ---------------------------------------------------------------------------------------------
# Column types


@real_db
def test_integer_types(make_table: MakeTable) -> None:
    table = make_table(
        "ints",
        """id bigint unsigned NOT NULL AUTO_INCREMENT PRIMARY KEY,
        ti tinyint, tu tinyint unsigned, tz tinyint zerofill,
        si smallint, su smallint unsigned zerofill, mi mediumint(5), mu mediumint unsigned,
        i int signed, iu int unsigned NOT NULL DEFAULT 7, bi bigint DEFAULT -3, flag bool DEFAULT true""",
    )
    assert table.columns == (
        column("id", "bigint(20) unsigned", nullable=False, default=None, auto_increment=True),
        column("ti", "tinyint(4)"),
        column("tu", "tinyint(3) unsigned"),
        column("tz", "tinyint(3) unsigned zerofill"),
        column("si", "smallint(6)"),
        column("su", "smallint(5) unsigned zerofill"),
        column("mi", "mediumint(5)"),
        column("mu", "mediumint(8) unsigned"),
        column("i", "int(11)"),
        column("iu", "int(10) unsigned", nullable=False, default="7"),
        column("bi", "bigint(20)", default="-3"),
        column("flag", "tinyint(1)", default="1"),
    )


@real_db
def test_numeric_types(make_table: MakeTable) -> None:
    table = make_table(
        "nums",
        """d decimal(12,2) DEFAULT 1.50, dz decimal(5,0) unsigned DEFAULT 0, f float, fp float(7,3),
        db double DEFAULT 2.5e10, tiny double DEFAULT -1.5e-3, huge double DEFAULT 1e300, b bit(3) DEFAULT b'101'""",
    )
    assert table.columns == (
        column("d", "decimal(12,2)", default="1.50"),
        column("dz", "decimal(5,0) unsigned", default="0"),
        column("f", "float"),
        column("fp", "float(7,3)"),
        column("db", "double", default="25000000000"),
        column("tiny", "double", default="-0.0015"),
        column("huge", "double", default="1e300"),
        column("b", "bit(3)", default="b'101'"),
    )


@real_db
def test_temporal_types(make_table: MakeTable) -> None:
    table = make_table(
        "times",
        """d date DEFAULT '2020-01-01', t time(3), y year,
        dt datetime(6) DEFAULT current_timestamp(6) ON UPDATE current_timestamp(6),
        ts timestamp NOT NULL DEFAULT current_timestamp ON UPDATE current_timestamp,
        tn timestamp NULL DEFAULT NULL, later datetime DEFAULT (now() + interval 1 day)""",
    )
    assert table.columns == (
        column("d", "date", default="'2020-01-01'"),
        column("t", "time(3)"),
        column("y", "year(4)"),
        column("dt", "datetime(6)", default="current_timestamp(6)", on_update="current_timestamp(6)"),
        column("ts", "timestamp", nullable=False, default="current_timestamp()", on_update="current_timestamp()"),
        column("tn", "timestamp"),
        column("later", "datetime", default="(current_timestamp() + interval 1 day)"),
    )


@real_db
def test_string_and_binary_types(make_table: MakeTable) -> None:
    table = make_table(
        "strings",
        """c char(3) CHARACTER SET latin1 COLLATE latin1_bin, v varchar(255) COLLATE utf8mb4_bin,
        a varchar(5) CHARSET ascii, cb char(1) binary, z varchar(10) compressed,
        tt tinytext, t text, mt mediumtext, lt longtext, tb tinyblob, b blob, mb mediumblob, lb longblob,
        bn binary(16), vb varbinary(100)""",
        "DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_unicode_ci",
    )
    assert table.columns == (
        column("c", "char(3)", charset="latin1", collation="latin1_bin"),
        column("v", "varchar(255)", charset="utf8mb4", collation="utf8mb4_bin"),
        column("a", "varchar(5)", charset="ascii", collation="ascii_general_ci"),
        column("cb", "char(1)", charset="utf8mb4", collation="utf8mb4_bin"),
        column("z", "varchar(10) compressed"),  # shown as /*M!100301 COMPRESSED*/
        column("tt", "tinytext"),
        column("t", "text"),
        column("mt", "mediumtext"),
        column("lt", "longtext"),
        column("tb", "tinyblob"),
        column("b", "blob"),
        column("mb", "mediumblob"),
        column("lb", "longblob"),
        column("bn", "binary(16)"),
        column("vb", "varbinary(100)"),
    )


@real_db
def test_enum_and_set_values_keep_their_quoting(make_table: MakeTable) -> None:
    table = make_table(
        "choices",
        r"""e enum('a','b''c','d,e','f\\g','(h)') NOT NULL DEFAULT 'b''c', s set('x','y''z','Q') DEFAULT 'x,Q'""",
    )
    assert table.columns == (
        column("e", r"enum('a','b''c','d,e','f\\g','(h)')", nullable=False, default="'b''c'"),
        column("s", "set('x','y''z','Q')", default="'x,Q'"),
    )


@real_db
def test_json_uuid_inet6(make_table: MakeTable) -> None:
    table = make_table("modern", "j json, u uuid DEFAULT uuid(), ip inet6 NOT NULL")
    # MariaDB's JSON is an alias: longtext plus a column-level CHECK named after the column.
    assert table.columns == (
        column("j", "longtext", charset="utf8mb4", collation="utf8mb4_bin"),
        column("u", "uuid", default="uuid()"),
        column("ip", "inet6", nullable=False, default=None),
    )
    assert table.checks == (Check("j", "json_valid(`j`)"),)


@real_db
def test_geometry_types(make_table: MakeTable) -> None:
    kinds = ["geometry", "point", "linestring", "polygon", "multipoint", "multilinestring", "multipolygon", "geometrycollection"]
    table = make_table("shapes", ", ".join(f"c_{kind} {kind}" for kind in kinds))
    assert table.columns == tuple(column(f"c_{kind}", kind) for kind in kinds)


# ---------------------------------------------------------------------------------------------
# Column attributes


@real_db
def test_defaults_are_kept_as_sql_text(make_table: MakeTable) -> None:
    table = make_table(
        "defaults",
        r"""plus int DEFAULT (1+1), fn char(36) DEFAULT (uuid()), cat varchar(20) DEFAULT concat('x', ',', ')'),
        empty varchar(3) DEFAULT '', quoted varchar(10) DEFAULT 'it''s, (x)', backslash varchar(10) DEFAULT 'a\\',
        esc varchar(10) DEFAULT 'b\'x', neg int DEFAULT (-1), today date DEFAULT (curdate()),
        big bigint DEFAULT 9223372036854775807, none int NOT NULL, txt text DEFAULT ('a')""",
    )
    defaults = {c.name: c.default for c in table.columns}
    assert defaults == {
        "plus": "(1 + 1)",
        "fn": "uuid()",
        "cat": "concat('x',',',')')",
        "empty": "''",
        "quoted": "'it''s, (x)'",
        "backslash": r"'a\\'",
        "esc": "'b''x'",
        "neg": "-1",
        "today": "curdate()",
        "big": "9223372036854775807",
        "none": None,
        "txt": "'a'",
    }


@real_db
def test_generated_columns(make_table: MakeTable) -> None:
    table = make_table(
        "gen",
        """a int, r varchar(20),
        v int AS (a + 1) VIRTUAL, p varchar(30) AS (concat(r, 'x''y')) PERSISTENT,
        s int GENERATED ALWAYS AS (a * 2) STORED COMMENT 'doubled', h int AS (a) VIRTUAL INVISIBLE""",
    )
    assert table.columns[2:] == (
        column("v", "int(11)", default=None, generated="`a` + 1"),
        column("p", "varchar(30)", default=None, generated=r"concat(`r`,'x\'y')", stored=True),
        column("s", "int(11)", default=None, generated="`a` * 2", stored=True, comment="doubled"),
        column("h", "int(11)", default=None, generated="`a`", invisible=True),
    )


@real_db
def test_invisible_columns_and_comments(make_table: MakeTable) -> None:
    table = make_table(
        "commented",
        r"""id int NOT NULL DEFAULT 1 COMMENT 'trail\\',
        hid varchar(5) NOT NULL DEFAULT 'x' INVISIBLE COMMENT 'it''s hidden "yes"',
        multi int COMMENT 'line1\nline2\ttab \'s'""",
        "COMMENT='table''s comment, (really)'",
    )
    assert table.columns == (
        column("id", "int(11)", nullable=False, default="1", comment="trail\\"),
        column("hid", "varchar(5)", nullable=False, default="'x'", invisible=True, comment='it\'s hidden "yes"'),
        column("multi", "int(11)", comment="line1\nline2\ttab 's"),
    )
    assert table.options["COMMENT"] == "table's comment, (really)"


# ---------------------------------------------------------------------------------------------
# Keys and constraints


@real_db
def test_indexes(make_table: MakeTable) -> None:
    table = make_table(
        "indexed",
        """id int NOT NULL, a int NOT NULL, b int, r varchar(255), q char(3), t text, u text, pt point NOT NULL,
        UNIQUE KEY uq (a, b), KEY pre (r(10), q DESC), FULLTEXT KEY ft (t, u), SPATIAL KEY sp (pt),
        KEY hashed (b) USING HASH COMMENT 'idx ''c''', KEY tree (a) USING BTREE, KEY (q),
        PRIMARY KEY (id, a)""",
    )
    # PRIMARY first; MariaDB then shows UNIQUE, plain and SPATIAL keys, and FULLTEXT keys last.
    assert table.indexes == (
        Index("PRIMARY", (part("id"), part("a")), unique=True, kind="BTREE", using=None, comment=None),
        Index("uq", (part("a"), part("b")), unique=True, kind="BTREE", using=None, comment=None),
        Index("pre", (part("r", 10), part("q", descending=True)), unique=False, kind="BTREE", using=None, comment=None),
        Index("sp", (part("pt"),), unique=False, kind="SPATIAL", using=None, comment=None),
        Index("hashed", (part("b"),), unique=False, kind="BTREE", using="HASH", comment="idx 'c'"),
        Index("tree", (part("a"),), unique=False, kind="BTREE", using="BTREE", comment=None),
        Index("q", (part("q"),), unique=False, kind="BTREE", using=None, comment=None),
        Index("ft", (part("t"), part("u")), unique=False, kind="FULLTEXT", using=None, comment=None),
    )
    assert table.primary_key == table.indexes[0]
    assert table.primary_key.primary and table.primary_key.columns == ("id", "a")
    assert not table.indexes[1].primary


@real_db
def test_unique_not_null_keys(make_table: MakeTable) -> None:
    table = make_table(
        "keys",
        """a int NOT NULL, b int NOT NULL, c int, s varchar(50) NOT NULL, t text NOT NULL,
        UNIQUE KEY with_null (a, c), UNIQUE KEY prefixed (s(10)), UNIQUE KEY good (b, s),
        UNIQUE KEY long_unique (t), KEY plain (a), PRIMARY KEY (a)""",
    )
    # MariaDB's long unique on a blob shows as USING HASH over full columns, so it qualifies.
    assert [index.name for index in table.unique_not_null_keys()] == ["PRIMARY", "good", "long_unique"]


@real_db
def test_table_without_primary_key(make_table: MakeTable) -> None:
    table = make_table("heap", "a int NOT NULL, UNIQUE KEY ua (a)")
    assert table.primary_key is None
    assert table.unique_not_null_keys() == (table.indexes[0],)


@real_db
def test_foreign_keys(make_table: MakeTable) -> None:
    make_table("parent", "id int PRIMARY KEY, code int, UNIQUE KEY (code)")
    table = make_table(
        "child",
        """id int PRIMARY KEY, pid int, pcode int, self_ref int, KEY id_code (id, pcode),
        CONSTRAINT fk1 FOREIGN KEY (pid) REFERENCES parent (id) ON DELETE CASCADE ON UPDATE SET NULL,
        FOREIGN KEY (pcode) REFERENCES parent (code) ON UPDATE NO ACTION ON DELETE RESTRICT,
        CONSTRAINT `self ref` FOREIGN KEY (self_ref, pid) REFERENCES child (id, pcode) ON DELETE SET NULL""",
    )
    # Sorted by name; RESTRICT is the default and not shown; each FK got a supporting KEY.
    assert table.foreign_keys == (
        ForeignKey("child_ibfk_1", ("pcode",), "parent", ("code",), on_delete=None, on_update="NO ACTION"),
        ForeignKey("fk1", ("pid",), "parent", ("id",), on_delete="CASCADE", on_update="SET NULL"),
        ForeignKey("self ref", ("self_ref", "pid"), "child", ("id", "pcode"), on_delete="SET NULL", on_update=None),
    )
    assert [index.name for index in table.indexes] == ["PRIMARY", "id_code", "fk1", "pcode", "self ref"]


@real_db
def test_check_constraints(make_table: MakeTable) -> None:
    table = make_table(
        "checked",
        """a int CHECK (a > 0), r varchar(10),
        CONSTRAINT chk_r CHECK (r <> 'a,)b' AND a < 100), CHECK (a <> 42)""",
    )
    assert table.checks == (
        Check("a", "`a` > 0"),
        Check("chk_r", "`r` <> 'a,)b' and `a` < 100"),
        Check("CONSTRAINT_1", "`a` <> 42"),
    )
    assert table.column("a") == column("a", "int(11)")


# ---------------------------------------------------------------------------------------------
# Partitions and options


@real_db
def test_range_partitions(make_table: MakeTable) -> None:
    table = make_table(
        "by_range",
        "id int NOT NULL, d date NOT NULL, PRIMARY KEY (id, d)",
        "PARTITION BY RANGE (year(d)) (PARTITION p0 VALUES LESS THAN (2000) COMMENT 'it''s', PARTITION p1 VALUES LESS THAN MAXVALUE)",
    )
    assert table.partitioning == (
        "PARTITION BY RANGE (year(`d`))\n"
        "(PARTITION `p0` VALUES LESS THAN (2000) COMMENT = 'it\\'s' ENGINE = InnoDB,\n"
        " PARTITION `p1` VALUES LESS THAN MAXVALUE ENGINE = InnoDB)"
    )
    assert table.options == {"ENGINE": "InnoDB", "DEFAULT CHARSET": "utf8mb4", "COLLATE": "utf8mb4_unicode_ci"}


@real_db
def test_hash_list_and_sub_partitions(make_table: MakeTable) -> None:
    hashed = make_table("by_hash", "id int NOT NULL PRIMARY KEY", "PARTITION BY HASH (id) PARTITIONS 4")
    listed = make_table(
        "by_list", "id int NOT NULL PRIMARY KEY", "PARTITION BY LIST (id) (PARTITION a VALUES IN (1,2), PARTITION b VALUES IN (3))"
    )
    sub = make_table(
        "by_columns",
        "a int NOT NULL, b int NOT NULL, PRIMARY KEY (a, b)",
        "PARTITION BY RANGE COLUMNS (a, b) SUBPARTITION BY HASH (b) SUBPARTITIONS 2 "
        "(PARTITION p0 VALUES LESS THAN (1, 2), PARTITION p1 VALUES LESS THAN (MAXVALUE, MAXVALUE))",
    )
    assert hashed.partitioning == "PARTITION BY HASH (`id`)\nPARTITIONS 4"
    assert listed.partitioning == (
        "PARTITION BY LIST (`id`)\n(PARTITION `a` VALUES IN (1,2) ENGINE = InnoDB,\n PARTITION `b` VALUES IN (3) ENGINE = InnoDB)"
    )
    assert sub.partitioning.startswith("PARTITION BY RANGE  COLUMNS(`a`,`b`)\nSUBPARTITION BY HASH (`b`)\nSUBPARTITIONS 2\n")
    assert sub.partitioning.endswith("PARTITION `p1` VALUES LESS THAN (MAXVALUE,MAXVALUE) ENGINE = InnoDB)")


@real_db
def test_table_options(make_table: MakeTable) -> None:
    myisam = make_table(
        "opts_myisam",
        "id int AUTO_INCREMENT PRIMARY KEY",
        "ENGINE=MyISAM AUTO_INCREMENT=42 CHECKSUM=1 PACK_KEYS=1 MAX_ROWS=100 ROW_FORMAT=FIXED "
        "COMMENT='x' CONNECTION='y' DEFAULT CHARSET=latin1",
    )
    innodb = make_table(
        "opts_innodb",
        "id int PRIMARY KEY",
        "ENGINE=InnoDB ROW_FORMAT=DYNAMIC STATS_SAMPLE_PAGES=5 page_compressed=1 WITH SYSTEM VERSIONING",
    )
    assert myisam.options == {
        "ENGINE": "MyISAM",
        "AUTO_INCREMENT": "42",
        "DEFAULT CHARSET": "latin1",
        "COLLATE": "latin1_swedish_ci",
        "MAX_ROWS": "100",
        "PACK_KEYS": "1",
        "CHECKSUM": "1",
        "ROW_FORMAT": "FIXED",
        "COMMENT": "x",
        "CONNECTION": "y",
    }
    # Engine-defined options come back as `page_compressed`='1'; system versioning is a bare flag.
    assert innodb.options == {
        "ENGINE": "InnoDB",
        "DEFAULT CHARSET": "utf8mb4",
        "COLLATE": "utf8mb4_unicode_ci",
        "STATS_SAMPLE_PAGES": "5",
        "ROW_FORMAT": "DYNAMIC",
        "PAGE_COMPRESSED": "1",
        "WITH SYSTEM VERSIONING": "",
    }
    assert myisam.partitioning is None


# ---------------------------------------------------------------------------------------------
# Names and lookups


@real_db
def test_awkward_names(make_table: MakeTable) -> None:
    table = make_table(
        "we`ird tab%le",
        """`col``one` int PRIMARY KEY, `order` int, `select` int, `колонка` int, `a b` int, `ünïcödé` varchar(5),
        UNIQUE KEY `un ique` (`order`, `a b`), KEY `ключ` (`колонка`), KEY `ix``q` (`col``one`)""",
    )
    assert table.name == "we`ird tab%le"
    assert table.column_names == ("col`one", "order", "select", "колонка", "a b", "ünïcödé")
    assert [(index.name, index.columns) for index in table.indexes] == [
        ("PRIMARY", ("col`one",)),
        ("un ique", ("order", "a b")),
        ("ключ", ("колонка",)),
        ("ix`q", ("col`one",)),
    ]
    assert table.column("ünïcödé").type == "varchar(5)"
    with pytest.raises(KeyError):
        table.column("ORDER")


@real_db
def test_raw_mysqldb_cursor(make_table: MakeTable) -> None:
    make_table("raw_cursor", "id int PRIMARY KEY")
    assert describe_table(connection.connection.cursor(), "raw_cursor").column_names == ("id",)


@real_db
def test_binary_defaults_keep_their_bytes(make_table: MakeTable) -> None:
    """The server prints them as raw bytes, no UTF-8 at times; the session's own result
    character set is put back afterwards."""
    table = make_table("binary_defaults", "b binary(2) DEFAULT x'ff00', v varbinary(4) DEFAULT x'c3a9', t char DEFAULT 'é'")
    assert {c.name: c.default for c in table.columns} == {"b": "'\udcff\\0'", "v": "'é'", "t": "'é'"}
    with connection.cursor() as cursor:
        assert describe_table(cursor, "binary_defaults").digest() == table.digest()
        cursor.execute("SELECT @@character_set_results, 'é'")
        assert cursor.fetchone() == ("utf8mb4", "é")


@real_db
def test_system_versioned_tables(make_table: MakeTable) -> None:
    implicit = make_table("versioned", "id int PRIMARY KEY, a int", "WITH SYSTEM VERSIONING")
    explicit = make_table(
        "versioned_columns",
        "id int, s timestamp(6) GENERATED ALWAYS AS ROW START INVISIBLE,"
        " e timestamp(6) GENERATED ALWAYS AS ROW END INVISIBLE, PERIOD FOR SYSTEM_TIME (s, e), PRIMARY KEY (id)",
        "WITH SYSTEM VERSIONING",
    )
    one_column = make_table("versioned_column", "id int PRIMARY KEY, a int WITH SYSTEM VERSIONING")
    assert implicit.versioned and explicit.versioned and one_column.versioned
    assert [(c.name, c.generated, c.invisible) for c in explicit.columns] == [
        ("id", None, False), ("s", "ROW START", True), ("e", "ROW END", True)]
    assert explicit.primary_key.columns == ("id", "e")  # the server adds the ROW END column
    assert not make_table("plain", "id int PRIMARY KEY").versioned


@real_db
def test_ansi_quotes_sql_mode(make_table: MakeTable) -> None:
    make_table("ansi", "`a b` int, `c\"d` int, KEY k (`a b`)")
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.sql_mode")
        (mode,) = cursor.fetchone()
        cursor.execute("SET SESSION sql_mode = 'ANSI'")
        try:
            table = describe_table(cursor, "ansi")
        finally:
            cursor.execute("SET SESSION sql_mode = %s", [mode])
    assert table.column_names == ("a b", 'c"d')
    assert table.indexes[0].columns == ("a b",)
    assert table.options == {}  # ANSI mode drops ENGINE, CHARSET... from the output


# ---------------------------------------------------------------------------------------------
# Errors


@real_db
def test_missing_table_is_named() -> None:
    with connection.cursor() as cursor, pytest.raises(TableDescriptionError, match="`no such` does not exist"):
        describe_table(cursor, "no such")


@real_db
def test_view_is_not_a_table() -> None:
    with connection.cursor() as cursor:
        cursor.execute("CREATE VIEW a_view AS SELECT 1 AS one")
        try:
            with pytest.raises(TableDescriptionError, match="`a_view`.*expected TABLE"):
                describe_table(cursor, "a_view")
        finally:
            cursor.execute("DROP VIEW a_view")


@real_db
def test_attribute_the_description_cannot_hold_is_refused(make_table: MakeTable) -> None:
    with pytest.raises(TableDescriptionError, match=r"index `ie`: expected USING or COMMENT, found 'IGNORED"):
        make_table("ignored", "a int, KEY ie (a) IGNORED")


def test_unparseable_sql_says_where() -> None:
    with pytest.raises(TableDescriptionError, match=r"column `pt`: .*found 'SRID 4326"):
        parse_create_table("CREATE TABLE `t` (\n  `pt` point NOT NULL /*!80003 SRID 4326 */\n)")
    with pytest.raises(TableDescriptionError, match=r"expected '\)'"):
        parse_create_table("CREATE TABLE `t` (`a` int(11) DEFAULT concat('x',")
    with pytest.raises(TableDescriptionError, match="expected TABLE"):
        parse_create_table("CREATE VIEW `v` AS SELECT 1")
    assert issubclass(TableDescriptionError, ValueError)


# ---------------------------------------------------------------------------------------------
# Hand-written MySQL output


MYSQL8 = """CREATE TABLE `orders` (
  `id` int NOT NULL AUTO_INCREMENT,
  `uuid` char(36) COLLATE utf8mb4_0900_ai_ci NOT NULL DEFAULT (uuid()),
  `created` timestamp NULL DEFAULT CURRENT_TIMESTAMP ON UPDATE CURRENT_TIMESTAMP,
  `total` decimal(10,2) unsigned NOT NULL DEFAULT '0.00',
  `doc` json DEFAULT NULL,
  `label` varchar(100) CHARACTER SET utf8mb3 COLLATE utf8mb3_general_ci DEFAULT _utf8mb3'n/a',
  `full` varchar(201) COLLATE utf8mb4_0900_ai_ci GENERATED ALWAYS AS (concat(`label`,_utf8mb4' ',`uuid`)) VIRTUAL,
  `secret` int DEFAULT NULL /*!80023 INVISIBLE */,
  `flags` bit(8) NOT NULL DEFAULT b'0',
  PRIMARY KEY (`id`),
  UNIQUE KEY `uuid` (`uuid`),
  KEY `label_idx` (`label`(10)),
  KEY `created_desc` (`created` DESC),
  CONSTRAINT `orders_chk_1` CHECK ((`total` >= 0))
) ENGINE=InnoDB AUTO_INCREMENT=7 DEFAULT CHARSET=utf8mb4 COLLATE=utf8mb4_0900_ai_ci
/*!50100 PARTITION BY RANGE (`id`)
(PARTITION p0 VALUES LESS THAN (1000) ENGINE = InnoDB,
 PARTITION p1 VALUES LESS THAN MAXVALUE ENGINE = InnoDB) */"""


def test_mysql8_columns() -> None:
    table = parse_create_table(MYSQL8)
    assert table.columns == (
        column("id", "int", nullable=False, default=None, auto_increment=True),
        column("uuid", "char(36)", nullable=False, default="(uuid())", collation="utf8mb4_0900_ai_ci"),
        column("created", "timestamp", default="CURRENT_TIMESTAMP", on_update="CURRENT_TIMESTAMP"),
        column("total", "decimal(10,2) unsigned", nullable=False, default="'0.00'"),
        column("doc", "json"),
        column("label", "varchar(100)", default="_utf8mb3'n/a'", charset="utf8mb3", collation="utf8mb3_general_ci"),
        column(
            "full",
            "varchar(201)",
            default=None,
            collation="utf8mb4_0900_ai_ci",
            generated="concat(`label`,_utf8mb4' ',`uuid`)",
        ),
        column("secret", "int", invisible=True),
        column("flags", "bit(8)", nullable=False, default="b'0'"),
    )


def test_mysql8_keys_options_and_partitions() -> None:
    table = parse_create_table(MYSQL8)
    assert [(i.name, i.parts, i.unique) for i in table.indexes] == [
        ("PRIMARY", (part("id"),), True),
        ("uuid", (part("uuid"),), True),
        ("label_idx", (part("label", 10),), False),
        ("created_desc", (part("created", descending=True),), False),
    ]
    assert table.checks == (Check("orders_chk_1", "(`total` >= 0)"),)
    assert table.options == {
        "ENGINE": "InnoDB",
        "AUTO_INCREMENT": "7",
        "DEFAULT CHARSET": "utf8mb4",
        "COLLATE": "utf8mb4_0900_ai_ci",
    }
    assert table.partitioning == (
        "PARTITION BY RANGE (`id`)\n(PARTITION p0 VALUES LESS THAN (1000) ENGINE = InnoDB,\n"
        " PARTITION p1 VALUES LESS THAN MAXVALUE ENGINE = InnoDB)"
    )
    assert [index.name for index in table.unique_not_null_keys()] == ["PRIMARY", "uuid"]


def test_mysql57_foreign_keys_and_hash_partitions() -> None:
    table = parse_create_table(
        """CREATE TABLE `child` (
  `id` int(11) NOT NULL,
  `pid` int(11) DEFAULT NULL,
  UNIQUE KEY `id` (`id`) USING BTREE,
  KEY `pid` (`pid`),
  PRIMARY KEY (`id`),
  CONSTRAINT `child_ibfk_1` FOREIGN KEY (`pid`) REFERENCES `other_db`.`parent` (`id`) ON DELETE CASCADE
) ENGINE=InnoDB DEFAULT CHARSET=latin1 ROW_FORMAT=COMPRESSED KEY_BLOCK_SIZE=8
/*!50100 PARTITION BY HASH (id)
PARTITIONS 4 */"""
    )
    assert table.foreign_keys == (
        ForeignKey("child_ibfk_1", ("pid",), "parent", ("id",), "CASCADE", None, ref_schema="other_db"),
    )
    assert [index.name for index in table.indexes] == ["PRIMARY", "id", "pid"]
    assert table.indexes[1].using == "BTREE"
    assert table.options["KEY_BLOCK_SIZE"] == "8"
    assert table.partitioning == "PARTITION BY HASH (id)\nPARTITIONS 4"


def test_unquoted_identifiers() -> None:
    """``sql_quote_show_create=0`` prints plain names."""
    table = parse_create_table("CREATE TABLE t7 (\n  a int(11) DEFAULT NULL,\n  KEY a (a)\n)")
    assert table.name == "t7"
    assert table.columns == (column("a", "int(11)"),)
    assert table.indexes[0].columns == ("a",)


def test_quote_name() -> None:
    assert quote_name("plain") == "`plain`"
    assert quote_name("we`ird``") == "`we``ird`````"
