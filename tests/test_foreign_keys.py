"""Foreign keys on a real server: the table's own are recreated on the new table under
alternating names, child tables are carried over to the new table by the swap (and recovered
after a crash there), and big children are refused before anything changes."""

import random
import re
import time
from unittest import mock

import pytest
from django.db import connections, models
from django.db.migrations import operations as dj
from django.db.migrations.migration import Migration
from django.db.migrations.state import ModelState, ProjectState

from online_migrations import (
    OnlineMigrationError, abort_migration, change_table, engine, finish_migration, restart_copy,
)
from online_migrations.cutover import swap_sql
from online_migrations.operations import OnlineAlterTable

from .concurrency import Spec, Writers, assert_same_data, chunks_between_writes

AUTHORS = 50
DEST_TABLE_SQL = """
CREATE TABLE `p` (
    `id` int NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `a_id` int NOT NULL,
    `title` varchar(40) NOT NULL,
    `pages` int NOT NULL DEFAULT 7,
    CONSTRAINT `fk_p_a` FOREIGN KEY (`a_id`) REFERENCES `a` (`id`) ON DELETE CASCADE
)
"""
COLUMNS = ["id", "a_id", "title"]


def make_tables(sql, rows=2000, children_rows=200):
    sql("CREATE TABLE a (id int PRIMARY KEY, name varchar(20) NOT NULL)")
    sql("INSERT INTO a SELECT seq, CONCAT('author ', seq) FROM seq_1_to_%s" % AUTHORS)
    sql("CREATE TABLE p (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, a_id int NOT NULL, title varchar(40) NOT NULL,"
        " CONSTRAINT fk_p_a FOREIGN KEY (a_id) REFERENCES a (id) ON DELETE CASCADE)")
    sql(f"INSERT INTO p (a_id, title) SELECT 1 + seq % {AUTHORS}, CONCAT('t', seq) FROM seq_1_to_{rows}")
    sql("CREATE TABLE c1 (id int PRIMARY KEY, p_id int NOT NULL,"
        " CONSTRAINT fk_c1_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE CASCADE ON UPDATE CASCADE)")
    sql("CREATE TABLE c2 (id int PRIMARY KEY, p_id int,"
        " CONSTRAINT fk_c2_p FOREIGN KEY (p_id) REFERENCES p (id) ON DELETE SET NULL ON UPDATE CASCADE)")
    for child in ("c1", "c2"):
        sql(f"INSERT INTO {child} SELECT seq, 1 + seq % {rows} FROM seq_1_to_{children_rows}")
        sql(f"ANALYZE TABLE {child}")


def foreign_keys(sql):
    """(table, constraint, referenced table) of every foreign key in the database."""
    return sorted(sql(
        "SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
        " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME IN ('p', 'c1', 'c2', '_p_new', '_p_old')"))


def fk_columns(sql, constraint):
    return sql("SELECT TABLE_NAME, COLUMN_NAME, REFERENCED_TABLE_NAME, REFERENCED_COLUMN_NAME"
               " FROM information_schema.KEY_COLUMN_USAGE WHERE TABLE_SCHEMA = DATABASE() AND CONSTRAINT_NAME = %s",
               [constraint])


def assert_enforced(sql):
    """Inserts that break each foreign key fail; their targets are the live tables."""
    for statement in ["INSERT INTO p (a_id, title) VALUES (99999, 'x')", "INSERT INTO c1 VALUES (99999, 99999)",
                      "INSERT INTO c2 VALUES (99999, 99999)"]:
        with pytest.raises(Exception) as error:
            sql(statement)
        assert error.value.args[0] == 1452, error.value
    new_id = sql.value("SELECT MAX(id) FROM p")
    sql("INSERT INTO c1 VALUES (99998, %s)", [new_id])  # a row of the new table is a valid parent
    sql("DELETE FROM p WHERE id = %s", [new_id])
    assert sql.value("SELECT COUNT(*) FROM c1 WHERE id = 99998") == 0  # and cascades reach the children


def assert_nothing_left(sql):
    assert not [t for t in sql.tables() if t.startswith("_p_")] and not sql.triggers()
    assert not sql("SELECT * FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
                   " AND (REFERENCED_TABLE_NAME LIKE '\\_p\\_%' OR TABLE_NAME LIKE '\\_p\\_%')")


def finish_while_writing(writers, table):
    """The swap with the writers going on through it, for another hundred writes, of every kind."""
    before_swap = writers.writes
    finish_migration("default", table)
    while writers.writes < before_swap + 100:
        time.sleep(0.01)
    counts = writers.stop()
    assert not counts.other_errors, counts.other_errors[:3]
    assert counts.inserts and counts.updates and counts.deletes and counts.key_updates


@pytest.mark.django_db(transaction=True)
def test_seed_interface_keeps_own_and_children_foreign_keys_under_writers(sql):
    make_tables(sql)
    writers = Writers(Spec("p", ("id",), lambda rnd: {"a_id": rnd.randrange(1, AUTHORS + 1),
                                                      "title": f"w{rnd.randrange(10**6)}"}, auto_key=True))
    writers.prepare(sql)
    with writers:
        change_table("default", "p", DEST_TABLE_SQL, [], COLUMNS, COLUMNS + ["pages"], chunk_size=300)
        finish_while_writing(writers, "p")
    assert foreign_keys(sql) == [("c1", "_fk_c1_p", "p"), ("c2", "_fk_c2_p", "p"), ("p", "_fk_p_a", "a")]
    assert fk_columns(sql, "_fk_p_a") == [("p", "a_id", "a", "id")]
    assert fk_columns(sql, "_fk_c1_p") == [("c1", "p_id", "p", "id")]
    assert "ON DELETE SET NULL ON UPDATE CASCADE" in sql("SHOW CREATE TABLE c2")[0][1]
    assert_same_data(sql, "p", COLUMNS, "p__control", COLUMNS)
    # Cascades from the children's parent and to them went through: no orphans, nothing lost.
    assert sql.value("SELECT COUNT(*) FROM c1 LEFT JOIN p ON p.id = c1.p_id WHERE p.id IS NULL") == 0
    assert sql.value("SELECT COUNT(*) FROM c2 LEFT JOIN p ON p.id = c2.p_id WHERE c2.p_id IS NOT NULL AND p.id IS NULL") == 0
    assert_enforced(sql)
    assert_nothing_left(sql)

    # The next run takes the names back: they alternate and never grow.
    change_table("default", "p", DEST_TABLE_SQL.replace("DEFAULT 7", "DEFAULT 8"), [], COLUMNS + ["pages"],
                 COLUMNS + ["pages"])
    finish_migration("default", "p")
    assert foreign_keys(sql) == [("c1", "fk_c1_p", "p"), ("c2", "fk_c2_p", "p"), ("p", "fk_p_a", "a")]
    assert_enforced(sql)
    assert_nothing_left(sql)


@pytest.mark.django_db(transaction=True)
def test_a_foreign_key_the_server_rejects_changes_nothing(sql):
    make_tables(sql, rows=10)
    schema = sql.schema()
    bad = DEST_TABLE_SQL.replace("REFERENCES `a` (`id`)", "REFERENCES `a` (`name`)")
    with pytest.raises(OnlineMigrationError, match="The server rejects the new schema of `p`"):
        change_table("default", "p", bad, [], COLUMNS, COLUMNS + ["pages"])
    assert sql.schema() == schema
    unnamed = DEST_TABLE_SQL.replace("CONSTRAINT `fk_p_a` ", "").replace("`a` (`id`)", "`p` (`id`)")
    with pytest.raises(OnlineMigrationError, match="a foreign key to the table itself without a name"):
        change_table("default", "p", unnamed, [], COLUMNS, COLUMNS + ["pages"])
    assert sql.schema() == schema


@pytest.mark.django_db(transaction=True)
def test_big_child_is_refused_before_anything_changes(sql):
    make_tables(sql, rows=300, children_rows=150)
    schema = sql.schema()
    with pytest.raises(OnlineMigrationError) as error:
        change_table("default", "p", DEST_TABLE_SQL, [], COLUMNS, COLUMNS + ["pages"], max_child_rows=100)
    message = str(error.value)
    for expected in ["`c1` (~150 rows)", "`c2` (~150 rows)", "max_child_rows=100", "nothing was changed"]:
        assert expected in message, message
    assert sql.schema() == schema
    assert not sql("SELECT * FROM online_migrations_run WHERE table_name = 'p'")


TREE_SQL = """
CREATE TABLE `s` (
    `id` int NOT NULL AUTO_INCREMENT PRIMARY KEY,
    `parent` int NULL,
    `title` varchar(40) NOT NULL,
    `pages` int NOT NULL DEFAULT 7,
    KEY `s_parent` (`parent`),
    CONSTRAINT `fk_s` FOREIGN KEY (`parent`) REFERENCES `s` (`id`){actions}
)
"""
TREE_COLUMNS = ["id", "parent", "title"]
CASCADES = " ON DELETE CASCADE ON UPDATE CASCADE"


def make_tree(sql, actions, rows=2000):
    """A table whose rows name a parent row of the same table (a Django ForeignKey("self"))."""
    sql("CREATE TABLE s (id int NOT NULL AUTO_INCREMENT PRIMARY KEY, parent int NULL, title varchar(40) NOT NULL,"
        f" KEY s_parent (parent), CONSTRAINT fk_s FOREIGN KEY (parent) REFERENCES s (id){actions})")
    sql(f"INSERT INTO s (parent, title) SELECT IF(seq <= 50, NULL, 1 + seq % 50), CONCAT('t', seq) FROM seq_1_to_{rows}")


def tree_foreign_keys(sql):
    return sorted(sql("SELECT TABLE_NAME, CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                      " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME NOT LIKE '%\\_\\_control'"))


def assert_tree_enforced(sql, actions):
    with pytest.raises(Exception) as error:
        sql("INSERT INTO s (parent, title) VALUES (999999, 'orphan')")
    assert error.value.args[0] == 1452 and "`s`" in error.value.args[1], error.value
    sql("INSERT INTO s (parent, title) VALUES (NULL, 'root')")
    root = sql.value("SELECT LAST_INSERT_ID()")
    sql("INSERT INTO s (parent, title) VALUES (%s, 'leaf')", [root])
    if actions:
        sql("DELETE FROM s WHERE id = %s", [root])
        assert sql.value("SELECT COUNT(*) FROM s WHERE parent = %s", [root]) == 0
    else:
        with pytest.raises(Exception) as error:
            sql("DELETE FROM s WHERE id = %s", [root])
        assert error.value.args[0] == 1451, error.value
        sql("DELETE FROM s WHERE parent = %s", [root])
        sql("DELETE FROM s WHERE id = %s", [root])


def assert_tree_left_clean(sql):
    assert not [t for t in sql.tables() if t.startswith("_s_")] and not sql.triggers()
    assert not [fk for fk in tree_foreign_keys(sql) if fk[1].startswith("~")]


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("actions", ["", CASCADES], ids=["restrict", "cascade"])
def test_a_table_that_references_itself_keeps_its_foreign_key_under_writers(sql, actions):
    """The shadow's foreign key points at the original during the copy (every parent is there,
    and its cascades reach the shadow's rows), at the shadow itself from right before the swap."""
    make_tree(sql, actions)
    writers = None

    def make_row(rnd):
        parent = writers._pick(rnd)
        return {"parent": parent[0] if parent else None, "title": f"w{rnd.randrange(10**6)}"}

    # A parent deleted meanwhile, or (RESTRICT) one with children deleted or re-keyed, fails the
    # application's statement with or without a migration; never because of the shadow table.
    writers = Writers(Spec("s", ("id",), make_row, auto_key=True,
                           tolerated=lambda e: e.args[0] in (1451, 1452) and "_s_new" not in e.args[1]))
    writers.prepare(sql)
    sql(f"ALTER TABLE s__control ADD CONSTRAINT fk_s_control FOREIGN KEY (parent) REFERENCES s__control (id){actions}")
    with writers:
        with chunks_between_writes(writers):
            change_table("default", "s", TREE_SQL.format(actions=actions), [], TREE_COLUMNS, TREE_COLUMNS + ["pages"],
                         chunk_size=100, chunk_time=0, busy_chunk_time=0)
        assert ("_s_new", "~_fk_s", "s") in tree_foreign_keys(sql)  # the copy's parents: the original's rows
        finish_while_writing(writers, "s")
    assert_same_data(sql, "s", TREE_COLUMNS, "s__control", TREE_COLUMNS)
    assert tree_foreign_keys(sql) == [("s", "_fk_s", "s")]
    assert actions in sql("SHOW CREATE TABLE s")[0][1]
    assert_tree_enforced(sql, actions)
    assert_tree_left_clean(sql)

    # The next run takes the name back.
    change_table("default", "s", TREE_SQL.format(actions=actions).replace("DEFAULT 7", "DEFAULT 8"), [],
                 TREE_COLUMNS + ["pages"], TREE_COLUMNS + ["pages"])
    finish_migration("default", "s")
    assert ("s", "fk_s", "s") in tree_foreign_keys(sql)
    assert_tree_enforced(sql, actions)
    assert_tree_left_clean(sql)


@pytest.mark.django_db(transaction=True)
def test_a_table_that_references_itself_is_recovered_after_a_swap_by_hand(sql):
    """A RENAME made without pointing the shadow's foreign key at itself first leaves the new
    table's rows pointing at the old table: finishing points it at the new one."""
    make_tree(sql, CASCADES)
    before = sql("SELECT * FROM s ORDER BY id")
    change_table("default", "s", TREE_SQL.format(actions=CASCADES), [], TREE_COLUMNS, TREE_COLUMNS + ["pages"])
    sql(swap_sql("s"))
    sql("UPDATE online_migrations_run SET state = 'swapped' WHERE table_name = 's' AND state = 'copied'")
    assert ("s", "~_fk_s", "_s_old") in tree_foreign_keys(sql)

    finish_migration("default", "s")

    assert tree_foreign_keys(sql) == [("s", "_fk_s", "s")]
    assert sql("SELECT id, parent, title FROM s ORDER BY id") == before
    assert_tree_enforced(sql, CASCADES)
    assert_tree_left_clean(sql)


@pytest.mark.django_db(transaction=True)
def test_an_aborted_run_on_a_table_that_references_itself_leaves_it_as_it_was(sql):
    make_tree(sql, "", rows=300)
    schema, before = sql.schema(), sql("SELECT * FROM s ORDER BY id")
    change_table("default", "s", TREE_SQL.format(actions=""), [], TREE_COLUMNS, TREE_COLUMNS + ["pages"])
    abort_migration("default", "s")
    assert sql.schema() == schema and sql("SELECT * FROM s ORDER BY id") == before
    assert_tree_left_clean(sql)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("rebuilt", [0, 1])
def test_crash_between_swap_and_rebuild_is_recovered(sql, rebuilt):
    """The RENAME done, the checkpoint says swapped, and none (or one) of the children rebuilt:
    finishing again points them all at the new table and drops the old one."""
    make_tables(sql, rows=500)
    before = sql("SELECT * FROM p ORDER BY id")
    change_table("default", "p", DEST_TABLE_SQL, [], COLUMNS, COLUMNS + ["pages"])
    sql(swap_sql("p"))
    sql("UPDATE online_migrations_run SET state = 'swapped' WHERE table_name = 'p' AND state = 'copied'")
    assert ("c1", "fk_c1_p", "_p_old") in foreign_keys(sql)
    if rebuilt:
        sql("SET foreign_key_checks = 0")
        sql("ALTER TABLE c1 DROP FOREIGN KEY fk_c1_p, ADD CONSTRAINT _fk_c1_p FOREIGN KEY (p_id) REFERENCES p (id)"
            " ON DELETE CASCADE ON UPDATE CASCADE")
        sql("SET foreign_key_checks = 1")

    finish_migration("default", "p")

    assert foreign_keys(sql) == [("c1", "_fk_c1_p", "p"), ("c2", "_fk_c2_p", "p"), ("p", "_fk_p_a", "a")]
    assert sql("SELECT id, a_id, title FROM p ORDER BY id") == [row[:3] for row in before]
    assert_enforced(sql)
    assert_nothing_left(sql)


# --- the online operations ---------------------------------------------------------------

APP = "fktest"


def project_state():
    state = ProjectState()
    state.add_model(ModelState(APP, "Author", [("id", models.AutoField(primary_key=True)),
                                               ("name", models.CharField(max_length=20))]))
    state.add_model(ModelState(APP, "Book", [
        ("id", models.AutoField(primary_key=True)),
        ("title", models.CharField(max_length=40)),
        ("author", models.ForeignKey("Author", models.CASCADE)),
    ]))
    state.add_model(ModelState(APP, "Review", [("id", models.AutoField(primary_key=True)),
                                               ("book", models.ForeignKey("Book", models.CASCADE))]))
    return state


def book_changes():
    return [
        dj.AddField("book", "editor", models.ForeignKey("Author", models.SET_NULL, null=True, related_name="+")),
        dj.AlterField("book", "author", models.ForeignKey("Author", models.CASCADE, null=True)),
        dj.RenameField("book", "title", "name"),
    ]


def create_models(state, rows=300):
    with connections["default"].schema_editor() as editor:
        for model in ("Author", "Book", "Review"):
            editor.create_model(state.apps.get_model(APP, model))
    with connections["default"].cursor() as cursor:
        cursor.executemany("INSERT INTO fktest_author (id, name) VALUES (%s, %s)", [(n, f"a{n}") for n in range(1, 11)])
        cursor.executemany("INSERT INTO fktest_book (title, author_id) VALUES (%s, %s)",
                           [(f"b{n}", 1 + n % 10) for n in range(rows)])
        cursor.executemany("INSERT INTO fktest_review (book_id) VALUES (%s)", [(1 + n % rows,) for n in range(rows)])
    return state


def apply(operations, state):
    migration = Migration("0002_change", APP)
    migration.operations = operations
    with connections["default"].schema_editor(atomic=False) as editor:
        return migration.apply(state.clone(), editor)


def tables_ddl(sql, tables=("fktest_author", "fktest_book", "fktest_review")):
    """SHOW CREATE TABLE of the tables, constraint and index names without the `_` an online
    run adds or removes (the names alternate; columns and targets must not)."""
    ddl = [re.sub(r" AUTO_INCREMENT=\d+", "", sql(f"SHOW CREATE TABLE {t}")[0][1]) for t in tables]
    return [re.sub(r"(CONSTRAINT|KEY) `_", r"\1 `", text) for text in ddl]


def drop_models(sql):
    for table in ("fktest_review", "fktest_book", "fktest_author"):
        sql(f"DROP TABLE IF EXISTS {table}")


@pytest.mark.django_db(transaction=True)
def test_online_alter_table_with_foreign_keys_matches_plain(sql):
    state = create_models(project_state())
    apply(book_changes(), state)
    plain_ddl, plain_rows = tables_ddl(sql), sql("SELECT * FROM fktest_book ORDER BY id")
    drop_models(sql)

    state = create_models(project_state())
    sql("DELETE FROM fktest_review")  # its RESTRICT would fail the writers' deletes, migration or not
    rnd = random.Random(3)
    writers = Writers(Spec("fktest_book", ("id",), lambda r: {"title": f"w{rnd.randrange(10**6)}",
                                                             "author_id": rnd.randrange(1, 11)}, auto_key=True))
    writers.prepare(sql)
    with writers:
        apply([OnlineAlterTable("book", book_changes()[:2], chunk_size=50)], state)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert_same_data(sql, "fktest_book", ["id", "title", "author_id"], "fktest_book__control",
                     ["id", "title", "author_id"])
    sql("DROP TABLE fktest_book__control")
    drop_models(sql)

    state = create_models(project_state())
    apply([OnlineAlterTable("book", book_changes(), chunk_size=50)], state)
    assert tables_ddl(sql) == plain_ddl
    assert sql("SELECT * FROM fktest_book ORDER BY id") == plain_rows
    references = sorted(sql("SELECT TABLE_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                            " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME LIKE 'fktest%'"))
    assert references == [("fktest_book", "fktest_author"), ("fktest_book", "fktest_author"),
                          ("fktest_review", "fktest_book")]
    with pytest.raises(Exception) as error:
        sql("INSERT INTO fktest_review (book_id) VALUES (999999)")
    assert error.value.args[0] == 1452
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()

    # A second online run on the same table, from the names the first one gave.
    state = project_state()
    for operation in book_changes():
        operation.state_forwards(APP, state)
    apply([OnlineAlterTable("book", [dj.AlterField("book", "name", models.CharField(max_length=60))])], state)
    assert "varchar(60)" in sql("SHOW CREATE TABLE fktest_book")[0][1]
    drop_models(sql)


def legacy_cascade(sql):
    """A foreign key made outside Django (or by inspectdb's database): ON DELETE CASCADE."""
    sql("DELETE FROM fktest_review")  # its RESTRICT would hold back the cascade
    name, = [fk for fk, in sql("SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                               " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'fktest_book'")]
    sql(f"ALTER TABLE fktest_book DROP FOREIGN KEY `{name}`")
    sql(f"ALTER TABLE fktest_book ADD CONSTRAINT `{name}` FOREIGN KEY (author_id) REFERENCES fktest_author (id)"
        " ON DELETE CASCADE")


@pytest.mark.django_db(transaction=True)
def test_a_cascade_that_django_drops_reaches_the_new_table_until_the_swap(sql):
    """Django remakes the foreign key of a field it alters, without the database's ON DELETE
    CASCADE it does not know: online, the cascade still reaches the new table during the copy,
    and the table comes out as the plain migration makes it. sqlmigrate's plan says so."""
    changes = [dj.AlterField("book", "author", models.ForeignKey("Author", models.CASCADE, null=True)),
               dj.AlterField("book", "title", models.CharField(max_length=60))]
    state = create_models(project_state())
    legacy_cascade(sql)
    apply(changes, state)
    plain_ddl = tables_ddl(sql)
    drop_models(sql)

    state = create_models(project_state())
    legacy_cascade(sql)
    real, chunks = engine.copy_chunk, []

    def copy_chunk_after_a_cascade(*args, **kwargs):
        chunks.append(1)
        if len(chunks) == 3:  # some of the author's books are in the new table by then
            sql("DELETE FROM fktest_author WHERE id = 3")
        return real(*args, **kwargs)

    with mock.patch.object(engine, "copy_chunk", copy_chunk_after_a_cascade):
        apply([OnlineAlterTable("book", changes, chunk_size=50)], state)
    assert sql.value("SELECT COUNT(*) FROM fktest_book WHERE author_id = 3") == 0
    assert sql.value("SELECT COUNT(*) FROM fktest_book") == 270
    assert tables_ddl(sql) == plain_ddl and "CASCADE" not in plain_ddl[1]
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()
    drop_models(sql)

    state = create_models(project_state())
    legacy_cascade(sql)
    with connections["default"].schema_editor(collect_sql=True, atomic=False) as editor:
        migration = Migration("0002_change", APP)
        migration.operations = [OnlineAlterTable("book", changes)]
        migration.apply(state.clone(), editor)
    assert re.search(r"-- `fktest_book_author_id_\w+` of `fktest_book` act on its rows .* keeps the original's during "
                     r"the copy \(as `\^name`\), and the change is made right after the swap", "\n".join(editor.collected_sql))
    drop_models(sql)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("instant", [True, False], ids=["instant", "copy"])
def test_a_change_that_would_alter_the_children_too_is_refused(sql, instant):
    """Django makes a primary key BIGINT together with the foreign key columns that reference
    it, dropping and remaking their constraints: run against the shadow table, the children
    were altered for real (constraint gone, column changed) before the run failed."""
    state = create_models(project_state())
    before = sql.schema()
    change = [dj.AlterField("author", "id", models.BigAutoField(primary_key=True))]
    with pytest.raises(OnlineMigrationError, match=r"the change also alters `fktest_book` .* nothing was changed"):
        apply([OnlineAlterTable("author", change, instant=instant)], state)
    assert sql.schema() == before
    drop_models(sql)


@pytest.mark.django_db(transaction=True)
def test_sqlmigrate_shows_the_foreign_key_steps(sql):
    state = create_models(project_state())
    schema = sql.schema()
    migration = Migration("0002_change", APP)
    migration.operations = [OnlineAlterTable("book", book_changes()[:2], instant=False)]
    with connections["default"].schema_editor(collect_sql=True, atomic=False) as editor:
        migration.apply(state.clone(), editor)
    plan = "\n".join(editor.collected_sql)
    assert re.search(r"ALTER TABLE `_fktest_book_new` ADD CONSTRAINT `_fktest_book_author_id_\w+` FOREIGN KEY "
                     r"\(`author_id`\) REFERENCES `fktest_author` \(`id`\)", plan)
    assert re.search(r"-- the foreign key `fktest_review_book_id_\w+` of `fktest_review` is pointed at "
                     r"`_fktest_book_new` .*, which the RENAME makes the new `fktest_book`\nRENAME TABLE", plan)
    assert sql.schema() == schema
    drop_models(sql)


def tree_state():
    state = ProjectState()
    state.add_model(ModelState(APP, "Node", [
        ("id", models.AutoField(primary_key=True)),
        ("title", models.CharField(max_length=40)),
        ("parent", models.ForeignKey("self", models.CASCADE, null=True)),
    ]))
    return state


def tree_changes():
    """A new foreign key to the table itself (Django's add_field), and one whose column is
    renamed (dropped and made again: _create_fk_sql)."""
    return [
        dj.AddField("node", "mentor", models.ForeignKey("self", models.SET_NULL, null=True, related_name="+")),
        dj.AlterField("node", "parent", models.ForeignKey("self", models.CASCADE, null=True, db_column="parent_node")),
        dj.RenameField("node", "title", "name"),
    ]


def create_tree(state, rows=300):
    with connections["default"].schema_editor() as editor:
        editor.create_model(state.apps.get_model(APP, "Node"))
    with connections["default"].cursor() as cursor:
        cursor.executemany("INSERT INTO fktest_node (title, parent_id) VALUES (%s, %s)",
                           [(f"n{n}", None if n <= 20 else 1 + n % 20) for n in range(1, rows + 1)])
    return state


def node_foreign_keys(sql):
    return sorted(sql("SELECT CONSTRAINT_NAME, REFERENCED_TABLE_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
                      " WHERE CONSTRAINT_SCHEMA = DATABASE() AND TABLE_NAME = 'fktest_node'"))


@pytest.mark.django_db(transaction=True)
def test_online_alter_table_of_a_model_that_references_itself_matches_plain(sql):
    state = create_tree(tree_state())
    apply(tree_changes(), state)
    plain_ddl = tables_ddl(sql, ("fktest_node",))
    plain_rows = sql("SELECT * FROM fktest_node ORDER BY id")
    sql("DROP TABLE fktest_node")

    state = create_tree(tree_state())
    initial_ddl = tables_ddl(sql, ("fktest_node",))
    migration = Migration("0002_change", APP)
    migration.operations = [OnlineAlterTable("node", tree_changes())]
    with connections["default"].schema_editor(collect_sql=True, atomic=False) as editor:
        migration.apply(state.clone(), editor)
    plan = "\n".join(editor.collected_sql)
    assert re.search(r"ADD CONSTRAINT `~fktest_node_parent_node_\w+` FOREIGN KEY \(`parent_node`\) REFERENCES "
                     r"`fktest_node` \(`id`\)", plan)
    assert "-- the foreign keys of `_fktest_node_new` to `fktest_node` itself (parked names, `~...`) are pointed " \
           "at `_fktest_node_new`" in plan

    apply([OnlineAlterTable("node", tree_changes(), chunk_size=50)], state)
    assert tables_ddl(sql, ("fktest_node",)) == plain_ddl
    assert sql("SELECT * FROM fktest_node ORDER BY id") == plain_rows
    assert [target for _name, target in node_foreign_keys(sql)] == ["fktest_node", "fktest_node"]
    with pytest.raises(Exception) as error:
        sql("INSERT INTO fktest_node (name, parent_node) VALUES ('orphan', 999999)")
    assert error.value.args[0] == 1452
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()

    migration.operations = [OnlineAlterTable("node", tree_changes(), chunk_size=50)]  # and back, online
    with connections["default"].schema_editor(atomic=False) as editor:
        migration.unapply(state.clone(), editor)
    assert tables_ddl(sql, ("fktest_node",)) == initial_ddl
    sql("DROP TABLE fktest_node")


@pytest.mark.django_db(transaction=True)
def test_foreign_keys_to_the_table_itself_point_at_the_original_during_the_copy(sql):
    """Rows the application inserts during the copy name parents the copy has not reached yet:
    the shadow's foreign keys to the table itself, Django's remade one included, must check
    them against the original table."""
    state = create_tree(tree_state(), rows=2000)
    writers = None

    def make_row(rnd):
        parent = writers._pick(rnd)
        return {"title": f"w{rnd.randrange(10**6)}", "parent_id": parent[0] if parent else None}

    writers = Writers(Spec("fktest_node", ("id",), make_row, auto_key=True,
                           tolerated=lambda e: e.args[0] in (1451, 1452) and "_fktest_node_new" not in e.args[1]))
    writers.prepare(sql)
    real_swap = engine.swap

    def swap_after_writes(*args, **kwargs):  # the writers know the column by its old name
        writers.stop()
        return real_swap(*args, **kwargs)

    with writers, chunks_between_writes(writers), mock.patch.object(engine, "swap", swap_after_writes):
        apply([OnlineAlterTable("node", tree_changes()[:2], chunk_size=100, chunk_time=0, busy_chunk_time=0)], state)
    assert not writers.counts.other_errors, writers.counts.other_errors[:3]
    assert writers.counts.inserts
    assert_same_data(sql, "fktest_node", ["id", "title", "parent_node"], "fktest_node__control",
                     ["id", "title", "parent_id"])
    assert [target for _name, target in node_foreign_keys(sql)] == ["fktest_node", "fktest_node"]
    assert not [name for name, _target in node_foreign_keys(sql) if name.startswith("~")]
    sql("DROP TABLE fktest_node__control")
    sql("DROP TABLE fktest_node")


def shop_state():
    state = ProjectState()
    state.add_model(ModelState(APP, "Shop", [("id", models.AutoField(primary_key=True)),
                                             ("code", models.CharField(max_length=10, unique=True))]))
    state.add_model(ModelState(APP, "Sale", [("id", models.AutoField(primary_key=True)),
                                             ("shop", models.ForeignKey("Shop", models.CASCADE, to_field="code"))]))
    return state


def create_shops(state):
    with connections["default"].schema_editor() as editor:
        for model in ("Shop", "Sale"):
            editor.create_model(state.apps.get_model(APP, model))
    with connections["default"].cursor() as cursor:
        cursor.executemany("INSERT INTO fktest_shop (code) VALUES (%s)", [(f"s{n}",) for n in range(50)])
        cursor.executemany("INSERT INTO fktest_sale (shop_id) VALUES (%s)", [(f"s{n % 50}",) for n in range(200)])
    return state


@pytest.mark.django_db(transaction=True)
def test_a_renamed_column_that_children_reference_is_followed_by_their_foreign_keys(sql):
    """A child references `code` (to_field), which the migration renames: at the swap its
    constraint is pointed at the new table's `ref`; it pointed at `code`, which the new table
    does not have, and the swap failed after the whole copy."""
    rename = [dj.RenameField("shop", "code", "ref")]
    apply(rename, create_shops(shop_state()))
    plain = tables_ddl(sql, ("fktest_sale", "fktest_shop"))
    sql("DROP TABLE fktest_sale, fktest_shop")

    apply([OnlineAlterTable("shop", rename, chunk_size=20)], create_shops(shop_state()))
    online = tables_ddl(sql, ("fktest_sale", "fktest_shop"))
    assert online == plain
    assert "REFERENCES `fktest_shop` (`ref`)" in online[0]
    with pytest.raises(Exception) as error:
        sql("INSERT INTO fktest_sale (shop_id) VALUES ('nowhere')")
    assert error.value.args[0] == 1452
    assert not [t for t in sql.tables() if t.startswith("_")] and not sql.triggers()
    sql("DROP TABLE fktest_sale, fktest_shop")


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("dest, problem", [
    ("CREATE TABLE `q` (`id` int PRIMARY KEY)", "references `code`, which the new table does not have"),
    ("CREATE TABLE `q` (`id` int PRIMARY KEY, `code` varchar(10) NOT NULL)",
     "references `code`, which no index of the new table starts with"),
    ("CREATE TABLE `q` (`id` int PRIMARY KEY, `code` varchar(10) CHARACTER SET latin1 NOT NULL UNIQUE)",
     "references `code` (varchar utf8mb4_general_ci -> varchar latin1_swedish_ci), whose new type its own"),
    ("CREATE TABLE `q` (`id` int PRIMARY KEY, `code` int NOT NULL UNIQUE)",
     "references `code` (varchar utf8mb4_general_ci -> int(11)), whose new type"),
], ids=["dropped", "unindexed", "charset", "type"])
def test_a_new_table_the_children_cannot_reference_is_refused_before_the_copy(sql, dest, problem):
    """The server would refuse each at the swap, after the whole copy."""
    sql("CREATE TABLE q (id int PRIMARY KEY, code varchar(10) NOT NULL UNIQUE) COLLATE utf8mb4_general_ci")
    sql("CREATE TABLE r (id int PRIMARY KEY, q_code varchar(10), CONSTRAINT fk_r_q FOREIGN KEY (q_code) REFERENCES q (code))"
        " COLLATE utf8mb4_general_ci")
    sql("INSERT INTO q VALUES (1, 'a'), (2, 'b')")
    sql("INSERT INTO r VALUES (1, 'a')")
    schema = sql.schema()
    columns = ["id", "code"] if "`code`" in dest else ["id"]
    with pytest.raises(OnlineMigrationError) as error:
        change_table("default", "q", dest + " COLLATE utf8mb4_general_ci", [], ["id", "code"], columns)
    message = str(error.value)
    for expected in [f"`r`.`fk_r_q` {problem}", "Nothing was copied"]:
        assert expected in message, message
    assert sql.schema() == schema
    assert not [t for t in sql.tables() if t.startswith("_q_")] and not sql.triggers()


@pytest.mark.django_db(transaction=True)
def test_a_longer_string_key_keeps_its_children(sql):
    """Strings of any length can reference each other: a longer `code` is no reason to refuse."""
    sql("CREATE TABLE q (id int PRIMARY KEY, code varchar(10) NOT NULL UNIQUE) COLLATE utf8mb4_general_ci")
    sql("CREATE TABLE r (id int PRIMARY KEY, q_code varchar(10), CONSTRAINT fk_r_q FOREIGN KEY (q_code) REFERENCES q (code))"
        " COLLATE utf8mb4_general_ci")
    sql("INSERT INTO q VALUES (1, 'a'), (2, 'b')")
    sql("INSERT INTO r VALUES (1, 'a')")
    change_table("default", "q", "CREATE TABLE `q` (`id` int PRIMARY KEY, `code` varchar(40) NOT NULL UNIQUE) "
                 "COLLATE utf8mb4_general_ci", [], ["id", "code"], ["id", "code"])
    finish_migration("default", "q")
    assert "REFERENCES `q` (`code`)" in sql("SHOW CREATE TABLE r")[0][1]
    with pytest.raises(Exception) as error:
        sql("INSERT INTO r VALUES (2, 'zz')")
    assert error.value.args[0] == 1452


@pytest.mark.django_db(transaction=True)
def test_the_kept_original_table_holds_back_no_parent_row(sql):
    """With keep_old_table the original stays as `_p_old`, rows and all, but without its
    foreign keys: a RESTRICT one refused the application's delete of an author whose books
    (in the new table) were gone, because `_p_old` still named it."""
    sql("CREATE TABLE a (id int PRIMARY KEY)")
    sql("INSERT INTO a VALUES (1), (2)")
    sql("CREATE TABLE p (id int PRIMARY KEY, a_id int NOT NULL, CONSTRAINT fk_p_a FOREIGN KEY (a_id) REFERENCES a (id))")
    sql("INSERT INTO p VALUES (1, 1), (2, 2)")
    dest = "CREATE TABLE p (id int PRIMARY KEY, a_id int NOT NULL, b int, CONSTRAINT fk_p_a FOREIGN KEY (a_id) REFERENCES a (id))"
    change_table("default", "p", dest, [], ["id", "a_id"], ["id", "a_id", "b"])
    finish_migration("default", "p", keep_old_table=True)
    assert foreign_keys(sql) == [("p", "_fk_p_a", "a")]
    assert sql("SELECT * FROM _p_old ORDER BY id") == [(1, 1), (2, 2)]
    sql("DELETE FROM p WHERE a_id = 1")
    sql("DELETE FROM a WHERE id = 1")
    with pytest.raises(Exception) as error:
        sql("DELETE FROM a WHERE id = 2")  # the new table's own still holds
    assert error.value.args[0] == 1451


@pytest.mark.django_db(transaction=True)
def test_widening_the_key_of_a_table_that_references_itself_is_refused_clearly(sql):
    """During the copy the new table's foreign key to itself references the original's key,
    so that key's type cannot change online: the server refuses the shadow table (errno 150),
    which used to surface as Django's bare OperationalError."""
    state = create_tree(tree_state())
    schema = sql.schema()
    widen = [dj.AlterField("node", "id", models.BigAutoField(primary_key=True))]
    with pytest.raises(OnlineMigrationError) as error:
        apply([OnlineAlterTable("node", widen)], state)
    message = str(error.value)
    for expected in ["The server rejects the new schema of `fktest_node`", "errno: 150", "nothing else was changed",
                     "`fktest_node` references itself", "Change that type with a plain ALTER TABLE"]:
        assert expected in message, message
    assert sql.schema() == schema and not sql.triggers()
    sql("DROP TABLE fktest_node")


def test_rows_whose_parent_is_missing_stop_the_copy_with_what_to_do(sql):
    """Rows written with foreign_key_checks=0 may name a parent that does not exist; a plain
    ALTER TABLE keeps them, but the new table's foreign key refuses each, so the copy stops
    there, saying so, and goes on once they are fixed."""
    sql("CREATE TABLE parent (id int PRIMARY KEY)")
    sql("INSERT INTO parent SELECT seq FROM seq_1_to_10")
    create = ("CREATE TABLE child (id int AUTO_INCREMENT PRIMARY KEY, parent_id int, "
              "CONSTRAINT child_parent FOREIGN KEY (parent_id) REFERENCES parent (id))")
    sql(create)
    sql("INSERT INTO child (parent_id) SELECT 1 + seq MOD 10 FROM seq_1_to_500")
    sql("SET foreign_key_checks = 0")
    sql("INSERT INTO child (parent_id) VALUES (99)")
    sql("SET foreign_key_checks = 1")
    new = create.replace("parent_id int,", "parent_id int, note varchar(20),")
    with pytest.raises(OnlineMigrationError, match="name a parent row that does not exist"):
        change_table("default", "child", new, [], ["id", "parent_id"], ["id", "parent_id", "note"])
    sql("DELETE FROM child WHERE parent_id = 99")
    restart_copy("default", "child", ["id", "parent_id"], ["id", "parent_id", "note"])
    finish_migration("default", "child")
    assert sql.value("SELECT COUNT(*) FROM child") == 500


def deleting_parents(sql):
    """Each chunk of the copy comes after another author is deleted: their posts go by the
    cascade of `p`'s foreign key (and of the control table's), which fires no trigger."""
    real, authors = engine.copy_chunk, iter(range(1, AUTHORS + 1, 3))

    def copy_chunk(*args, **kwargs):
        author = next(authors, None)
        if author is not None:
            sql("DELETE FROM a WHERE id = %s", [author])
        return real(*args, **kwargs)

    return mock.patch.object(engine, "copy_chunk", copy_chunk)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("new_constraint", ["", ",\n    CONSTRAINT `fk_p_a` FOREIGN KEY (`a_id`) REFERENCES `a` (`id`)"],
                         ids=["dropped", "without-action"])
def test_a_cascade_the_new_schema_drops_still_reaches_the_new_table_until_the_swap(sql, new_constraint):
    """A parent's ON DELETE CASCADE deletes the table's rows without firing its triggers: a new
    table without it kept them, and the swap brought deleted rows back (or the verification
    stopped the run after the whole copy). The new table keeps the original's constraint
    until right after the swap, then takes the new schema's."""
    make_tables(sql)
    writers = Writers(Spec("p", ("id",), lambda rnd: {"a_id": rnd.randrange(1, AUTHORS + 1),
                                                      "title": f"w{rnd.randrange(10**6)}"}, auto_key=True,
                           tolerated=lambda e: e.args[0] == 1452 and "_p_new" not in e.args[1]))
    writers.prepare(sql)
    sql("ALTER TABLE p__control ADD CONSTRAINT fk_p_control FOREIGN KEY (a_id) REFERENCES a (id) ON DELETE CASCADE")
    dest = DEST_TABLE_SQL.replace(",\n    CONSTRAINT `fk_p_a` FOREIGN KEY (`a_id`) REFERENCES `a` (`id`) ON DELETE CASCADE",
                                  new_constraint)
    real_swap = engine.swap

    def swap_after_one_more_delete(*args, **kwargs):  # after the verification
        sql("DELETE FROM a WHERE id = 2")
        return real_swap(*args, **kwargs)

    with writers:
        with chunks_between_writes(writers), deleting_parents(sql):
            change_table("default", "p", dest, [], COLUMNS, COLUMNS + ["pages"], chunk_size=100, chunk_time=0,
                         busy_chunk_time=0)
        assert ("_p_new", "^fk_p_a", "a") in foreign_keys(sql)
        with mock.patch.object(engine, "swap", swap_after_one_more_delete):
            finish_while_writing(writers, "p")
    assert sql.value("SELECT COUNT(*) FROM a") < AUTHORS - 5 and not sql("SELECT * FROM a WHERE id = 2")
    assert_same_data(sql, "p", COLUMNS, "p__control", COLUMNS)
    assert sql.value("SELECT COUNT(*) FROM p LEFT JOIN a ON a.id = p.a_id WHERE a.id IS NULL") == 0
    create = sql("SHOW CREATE TABLE p")[0][1]
    assert "CASCADE" not in create and "^" not in create
    if new_constraint:
        assert foreign_keys(sql) == [("c1", "_fk_c1_p", "p"), ("c2", "_fk_c2_p", "p"), ("p", "_fk_p_a", "a")]
        with pytest.raises(Exception, match="a foreign key constraint fails"):
            sql("DELETE FROM a WHERE id = (SELECT MIN(a_id) FROM p)")
    else:
        assert ("p", "_fk_p_a", "a") not in foreign_keys(sql) and ("p", "^fk_p_a", "a") not in foreign_keys(sql)
    assert_nothing_left(sql)


@pytest.mark.django_db(transaction=True)
def test_a_held_foreign_key_is_released_by_the_next_run_after_a_crash_right_after_the_swap(sql):
    """The change held back is kept in the run's plan: a process that dies between the swap and
    it leaves it to the next one (`rename` again, or the migration run again)."""
    make_tables(sql, rows=300)
    dest = DEST_TABLE_SQL.replace(" ON DELETE CASCADE", "")
    change_table("default", "p", dest, [], COLUMNS, COLUMNS + ["pages"])
    with mock.patch.object(engine, "release_actions", side_effect=KeyboardInterrupt), pytest.raises(KeyboardInterrupt):
        finish_migration("default", "p")
    assert ("p", "^fk_p_a", "a") in foreign_keys(sql)  # swapped, the original's cascade still held
    finish_migration("default", "p")
    assert ("p", "_fk_p_a", "a") in foreign_keys(sql) and ("p", "^fk_p_a", "a") not in foreign_keys(sql)
    assert "CASCADE" not in sql("SHOW CREATE TABLE p")[0][1]
    assert_nothing_left(sql)


@pytest.mark.django_db(transaction=True)
def test_a_held_foreign_key_follows_a_renamed_column_and_takes_the_new_action_after_the_swap(sql):
    make_tables(sql, rows=300)
    dest = ("CREATE TABLE `p` (`id` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `author_id` int NULL, "
            "`title` varchar(40) NOT NULL, KEY `k_author` (`author_id`), CONSTRAINT `fk_p_author` "
            "FOREIGN KEY (`author_id`) REFERENCES `a` (`id`) ON DELETE SET NULL)")
    change_table("default", "p", dest, [], COLUMNS, ["id", "author_id", "title"], renames={"a_id": "author_id"})
    assert fk_columns(sql, "^fk_p_a") == [("_p_new", "author_id", "a", "id")]
    sql("DELETE FROM a WHERE id = 3")  # the original's CASCADE, in both tables
    assert sql.value("SELECT COUNT(*) FROM _p_new WHERE author_id = 3") == 0
    finish_migration("default", "p")
    assert fk_columns(sql, "fk_p_author") == [("p", "author_id", "a", "id")]
    assert "ON DELETE SET NULL" in sql("SHOW CREATE TABLE p")[0][1] and "^" not in sql("SHOW CREATE TABLE p")[0][1]
    sql("DELETE FROM a WHERE id = 4")  # the new schema's SET NULL from now on
    assert sql.value("SELECT COUNT(*) FROM p WHERE author_id IS NULL") == 6
    assert_nothing_left(sql)


@pytest.mark.django_db(transaction=True)
def test_a_cascade_whose_column_the_new_schema_drops_is_refused_before_anything_changes(sql):
    make_tables(sql, rows=10)
    schema = sql.schema()
    dest = ("CREATE TABLE `p` (`id` int NOT NULL AUTO_INCREMENT PRIMARY KEY, `title` varchar(40) NOT NULL, "
            "`pages` int NOT NULL DEFAULT 7)")
    with pytest.raises(OnlineMigrationError) as error:
        change_table("default", "p", dest, [], COLUMNS, ["id", "title", "pages"])
    message = str(error.value)
    for expected in ["`fk_p_a` (`a_id`) to `a` ON DELETE CASCADE", "without firing the triggers",
                     "the new table drops `a_id`", "Nothing was changed", "ALTER TABLE `p` DROP FOREIGN KEY `fk_p_a`"]:
        assert expected in message, message
    assert sql.schema() == schema and not sql.triggers()
