"""`online_migration status|cleanup|abort|cutover`, and what a person sees on a terminal."""

import io
import logging
from dataclasses import fields
import threading
import time

import pytest
from django.core.management import CommandError, call_command
from django.core.management.base import OutputWrapper

from online_migrations import alter_online, change_table
from online_migrations.console import ConsoleHandler
from online_migrations.cutover import swap_sql
from online_migrations.management.commands.online_migration import Command as OnlineMigrationCommand
from online_migrations.options import Options
from online_migrations.run_lock import lock_name

from .conftest import Sql
from .tables import KEY_SHAPES, fill

SHAPE = KEY_SHAPES["auto_increment"]


def command(*args):
    out = io.StringIO()
    call_command("online_migration", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def half_done(sql):
    """A run that copied part of `t` and whose process is gone."""
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 200)
    before = sql.schema()
    change_table("default", "t", SHAPE.dest_sql("t"), [], SHAPE.origin_columns(), SHAPE.dest_columns(),
                 renames={"name": "title"}, limit=100)
    return sql, before


def test_status_tells_live_runs_from_dead_ones(half_done):
    sql, _ = half_done
    assert "`t`: copied, 100 of ~" in command("status")
    assert "stopped: run the migration again to resume it" in command("status")
    other = Sql()
    other.value("SELECT GET_LOCK(%s, 0)", [lock_name(sql.value("SELECT DATABASE()"), "t")])
    assert f"running (server connection {other.value('SELECT CONNECTION_ID()')})" in command("status")
    other.conn.close()


def test_cleanup_shows_then_removes_what_dead_runs_left(half_done):
    sql, before = half_done
    shown = command("cleanup", "--dry-run")
    assert "`t` (dead run, copied): `_t_del`, `_t_upd`, `_t_ins`, `_t_new` -> abort" in shown
    assert sql.schema() != before
    assert "Cleaned up 1 table(s)" in command("cleanup", "--no-input")
    assert sql.schema() == before
    assert "No online migration in flight" in command("status")
    assert "Nothing left behind" in command("cleanup")


def test_cleanup_finishes_a_run_that_died_right_after_its_swap(half_done):
    sql, _ = half_done
    sql(swap_sql("t"))
    assert "finish: drop the triggers, keep the old table" in command("cleanup", "--dry-run")
    command("cleanup", "--no-input")
    assert sql.triggers() == [] and "_t_old" in sql.tables() and "title" in sql("SHOW CREATE TABLE t")[0][1]


def test_abort_puts_the_table_back(half_done):
    sql, before = half_done
    command("abort", "t")
    assert sql.schema() == before
    with pytest.raises(CommandError, match="takes one table name"):
        command("abort")


def test_a_postponed_cutover_waits_for_the_command(sql):
    sql(SHAPE.origin_sql("t"))
    fill(sql, SHAPE.spec("t"), 100)

    def build(shadow):
        Sql()(SHAPE.dest_sql(shadow))

    worker = threading.Thread(target=alter_online, args=("default", "t", build, SHAPE.origin_columns(),
                                                         SHAPE.dest_columns(), {"name": "title"}),
                              kwargs={"postpone_cutover": True, "check_interval": 0.05}, daemon=True)
    worker.start()
    deadline = time.monotonic() + 30
    while "copied" not in command("status"):
        assert time.monotonic() < deadline
        time.sleep(0.05)
    time.sleep(0.3)
    assert "_t_new" in sql.tables(), "it must wait"
    assert "Cut-over of `t` requested" in command("cutover", "t")
    worker.join(30)
    assert not worker.is_alive() and "title" in sql("SHOW CREATE TABLE t")[0][1] and sql.triggers() == []
    with pytest.raises(CommandError, match="No online migration of `t` is in flight"):
        command("cutover", "t")


def test_engine_options_on_the_command_line_are_typed_and_checked(half_done):
    with pytest.raises(CommandError, match="chunk_size must be a whole number of rows >= 1"):
        command("campaigns", "run", "0001_campaign", "--chunk-size", "0")
    with pytest.raises(CommandError, match="Expected `<app_label> run|restart|rename"):
        command("campaigns", "jump", "0001_campaign")


def test_help_explains_every_engine_option():
    out = io.StringIO()
    parser = OnlineMigrationCommand().create_parser("manage.py", "online_migration")
    parser.print_help(out)
    text = " ".join(out.getvalue().split())
    for option in fields(Options):
        assert "--" + option.name.replace("_", "-") in text
        assert " ".join(option.metadata["help"].split()[:6]) in text, option.name


class Terminal(io.StringIO):
    def isatty(self):
        return True


def test_a_terminal_gets_a_progress_bar_under_the_log_lines():
    """Through the command's own output (Django's OutputWrapper, which ended every piece of a
    line with a newline: each redraw of the bar was a new line), taken down when the copy is
    done, and below a line someone else left unfinished ("Applying x...")."""
    stream = Terminal()
    handler = ConsoleHandler(OutputWrapper(stream), terminal=True)
    handler.setFormatter(logging.Formatter("%(message)s"))
    logger = logging.getLogger("online_migrations.test")
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    stream.write("  Applying app.0042_online...")
    handler.mid_line = True
    logger.info("`t`: copying rows")
    logger.debug("`t`: copied 50 of ~100 rows (50%)", extra={"progress": (50, 100)})
    logger.debug("`t`: copied 60 of ~100 rows (60%)", extra={"progress": (60, 100)})
    logger.info("`t`: a log line")
    logger.info("`t`: copy done", extra={"copy_done": True})
    logger.info("`t`: swapped")
    handler.close()
    logger.removeHandler(handler)
    bar50, bar60 = "[###############...............] copied 50 of ~100 rows (50%)", "[##################............] copied 60 of ~100 rows (60%)"
    assert stream.getvalue() == (
        "  Applying app.0042_online...\n`t`: copying rows\n"
        f"\r{bar50}\x1b[K\r{bar60}\x1b[K"
        f"\r\x1b[K`t`: a log line\n{bar60}"
        "\r\x1b[K`t`: copy done\n`t`: swapped\n"
    )
    plain = io.StringIO()
    ConsoleHandler(plain, terminal=False).emit(logging.makeLogRecord({"msg": "x", "levelno": 10, "progress": (1, 2)}))
    assert plain.getvalue() == ""
