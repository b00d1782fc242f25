"""Changes that would drop or alter data, found before the copy starts.

The copy stops at its first warning, but by then part of a long run is spent; and a new
unique key over duplicate values would make the copy drop rows (INSERT IGNORE) where the
user expected an error. So the data is checked against the new columns first, in one scan of
the table (plus one grouping per new unique key), and every problem is shown with example
keys: shorter strings, narrower numbers, NOT NULL over NULLs, a character set that cannot
hold the text, duplicates under a new unique key, dates a TIMESTAMP cannot hold.
"""

import logging
import re

from .describe import INTEGER_BITS, TEXT_BYTES, Column, Index, Table, decimal_digits
from .errors import OnlineMigrationError
from .mapping import zone_literal
from .plan import Plan
from .session import Session
from .sql import quote_name

EXAMPLES = 5
# A default that is the same value in every row: a string or a number (not NULL, which a
# unique key lets repeat, nor an expression such as uuid()).
_CONSTANT = re.compile(r"'(?:[^'\\]|''|\\.)*'|-?\d+(?:\.\d+)?(?:e[+-]?\d+)?", re.IGNORECASE)

logger = logging.getLogger("online_migrations")


def check_data_fits(session: Session, plan: Plan, original: Table, new: Table) -> None:
    """`original` and `new`: the two tables' descriptions."""
    checks, converted = [], []
    filled, shifted = dict(plan.mapping.fills), dict(plan.mapping.zone_shifts)
    for o, d in plan.mapping.pairs:
        before, after = original.column(o), new.column(d)
        charsets = original.charset_of(before), new.charset_of(after)
        checks += _column_checks(before, after, o, d in filled, charsets)
        if shifted.get(d) == "timestamp":
            checks.append(_timestamp_check(o, after, plan.mapping.zone))
        if None not in charsets and charsets[0] != charsets[1]:
            converted.append(f"{quote_name(o)} ({charsets[0]} -> {charsets[1]})")
    if converted:
        # A new table's CREATE TABLE without a character set takes the database's: say so.
        logger.info("%s: the copy converts the character set of %s", quote_name(plan.table), ", ".join(converted))
    problems = _scan(session, plan, checks)
    problems += _duplicates(session, plan, original, new)
    if problems:
        raise OnlineMigrationError(
            f"The new schema of {quote_name(plan.table)} cannot hold its data as it is: " + "; ".join(problems)
            + ". Nothing was copied and the table is unchanged. Fix the data (or choose a schema that fits), "
            "then run again."
        )


def _column_checks(before: Column, after: Column, column: str, filled: bool,
                   charsets: tuple[str | None, str | None]) -> list[tuple[str, str]]:
    """(SQL condition true for a row that does not fit, description) for one copied column;
    a `filled` column gets a value for its NULLs on the way; `charsets` are those of its
    values before and after (Table.charset_of)."""
    q = quote_name(column)
    checks = []
    if after.nullable is False and before.nullable and not filled and not after.generated:
        checks.append((f"{q} IS NULL", f"{quote_name(after.name)} becomes NOT NULL but holds NULL"))
    charset_before, charset_after = charsets
    converts = charset_after and charset_before and charset_after != charset_before
    length = _length(after.type)
    if length is not None:
        in_bytes = after.type.startswith(("binary", "varbinary", "tiny", "blob", "text", "medium", "long"))
        shorter = _length(before.type) is None or _length(before.type) > length
        if shorter or (in_bytes and converts):  # a TEXT's limit is in bytes, which a conversion changes
            value = f"CONVERT({q} USING {charset_after})" if converts else q
            measure = "LENGTH" if in_bytes else "CHAR_LENGTH"
            checks.append((f"{measure}({value}) > {length}", f"{quote_name(after.name)} ({after.type}) is too short for"))
    bounds = _integer_bounds(after.type)
    if bounds is not None and bounds != _integer_bounds(before.type):
        low, high = bounds
        checks.append((f"({q} < {low} OR {q} > {high})", f"{quote_name(after.name)} ({after.type}) cannot hold"))
    decimal = decimal_digits(after.type)
    if decimal is not None and decimal != decimal_digits(before.type):
        precision, scale = decimal
        checks.append((
            f"(ABS({q}) >= POW(10, {precision - scale}) OR {q} <> ROUND({q}, {scale}))",
            f"{quote_name(after.name)} ({after.type}) would round or cannot hold",
        ))
    if converts:
        converted = f"CONVERT(CONVERT({q} USING {charset_after}) USING {charset_before})"
        checks.append((
            f"CAST({q} AS BINARY) <> CAST({converted} AS BINARY)",
            f"{quote_name(after.name)} in {charset_after} cannot hold the characters of",
        ))
    return checks


def _timestamp_check(column: str, after: Column, zone: str | None) -> tuple[str, str]:
    """A column made TIMESTAMP: its values, read in the application's zone, must fall in
    TIMESTAMP's range (UTC 1970 to 2038) and be whole dates; a zero date stays zero. CONVERT_TZ
    leaves a value it cannot bring into that range as it is, and makes a date that is not whole
    NULL."""
    q = quote_name(column)
    utc = f"CONVERT_TZ({q}, {zone_literal(zone)}, '+00:00')"
    return (
        f"({q} <> 0 AND ({utc} IS NULL OR {utc} < '1970-01-01 00:00:01' OR {utc} > '2038-01-19 03:14:07'))",
        f"{quote_name(after.name)} ({after.type}) holds only whole dates from 1970 to 2038 (UTC), not those of",
    )


def _scan(session: Session, plan: Plan, checks: list[tuple[str, str]]) -> list[str]:
    if not checks:
        return []
    table = quote_name(plan.table)
    counts = session.rows(f"SELECT {', '.join(f'COALESCE(SUM({c}), 0)' for c, _ in checks)} FROM {table}")[0]
    keys = ", ".join(map(quote_name, plan.key.columns))
    problems = []
    for (condition, text), count in zip(checks, counts):
        if count:
            examples = session.rows(f"SELECT {keys} FROM {table} WHERE {condition} LIMIT {EXAMPLES}")
            problems.append(f"{text} {int(count)} row(s), e.g. keys ({keys}) {_keys(examples)}")
    return problems


def _duplicates(session: Session, plan: Plan, original: Table, new: Table) -> list[str]:
    """Unique keys of the new table that the original does not enforce (or enforces under
    another collation), over its data."""
    enforced = {_shape(index) for index in original.indexes if index.unique}
    to_origin = {d: o for o, d in plan.mapping.pairs}
    problems = []
    for index in new.indexes:
        added = [new.column(c) for c in index.columns if c not in to_origin]
        # A new column holds its default in every copied row: a constant one repeats. (Grouped
        # as CONCAT(7), since GROUP BY 7 would mean the seventh column.)
        if not index.unique or not all(c.default and _CONSTANT.fullmatch(c.default) for c in added):
            continue
        kept = [c for c in index.columns if c in to_origin]
        columns = [to_origin[c] for c in kept]
        same_collations = all(original.collation_of(original.column(to_origin[c])) == new.collation_of(new.column(c))
                              for c in kept)
        if not added and (tuple(columns), _prefixes(index)) in enforced and same_collations:
            continue
        grouped = ", ".join(
            _grouped(original.column(to_origin[c]), part.length, new.charset_of(new.column(c)),
                     new.collation_of(new.column(c))) if c in to_origin else f"CONCAT({new.column(c).default})"
            for c, part in zip(index.columns, index.parts)
        )
        not_null = " AND ".join(f"{quote_name(o)} IS NOT NULL" for o in columns) or "TRUE"
        rows = session.rows(
            f"SELECT {grouped}, COUNT(*) FROM {quote_name(plan.table)} WHERE {not_null}"
            f" GROUP BY {grouped} HAVING COUNT(*) > 1 LIMIT {EXAMPLES}"
        )
        if rows:
            shown = "; ".join(f"({', '.join(map(repr, row[:-1]))}) {row[-1]} times" for row in rows)
            problems.append(
                f"the new unique key {quote_name(index.name)} ({', '.join(map(quote_name, index.columns))}) has "
                f"duplicates: {shown} (the copy would keep one row of each and drop the others)"
            )
    return problems


def _grouped(before: Column, prefix: int | None, charset: str | None, collation: str | None) -> str:
    """The value as the new unique key compares it: its prefix, in the new column's
    character set and collation."""
    expression = quote_name(before.name)
    if prefix:
        expression = f"LEFT({expression}, {prefix})"
    if charset and collation:
        expression = f"CONVERT({expression} USING {charset}) COLLATE {collation}"
    return expression


def _shape(index: Index) -> tuple:
    return tuple(index.columns), _prefixes(index)


def _prefixes(index: Index) -> tuple:
    return tuple(part.length for part in index.parts)


def _keys(rows) -> str:
    return ", ".join("(" + ", ".join(map(repr, row)) + ")" if len(row) > 1 else repr(row[0]) for row in rows)


def _length(type_: str) -> int | None:
    match = re.match(r"(var)?(char|binary)\((\d+)\)", type_)
    if match:
        return int(match.group(3))
    return TEXT_BYTES.get(type_.split()[0].replace("blob", "text"))


def _integer_bounds(type_: str) -> tuple[int, int] | None:
    match = re.match(r"(tinyint|smallint|mediumint|int|integer|bigint)\b", type_)
    if not match:
        return None
    bits = INTEGER_BITS[match.group(1)]
    if "unsigned" in type_:
        return 0, 2**bits - 1
    return -(2 ** (bits - 1)), 2 ** (bits - 1) - 1

