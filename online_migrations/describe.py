"""Structured description of a table, read from ``SHOW CREATE TABLE``.

The server's own rendering is parsed (rather than information_schema) because it is the one
place that shows every attribute the shadow table must reproduce, in the server's canonical
spelling. Anything the description cannot represent raises ``TableDescriptionError`` instead
of being dropped: a shadow table built from a lossy description would silently differ from
the original.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from sqlparse import keywords
from sqlparse import tokens as T
from sqlparse.lexer import Lexer

from .sql import quote_name

__all__ = [
    "Check",
    "Column",
    "ForeignKey",
    "Index",
    "IndexPart",
    "Table",
    "NoSuchTable",
    "TableDescriptionError",
    "describe_table",
    "parse_create_table",
    "parse_foreign_key",
]

ER_NO_SUCH_TABLE = 1146


class TableDescriptionError(ValueError):
    """The CREATE TABLE text (or the table itself) is not something this module can describe."""


class NoSuchTable(TableDescriptionError):
    """There is no such table, as opposed to one this module does not understand."""


INTEGER_BITS = {"tinyint": 8, "smallint": 16, "mediumint": 24, "int": 32, "integer": 32, "bigint": 64}
TEXT_BYTES = {"tinytext": 255, "text": 65535, "mediumtext": 16777215, "longtext": 4294967295}
CHARACTER_TYPES = frozenset({"char", "varchar", *TEXT_BYTES, "enum", "set"})


def base_type(type_: str) -> str:
    """``int(11) unsigned`` -> ``int``, ``varchar(10) compressed`` -> ``varchar``."""
    return re.split(r"[\s(]", type_, maxsplit=1)[0]


def decimal_digits(type_: str) -> tuple[int, int] | None:
    """``decimal(12,2)`` -> (12, 2); None for other types."""
    match = re.match(r"decimal\((\d+),(\d+)\)", type_.replace(" ", ""))
    return (int(match.group(1)), int(match.group(2))) if match else None


@dataclass(frozen=True)
class Column:
    name: str  # unquoted
    type: str  # "int(11) unsigned", "enum('a','b''c')": base type lower-cased, arguments as shown
    nullable: bool
    default: str | None  # SQL text as shown ("NULL", "'abc'", "current_timestamp()"); None: no DEFAULT
    auto_increment: bool
    charset: str | None  # only when shown on the column
    collation: str | None  # only when shown on the column
    generated: str | None  # the expression inside AS (...), or ROW START / ROW END (system versioning)
    stored: bool  # STORED/PERSISTENT generated column
    on_update: str | None  # SQL text as shown
    comment: str | None  # unquoted
    invisible: bool


@dataclass(frozen=True)
class IndexPart:
    column: str
    length: int | None  # prefix length
    descending: bool


@dataclass(frozen=True)
class Index:
    name: str  # "PRIMARY" for the primary key
    parts: tuple[IndexPart, ...]
    unique: bool  # PRIMARY and UNIQUE
    kind: str  # "BTREE" (plain, unique, primary), "FULLTEXT" or "SPATIAL"
    using: str | None  # USING BTREE/HASH when shown
    comment: str | None

    @property
    def columns(self) -> tuple[str, ...]:
        return tuple(part.column for part in self.parts)

    @property
    def primary(self) -> bool:
        return self.name == "PRIMARY"


@dataclass(frozen=True)
class ForeignKey:
    name: str
    columns: tuple[str, ...]
    ref_table: str
    ref_columns: tuple[str, ...]
    on_delete: str | None  # "CASCADE", "SET NULL"... as shown; None when not shown (RESTRICT)
    on_update: str | None
    # Set only when the parent table lives in another database (shown as `db`.`table`).
    ref_schema: str | None = None


@dataclass(frozen=True)
class Check:
    name: str  # a column-level CHECK is named after its column, as MariaDB does
    expression: str  # inside CHECK (...)


@dataclass(frozen=True)
class Table:
    name: str
    columns: tuple[Column, ...]
    indexes: tuple[Index, ...]  # PRIMARY first, then in SHOW CREATE TABLE order
    foreign_keys: tuple[ForeignKey, ...]
    checks: tuple[Check, ...]
    options: dict[str, str]  # upper-case keys ("ENGINE", "DEFAULT CHARSET"); strings unquoted; flags map to ""
    partitioning: str | None  # the PARTITION BY ... clause as shown, without any /*!50100 */ wrapper

    def digest(self) -> str:
        """The definition as a short string that changes with any ALTER, but not with the
        AUTO_INCREMENT counter, which moves with every insert."""
        options = {k: v for k, v in self.options.items() if k != "AUTO_INCREMENT"}
        return hashlib.sha256(repr(replace(self, options=options)).encode()).hexdigest()

    def charset_of(self, column: Column) -> str | None:
        """The character set a character column holds its values in: its own, else the
        table's default (SHOW CREATE TABLE names it on a column only where the two differ).
        None for other types."""
        if base_type(column.type) not in CHARACTER_TYPES:
            return None
        return column.charset or self.options.get("DEFAULT CHARSET") or self.options.get("CHARSET")

    def collation_of(self, column: Column) -> str | None:
        """Like `charset_of`, for the collation; None also where it is not shown and not the
        table's (a column in another character set, at that set's default collation)."""
        if base_type(column.type) not in CHARACTER_TYPES or (column.charset and not column.collation):
            return column.collation
        return column.collation or self.options.get("COLLATE")

    @property
    def versioned(self) -> bool:
        """System-versioned: the table keeps the history of its rows, which only the server can
        carry over to a new table (a plain ALTER TABLE does)."""
        return "WITH SYSTEM VERSIONING" in self.options

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(column.name for column in self.columns)

    def column(self, name: str) -> Column:
        """Exact-name lookup: callers pass names taken from this description."""
        for column in self.columns:
            if column.name == name:
                return column
        raise KeyError(name)

    @property
    def primary_key(self) -> Index | None:
        return next((index for index in self.indexes if index.primary), None)

    def unique_not_null_keys(self) -> tuple[Index, ...]:
        """Keys that identify every row on their own: a prefix or a NULL would let two rows share a value."""
        return tuple(
            index
            for index in self.indexes
            if index.unique
            and all(part.length is None and not self.column(part.column).nullable for part in index.parts)
        )


# ---------------------------------------------------------------------------------------------
# Tokens


def _mysql_lexer() -> Lexer:
    """sqlparse's lexer with a MySQL string rule in front.

    sqlparse's own rule takes the ``\\'`` at the end of ``'a\\\\' COMMENT 'b'`` for an escaped
    quote and lexes it all as one string; MariaDB prints such literals in comments, defaults and
    partition values. A private instance leaves the process-wide lexer (used by Django) untouched.
    """
    lexer = Lexer()
    lexer.default_initialization()
    lexer.set_SQL_REGEX([(r"'(?:[^'\\]|\\[\s\S]|'')*'", T.String.Single), *keywords.SQL_REGEX])
    return lexer


_LEXER = _mysql_lexer()
# Executable comments: /*!50100 ... */ (MySQL) and /*M!100301 ... */ (MariaDB) hold real SQL.
_EXECUTABLE_COMMENT = re.compile(r"/\*M?!\d*(.*)\*/", re.DOTALL)
_STRING_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}


@dataclass(frozen=True)
class _Token:
    kind: str  # "word", "name" (quoted identifier), "string", "punct"
    value: str
    start: int
    end: int

    def is_word(self, *words: str) -> bool:
        return self.kind == "word" and self.value.upper() in words

    def is_punct(self, char: str) -> bool:
        return self.kind == "punct" and self.value == char


def _tokenize(sql: str, start: int = 0, end: int | None = None) -> Iterator[_Token]:
    """Significant tokens of ``sql[start:end]`` with absolute offsets, so clauses can be sliced verbatim."""
    pos = start
    for ttype, value in _LEXER.get_tokens(sql[start:end]):
        token_start, pos = pos, pos + len(value)
        if ttype in T.Comment:
            inner = _EXECUTABLE_COMMENT.fullmatch(value)
            if inner:
                yield from _tokenize(sql, token_start + inner.start(1), token_start + inner.end(1))
        elif ttype not in T.Whitespace:
            yield from _classify(ttype, value, token_start)


def _classify(ttype: Any, value: str, start: int) -> Iterator[_Token]:
    """Splits sqlparse's multi-word keywords ("NOT NULL", "PRIMARY KEY") so clauses match word by word."""
    if ttype in T.String.Single:
        yield _Token("string", value, start, start + len(value))
    elif (ttype in T.Name or ttype in T.String.Symbol) and value[0] in '`"':
        # "..." is an identifier (ANSI_QUOTES): SHOW CREATE TABLE always writes literals as '...'.
        yield _Token("name", value, start, start + len(value))
    elif ttype in T.Punctuation or value == "=":
        yield _Token("punct", value, start, start + len(value))
    else:
        for word in re.finditer(r"\S+", value):
            yield _Token("word", word.group(), start + word.start(), start + word.end())


def _unquote_string(literal: str) -> str:
    """The value of a literal: the server escapes quotes both ways (``''`` in comments, ``\\'`` in partitions)."""
    return re.sub(
        r"''|\\(.)",
        lambda m: "'" if m.group(1) is None else _unescape(m.group(1)),
        literal[1:-1],
        flags=re.DOTALL,
    )


def _unescape(char: str) -> str:
    """``\\%`` and ``\\_`` keep their backslash in MySQL; every other escaped character stands for itself."""
    return "\\" + char if char in "%_" else _STRING_ESCAPES.get(char, char)


# ---------------------------------------------------------------------------------------------
# Token stream


class _Stream:
    """Cursor over the tokens of one clause; its errors name the clause being parsed."""

    def __init__(self, sql: str, tokens: Sequence[_Token], what: str) -> None:
        self.sql = sql
        self.tokens = tokens
        self.what = what
        self.pos = 0

    def error(self, expected: str) -> TableDescriptionError:
        token = self.peek()
        found = repr(self.sql[token.start : token.start + 40]) if token else "the end of it"
        return TableDescriptionError(f"Cannot parse {self.what}: expected {expected}, found {found}.")

    @property
    def done(self) -> bool:
        return self.pos >= len(self.tokens)

    def peek(self, ahead: int = 0) -> _Token | None:
        index = self.pos + ahead
        return self.tokens[index] if index < len(self.tokens) else None

    def take(self, expected: str, wanted: Callable[[_Token], bool] = lambda token: True) -> _Token:
        token = self.peek()
        if token is None or not wanted(token):
            raise self.error(expected)
        self.pos += 1
        return token

    def at(self, *words: str) -> bool:
        return all((token := self.peek(i)) is not None and token.is_word(word) for i, word in enumerate(words))

    def accept(self, *words: str) -> bool:
        if self.at(*words):
            self.pos += len(words)
            return True
        return False

    def expect(self, *words: str) -> None:
        if not self.accept(*words):
            raise self.error(" ".join(words))

    def at_punct(self, char: str) -> bool:
        token = self.peek()
        return token is not None and token.is_punct(char)

    def accept_punct(self, char: str) -> bool:
        if self.at_punct(char):
            self.pos += 1
            return True
        return False

    def end(self) -> None:
        if not self.done:
            raise self.error("nothing more")

    def identifier(self) -> str:
        token = self.take("a name", lambda token: token.kind in ("name", "word"))
        if token.kind == "word":
            return token.value
        quote = token.value[0]
        return token.value[1:-1].replace(quote * 2, quote)

    def word(self) -> str:
        return self.take("a word", lambda token: token.kind == "word").value

    def string(self) -> str:
        return _unquote_string(self.take("a quoted string", lambda token: token.kind == "string").value)

    def integer(self) -> int:
        return int(self.take("a number", lambda token: token.value.isdigit()).value)

    def group(self) -> _Stream:
        """Consumes a balanced ``( ... )`` and returns a stream over what is inside."""
        if not self.at_punct("("):
            raise self.error("'('")
        self.pos += 1
        start, depth = self.pos, 1
        while depth:
            token = self.take("')'")
            depth += token.is_punct("(") - token.is_punct(")")
        return _Stream(self.sql, self.tokens[start : self.pos - 1], self.what)

    def text(self) -> str:
        """The rest of the clause exactly as written."""
        if self.done:
            raise self.error("an expression")
        first, self.pos = self.tokens[self.pos], len(self.tokens)
        return self.sql[first.start : self.tokens[-1].end]

    def term(self) -> str:
        """One value as written: literal, ``b'01'``/``_utf8mb4'x'``, ``f(...)`` or ``( ... )``."""
        first = self.peek()
        if first is None:
            raise self.error("a value")
        if self.at_punct("("):
            self.group()
        else:
            self.pos += 1
            if first.kind == "word" and self.at_punct("("):
                self.group()
            elif first.kind == "word" and (after := self.peek()) and after.kind == "string" and after.start == first.end:
                self.pos += 1
        return self.sql[first.start : self.tokens[self.pos - 1].end]

    def split(self, what: str) -> list[_Stream]:
        """The comma-separated items of this stream, commas inside parentheses excepted."""
        items: list[list[_Token]] = [[]]
        depth = 0
        for token in self.tokens[self.pos :]:
            depth += token.is_punct("(") - token.is_punct(")")
            if depth == 0 and token.is_punct(","):
                items.append([])
            else:
                items[-1].append(token)
        self.pos = len(self.tokens)
        return [_Stream(self.sql, item, what) for item in items]

    def identifiers(self) -> tuple[str, ...]:
        """A parenthesised name list: ``(`a`,`b`)``."""
        return tuple(_single(item, _Stream.identifier) for item in self.group().split(self.what))


def _single(stream: _Stream, parse: Callable[[_Stream], Any]) -> Any:
    """``parse`` must consume the whole stream: leftovers are something not understood, not noise."""
    value = parse(stream)
    stream.end()
    return value


# ---------------------------------------------------------------------------------------------
# Columns


# COMPRESSED is MariaDB's, shown as /*M!100301 COMPRESSED*/ right after the type.
_TYPE_ATTRIBUTES = ("UNSIGNED", "SIGNED", "ZEROFILL", "COMPRESSED")


def _column_type(stream: _Stream) -> str:
    """Base type lower-cased, arguments verbatim (enum values keep their case and quoting)."""
    base = stream.word().lower()
    if stream.at_punct("("):
        base += "(" + stream.group().text() + ")"
    attributes = []
    while (token := stream.peek()) is not None and token.is_word(*_TYPE_ATTRIBUTES):
        attributes.append(stream.word().lower())
    return " ".join([base, *attributes])


def _generated(stream: _Stream) -> dict[str, Any]:
    return {"generated": stream.group().text()}


# Each column attribute as MariaDB/MySQL print it, and the fields it sets.
_COLUMN_CLAUSES: tuple[tuple[tuple[str, ...], Callable[[_Stream], dict[str, Any]]], ...] = (
    (("NOT", "NULL"), lambda s: {"nullable": False}),
    (("NULL",), lambda s: {"nullable": True}),
    (("DEFAULT",), lambda s: {"default": s.term()}),
    (("AUTO_INCREMENT",), lambda s: {"auto_increment": True}),
    (("ON", "UPDATE"), lambda s: {"on_update": s.term()}),
    (("COMMENT",), lambda s: {"comment": s.string()}),
    (("CHARACTER", "SET"), lambda s: {"charset": s.word()}),
    (("CHARSET",), lambda s: {"charset": s.word()}),
    (("COLLATE",), lambda s: {"collation": s.word()}),
    (("GENERATED", "ALWAYS", "AS", "ROW", "START"), lambda s: {"generated": "ROW START"}),
    (("GENERATED", "ALWAYS", "AS", "ROW", "END"), lambda s: {"generated": "ROW END"}),
    # Which columns a system-versioned table versions: such tables are only described, never
    # copied (Table.versioned), so this is not kept.
    (("WITH", "SYSTEM", "VERSIONING"), lambda s: {}),
    (("WITHOUT", "SYSTEM", "VERSIONING"), lambda s: {}),
    (("GENERATED", "ALWAYS", "AS"), _generated),
    (("AS",), _generated),
    (("VIRTUAL",), lambda s: {"stored": False}),
    (("STORED",), lambda s: {"stored": True}),
    (("PERSISTENT",), lambda s: {"stored": True}),
    (("INVISIBLE",), lambda s: {"invisible": True}),
    (("CHECK",), lambda s: {"check": s.group().text()}),
)


def _column(stream: _Stream, checks: list[Check]) -> Column:
    """A column definition; an inline CHECK goes to ``checks`` under the column's name, as MariaDB names it."""
    name = stream.identifier()
    stream.what = f"column {quote_name(name)}"
    fields: dict[str, Any] = {
        "type": _column_type(stream),
        "nullable": True,
        "default": None,
        "auto_increment": False,
        "charset": None,
        "collation": None,
        "generated": None,
        "stored": False,
        "on_update": None,
        "comment": None,
        "invisible": False,
    }
    while not stream.done:
        fields.update(_column_clause(stream))
    if "check" in fields:
        checks.append(Check(name, fields.pop("check")))
    return Column(name=name, **fields)


def _column_clause(stream: _Stream) -> dict[str, Any]:
    for words, parse in _COLUMN_CLAUSES:
        if stream.accept(*words):
            return parse(stream)
    raise stream.error("a column attribute this module understands")


# ---------------------------------------------------------------------------------------------
# Indexes, foreign keys, checks


def _index_part(stream: _Stream) -> IndexPart:
    column = stream.identifier()
    length = _single(stream.group(), _Stream.integer) if stream.at_punct("(") else None
    descending = stream.accept("DESC")
    if not descending:
        stream.accept("ASC")
    stream.end()
    return IndexPart(column, length, descending)


def _index(stream: _Stream, name: str | None, kind: str, unique: bool) -> Index:
    """Index body after its leading keywords; ``name`` is given only for PRIMARY, which has none shown."""
    if name is None:
        name = stream.identifier()
    stream.what = f"index {quote_name(name)}"
    using = stream.word().upper() if stream.accept("USING") else None
    parts = tuple(_single(part, _index_part) for part in stream.group().split(stream.what))
    comment = None
    while not stream.done:
        if stream.accept("USING"):
            using = stream.word().upper()
        elif stream.accept("COMMENT"):
            comment = stream.string()
        else:
            raise stream.error("USING or COMMENT")
    return Index(name, parts, unique, kind, using, comment)


def _referential_action(stream: _Stream) -> str:
    """``SET NULL``/``NO ACTION``/... as shown."""
    words = [stream.word()]
    if words[0].upper() in ("SET", "NO"):
        words.append(stream.word())
    return " ".join(words)


def _foreign_key(stream: _Stream, name: str) -> ForeignKey:
    stream.what = f"foreign key {quote_name(name)}"
    columns = stream.identifiers()
    stream.expect("REFERENCES")
    ref_schema, ref_table = None, stream.identifier()
    if stream.accept_punct("."):
        ref_schema, ref_table = ref_table, stream.identifier()
    ref_columns = stream.identifiers()
    actions: dict[str, str] = {}
    while stream.accept("ON"):
        pending = sorted({"DELETE", "UPDATE"} - actions.keys())
        event = stream.take(" or ".join(pending), lambda token: token.is_word(*pending)).value.upper()
        actions[event] = _referential_action(stream)
    stream.end()
    return ForeignKey(name, columns, ref_table, ref_columns, actions.get("DELETE"), actions.get("UPDATE"), ref_schema)


def parse_foreign_key(name: str, clause: str) -> ForeignKey:
    """The foreign key a ``FOREIGN KEY (...) REFERENCES ...`` clause (user-written) defines."""
    stream = _Stream(clause, list(_tokenize(clause)), f"foreign key {quote_name(name)}")
    stream.expect("FOREIGN", "KEY")
    return _foreign_key(stream, name)


def _check(stream: _Stream, name: str) -> Check:
    stream.what = f"check constraint {quote_name(name)}"
    return Check(name, _single(stream, lambda s: s.group().text()))


# ---------------------------------------------------------------------------------------------
# Table


@dataclass
class _Body:
    columns: list[Column] = field(default_factory=list)
    indexes: list[Index] = field(default_factory=list)
    foreign_keys: list[ForeignKey] = field(default_factory=list)
    checks: list[Check] = field(default_factory=list)


# Leading keywords of an index definition: (kind, unique).
_INDEX_STARTS: tuple[tuple[tuple[str, ...], str, bool], ...] = (
    (("UNIQUE", "KEY"), "BTREE", True),
    (("UNIQUE", "INDEX"), "BTREE", True),
    (("UNIQUE",), "BTREE", True),
    (("KEY",), "BTREE", False),
    (("INDEX",), "BTREE", False),
    (("FULLTEXT", "KEY"), "FULLTEXT", False),
    (("FULLTEXT", "INDEX"), "FULLTEXT", False),
    (("FULLTEXT",), "FULLTEXT", False),
    (("SPATIAL", "KEY"), "SPATIAL", False),
    (("SPATIAL", "INDEX"), "SPATIAL", False),
    (("SPATIAL",), "SPATIAL", False),
)
_DEFINITION_WORDS = {"PRIMARY", "UNIQUE", "KEY", "INDEX", "FULLTEXT", "SPATIAL", "CONSTRAINT", "CHECK", "FOREIGN", "PERIOD"}


def _definition(stream: _Stream, body: _Body) -> None:
    """One comma-separated item of the CREATE TABLE body, added to ``body``."""
    first = stream.peek()
    if first is None:
        raise stream.error("a column or key definition")
    if first.kind == "name" or (first.kind == "word" and first.value.upper() not in _DEFINITION_WORDS):
        body.columns.append(_column(stream, body.checks))
    elif stream.accept("PRIMARY", "KEY"):
        body.indexes.append(_index(stream, "PRIMARY", "BTREE", True))
    elif stream.accept("CONSTRAINT"):
        _constraint(stream, stream.identifier(), body)
    elif stream.accept("PERIOD", "FOR", "SYSTEM_TIME"):
        _single(stream, _Stream.identifiers)  # the ROW START and ROW END columns, which say the same
    else:
        body.indexes.append(_secondary_index(stream))


def _secondary_index(stream: _Stream) -> Index:
    for words, kind, unique in _INDEX_STARTS:
        if stream.accept(*words):
            return _index(stream, None, kind, unique)
    raise stream.error("a column, key or constraint definition")


def _constraint(stream: _Stream, name: str, body: _Body) -> None:
    if stream.accept("FOREIGN", "KEY"):
        body.foreign_keys.append(_foreign_key(stream, name))
    elif stream.accept("CHECK"):
        body.checks.append(_check(stream, name))
    else:
        raise stream.error("FOREIGN KEY or CHECK")


def _options(stream: _Stream) -> tuple[dict[str, str], str | None]:
    """Table options and the trailing PARTITION BY clause (verbatim: it is copied, never interpreted)."""
    options: dict[str, str] = {}
    while not stream.done:
        if stream.at("PARTITION", "BY"):
            return options, stream.text()
        key = _option_key(stream)
        options[key] = _option_value(stream) if stream.accept_punct("=") else ""
    return options, None


def _option_key(stream: _Stream) -> str:
    """``ENGINE``, ``DEFAULT CHARSET``, `` `page_compressed` `` (engine-defined) or a flag like ``WITH SYSTEM VERSIONING``."""
    token = stream.peek()
    if token is not None and token.kind == "name":
        return stream.identifier().upper()
    words = []
    while (token := stream.peek()) is not None and token.kind == "word":
        words.append(stream.word().upper())
    if not words:
        raise stream.error("a table option")
    return " ".join(words)


def _option_value(stream: _Stream) -> str:
    token = stream.peek()
    if token is not None and token.kind == "string":
        return stream.string()
    return stream.term()


def parse_create_table(sql: str) -> Table:
    """Describe the table a ``SHOW CREATE TABLE`` statement (MariaDB or MySQL rendering) creates."""
    stream = _Stream(sql, list(_tokenize(sql)), "CREATE TABLE statement")
    stream.expect("CREATE")
    stream.accept("TEMPORARY")
    stream.expect("TABLE")
    name = stream.identifier()
    body = _Body()
    for item in stream.group().split(f"table {quote_name(name)}"):
        _definition(item, body)
    stream.what = f"options of table {quote_name(name)}"
    options, partitioning = _options(stream)
    return Table(
        name=name,
        columns=tuple(body.columns),
        indexes=tuple(sorted(body.indexes, key=lambda index: not index.primary)),
        foreign_keys=tuple(body.foreign_keys),
        checks=tuple(body.checks),
        options=options,
        partitioning=partitioning,
    )


def describe_table(cursor: Any, table: str) -> Table:
    """Describe ``table`` as the server shows it to this session (sql_mode affects the rendering)."""
    try:
        sql = show_create_table(cursor, table)
    except Exception as exc:
        if exc.args[:1] == (ER_NO_SUCH_TABLE,):
            raise NoSuchTable(f"Table {quote_name(table)} does not exist.") from exc
        raise
    try:
        return parse_create_table(sql)
    except TableDescriptionError as exc:
        raise TableDescriptionError(f"Table {quote_name(table)}: {exc}") from exc


def show_create_table(cursor: Any, table: str) -> str:
    """``SHOW CREATE TABLE``'s statement, read as bytes.

    The server prints a binary column's default as its raw bytes (``DEFAULT x'ff00'`` comes
    back as ``'\\xff\\0'``), which are no UTF-8: the driver, decoding them, would fail. Bytes
    that are no UTF-8 stay in the text as lone surrogates ("surrogateescape"): compared and
    hashed like the rest of it, never sent back to the server.
    """
    cursor.execute("SET @online_migrations_results = @@character_set_results, character_set_results = binary")
    try:
        cursor.execute(f"SHOW CREATE TABLE {quote_name(table)}")
        statement = cursor.fetchone()[1]
    finally:
        cursor.execute("SET character_set_results = @online_migrations_results")
    return statement.decode("utf-8", "surrogateescape")
