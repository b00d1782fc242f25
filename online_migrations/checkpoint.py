"""Each run's checkpoint, written with the run's own connection after every step and chunk.

A run killed at any moment leaves a row that says how far it got: the next run of the same
change resumes there instead of starting over. The checkpoint may lag the copy by one chunk
(the process can die between the chunk's commit and the checkpoint's); copying that chunk
again is harmless, because the copy never overwrites rows already in the shadow table.
"""

import base64
import datetime
import decimal
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from .errors import OnlineMigrationError
from . import names
from .names import CHECKPOINT_TABLE
from .plan import Plan
from .session import Session
from .sql import quote_name

TABLE = quote_name(CHECKPOINT_TABLE)
ER_BAD_FIELD_ERROR = 1054
IN_FLIGHT = ("created", "triggers", "copying", "copied", "swapped")




@dataclass
class Checkpoint:
    session: Session
    id: int
    table: str
    state: str
    plan: Plan | None
    """The change the run makes (None until its triggers exist)."""
    deferred_indexes: list[list[str]]
    """[name, ADD clause] of the shadow's secondary indexes still to build after the copy."""
    last_key: tuple | None
    limit_key: tuple | None
    rows_copied: int
    verification: dict | None = None
    """{"since": second, "table_ids": ..., "seconds": ...} of a verification made after the
    copy, which the swap takes for its own while neither table has changed since (see
    checksum.still_holds)."""

    @classmethod
    def start(cls, session: Session, table: str, shadow: str) -> "Checkpoint":
        _require_table(session)
        triggers = json.dumps(names.triggers(table))
        session.execute(
            f"INSERT INTO {TABLE} (database_alias, table_name, shadow_table, triggers, fingerprint, state,"
            " cutover_requested, deferred_indexes, rows_copied, rows_estimate, started_at, updated_at)"
            " VALUES (%s, %s, %s, %s, '', 'created', 0, '[]', 0, 0, UTC_TIMESTAMP(6), UTC_TIMESTAMP(6))",
            [session.alias, table, shadow, triggers],
        )
        return cls(session, session.connection.insert_id(), table, "created", None, [], None, None, 0)

    @classmethod
    def find(cls, session: Session, table: str) -> "Checkpoint | None":
        """The run of `table` in flight, if any."""
        _require_table(session)
        try:
            rows = session.rows(
                f"SELECT id, state, plan, deferred_indexes, last_key, limit_key, rows_copied, verification FROM {TABLE}"
                f" WHERE database_alias = %s AND table_name = %s AND state IN ({', '.join(['%s'] * len(IN_FLIGHT))})"
                " ORDER BY id DESC LIMIT 1",
                [session.alias, table, *IN_FLIGHT],
            )
        except session.connection.OperationalError as error:
            if error.args[0] != ER_BAD_FIELD_ERROR:
                raise
            raise OnlineMigrationError(
                f"The checkpoint table {TABLE} in database {quote_name(session.database)} is from an older version "
                f"of online_migrations ({error.args[1]}). Run `./manage.py migrate online_migrations --database "
                f"{session.alias}`."
            ) from error
        if not rows:
            return None
        id_, state, plan, deferred, last, limit, copied, verification = rows[0]
        plan = Plan.from_json(plan) if plan else None
        return cls(session, id_, table, state, plan, json.loads(deferred or "[]"), decode_key(last), decode_key(limit),
                   copied, json.loads(verification) if verification else None)

    def advance(
        self, state: str, *, plan: Plan | None = None, limit_key: tuple | None = None,
        rows_estimate: int | None = None, deferred_indexes: list[list[str]] | None = None,
    ) -> None:
        """Record a new state, with the run's plan, the copy's end key, its row estimate or the
        indexes still to build, when given."""
        self.state = state
        fields: dict[str, Any] = {"state": state}
        if deferred_indexes is not None:
            self.deferred_indexes = deferred_indexes
            fields["deferred_indexes"] = json.dumps(deferred_indexes)
        if rows_estimate is not None:
            fields["rows_estimate"] = rows_estimate
        if plan is not None:
            self.plan = plan
            fields["plan"] = plan.to_json()
            fields["fingerprint"] = hashlib.sha256(fields["plan"].encode()).hexdigest()
        if limit_key is not None:
            self.limit_key = limit_key
            fields["limit_key"] = encode_key(limit_key)
        self._write(**fields)

    def copied(self, last_key: tuple, rows: int) -> None:
        self.last_key = last_key
        self.rows_copied += rows
        self._write(last_key=encode_key(last_key), rows_copied=self.rows_copied)

    def record_verification(self, verification: dict) -> None:
        self.verification = verification
        self._write(verification=json.dumps(verification))

    def age(self) -> float:
        """Seconds since the run started (possibly in another process)."""
        return float(self.session.value(
            f"SELECT TIMESTAMPDIFF(MICROSECOND, started_at, UTC_TIMESTAMP(6)) / 1e6 FROM {TABLE} WHERE id = %s",
            [self.id],
        ))

    def cutover_requested(self) -> bool:
        return bool(self.session.value(f"SELECT cutover_requested FROM {TABLE} WHERE id = %s", [self.id]))

    def _write(self, **fields: Any) -> None:
        sets = ", ".join(f"{quote_name(name)} = %s" for name in fields)
        self.session.execute(
            f"UPDATE {TABLE} SET {sets}, updated_at = UTC_TIMESTAMP(6) WHERE id = %s", [*fields.values(), self.id]
        )


def request_cutover(session: Session, table: str) -> bool:
    """Tell the run of `table` waiting to swap (postpone_cutover) to go ahead; False if no run
    of `table` is in flight."""
    run = Checkpoint.find(session, table)
    if run is None:
        return False
    session.execute(f"UPDATE {TABLE} SET cutover_requested = 1 WHERE id = %s", [run.id])
    return True


def encode_key(values: tuple | None) -> str | None:
    """Key values as JSON that keeps their types: bytes, decimals and dates survive the trip."""
    if values is None:
        return None
    return json.dumps([_encode(v) for v in values])


def decode_key(text: str | None) -> tuple | None:
    if text is None:
        return None
    return tuple(_decode(item) for item in json.loads(text))


def _encode(value: Any) -> Any:
    if isinstance(value, bytes):
        return {"bytes": base64.b64encode(value).decode()}
    if isinstance(value, decimal.Decimal):
        return {"decimal": str(value)}
    if isinstance(value, datetime.datetime):
        return {"datetime": value.isoformat()}
    if isinstance(value, datetime.date):
        return {"date": value.isoformat()}
    if isinstance(value, datetime.timedelta):
        return {"seconds": value.total_seconds()}
    return value


def _decode(item: Any) -> Any:
    if not isinstance(item, dict):
        return item
    (kind, value), = item.items()
    return {
        "bytes": lambda: base64.b64decode(value),
        "decimal": lambda: decimal.Decimal(value),
        "datetime": lambda: datetime.datetime.fromisoformat(value),
        "date": lambda: datetime.date.fromisoformat(value),
        "seconds": lambda: datetime.timedelta(seconds=value),
    }[kind]()


def _require_table(session: Session) -> None:
    if not session.table_exists(CHECKPOINT_TABLE):
        raise OnlineMigrationError(
            f"The checkpoint table {TABLE} is missing from database {quote_name(session.database)} (alias "
            f"{session.alias!r}). Add 'online_migrations' to INSTALLED_APPS and run "
            f"`./manage.py migrate online_migrations --database {session.alias}`."
        )
