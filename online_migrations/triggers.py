"""The triggers that keep the shadow table in step with the original during the copy.

    AFTER DELETE: DELETE FROM shadow WHERE key = OLD.key
    AFTER UPDATE: key unchanged: UPDATE shadow SET ... = NEW... WHERE key = OLD.key
                  key changed:   the same UPDATE (the key moves with it), or, when the row is
                                 not in the shadow table yet, INSERT the NEW row
    AFTER INSERT: INSERT INTO shadow VALUES (NEW...)

The shadow table only ever holds rows that exist in the original with the same key and the
same values: the copy reads them under a share lock, and the triggers follow every change
from then on. So an UPDATE whose row is not in the shadow table yet has nothing to do (the
copy brings the row later, in its new version), and an INSERT never meets an existing row.
A row whose key changes is inserted under its new key when it was not copied yet, as the copy
may have passed that key already; when it was copied, it is updated in place, so that the
shadow's foreign key cascades see a key change (ON UPDATE), not a delete.
That is why plain INSERT and UPDATE are enough where pt-osc writes REPLACE, which deletes any
other row that clashes on a new unique key: ours fails the application's statement instead
of losing a row without a word.

They are created delete, update, insert: until the insert trigger exists nothing reaches the
shadow table, so no row there can miss a later update or delete (pt-osc's order, for the same
reason), and rows written before then are picked up by the copy.
"""

from .chunker import Key
from .mapping import ColumnMapping
from .names import TRIGGER_EVENTS, trigger, triggers
from .session import Session
from .sql import quote_name


def trigger_bodies(table: str, shadow: str, mapping: ColumnMapping, key: Key) -> dict[str, str]:
    """What each trigger does, by event, in the order they must be created."""
    target = quote_name(shadow)
    dest = ", ".join(quote_name(c) for c in mapping.dest)
    new_values = ", ".join(mapping.source(c, "NEW.") for c in mapping.origin)
    assignments = ", ".join(f"{quote_name(d)} = {mapping.source(o, 'NEW.')}" for o, d in mapping.pairs)
    old_row = " AND ".join(f"{target}.{quote_name(mapping.dest_of(c))} <=> OLD.{quote_name(c)}" for c in key.columns)
    key_kept = " AND ".join(f"OLD.{quote_name(c)} <=> NEW.{quote_name(c)}" for c in key.columns)
    delete = f"DELETE FROM {target} WHERE {old_row}"
    insert = f"INSERT INTO {target} ({dest}) VALUES ({new_values})"
    update = f"UPDATE {target} SET {assignments} WHERE {old_row}"
    return {
        "delete": delete,
        "update": f"BEGIN IF {key_kept} THEN {update}; ELSE {update}; IF ROW_COUNT() = 0 THEN {insert}; END IF; END IF; END",
        "insert": insert,
    }


def trigger_sql(table: str, shadow: str, mapping: ColumnMapping, key: Key) -> dict[str, str]:
    """CREATE TRIGGER statements by event, in the order they must be created."""
    return {
        event: f"CREATE TRIGGER {quote_name(trigger(table, event))} AFTER {event.upper()}"
        f" ON {quote_name(table)} FOR EACH ROW {body}"
        for event, body in trigger_bodies(table, shadow, mapping, key).items()
    }


def create_triggers(session: Session, table: str, shadow: str, mapping: ColumnMapping, key: Key, retries: int) -> None:
    for event, sql in trigger_sql(table, shadow, mapping, key).items():
        session.ddl(sql, what=f"creating the {event} trigger on {quote_name(table)}", retries=retries)


def drop_triggers(session: Session, table: str, retries: int) -> None:
    """Drop our triggers, insert first: the reverse of creation, for the same reason."""
    for event in reversed(TRIGGER_EVENTS):
        session.ddl(
            f"DROP TRIGGER IF EXISTS {quote_name(trigger(table, event))}",
            what=f"dropping the {event} trigger of {quote_name(table)}",
            retries=retries,
        )


def changed_triggers(session: Session, table: str, shadow: str, mapping: ColumnMapping, key: Key) -> list[str]:
    """Our triggers on `table` whose body is not the one this change needs (replaced by hand,
    or left by a run of another change)."""
    found = dict(session.rows(
        "SELECT TRIGGER_NAME, ACTION_STATEMENT FROM information_schema.TRIGGERS"
        " WHERE EVENT_OBJECT_SCHEMA = DATABASE() AND EVENT_OBJECT_TABLE = %s", [table],
    ))
    return [
        trigger(table, event) for event, body in trigger_bodies(table, shadow, mapping, key).items()
        if found.get(trigger(table, event), body) != body
    ]


def missing_triggers(session: Session, table: str) -> list[str]:
    """Names of our triggers that are not on `table`."""
    present = {name for name, _event in session.triggers_on(table)}
    return [name for name in triggers(table) if name not in present]
