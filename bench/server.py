"""A private MariaDB server for the benchmark.

The shared server at 3306 serves other engineers' tests: timings taken there would be noisy
and its settings are not ours to change. So the benchmark starts its own `mariadbd
--no-defaults` (no my.cnf from the machine leaks in) with durable settings close to a
production primary: binary log in ROW format, a flush at every commit.
"""

import getpass
import os
import shutil
import socket
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import MySQLdb

STARTUP_SECONDS = 60


@dataclass
class ServerConfig:
    datadir: Path
    port: int = 3407
    host: str = "127.0.0.1"
    buffer_pool: str = "2G"

    @property
    def socket(self) -> Path:
        return self.datadir / "mariadb.sock"

    @property
    def log(self) -> Path:
        return self.datadir.parent / "server.log"


class PrivateServer:
    """Start/stop of one mariadbd; a context manager so a failed benchmark stops it too."""

    def __init__(self, config: ServerConfig):
        # mariadbd changes directory at start: a relative datadir would point elsewhere.
        config.datadir = config.datadir.resolve()
        self.config = config
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> "PrivateServer":
        self.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def start(self) -> None:
        """A fresh data directory every time: no state from an earlier (maybe killed) run."""
        if _port_answers(self.config.host, self.config.port):
            raise RuntimeError(
                f"something already listens on {self.config.host}:{self.config.port}; "
                "stop it or choose another port with --port"
            )
        self._initialise()
        self.config.log.parent.mkdir(parents=True, exist_ok=True)
        with open(self.config.log, "w") as log:
            self.process = subprocess.Popen(self._command(), stdout=log, stderr=subprocess.STDOUT)
        self._wait_ready()

    def stop(self) -> None:
        """A clean shutdown (so the datadir stays usable for a look afterwards); kill if stuck."""
        if self.process is None or self.process.poll() is not None:
            return
        self.process.terminate()
        try:
            self.process.wait(timeout=120)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()

    def connect(self, database: str | None = None, **kwargs) -> MySQLdb.Connection:
        params = dict(host=self.config.host, port=self.config.port, user="root", password="", charset="utf8mb4")
        if database:
            params["database"] = database
        return MySQLdb.connect(**params, **kwargs)

    def version(self) -> str:
        conn = self.connect()
        try:
            with conn.cursor() as cursor:
                cursor.execute("SELECT VERSION()")
                return cursor.fetchone()[0]
        finally:
            conn.close()

    def _initialise(self) -> None:
        datadir = self.config.datadir
        if datadir.exists():
            shutil.rmtree(datadir)
        datadir.mkdir(parents=True)
        subprocess.run(
            ["mariadb-install-db", "--no-defaults", f"--user={_user()}", f"--datadir={datadir}",
             "--auth-root-authentication-method=normal", "--skip-test-db"],
            check=True, stdout=subprocess.DEVNULL,
        )

    def _command(self) -> list[str]:
        c = self.config
        return [
            "mariadbd", "--no-defaults", f"--user={_user()}", f"--datadir={c.datadir}",
            f"--bind-address={c.host}", f"--port={c.port}", f"--socket={c.socket}",
            f"--pid-file={c.datadir / 'mariadbd.pid'}",
            "--log-bin=binlog", "--binlog-format=ROW", "--server-id=1",
            "--innodb-flush-log-at-trx-commit=1",
            f"--innodb-buffer-pool-size={c.buffer_pool}", "--innodb-log-file-size=512M",
            "--max-connections=200", "--skip-name-resolve",
        ]

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + STARTUP_SECONDS
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                break
            try:
                self.connect().close()
                return
            except MySQLdb.OperationalError:
                time.sleep(0.5)
        tail = self.config.log.read_text(errors="replace").splitlines()[-20:]
        self.stop()
        raise RuntimeError("the private MariaDB did not start:\n" + "\n".join(tail))


def _user() -> str:
    """mariadbd refuses to run as root unless told to: --user=root then, else ourselves."""
    return "root" if os.geteuid() == 0 else getpass.getuser()


def _port_answers(host: str, port: int) -> bool:
    try:
        socket.create_connection((host, port), timeout=1).close()
        return True
    except OSError:
        return False
