"""Private `mariadbd` servers for tests that need a topology of their own: a primary with
binlogs and a replica, each in a temporary folder on a free port, gone again afterwards.

The shared test server cannot be used for replication tests: stopping its replica threads or
flooding its connections would disturb every other test run on it. A private pair starts in
about two seconds: `mariadb-install-db` writes the system tables (no test database, small
InnoDB files), and `mariadbd` starts with a small buffer pool and no name resolution.
"""

import copy
import os
import shutil
import socket
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

import MySQLdb
from django.core.management import call_command
from django.db import connections

MARIADBD = os.environ.get("OM_MARIADBD", "/usr/sbin/mariadbd")
INSTALL_DB = os.environ.get("OM_MARIADB_INSTALL_DB", "mariadb-install-db")
REPLICATION_USER, REPLICATION_PASSWORD = "repl", "repl"
START_TIMEOUT = 30.0

# Small InnoDB files and buffer pool: the servers hold a few thousand rows and must start fast.
# Both the install and every start need the same data file layout.
SMALL = [
    "--innodb-buffer-pool-size=16M",
    "--innodb-log-file-size=16M",
    "--innodb-data-file-path=ibdata1:4M:autoextend",
]


def free_port() -> int:
    """A TCP port nobody listens on now (the kernel's pick); the server binds it right after."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Server:
    """One running `mariadbd` with its data in `folder`; root may connect without a password."""

    name: str
    folder: Path
    port: int
    server_id: int
    process: subprocess.Popen

    def connect(self, **params: Any) -> Any:
        connection = MySQLdb.connect(host="127.0.0.1", port=self.port, user="root", password="", **params)
        connection.autocommit(True)
        return connection

    def sql(self, statement: str, params: Any = None) -> list[tuple] | int:
        """Run one statement on a fresh connection: rows, or the affected row count."""
        connection = self.connect()
        try:
            with connection.cursor() as cursor:
                cursor.execute(statement, params)
                return list(cursor.fetchall()) if cursor.description else cursor.rowcount
        finally:
            connection.close()

    def status(self, statement: str) -> dict[str, Any]:
        """The first row of a SHOW statement as {column: value} ({} when it returns none)."""
        connection = self.connect()
        try:
            with connection.cursor(MySQLdb.cursors.DictCursor) as cursor:
                cursor.execute(statement)
                return cursor.fetchone() or {}
        finally:
            connection.close()

    def stop(self) -> None:
        """SIGTERM is mariadbd's clean shutdown; a server that hangs in it is killed."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def start_server(
    folder: Path, name: str, server_id: int, extra: list[str], env: dict[str, str] | None = None,
) -> Server:
    """Install system tables into `folder/name` and start a server on a free port, with `env`
    added to its environment (TZ sets its system time zone)."""
    datadir = folder / name
    _run([INSTALL_DB, "--no-defaults", f"--datadir={datadir}", "--auth-root-authentication-method=normal",
          "--user=root", "--skip-test-db", *SMALL], folder / f"{name}-install.log")
    port = free_port()
    command = [
        MARIADBD, "--no-defaults", f"--datadir={datadir}", f"--port={port}", "--bind-address=127.0.0.1",
        f"--socket={folder / name}.sock", f"--pid-file={folder / name}.pid", f"--log-error={folder / name}.err",
        f"--server-id={server_id}", "--user=root", "--skip-name-resolve", "--max-connections=200", *SMALL, *extra,
    ]
    # Its early warnings go to stderr before --log-error takes over: keep them out of test output.
    process = subprocess.Popen(command, stdin=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                               env={**os.environ, **(env or {})})
    server = Server(name, folder, port, server_id, process)
    _wait_until_up(server)
    return server


def add_alias(alias: str, server: Server, database: str) -> None:
    """A Django database alias for a private server, like the project's own 'default'."""
    settings = copy.deepcopy(connections.settings["default"])
    settings.update(HOST="127.0.0.1", PORT=str(server.port), NAME=database, USER="root", PASSWORD="")
    connections.settings[alias] = settings


def remove_alias(alias: str) -> None:
    del connections.settings[alias]


@contextmanager
def private_alias(alias: str, database: str, settings: list[str], django_db_blocker: Any,
                  env: dict[str, str] | None = None) -> Iterator[Server]:
    """A private server started with `settings` (and `env`), holding `database` with the
    checkpoint table, as the Django alias `alias`; stopped and deleted on exit."""
    with tempfile.TemporaryDirectory() as folder:
        server = start_server(Path(folder), alias, 1, settings, env)
        try:
            server.sql(f"CREATE DATABASE {database}")
            add_alias(alias, server, database)
            with django_db_blocker.unblock():
                call_command("migrate", "online_migrations", database=alias, verbosity=0)
            yield server
        finally:
            if alias in connections.settings:
                remove_alias(alias)
            server.stop()


def _run(command: list[str], log: Path) -> None:
    with open(log, "wb") as out:
        result = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
    if result.returncode:
        raise RuntimeError(f"{command[0]} failed with status {result.returncode}; see {log}")


def _wait_until_up(server: Server) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while True:
        if server.process.poll() is not None:
            raise RuntimeError(f"mariadbd {server.name} exited at start; see {server.folder / server.name}.err")
        try:
            server.connect().close()
            return
        except MySQLdb.OperationalError:
            if time.monotonic() > deadline:
                server.stop()
                raise RuntimeError(f"mariadbd {server.name} did not answer within {START_TIMEOUT:g}s")
            time.sleep(0.05)


@dataclass
class Pair:
    primary: Server
    replica: Server

    def replica_status(self) -> dict[str, Any]:
        return self.replica.status("SHOW SLAVE STATUS")

    def wait_caught_up(self, timeout: float = 20.0) -> None:
        """Until the replica has executed everything the primary has binlogged so far."""
        target = self.primary.sql("SELECT @@gtid_binlog_pos")[0][0]
        deadline = time.monotonic() + timeout
        while self.replica.sql("SELECT @@gtid_slave_pos")[0][0] != target:
            assert time.monotonic() < deadline, f"replica did not catch up with {target!r}: {self.replica_status()}"
            time.sleep(0.05)


def start_replication(primary: Server, replica: Server) -> None:
    """GTID replication from the start of the primary's binlog; the replication user is created
    outside the binlog so the replica does not replay it."""
    connection = primary.connect()
    try:
        with connection.cursor() as cursor:
            cursor.execute("SET SESSION sql_log_bin = 0")
            cursor.execute(f"CREATE USER '{REPLICATION_USER}'@'%' IDENTIFIED BY '{REPLICATION_PASSWORD}'")
            cursor.execute(f"GRANT REPLICATION SLAVE ON *.* TO '{REPLICATION_USER}'@'%'")
    finally:
        connection.close()
    replica.sql(
        "CHANGE MASTER TO MASTER_HOST = '127.0.0.1', MASTER_PORT = %s, MASTER_USER = %s, "
        "MASTER_PASSWORD = %s, MASTER_USE_GTID = slave_pos, MASTER_CONNECT_RETRY = 1",
        [primary.port, REPLICATION_USER, REPLICATION_PASSWORD],
    )
    replica.sql("START SLAVE")
    deadline = time.monotonic() + START_TIMEOUT
    while (status := replica.status("SHOW SLAVE STATUS")).get("Slave_IO_Running") != "Yes":
        assert time.monotonic() < deadline, f"replication did not start: {status}"
        time.sleep(0.05)


@contextmanager
def replication_pair() -> Iterator[Pair]:
    """A running primary (binlog in ROW format) and its replica (which reports its address, so
    `SHOW SLAVE HOSTS` on the primary finds it); everything is stopped and deleted on exit."""
    with replication_chain(2) as servers:
        yield Pair(*servers)


@contextmanager
def replication_chain(length: int) -> Iterator[list[Server]]:
    """A primary and `length - 1` replicas, each replicating from the one before it. Each
    replica reports its address; one with a replica of its own writes what it applies to its
    binlog (log_slave_updates). Everything is stopped and deleted on exit."""
    folder = Path(tempfile.mkdtemp(prefix="om-servers-"))
    servers: list[Server] = []
    try:
        servers.append(start_server(folder, "primary", 1, ["--log-bin=primary-bin", "--binlog-format=ROW"]))
        for position in range(1, length):
            name = "replica" if position == 1 else f"replica{position}"
            extra = ["--report-host=127.0.0.1", "--skip-slave-start"]
            if position < length - 1:
                extra += [f"--log-bin={name}-bin", "--binlog-format=ROW", "--log-slave-updates"]
            servers.append(start_server(folder, name, position + 1, extra))
            start_replication(servers[-2], servers[-1])
        yield servers
    finally:
        for server in reversed(servers):
            server.stop()
        shutil.rmtree(folder, ignore_errors=True)
