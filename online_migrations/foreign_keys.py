"""Foreign keys across the swap.

- The table's own foreign keys are created on the shadow table before the triggers, so the
  new table enforces them from its first row, and a cascade from a parent table (which fires
  no trigger) reaches both tables alike.
- Foreign key names are unique in a whole database (InnoDB), so the shadow's cannot be the
  live table's: as pt-online-schema-change does, a name in use gets a leading `_`, or loses
  it when it has one. Names alternate from run to run and never grow.
- Child tables' foreign keys follow a table to its new name at a RENAME. So right before the
  swap they are pointed at the shadow table (which the triggers keep equal to the original:
  a parent deleted or re-keyed in the original reaches them through the shadow's cascades),
  and the swap carries them along to the new name: no moment when they point at the old
  table. pt-osc rebuilds them after its swap instead, leaving such a moment. The rebuild runs
  with `foreign_key_checks=0`: the rows were checked against the same data already, and
  without the check the change is in-place and metadata-only (no copy, no scan of the child).
- A table that references itself (a Django `ForeignKey("self")`) is a child of its own, and
  so is the shadow. During the copy the shadow's foreign key points at the original: that
  holds every parent a copied or forwarded row can name (the shadow does not yet), and the
  cascades of its deletes and key changes, which fire no trigger, reach the shadow's rows
  through it. Right before the swap it is pointed at the shadow itself, with the other
  children: by then the shadow holds every row. InnoDB cannot drop and add one name in one
  ALTER TABLE, so until then that key carries a parked name (`~` and its name).
- A parent's cascades (ON DELETE / ON UPDATE CASCADE or SET NULL) change the table's rows
  without firing its triggers. The shadow mirrors them only with the same constraint: where
  the new schema drops or changes one, the shadow keeps the original's during the copy (under
  a held name, `^` and its name) and the change is made right after the swap, as one
  metadata-only ALTER TABLE (the rows were checked against the same parent all along). Until
  then the table behaves as before the migration, never half one way.
"""

import logging
from collections import defaultdict
from contextlib import contextmanager
from dataclasses import replace
from typing import Any, Iterable, Iterator, Mapping, Sequence

from MySQLdb import DatabaseError

from . import names
from .describe import ForeignKey, Table, base_type, describe_table
from .errors import OnlineMigrationError
from .session import Session
from .sql import quote_name

logger = logging.getLogger("online_migrations")

SCHEMA_FOREIGN_KEYS = (
    "SELECT CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS WHERE CONSTRAINT_SCHEMA = DATABASE()"
)
REFERENCING = (
    "SELECT CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME FROM information_schema.REFERENTIAL_CONSTRAINTS"
    " WHERE UNIQUE_CONSTRAINT_SCHEMA = DATABASE() AND REFERENCED_TABLE_NAME = %s"
    " ORDER BY CONSTRAINT_SCHEMA, TABLE_NAME, CONSTRAINT_NAME"
)


def flipped(name: str) -> str:
    """pt-osc's alternation: `fk` <-> `_fk` (cut to the identifier limit)."""
    return name[1:] if name.startswith("_") else ("_" + name)[: names.MAX_IDENTIFIER]


PARKED = "~"


def parked(name: str) -> str:
    """The name, during the copy, of the shadow's foreign key to the original table itself."""
    return (PARKED + name)[: names.MAX_IDENTIFIER]


HELD = "^"
# What a parent's change does to the rows that reference it; RESTRICT and NO ACTION do nothing.
ACTIONS = {"CASCADE", "SET NULL", "SET DEFAULT"}


def free_name(name: str, taken: Iterable[str]) -> str:
    """`name` if no foreign key of the database has it, else its flipped form."""
    taken = {n.lower() for n in taken}  # InnoDB compares them without case
    if name.lower() not in taken:
        return name
    if flipped(name).lower() not in taken:
        return flipped(name)
    raise OnlineMigrationError(
        f"Foreign key names {quote_name(name)} and {quote_name(flipped(name))} are both taken in this database, "
        "and the new table needs one of them for its copy of the constraint. Rename or drop one of the two."
    )


def taken_names(cursor: Any) -> list[str]:
    """Every foreign key name of the cursor's database (a DB-API cursor: Django's or ours)."""
    cursor.execute(SCHEMA_FOREIGN_KEYS)
    return [row[0] for row in cursor.fetchall()]


def constraint_sql(fk: ForeignKey, name: str | None, ref_table: str | None = None,
                   ref_columns: Sequence[str] | None = None) -> str:
    """`CONSTRAINT name FOREIGN KEY (...) REFERENCES ...` for ALTER TABLE ... ADD; without a
    name (""), the server names it `<table>_ibfk_<n>`, and renames it along with the table."""
    target = quote_name(ref_table or fk.ref_table)
    if fk.ref_schema is not None:
        target = f"{quote_name(fk.ref_schema)}.{target}"
    sql = (f"FOREIGN KEY ({', '.join(map(quote_name, fk.columns))}) REFERENCES {target} "
           f"({', '.join(map(quote_name, ref_columns or fk.ref_columns))})")
    sql += f" ON DELETE {fk.on_delete}" if fk.on_delete else ""
    sql += f" ON UPDATE {fk.on_update}" if fk.on_update else ""
    return sql if not name else f"CONSTRAINT {quote_name(name)} {sql}"


def references(fk: ForeignKey, table: str) -> bool:
    """Whether `fk` points at `table` of its own database."""
    return fk.ref_table == table and fk.ref_schema is None


def add_foreign_keys_sql(table: str, shadow: str, foreign_keys: Sequence[ForeignKey], taken: Iterable[str]) -> str | None:
    """One ALTER TABLE that gives the shadow table `foreign_keys`, each under a free name (parked,
    for one that references `table` itself)."""
    taken = list(taken)
    clauses = []
    for fk in foreign_keys:
        name = fk.name and free_name(fk.name, taken)
        taken.append(name)
        if name and references(fk, table):
            name = parked(name)
            taken.append(name)
        clauses.append("ADD " + constraint_sql(fk, name))
    return f"ALTER TABLE {quote_name(shadow)} {', '.join(clauses)}" if clauses else None


def check_child_tables(session: Session, table: str, max_child_rows: int) -> None:
    """Before anything changes: every foreign key that references `table` must be one the swap
    can carry over, so none is ever left pointing at the old table."""
    rows = session.rows(REFERENCING, [table])
    elsewhere = sorted({f"{quote_name(schema)}.{quote_name(child)}" for schema, child, _ in rows if schema != session.database})
    if elsewhere:
        raise OnlineMigrationError(
            f"Table {quote_name(table)} is referenced by foreign keys of tables in other databases "
            f"({', '.join(elsewhere)}), which the swap would leave pointing at the old table. Drop those "
            "constraints for the migration and add them again afterwards."
        )
    # The table itself and its shadow (a resumed run's) are no children that could be too big.
    others = sorted({child for _, child, _ in rows} - {table, names.shadow_table(table)})
    sizes = {child: session.estimated_rows(child) for child in others}
    big = {child: n for child, n in sizes.items() if n > max_child_rows}
    if big:
        raise OnlineMigrationError(
            f"Table {quote_name(table)} is referenced by foreign keys of "
            + ", ".join(f"{quote_name(child)} (~{n:,} rows)" for child, n in big.items())
            + f", more than max_child_rows={max_child_rows:,}. At the swap each child's constraints are rebuilt "
            "to point at the new table, which holds a metadata lock on the child; nothing was changed. Raise "
            "max_child_rows if that is acceptable, or drop those constraints for the migration."
        )
    if sizes:
        logger.info("%s: child tables %s; their foreign keys are moved to the new table at the swap", quote_name(table),
                    ", ".join(f"{quote_name(c)} (~{n:,} rows)" for c, n in sizes.items()))


def check_referenced_columns(session: Session, original: Table, new: Table, renamed: Mapping[str, str]) -> None:
    """Before the copy: every foreign key that will be pointed at the new table (see above)
    must find its columns there, under their new names (`renamed`: original name -> new one,
    for the copied columns), at the head of an index, or the server would refuse it at the
    swap, after the whole copy."""
    table = original.name
    with session.connection.cursor() as cursor:
        indexes = [index.columns for index in new.indexes]
        problems, children = [], {}
        for schema, child, name in session.rows(REFERENCING, [table]):
            if schema != session.database or child == table:  # the original's own stay with it
                continue
            if child not in children:
                children[child] = {fk.name: fk for fk in describe_table(cursor, child).foreign_keys}
            fk = children[child][name]
            dropped = [c for c in fk.ref_columns if c not in renamed]
            columns = tuple(renamed.get(c) for c in fk.ref_columns)
            types = {c: (_key_type(original, c), _key_type(new, renamed[c])) for c in fk.ref_columns if c in renamed}
            retyped = [f"{quote_name(c)} ({a} -> {b})" for c, (a, b) in types.items() if a != b]
            if dropped:
                problems.append(f"{quote_name(child)}.{quote_name(name)} references {_names(dropped)}, which the new "
                                "table does not have")
            elif retyped:
                problems.append(f"{quote_name(child)}.{quote_name(name)} references {', '.join(retyped)}, whose new "
                                "type its own column would have to change to (a change of the child table too)")
            elif not any(index[:len(columns)] == columns for index in indexes):
                problems.append(f"{quote_name(child)}.{quote_name(name)} references {_names(columns)}, which no index "
                                "of the new table starts with")
    if problems:
        raise OnlineMigrationError(
            f"Table {quote_name(table)}: the foreign keys that reference it are moved to the new table at the swap, "
            f"and these would not fit it: {'; '.join(problems)}. Nothing was copied. Drop or change those foreign "
            "keys first, or keep the columns they reference (and a unique key on them) in the new table."
        )


_SIZED_STRINGS = {"char", "varchar", "binary", "varbinary"}


def hold_actions(session: Session, original: Table, new: Table, renamed: Mapping[str, str], *,
                 retries: int) -> tuple[tuple[str, str], ...]:
    """Before the triggers: give the (still empty) shadow table `new` the original's foreign
    keys with an action that its new schema drops or changes (see above), in place of the
    new ones on the same columns and parent. Returns, per held key, its name and the ALTER
    TABLE that makes the new schema's change once the shadow is the table (`release_actions`).
    `renamed`: the shadow's name of each copied column."""
    lost = [fk for fk in original.foreign_keys
            if acts(fk) and not any(_same_parent(fk, n, renamed) and _actions(n) == _actions(fk) for n in new.foreign_keys)]
    for fk in lost:
        _check_holdable(original.name, fk, renamed)
    if not lost:
        return ()
    replaced = {fk.name: [n for n in new.foreign_keys if _same_parent(fk, n, renamed)] for fk in lost}
    dropped = [n.name for ns in replaced.values() for n in ns]
    if dropped:
        session.ddl(f"ALTER TABLE {quote_name(new.name)} " + ", ".join(f"DROP FOREIGN KEY {quote_name(n)}" for n in dropped),
                    what=f"holding back foreign key changes of {quote_name(new.name)}", retries=retries)
    with session.connection.cursor() as cursor:
        taken = taken_names(cursor)
    held, clauses = [], []
    for fk in lost:
        name = free_name((HELD + fk.name)[: names.MAX_IDENTIFIER], taken)
        taken.append(name)
        clauses.append("ADD " + constraint_sql(replace(fk, columns=tuple(renamed[c] for c in fk.columns)), name))
        release = [f"DROP FOREIGN KEY {quote_name(name)}"] + ["ADD " + constraint_sql(n, n.name) for n in replaced[fk.name]]
        held.append((name, release))
    try:
        session.ddl(f"ALTER TABLE {quote_name(new.name)} {', '.join(clauses)}",
                    what=f"holding the foreign key actions of {quote_name(original.name)}", retries=retries)
        with session.connection.cursor() as cursor:
            indexes = {index.name for index in describe_table(cursor, new.name).indexes}
    except DatabaseError as error:
        raise OnlineMigrationError(
            f"{_held_reason(original.name, lost)}, and the new table cannot take "
            f"{'it' if len(lost) == 1 else 'them'}: {error.args[-1]}. Nothing was changed. Make the foreign key "
            "change first with a plain ALTER TABLE (DROP FOREIGN KEY is metadata-only), then run the migration."
        ) from error
    logger.info("%s. The new table keeps %s until the swap; the change is made right after it",
                _held_reason(original.name, lost), "it" if len(lost) == 1 else "them")
    # Where no index served a held key, the server made one under its name: it goes with it.
    return tuple((name, f"ALTER TABLE {quote_name(original.name)} "
                        + ", ".join(release + ([f"DROP INDEX {quote_name(name)}"] if name in indexes else [])))
                 for name, release in held)


def release_actions(session: Session, table: str, held: Sequence[Sequence[str]], *, retries: int) -> None:
    """After the swap: the held foreign keys become what the new schema says. Idempotent: a key
    released already is no longer there."""
    with session.connection.cursor() as cursor:
        present = {fk.name for fk in describe_table(cursor, table).foreign_keys}
    for name, sql in held:
        if name in present:
            try:
                with _unchecked(session):
                    session.ddl(f"{sql}, ALGORITHM=INPLACE, LOCK=NONE",
                                what=f"releasing the foreign key {quote_name(name)} of {quote_name(table)}",
                                retries=retries)
            except DatabaseError as error:
                raise OnlineMigrationError(
                    f"The new {quote_name(table)} is in place, but the foreign key change held back during the copy "
                    f"failed: {error.args[-1]} in {sql!r}. Until it is made, {quote_name(table)} keeps the original's "
                    f"{quote_name(name)}. Run the migration again (it goes on from here), or run that statement by "
                    "hand after SET foreign_key_checks = 0."
                ) from error
            logger.info("%s: made the foreign key change held back during the copy (%s)", quote_name(table),
                        quote_name(name))


def acts(fk: ForeignKey) -> bool:
    """Whether a change of the parent's rows changes the rows that reference them."""
    return fk.on_delete in ACTIONS or fk.on_update in ACTIONS


def _actions(fk: ForeignKey) -> tuple[str, str]:
    """ON DELETE and ON UPDATE, RESTRICT and NO ACTION (the same in InnoDB) spelled alike."""
    return tuple(a if a in ACTIONS else "RESTRICT" for a in (fk.on_delete, fk.on_update))


def _same_parent(fk: ForeignKey, new: ForeignKey, renamed: Mapping[str, str]) -> bool:
    """Whether `new` constrains the columns `fk` does, as the shadow names them, to the same parent."""
    return (tuple(renamed.get(c) for c in fk.columns) == new.columns
            and (fk.ref_schema, fk.ref_table, fk.ref_columns) == (new.ref_schema, new.ref_table, new.ref_columns))


def _check_holdable(table: str, fk: ForeignKey, renamed: Mapping[str, str]) -> None:
    gone = [c for c in fk.columns if c not in renamed]
    if references(fk, table) or gone:
        why = ("it references the table itself" if references(fk, table)
               else f"the new table drops {_names(gone)}")
        raise OnlineMigrationError(
            f"{_held_reason(table, [fk])}, but it cannot be kept during the copy: {why}. Rows the cascade changed "
            "would stay as they were in the new table. Nothing was changed. Drop the constraint first with a plain "
            f"ALTER TABLE {quote_name(table)} DROP FOREIGN KEY {quote_name(fk.name)} (metadata-only; in a Django "
            "migration, a RunSQL before this operation), then run the migration."
        )


def _held_reason(table: str, lost: Sequence[ForeignKey]) -> str:
    listed = "; ".join(
        f"{quote_name(fk.name)} ({_names(fk.columns)}) to {quote_name(fk.ref_table)}"
        + "".join(f" ON {event} {action}" for event, action in (("DELETE", fk.on_delete), ("UPDATE", fk.on_update))
                  if action in ACTIONS)
        for fk in lost
    )
    return (f"{quote_name(table)}: the new schema drops or changes the foreign key{'s' if len(lost) > 1 else ''} "
            f"{listed}, whose actions change the table's rows without firing the triggers")


def _key_type(table: Table, column: str) -> str:
    """What a foreign key that references `column` must match: InnoDB wants the same type,
    strings of any length but in the same collation."""
    found = table.column(column)
    if base_type(found.type) in _SIZED_STRINGS:
        return f"{base_type(found.type)} {table.collation_of(found) or ''}".strip()
    return found.type


def repoint_children(session: Session, referenced: str, target: str, *, retries: int,
                     renamed: Mapping[str, str] | None = None) -> None:
    """Point every other table's foreign keys that reference `referenced` at `target` instead,
    `target`'s own included (those of a table that references itself: see above); `renamed`
    gives `target`'s names of `referenced`'s columns where they differ. Idempotent: a
    constraint already moved no longer references `referenced`."""
    by_child: dict[str, list[str]] = defaultdict(list)
    for schema, child, name in session.rows(REFERENCING, [referenced]):
        if schema == session.database and child != referenced:
            by_child[child].append(name)
    for child, constraints in by_child.items():
        _rebuild(session, target, child, set(constraints), renamed or {}, retries)
    if by_child:
        logger.info("%s: pointed the foreign keys of %s at %s", quote_name(referenced),
                    ", ".join(map(quote_name, by_child)), quote_name(target))


def drop_foreign_keys(session: Session, table: str, *, retries: int) -> None:
    """Drop `table`'s own foreign keys (metadata-only). For the original table kept after the
    swap: its constraints would still hold the parent tables' rows it references, and refuse
    the application's deletes of them (RESTRICT), or take part in their cascades."""
    with session.connection.cursor() as cursor:
        constraints = [fk.name for fk in describe_table(cursor, table).foreign_keys]
    if constraints:
        session.ddl(
            f"ALTER TABLE {quote_name(table)} {', '.join(f'DROP FOREIGN KEY {quote_name(n)}' for n in constraints)}",
            what=f"dropping the foreign keys of {quote_name(table)}", retries=retries,
        )


def _rebuild(session: Session, table: str, child: str, constraints: set[str], renamed: Mapping[str, str],
             retries: int) -> None:
    with session.connection.cursor() as cursor:
        taken = taken_names(cursor)
        foreign_keys = describe_table(cursor, child).foreign_keys
    changes = []
    for fk in foreign_keys:
        if fk.name in constraints:
            unparked = fk.name[len(PARKED):] if child == table and fk.name.startswith(PARKED) else fk.name
            name = free_name(unparked, taken)
            taken.append(name)
            columns = [renamed.get(c, c) for c in fk.ref_columns]
            changes += [f"DROP FOREIGN KEY {quote_name(fk.name)}", "ADD " + constraint_sql(fk, name, table, columns)]
    # Every row was valid against the same data in the old table.
    with _unchecked(session):
        session.ddl(
            f"ALTER TABLE {quote_name(child)} {', '.join(changes)}, ALGORITHM=INPLACE, LOCK=NONE",
            what=f"pointing the foreign keys of {quote_name(child)} at {quote_name(table)}", retries=retries,
        )


@contextmanager
def _unchecked(session: Session) -> Iterator[None]:
    """For foreign keys added over rows checked already: without the check the server neither
    scans the table nor copies it (ALGORITHM=INPLACE is then metadata-only)."""
    session.execute("SET SESSION foreign_key_checks = 0")
    try:
        yield
    finally:
        session.execute("SET SESSION foreign_key_checks = 1")


def _names(columns: Iterable[str]) -> str:
    return ", ".join(map(quote_name, columns))
