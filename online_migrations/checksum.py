"""Order-independent checksums of a table's columns, computed by the server.

Two tables hold the same rows in the given columns exactly when their row counts and
checksums are equal (up to a 64-bit hash collision), whatever the columns are called: the
check that a copy lost nothing.
"""

from typing import Sequence

from .sql import quote_name


def checksum_sql(table: str, columns: Sequence[str]) -> str:
    """`SELECT COUNT(*), <checksum>` over `columns`.

    QUOTE() renders NULL as a bare word and escapes quotes and separators inside values, so
    each row's text is unambiguous; BIT_XOR of a 64-bit slice of its MD5 ignores row order.
    """
    row_text = "CONCAT_WS(',', " + ", ".join(f"QUOTE({quote_name(c)})" for c in columns) + ")"
    row_hash = f"CAST(CONV(LEFT(MD5({row_text}), 16), 16, 10) AS UNSIGNED)"
    return f"SELECT COUNT(*), COALESCE(BIT_XOR({row_hash}), 0) FROM {quote_name(table)}"


def table_checksum(cursor, table: str, columns: Sequence[str]) -> tuple[int, int]:
    """(row count, checksum) of `columns` of `table`."""
    cursor.execute(checksum_sql(table, columns))
    count, value = cursor.fetchone()
    return int(count), int(value)
