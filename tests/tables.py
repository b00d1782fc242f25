"""Test tables of every key shape the engine must handle, with their new schema."""

import random
import string
import uuid
from dataclasses import dataclass
from decimal import Decimal
from typing import Any, Callable

from .concurrency import Spec

TEXT = string.ascii_letters + string.digits + " '\"\\%_,()`" + "éßø漢字" + "😀🦄"


def text(rnd: random.Random, low: int = 0, high: int = 30) -> str:
    return "".join(rnd.choice(TEXT) for _ in range(rnd.randint(low, high)))


def payload(rnd: random.Random) -> dict[str, Any]:
    """The non-key columns every test table has: renamed, dropped and kept ones, NULLs included."""
    return {
        "name": text(rnd, 1, 40),
        "note": rnd.choice([None, text(rnd, 0, 200)]),
        "amount": rnd.choice([None, Decimal(rnd.randrange(-10**8, 10**8)) / 100]),
        "blob": rnd.choice([None, rnd.randbytes(rnd.randint(0, 64))]),
    }


@dataclass(frozen=True)
class KeyShape:
    columns_sql: str
    key_sql: str
    key: tuple[str, ...]
    make_key: Callable[[random.Random], dict[str, Any]] | None  # None: AUTO_INCREMENT

    def origin_sql(self, table: str) -> str:
        return (
            f"CREATE TABLE `{table}` ({self.columns_sql}, `name` varchar(64) NOT NULL, `note` text NULL,"
            f" `amount` decimal(12,2) NULL, `blob` varbinary(64) NULL, {self.key_sql})"
        )

    def dest_sql(self, table: str) -> str:
        """The change: `name` becomes `title`, `note` is dropped, `added` is new."""
        return (
            f"CREATE TABLE `{table}` ({self.columns_sql}, `title` varchar(64) NOT NULL,"
            f" `amount` decimal(12,2) NULL, `blob` varbinary(64) NULL, `added` int NOT NULL DEFAULT 7, {self.key_sql})"
        )

    def key_columns(self) -> list[str]:
        return [c.split("`")[1] for c in self.columns_sql.split(", ")]

    def origin_columns(self) -> list[str]:
        return self.key_columns() + ["name", "note", "amount", "blob"]

    def dest_columns(self) -> list[str]:
        return self.key_columns() + ["title", "amount", "blob", "added"]

    def spec(self, table: str) -> Spec:
        make_key = self.make_key
        return Spec(table, self.key, lambda rnd: {**(make_key(rnd) if make_key else {}), **payload(rnd)},
                    auto_key=make_key is None)


KEY_SHAPES = {
    "auto_increment": KeyShape("`id` int NOT NULL AUTO_INCREMENT", "PRIMARY KEY (`id`)", ("id",), None),
    "random_int": KeyShape("`id` bigint NOT NULL", "PRIMARY KEY (`id`)", ("id",),
                           lambda rnd: {"id": rnd.randrange(-10**12, 10**12)}),
    "string": KeyShape("`code` varchar(40) NOT NULL", "PRIMARY KEY (`code`)", ("code",),
                       lambda rnd: {"code": text(rnd, 1, 20)}),
    "composite": KeyShape("`a` int NOT NULL, `b` varchar(20) NOT NULL", "PRIMARY KEY (`a`, `b`)", ("a", "b"),
                          lambda rnd: {"a": rnd.randrange(40), "b": text(rnd, 1, 12)}),
    "unique_not_null": KeyShape("`u` char(36) NOT NULL, `n` int NOT NULL", "UNIQUE KEY `u_key` (`u`)", ("u",),
                                lambda rnd: {"u": str(uuid.UUID(int=rnd.getrandbits(128))), "n": rnd.randrange(100)}),
    "binary": KeyShape("`k` binary(16) NOT NULL", "PRIMARY KEY (`k`)", ("k",),
                       lambda rnd: {"k": rnd.randbytes(16)}),
    # MySQLdb reads a BIT as bytes, which the server does not compare with a BIT as a number.
    "bit_and_decimal": KeyShape("`flags` bit(8) NOT NULL, `price` decimal(10,2) NOT NULL",
                                "PRIMARY KEY (`flags`, `price`)", ("flags", "price"),
                                lambda rnd: {"flags": rnd.randrange(256), "price": Decimal(rnd.randrange(10**6)) / 100}),
}


def fill(sql, spec: Spec, rows: int, seed: int = 7) -> None:
    """Insert `rows` rows (fewer where random keys collide)."""
    rnd = random.Random(seed)
    batch = [spec.make_row(rnd) for _ in range(rows)]
    columns = list(batch[0])
    names = ", ".join(f"`{c}`" for c in columns)
    with sql.conn.cursor() as cursor:
        cursor.executemany(
            f"INSERT IGNORE INTO `{spec.table}` ({names}) VALUES ({', '.join(['%s'] * len(columns))})",
            [[row[c] for c in columns] for row in batch],
        )
