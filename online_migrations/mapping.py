"""Which column of the original table feeds which column of the new one.

The lists the user gives are checked against the live tables, because a column missing from
a list is not copied: it would silently come out empty in the new table.
"""

import re
from collections import Counter
from dataclasses import dataclass
from typing import Iterable, Mapping, Sequence

from .describe import Table, base_type
from .errors import OnlineMigrationError
from .sql import quote_name


@dataclass(frozen=True)
class ColumnMapping:
    pairs: tuple[tuple[str, str], ...]
    """(original column, new column) for every copied column, in the original table's order."""
    fills: tuple[tuple[str, str], ...] = ()
    """(new column, SQL literal): a column that becomes NOT NULL gets this value where the
    original holds NULL, on the way (by the copy and the triggers alike), as Django's
    AlterField fills such rows with the field's default."""
    zone_shifts: tuple[tuple[str, str], ...] = ()
    """(new column, "timestamp" for one made TIMESTAMP, "datetime" for one made anything else
    from a TIMESTAMP: a DATETIME, a DATE, text) for a column that changes to or from
    TIMESTAMP. The server converts such a value in the time zone of the session that writes
    it: the copy's (UTC, see Session), and each application session's for the triggers' rows.
    A plain ALTER TABLE converts every row in its one session's zone, so the copy and the
    triggers convert explicitly, through the DATETIME it reads as in `zone`, whatever zone
    they run in."""
    zone: str | None = None
    """The application's time zone when the plan was made (Session.zone), for `zone_shifts`."""

    @property
    def origin(self) -> tuple[str, ...]:
        return tuple(o for o, _ in self.pairs)

    @property
    def dest(self) -> tuple[str, ...]:
        return tuple(d for _, d in self.pairs)

    def dest_of(self, origin_column: str) -> str | None:
        return dict(self.pairs).get(origin_column)

    def source(self, origin_column: str, prefix: str = "") -> str:
        """The SQL the copy and the triggers write into the new column: the original column
        (as `prefix` + name, e.g. NEW.`name`), converted to the application's time zone or
        from it where it changes to or from TIMESTAMP, with its fill where there is one."""
        dest = self.dest_of(origin_column)
        expression = prefix + quote_name(origin_column)
        shift = dict(self.zone_shifts).get(dest)
        if shift == "datetime":  # a TIMESTAMP reads in the session's zone: to the application's
            expression = in_zone(expression, self.zone)
        elif shift == "timestamp":  # the session's zone is what a TIMESTAMP is stored from
            expression = _convert(expression, zone_literal(self.zone), "@@session.time_zone")
        fill = dict(self.fills).get(dest)
        return expression if fill is None else f"COALESCE({expression}, {fill})"


def zone_shifts(pairs: Sequence[tuple[str, str]], original: Table, new: Table) -> tuple[tuple[str, str], ...]:
    """The pairs that change to or from TIMESTAMP, as ColumnMapping.zone_shifts."""
    types = ((d, base_type(original.column(o).type) == "timestamp", base_type(new.column(d).type) == "timestamp")
             for o, d in pairs)
    return tuple((d, "timestamp" if made else "datetime") for d, was, made in types if was != made)


def in_zone(expression: str, zone: str | None) -> str:
    """A TIMESTAMP `expression` as the DATETIME it reads as in `zone`, in any session."""
    return _convert(expression, "@@session.time_zone", zone_literal(zone))


def _convert(expression: str, source: str, target: str) -> str:
    """CONVERT_TZ, except that a zero date ('0000-00-00 00:00:00', which CONVERT_TZ makes
    NULL, with a warning when it is text) stays as it is, as in a plain ALTER TABLE."""
    value = f"IF(LEFT({expression}, 10) = '0000-00-00', NULL, {expression})"
    return f"COALESCE(CONVERT_TZ({value}, {source}, {target}), {expression})"


def zone_literal(zone: str | None) -> str:
    """`zone` (a value of @@time_zone: SYSTEM, +05:00, Europe/Paris) as an SQL string."""
    if zone is None or not re.fullmatch(r"[A-Za-z0-9_+\-:/]+", zone):
        raise OnlineMigrationError(f"Unexpected time zone {zone!r}: a change to or from TIMESTAMP needs the "
                                   "session's time_zone as SYSTEM, an offset (+05:00) or a zone name.")
    return f"'{zone}'"


def map_columns(
    table: str,
    origin_columns: Sequence[str],
    dest_columns: Sequence[str],
    renames: Mapping[str, str] | None,
    *,
    live_origin: Sequence[str],
    live_dest: Sequence[str],
    computed_dest: Iterable[str] = (),
    fills: Mapping[str, str] | None = None,
) -> ColumnMapping:
    """Check the user's column lists and renames, and pair the columns up.

    `live_origin` and `live_dest` are the columns the server reports for the original table
    and for the new schema; `computed_dest` are generated columns, which the server fills.
    """
    renames = dict(renames or {})
    _check_list(table, "origin_columns", origin_columns, live_origin, "the table")
    _check_list(table, "dest_columns", dest_columns, live_dest, "the new table (dest_table_sql)")
    _check_renames(table, renames, origin_columns, dest_columns)
    dest = set(dest_columns) - set(computed_dest)
    pairs = []
    for column in origin_columns:
        target = renames.get(column, column)
        if target in dest:
            pairs.append((column, target))
    copied = {target for _, target in pairs}
    return ColumnMapping(tuple(pairs), tuple(sorted((c, v) for c, v in (fills or {}).items() if c in copied)))


def _check_list(table: str, label: str, given: Sequence[str], live: Sequence[str], where: str) -> None:
    if isinstance(given, str) or not all(isinstance(c, str) for c in given):
        raise OnlineMigrationError(f"Table {quote_name(table)}: {label} must be a list of column names, not {given!r}.")
    repeated = sorted(c for c, n in Counter(given).items() if n > 1)
    missing = [c for c in live if c not in set(given)]
    unknown = [c for c in given if c not in set(live)]
    if not (repeated or missing or unknown):
        return
    details = []
    if unknown:
        details.append(f"not in {where}: {_names(unknown)}")
    if missing:
        details.append(f"in {where} but not listed: {_names(missing)}")
    if repeated:
        details.append(f"listed twice: {_names(repeated)}")
    raise OnlineMigrationError(
        f"Table {quote_name(table)}: {label} lists {len(given)} columns but {where} has {len(live)} "
        f"({'; '.join(details)}). The list must name every column of {where} exactly once, so that "
        f"no column is left out of the copy by mistake. {where.capitalize()} has: {_names(live)}."
    )


def _check_renames(table: str, renames: dict, origin: Sequence[str], dest: Sequence[str]) -> None:
    problems = []
    for old, new in renames.items():
        if not isinstance(old, str) or not isinstance(new, str):
            problems.append(f"{old!r}: {new!r} is not a pair of column names")
        elif old not in origin:
            problems.append(f"{quote_name(old)} (renamed to {quote_name(new)}) is not in origin_columns")
        elif new not in dest:
            problems.append(f"{quote_name(new)} (the new name of {quote_name(old)}) is not in dest_columns")
        elif old in dest and old not in renames.values():
            problems.append(
                f"{quote_name(old)} is renamed to {quote_name(new)} but the new table also has a column "
                f"{quote_name(old)}: the data would go to both"
            )
    targets = Counter(renames.get(c, c) for c in origin if renames.get(c, c) in dest)
    problems += [f"several columns would be copied into {quote_name(c)}" for c, n in targets.items() if n > 1]
    if problems:
        raise OnlineMigrationError(
            f"Table {quote_name(table)}: the renames do not fit the column lists: {'; '.join(problems)}. "
            "renames maps an original column name to its new name: {'old_name': 'new_name'}."
        )


def _names(columns: Iterable[str]) -> str:
    return ", ".join(quote_name(c) for c in columns)
