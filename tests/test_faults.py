"""Kill -9 `./manage.py migrate` at each step of an online operation, or its connection from
the server, while the application writes; running `migrate` again must finish with nothing
lost and the migration recorded once."""

import subprocess
import sys
import time
from pathlib import Path

import pytest
from django.db import connection

from online_migrations.cutover import swap_sql
from online_migrations.run_lock import lock_name

from .concurrency import Spec, Writers, assert_same_data
from .conftest import Sql
from .tables import fill

ROOT = Path(__file__).resolve().parent.parent
TABLE = "faultapp_item"


def runner(pause="", command="migrate"):
    """The migrating process, its output in a pipe."""
    return subprocess.Popen(
        [sys.executable, "-m", "tests.fault_runner", connection.settings_dict["NAME"], command, pause],
        cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
    )


def wait_until(condition, process, timeout=60):
    deadline = time.monotonic() + timeout
    while not condition():
        if process.poll() is not None:
            raise AssertionError(f"the runner ended early:\n{process.stdout.read()}")
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.02)


def run_to_the_end(pause="", command="migrate"):
    process = runner(pause, command)
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    return output


def state(sql):
    rows = sql("SELECT state, rows_copied FROM online_migrations_run ORDER BY id DESC LIMIT 1")
    return rows[0] if rows else (None, 0)


@pytest.fixture
def busy_table(sql):
    """faultapp's table, filled, with writers that keep going through the swap."""
    run_to_the_end(command="setup")
    spec = Spec(TABLE, ("id",), lambda rnd: {"amount": rnd.randrange(10**6), "blob": rnd.randbytes(8)}, auto_key=True)
    fill(sql, Spec(TABLE, ("id",), lambda rnd: {"name": f"n{rnd.randrange(10**6)}", **spec.make_row(rnd)}), 3000)
    writers = Writers(spec, threads=3)
    writers.prepare(sql)
    try:
        with writers:
            yield sql, writers
        assert not writers.counts.other_errors, writers.counts.other_errors[:3]
        assert writers.writes > 100
        assert_same_data(sql, TABLE, ["id", "title", "amount", "blob"], spec.control, ["id", "name", "amount", "blob"])
        assert sql.triggers() == []
        assert not [t for t in sql.tables() if t.startswith("_")]
        assert [r[0] for r in sql("SELECT state FROM online_migrations_run WHERE state <> 'aborted'")] == ["done"]
        assert sql("SELECT name FROM django_migrations WHERE app = 'faultapp' ORDER BY id") == [
            ("0001_initial",), ("0002_online",)], "each migration recorded once"
    finally:
        sql("DELETE FROM django_migrations WHERE app = 'faultapp'")


def kill(process):
    process.kill()
    process.wait()


def test_killed_while_creating_the_shadow_table(busy_table):
    sql, _ = busy_table
    process = runner("pause-after-shadow")
    wait_until(lambda: f"_{TABLE}_new" in sql.tables(), process)
    kill(process)
    assert "an earlier run died while setting up" in run_to_the_end()


def test_killed_while_creating_the_triggers(busy_table):
    sql, _ = busy_table
    holder = Sql()
    holder.conn.autocommit(False)
    holder(f"SELECT COUNT(*) FROM `{TABLE}`")  # the trigger's DDL waits for this transaction
    process = runner()
    wait_until(lambda: sql.value(
        "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE INFO LIKE 'CREATE TRIGGER%%'") > 0, process)
    kill(process)
    holder.conn.rollback()
    holder.conn.close()
    run_to_the_end()


def test_killed_in_the_middle_of_the_copy(busy_table):
    sql, _ = busy_table
    process = runner()
    wait_until(lambda: state(sql)[1] > 800, process)
    kill(process)
    copied = state(sql)[1]
    output = run_to_the_end()
    assert "resuming after key" in output
    assert copied > 800


def test_killed_just_before_the_swap(busy_table):
    sql, _ = busy_table
    process = runner("pause-before-swap")
    wait_until(lambda: state(sql)[0] == "copied", process)
    kill(process)
    run_to_the_end()


@pytest.mark.parametrize("recorded", [False, True])
def test_killed_just_after_the_swap(busy_table, recorded):
    """Right after the RENAME, before (or after) the checkpoint says so; triggers and the old
    table are still there."""
    sql, _ = busy_table
    process = runner("pause-before-swap")
    wait_until(lambda: state(sql)[0] == "copied", process)
    kill(process)
    sql(swap_sql(TABLE))
    if recorded:
        sql("UPDATE online_migrations_run SET state = 'swapped' WHERE state = 'copied'")
    run_to_the_end()


def test_connection_killed_by_the_server_mid_copy(busy_table):
    sql, _ = busy_table
    process = runner()
    wait_until(lambda: state(sql)[1] > 500, process)
    holder = sql.value("SELECT IS_USED_LOCK(%s)", [lock_name(connection.settings_dict["NAME"], TABLE)])
    sql(f"KILL {int(holder)}")
    output, _ = process.communicate(timeout=300)
    assert process.returncode == 0, output
    assert "lost the connection" in output
