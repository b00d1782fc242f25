"""Names of the objects a run creates next to a table.

MySQL caps identifiers at 64 characters. Long table names are cut, and a short digest of the
full name is added, so that the result is still unique per table and the same on every run:
a resumed or aborted run must find exactly what an earlier one created.
"""

import hashlib

MAX_IDENTIFIER = 64
CHECKPOINT_TABLE = "online_migrations_run"


def _derived(table: str, suffix: str) -> str:
    name = f"_{table}_{suffix}"
    if len(name) <= MAX_IDENTIFIER:
        return name
    digest = hashlib.sha1(table.encode("utf-8")).hexdigest()[:8]
    keep = MAX_IDENTIFIER - len(f"__{digest}_{suffix}")
    return f"_{table[:keep]}_{digest}_{suffix}"


def shadow_table(table: str) -> str:
    """The table that receives the new schema and the copied rows."""
    return _derived(table, "new")


def old_table(table: str) -> str:
    """What the original table is renamed to by the swap."""
    return _derived(table, "old")


def probe_table(table: str) -> str:
    """A temporary table used to let the server check the new schema before anything changes."""
    return _derived(table, "chk")


def instant_probes(table: str) -> tuple[str, str]:
    """Two empty copies of the table on which the instant path tries a change: one changed by
    the wrapped operations' own statements, one by the single ALTER TABLE that would replace them."""
    return _derived(table, "seq"), _derived(table, "one")


TRIGGER_EVENTS = ("delete", "update", "insert")


def trigger(table: str, event: str) -> str:
    """The trigger that forwards `event` ("insert", "update" or "delete") to the shadow table."""
    return _derived(table, event[:3])


def triggers(table: str) -> list[str]:
    """All of a table's triggers, in the order they are created."""
    return [trigger(table, event) for event in TRIGGER_EVENTS]
