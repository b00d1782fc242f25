"""The user's CREATE TABLE and CREATE INDEX statements, pointed at another table.

The seed interface takes DDL written for the real table name; the engine runs it against the
shadow table (and, first, against a temporary probe table). The name is found with sqlparse's
tokens, not with string replacement, so a column or comment that happens to contain the
table's name is left alone.
"""

from sqlparse import tokens as T
from sqlparse.engine import FilterStack

from .errors import OnlineMigrationError
from .sql import quote_name


def retarget_create_table(sql: str, table: str, new_name: str, *, temporary: bool = False) -> str:
    """`CREATE TABLE <table> ...` as `CREATE [TEMPORARY] TABLE <new_name> ...`."""
    return _retarget(sql, "TABLE", table, new_name, temporary)


def retarget_create_index(sql: str, table: str, new_name: str) -> str:
    """`CREATE [UNIQUE] INDEX i ON <table> (...)` as `... ON <new_name> (...)`."""
    return _retarget(sql, "ON", table, new_name, False)


def _retarget(sql: str, marker: str, table: str, new_name: str, temporary: bool) -> str:
    what = "CREATE TABLE" if marker == "TABLE" else "CREATE INDEX"
    statements = [s for s in _parse(sql) if s.token_first(skip_cm=True) is not None]
    if len(statements) != 1 or statements[0].get_type() != "CREATE":
        raise OnlineMigrationError(
            f"Expected one {what} statement for table {quote_name(table)}, got: {sql.strip()[:200]!r}. "
            f"Pass exactly one {what} statement per string."
        )
    tokens = [t for t in statements[0].flatten()]
    create = next(i for i, t in enumerate(tokens) if t.ttype is T.Keyword.DDL)
    position = _after_keyword(tokens, create, marker)
    if position is None:
        raise OnlineMigrationError(
            f"Could not find the table name in {sql.strip()[:200]!r}: expected a {what} statement "
            f"naming {quote_name(table)}"
            + (" (index statements look like: CREATE INDEX `name` ON `table` (`column`))." if marker == "ON" else ".")
        )
    start, end, name = _name_at(tokens, position)
    if name != table:
        raise OnlineMigrationError(
            f"{what} statement names table {quote_name(name)}, but the table being changed is "
            f"{quote_name(table)}: {sql.strip()[:200]!r}. Write the statement for {quote_name(table)}; "
            "the tool points it at its shadow table itself."
        )
    head = "".join(t.value for t in tokens[:start])
    if temporary:
        head = head.replace(tokens[create].value, tokens[create].value + " TEMPORARY", 1)
    return head + quote_name(new_name) + "".join(t.value for t in tokens[end:])


def _parse(sql: str) -> list:
    """sqlparse's statements, split but not grouped: every reader here walks their tokens one
    by one, and grouping refuses a statement of more than 10,000 tokens (a CREATE TABLE of some
    800 columns)."""
    return list(FilterStack().run(sql))


def _after_keyword(tokens, start: int, marker: str) -> int | None:
    """Index of the first significant token after `marker` (and after IF NOT EXISTS)."""
    for i in range(start, len(tokens)):
        token = tokens[i]
        if token.ttype in T.Keyword and token.normalized == marker:
            j = i + 1
            while j < len(tokens) and (
                tokens[j].is_whitespace or tokens[j].normalized in ("IF NOT EXISTS", "IF", "NOT", "EXISTS")
            ):
                j += 1
            return j if j < len(tokens) else None
    return None


def _name_at(tokens, position: int) -> tuple[int, int, str]:
    """The (possibly schema-qualified) name starting at `position`: its token span and the
    unquoted table part. A schema qualifier is refused: the engine works in the alias's
    database."""
    parts, end = [], position
    while end < len(tokens):
        token = tokens[end]
        if token.ttype in T.Name or token.ttype in T.Keyword or token.ttype in T.Literal.String.Symbol:
            parts.append(_unquote(token.value))
            end += 1
            if end < len(tokens) and tokens[end].value == ".":
                end += 1
                continue
        break
    if len(parts) != 1:
        raise OnlineMigrationError(
            f"The table name {'.'.join(map(quote_name, parts)) or '(none)'} is not a plain table name: "
            "write it without a database prefix; the tool works in the database of the alias it is given."
        )
    return position, end, parts[0]


def _unquote(name: str) -> str:
    if len(name) >= 2 and name[0] == name[-1] == "`":
        return name[1:-1].replace("``", "`")
    return name


def split_foreign_keys(sql: str) -> tuple[str, list[tuple[str, str]]]:
    """`sql` (a CREATE TABLE) without its FOREIGN KEY definitions, and those definitions as
    (constraint name or "", text from FOREIGN KEY on). A temporary table cannot have foreign
    keys, and the shadow table needs them under other names, added by ALTER TABLE.
    Anything without a column list comes back unchanged, for the caller's own checks to reject."""
    parts = _column_items(sql)
    if parts is None:  # not a CREATE TABLE the server would take, which the caller reports
        return sql, []
    head, items, tail = parts
    kept, foreign_keys = [], []
    for item in items:
        found = _foreign_key_item(item)
        if found is None:
            kept.append(item)
        else:
            foreign_keys.append(found)
    return _joined(head, kept, tail), foreign_keys


def for_probe(sql: str) -> str:
    """`sql` (a CREATE TABLE, without foreign keys) as the TEMPORARY table the new schema is
    tried on can take it: without FULLTEXT and SPATIAL indexes, which InnoDB refuses on a
    temporary table, and without PARTITION BY and DATA DIRECTORY, which the server refuses
    there too. None changes the columns or the unique keys the checks read; the real shadow
    table gets them, and the server checks them then."""
    parts = _column_items(sql)
    if parts is None:
        return sql
    head, items, tail = parts
    kept = [item for item in items if _first_word(item) not in PROBE_LESS_INDEXES]
    cut = next((i for i, token in enumerate(tail) if _partitioning(token)), len(tail))
    return _joined(head, kept, _without_directories(tail[:cut])).rstrip()


PROBE_LESS_INDEXES = {"FULLTEXT", "SPATIAL"}


def probe_takes_index(sql: str) -> bool:
    """Whether a CREATE INDEX statement can run on the TEMPORARY probe (see for_probe)."""
    parsed = _parse(sql)
    words = _words(parsed[0].flatten() if parsed else ())
    return not (next(words, None) == "CREATE" and next(words, None) in PROBE_LESS_INDEXES)


def _column_items(sql: str):
    """A CREATE TABLE's tokens up to its column list's "(", the list's items (split at its
    top-level commas, so that commas and keywords inside parentheses, strings or comments are
    left alone), and the tokens from its ")" on; None without a column list."""
    parsed = _parse(sql)
    tokens = list(parsed[0].flatten()) if parsed else []
    opening = next((i for i, t in enumerate(tokens) if t.ttype is T.Punctuation and t.value == "("), len(tokens))
    items, current, depth = [], [], 1
    for position in range(opening + 1, len(tokens)):
        token = tokens[position]
        if token.ttype is T.Punctuation and token.value in "()":
            depth += 1 if token.value == "(" else -1
            if depth == 0:
                items.append(current)
                return tokens[: opening + 1], items, tokens[position:]
        if depth == 1 and token.ttype is T.Punctuation and token.value == ",":
            items.append(current)
            current = []
        else:
            current.append(token)
    return None


def _joined(head, items, tail) -> str:
    return "".join(t.value for t in head) + ",".join("".join(t.value for t in item) for item in items) \
        + "".join(t.value for t in tail)


def _first_word(item) -> str | None:
    return next(_words(item), None)


def _significant(token) -> bool:
    """Neither whitespace nor a comment."""
    return not token.is_whitespace and token.ttype not in T.Comment


def _words(tokens):
    """The significant tokens' text, upper-cased."""
    return (t.value.upper() for t in tokens if _significant(t))


def _without_directories(tokens):
    """Table options less DATA DIRECTORY and INDEX DIRECTORY (with the comma before one)."""
    significant = [i for i, t in enumerate(tokens) if _significant(t)]
    dropped = set()
    for n, i in enumerate(significant[:-1]):
        if tokens[i].normalized in ("DATA", "INDEX") and tokens[significant[n + 1]].normalized == "DIRECTORY":
            end = next((j for j in significant[n + 2:] if tokens[j].ttype in T.String), None)
            if end is None:  # no directory named: the server reports it
                continue
            start = significant[n - 1] if n and tokens[significant[n - 1]].value == "," else i
            dropped.update(range(start, end + 1))
    return [t for i, t in enumerate(tokens) if i not in dropped]


def _partitioning(token) -> bool:
    """PARTITION BY, or SHOW CREATE TABLE's executable comment around it (/*!50100 ...)."""
    if token.ttype in T.Keyword:
        return token.normalized.startswith("PARTITION")
    return token.ttype in T.Comment and token.value.upper().lstrip("/*!0123456789 ").startswith("PARTITION")


def _foreign_key_item(item) -> tuple[str, str] | None:
    """(name, "FOREIGN KEY ...") when the column list's item is a foreign key definition."""
    words = [i for i, t in enumerate(item) if _significant(t)]
    name, at = "", 0
    if words and item[words[0]].normalized == "CONSTRAINT":
        at = 1
        if len(words) > 1 and item[words[1]].normalized != "FOREIGN":
            name, at = _unquote(item[words[1]].value), 2
    if len(words) > at and item[words[at]].normalized == "FOREIGN":
        return name, "".join(t.value for t in item[words[at]:]).strip()
    return None
