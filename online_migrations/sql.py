"""Identifier quoting: no SQL is ever built from an unquoted name."""


def quote_name(name: str) -> str:
    """MySQL identifier quoting: backticks around, backticks inside doubled."""
    return "`" + name.replace("`", "``") + "`"
