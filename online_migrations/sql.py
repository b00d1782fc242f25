"""Identifier quoting: no SQL is ever built from an unquoted name."""


def quote_name(name: str) -> str:
    """MySQL identifier quoting: backticks around, backticks inside doubled."""
    return "`" + name.replace("`", "``") + "`"


def quote_string(text: str) -> str:
    """A string literal for DDL, where no query parameters can go (index comments)."""
    return "'" + text.replace("\\", "\\\\").replace("'", "''") + "'"
