"""Pause the copy while the primary is overloaded or a replica lags; stop it when the load is
critical.

The copy loop calls `Throttler.wait()` before every chunk. What it checks, and why so:

Load (pt-online-schema-change's `--max-load` / `--critical-load`, gh-ost's alike): numeric
status variables of `SHOW GLOBAL STATUS`, `Threads_running` unless the user names others.
Above `max_load` the copy pauses until the value is back under; above `critical_load` it stops,
but only when a second reading one `check_interval` later is still above (gh-ost's
`--critical-load-interval-millis`): `Threads_running` is a single spiky sample, and stopping a
long run on one sample costs a manual restart.

Replica lag (pt-osc's `--max-lag`, gh-ost's `--max-lag-millis`, spirit's replication
throttler): every replica is read with `SHOW REPLICA STATUS` (or `SHOW SLAVE STATUS` on older
servers, both column spellings). `Seconds_Behind_Master` alone is a weak measure: it is NULL
when the SQL or IO thread is stopped (pt-osc then waits forever, spirit errors), and it reads 0
when the SQL thread has applied its whole relay log while the IO thread is far behind the
primary. So, without writing a heartbeat table of our own:
- a replica whose IO or SQL thread is not running, or whose lag reads NULL, is *lagging by an
  unknown amount*: the copy waits, and stops with an error after `unknown_lag_timeout`;
- for a replica of this very primary (`Master_Server_Id` is the primary's `server_id`), the lag
  is also bounded from below by the binlog coordinates: the primary's position is sampled at
  every check, and a replica that has not yet executed the position the primary had at time t
  is at least `now - t` behind, whatever `Seconds_Behind_Master` says;
- a replica that cannot be connected to or read stops the run: a lag check that silently
  passes is worse than none.
"""

import functools
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import unquote, urlsplit

import MySQLdb
from django.db import connections

from .errors import OnlineMigrationError
from .session import Session, _mysql_wrapper
from .sql import quote_name

logger = logging.getLogger("online_migrations")

LOG_EVERY = 5.0
"""Seconds between two log lines saying why the copy is still paused."""

CONNECT_TIMEOUT = 5
"""Seconds to connect to a replica: an unreachable one must fail fast, not hang the run."""

READ_TIMEOUT = 10
"""Seconds a replica may take to answer one status query."""

ER_PARSE_ERROR = 1064

RESUME_HINT = (
    "The run can be resumed: the rows copied so far stay in the shadow table and the triggers keep "
    "it current; run the same migration again (or restart_copy()) once the server is healthy."
)

Thresholds = dict[str, float]
Coordinates = tuple[int, int]
"""A binlog position as (file sequence number, offset): `bin.000007`:1234 is (7, 1234)."""


def parse_thresholds(value: "Thresholds | str | None", option: str) -> Thresholds | None:
    """`{"Threads_running": 25}` or the command-line form `"Threads_running=25,Threads_connected=400"`
    (pt-osc's `:` is accepted for `=`); None means "not given"."""
    if value is None:
        return None
    if isinstance(value, str):
        items = [item.strip() for item in value.split(",") if item.strip()]
        pairs = [item.replace(":", "=", 1).partition("=") for item in items]
        if not pairs or any(not name.strip() or not sep for name, sep, _ in pairs):
            raise OnlineMigrationError(
                f"{option}={value!r} is not a list of status variables with limits: write it like "
                "'Threads_running=25,Threads_connected=400'."
            )
        value = {name.strip(): limit.strip() for name, _, limit in pairs}
    if not isinstance(value, dict) or not value:
        raise OnlineMigrationError(
            f"{option} must be a dict of status variable names to limits, like "
            f"{{'Threads_running': 25}}, or the string 'Threads_running=25', not {value!r}."
        )
    return {str(name): _limit(option, name, limit) for name, limit in value.items()}


def throttle_problems(options: Any) -> list[str]:
    """What is wrong with the throttling fields of an `Options`, for its `_check`."""
    problems = []
    for option in ("max_load", "critical_load"):
        try:
            parse_thresholds(getattr(options, option), option)
        except OnlineMigrationError as error:
            problems.append(str(error).rstrip("."))
    for name, zero_ok in (("max_lag", True), ("check_interval", False), ("unknown_lag_timeout", True)):
        value = getattr(options, name)
        if isinstance(value, bool) or not isinstance(value, (int, float)) or value < 0 or (value == 0 and not zero_ok):
            problems.append(f"{name} must be a number of seconds {'>= 0' if zero_ok else '> 0'}, not {value!r}")
    try:
        replica_items(options.replicas)
    except OnlineMigrationError as error:
        problems.append(str(error).rstrip("."))
    return problems


def replica_items(replicas: Any) -> list[str] | None:
    """`replicas` as a list: the command line gives one comma-separated string."""
    if replicas is None:
        return None
    items = replicas.split(",") if isinstance(replicas, str) else replicas
    if not isinstance(items, (list, tuple)) or not all(isinstance(item, str) and item.strip() for item in items):
        raise OnlineMigrationError(
            f"replicas must be a list of Django database aliases or URLs like "
            f"'mysql://user:password@host:3306', not {replicas!r}."
        )
    return [item.strip() for item in items]


def _limit(option: str, name: str, limit: Any) -> float:
    try:
        number = float(limit)
    except (TypeError, ValueError):
        number = -1.0
    if number < 0 or isinstance(limit, bool):
        raise OnlineMigrationError(f"{option}: the limit of {name} must be a number >= 0, not {limit!r}.")
    return number


def default_max_load(running_at_start: float) -> Thresholds:
    """`Threads_running` above max(25, 2 x its value at start).

    25 is pt-osc's default and leaves a 2-core server that idles at 1-3 running threads room
    for bursts; the relative part keeps a 64-core primary that runs 40 threads all day from
    pausing forever (pt-osc's fixed 25 does, and its "+20% of the value at start" trips on
    the normal noise of a single instantaneous sample). Pausing wrongly only slows the copy.
    """
    return {"Threads_running": max(25.0, 2 * running_at_start)}


def default_critical_load(running_at_start: float, max_load: Thresholds) -> Thresholds:
    """`Threads_running` above max(50, 4 x its value at start, 2 x the max_load limit).

    50 is pt-osc's default. Stopping wrongly costs a manual restart, so the limit stays far
    above the pause threshold (and above a user's own `max_load` for the same variable), and
    is confirmed by a second reading before the run stops.
    """
    floor = 2 * max_load.get("Threads_running", 0.0)
    return {"Threads_running": max(50.0, 4 * running_at_start, floor)}


@dataclass
class Replica:
    """One replica to watch: its name in messages, how to connect, and what we know of it."""

    name: str
    params: dict[str, Any]
    connection: Any = None
    statement: str = "SHOW REPLICA STATUS"
    unknown_since: float | None = None
    """When its lag was first unknown (threads stopped, NULL lag), for `unknown_lag_timeout`."""
    executed: Coordinates | None = field(default=None)

    def status(self) -> list[dict[str, Any]]:
        """Rows of `SHOW REPLICA STATUS` with the pre-8.0.22 column names (`..._Master`,
        `Slave_...`), one per replication channel; raises OnlineMigrationError when the
        server cannot be read or is no replica."""
        try:
            if self.connection is None:
                self.connection = _connect(**self.params)
            rows = self._show_status()
        except OnlineMigrationError:
            raise
        except MySQLdb.Error as error:
            raise OnlineMigrationError(
                f"Replica {self.name} cannot be read ({error}), so its lag is unknown and the copy "
                "stopped rather than risk leaving it far behind. Check that it is up and that the "
                "user may connect and run SHOW REPLICA STATUS (REPLICATION CLIENT / SLAVE MONITOR "
                "privilege), or leave it out of `replicas`. " + RESUME_HINT
            ) from error
        if not rows:
            raise OnlineMigrationError(
                f"{self.name} is not a replica: SHOW REPLICA STATUS returns nothing there. Remove it "
                "from `replicas`. " + RESUME_HINT
            )
        return rows

    def _show_status(self) -> list[dict[str, Any]]:
        """MySQL 8.4 knows only SHOW REPLICA STATUS, MySQL before 8.0.22 and MariaDB before
        10.5.1 only SHOW SLAVE STATUS: try the new spelling first, remember what worked."""
        with self.connection.cursor() as cursor:
            try:
                cursor.execute(self.statement)
            except MySQLdb.ProgrammingError as error:
                if error.args[0] != ER_PARSE_ERROR or self.statement == "SHOW SLAVE STATUS":
                    raise
                self.statement = "SHOW SLAVE STATUS"
                cursor.execute(self.statement)
            names = [_old_spelling(column[0]) for column in cursor.description]
            return [dict(zip(names, row)) for row in cursor.fetchall()]

    def close(self) -> None:
        if self.connection is not None:
            self.connection.close()
            self.connection = None


def _old_spelling(column: str) -> str:
    """`Seconds_Behind_Source` -> `Seconds_Behind_Master`, `Replica_SQL_Running` ->
    `Slave_SQL_Running`: one set of names whatever the server version."""
    return column.replace("Source", "Master").replace("Replica", "Slave")


class Throttler:
    """Decides, before each chunk, whether the copy may go on; see the module docstring.

    `max_load` / `critical_load`: status variable -> limit (a dict, or the command-line string
    "Threads_running=25,Threads_connected=400"); None picks the defaults of
    `default_max_load` / `default_critical_load`, from `Threads_running` at start.
    `replicas`: None discovers them from the primary (`discover_replicas`); [] checks none;
    otherwise Django database aliases or URLs "mysql://user:password@host:port" (user and
    password default to the primary's).
    `max_lag`: seconds a replica may lag. `check_interval`: seconds between two looks at the
    replicas (and between two checks while paused), so small chunks are not slowed by them.
    `unknown_lag_timeout`: seconds a replica's lag may stay unknown (threads stopped) before the
    run stops.
    """

    def __init__(
        self,
        session: Session,
        *,
        max_load: Thresholds | str | None,
        critical_load: Thresholds | str | None,
        max_lag: float,
        replicas: list[str] | str | None,
        check_interval: float,
        table: str,
        unknown_lag_timeout: float = 300.0,
    ):
        self.session = session
        self.table = table
        self.max_lag = max_lag
        self.check_interval = check_interval
        self.unknown_lag_timeout = unknown_lag_timeout
        self.throttled_seconds: dict[str, float] = {}
        running = self._status_values(["Threads_running"])["Threads_running"]
        self.max_load = parse_thresholds(max_load, "max_load") or default_max_load(running)
        self.critical_load = (
            parse_thresholds(critical_load, "critical_load") or default_critical_load(running, self.max_load)
        )
        self._status_values(list(self.max_load) + list(self.critical_load))  # unknown names fail now
        self.server_id = int(session.value("SELECT @@server_id"))
        items = replica_items(replicas)
        self.replicas = [_replica(session, item) for item in items] if items is not None else discover_replicas(session)
        # (when, where) samples of the primary's binlog position; None: not available.
        self._positions: list[tuple[float, Coordinates]] | None = [] if self.replicas else None
        self._replicas_ok_at = float("-inf")
        logger.info("%s: throttling: %s", quote_name(table), self.describe())
        try:
            self._check_replicas()  # a replica that cannot be read fails the run before the copy
        except BaseException:
            self.close()
            raise

    def __enter__(self) -> "Throttler":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    def close(self) -> None:
        for replica in self.replicas:
            replica.close()

    def describe(self) -> str:
        """The limits in force, for the log: defaults are computed, so users want to see them."""
        replicas = ", ".join(r.name for r in self.replicas) or "none"
        return (
            f"pause on {_limits(self.max_load)}, stop on {_limits(self.critical_load)}; "
            f"replicas: {replicas} (max lag {self.max_lag:g}s)"
        )

    def wait(self) -> None:
        """Return at once when the copy may go on; otherwise sleep `check_interval` at a time
        until it may, logging why every few seconds. Raises OnlineMigrationError when the load
        is critical, a replica cannot be read, or its lag stays unknown too long."""
        paused_at = last_log = None
        while (reason := self._reason()) is not None:
            key, detail = reason
            now = time.monotonic()
            if paused_at is None:
                paused_at = now
            if last_log is None or now - last_log >= LOG_EVERY:
                logger.info("%s: copy paused: %s", quote_name(self.table), detail)
                last_log = now
            time.sleep(self.check_interval)
            self.throttled_seconds[key] = self.throttled_seconds.get(key, 0.0) + time.monotonic() - now
        if paused_at is not None:
            logger.info("%s: copy resumed after a %.1fs pause", quote_name(self.table), time.monotonic() - paused_at)

    def _reason(self) -> tuple[str, str] | None:
        """(throttled_seconds key, log text) of the first reason to pause, or None."""
        return self._check_load() or self._check_replicas()

    def _status_values(self, names: list[str]) -> dict[str, float]:
        """Current values of the named global status variables, by the names as given."""
        wanted = {name.lower(): name for name in names}
        placeholders = ", ".join(["%s"] * len(wanted))
        rows = self.session.rows(f"SHOW GLOBAL STATUS WHERE Variable_name IN ({placeholders})", list(wanted))
        found = {str(name).lower(): value for name, value in rows}
        missing = sorted(name for key, name in wanted.items() if key not in found)
        if missing:
            raise OnlineMigrationError(
                f"{', '.join(missing)}: no such status variable on this server, so the load cannot be "
                "watched. Name variables that SHOW GLOBAL STATUS lists in max_load / critical_load."
            )
        try:
            return {name: float(found[name.lower()]) for name in names}
        except ValueError as error:
            raise OnlineMigrationError(
                f"max_load / critical_load name a status variable that is not a number ({error}). "
                "Name numeric ones, like Threads_running."
            ) from error

    def _check_load(self) -> tuple[str, str] | None:
        values = self._status_values(list(self.max_load) + list(self.critical_load))
        for name, limit in self.critical_load.items():
            if values[name] > limit:
                self._stop_if_still_critical(name, limit)
        for name, limit in self.max_load.items():
            if values[name] > limit:
                return f"load {name}", f"{name}={values[name]:g} is above max_load {limit:g}"
        return None

    def _stop_if_still_critical(self, name: str, limit: float) -> None:
        """One reading above `critical_load` may be a spike; two, `check_interval` apart, stop the run."""
        time.sleep(self.check_interval)
        value = self._status_values([name])[name]
        if value > limit:
            raise OnlineMigrationError(
                f"Copying {quote_name(self.table)} stopped: {name}={value:g} is above critical_load "
                f"{limit:g} (read twice, {self.check_interval:g}s apart), so the server is too busy to go "
                "on safely. Raise critical_load if that load is normal for this server. " + RESUME_HINT
            )

    def _check_replicas(self) -> tuple[str, str] | None:
        """The first lagging replica's reason to pause; replicas are read at most every
        `check_interval` while none lags."""
        if not self.replicas or time.monotonic() - self._replicas_ok_at < self.check_interval:
            return None
        self._sample_position()
        reasons = [reason for replica in self.replicas if (reason := self._replica_reason(replica))]
        self._forget_applied_positions()
        if not reasons:
            self._replicas_ok_at = time.monotonic()
            return None
        return reasons[0]

    def _replica_reason(self, replica: Replica) -> tuple[str, str] | None:
        rows = replica.status()
        now = time.monotonic()
        problems = [problem for row in rows if (problem := self._lag_problem(replica, row, now))]
        if not problems:
            replica.unknown_since = None
            return None
        unknown = [text for text, known in problems if not known]
        key = f"replica lag {replica.name}"
        if not unknown:
            replica.unknown_since = None
            return key, f"replica {replica.name} " + "; ".join(text for text, _ in problems)
        replica.unknown_since = replica.unknown_since if replica.unknown_since is not None else now
        if now - replica.unknown_since > self.unknown_lag_timeout:
            raise OnlineMigrationError(
                f"Copying {quote_name(self.table)} stopped: the lag of replica {replica.name} has been "
                f"unknown for {now - replica.unknown_since:.0f}s (unknown_lag_timeout is "
                f"{self.unknown_lag_timeout:g}s): {'; '.join(unknown)}. Restart replication there (START "
                "SLAVE) or leave it out of `replicas`. " + RESUME_HINT
            )
        return key, f"replica {replica.name} lag is unknown: " + "; ".join(unknown)

    def _lag_problem(self, replica: Replica, row: dict[str, Any], now: float) -> tuple[str, bool] | None:
        """(why this replication channel is too far behind, whether the lag is known), or None."""
        behind = self._position_lag(replica, row, now)
        at_least = f" (at least {behind:.1f}s behind the primary's binlog)" if behind >= 0.1 else ""
        threads = ("Slave_IO_Running", "Slave_SQL_Running")
        stopped = [f"{name}={row.get(name)}" for name in threads if row.get(name) != "Yes"]
        if stopped:
            errors = [str(row[name]) for name in ("Last_IO_Error", "Last_SQL_Error") if row.get(name)]
            return f"{', '.join(stopped)}{at_least}" + (f" ({'; '.join(errors)})" if errors else ""), False
        seconds = row.get("Seconds_Behind_Master")
        if seconds is None:
            return f"Seconds_Behind_Master is NULL{at_least}", False
        lag = max(float(seconds), behind)
        if lag > self.max_lag:
            return f"lags {lag:.1f}s, more than max_lag {self.max_lag:g}s", True
        return None

    def _sample_position(self) -> None:
        """Remember where the primary's binlog is now, if some replica replicates from it."""
        if self._positions is None:
            return
        position = self._primary_position()
        if position is not None and (not self._positions or self._positions[-1][1] != position):
            self._positions.append((time.monotonic(), position))

    def _primary_position(self) -> Coordinates | None:
        """The primary's binlog position; None (and no more tries) when it has no binlog or we may
        not read it: the lag then rests on `Seconds_Behind_Master` alone."""
        for statement in ("SHOW MASTER STATUS", "SHOW BINARY LOG STATUS"):
            try:
                rows = self.session.rows(statement)
            except self.session.connection.Error as error:
                last_error = error
                continue
            if rows:
                return _coordinates(rows[0][0], rows[0][1])
            last_error = "the binary log is off"
            break
        logger.warning(
            "%s: cannot read the primary's binlog position (%s); replica lag rests on "
            "Seconds_Behind_Master alone", quote_name(self.table), last_error,
        )
        self._positions = None
        return None

    def _position_lag(self, replica: Replica, row: dict[str, Any], now: float) -> float:
        """Seconds the replica is at least behind, from the binlog positions sampled on the primary;
        0 when it is not a direct replica of this primary or has executed every sample."""
        if not self._positions or str(row.get("Master_Server_Id")) != str(self.server_id):
            return 0.0
        executed = _coordinates(row.get("Relay_Master_Log_File"), row.get("Exec_Master_Log_Pos"))
        replica.executed = executed
        pending = [at for at, position in self._positions if executed is None or position > executed]
        return now - pending[0] if pending else 0.0

    def _forget_applied_positions(self) -> None:
        """Drop the samples every replica has executed: only the oldest pending one matters. With
        no direct replica, the newest sample is kept (a lower bound from fewer samples is still one)."""
        if not self._positions:
            return
        oldest = min((r.executed for r in self.replicas if r.executed is not None), default=None)
        pending = [(at, position) for at, position in self._positions if oldest is None or position > oldest]
        self._positions = pending or self._positions[-1:]


def _limits(thresholds: Thresholds) -> str:
    return ", ".join(f"{name}>{limit:g}" for name, limit in thresholds.items())


def _coordinates(file: Any, offset: Any) -> Coordinates | None:
    """`bin.000007`, 1234 -> (7, 1234); None when the server gave none."""
    if not file or offset is None:
        return None
    return int(str(file).rsplit(".", 1)[-1]), int(offset)


def _connect(**params: Any) -> Any:
    connection = MySQLdb.connect(**params)
    connection.autocommit(True)
    return connection


def _primary_params(session: Session) -> dict[str, Any]:
    """How the engine connects to the primary, reused (credentials included) for replicas."""
    params = connections[session.alias].get_connection_params()
    params.pop("database", None)
    params.pop("conv", None)
    params.update(connect_timeout=CONNECT_TIMEOUT, read_timeout=READ_TIMEOUT)
    return params


def _at(params: dict[str, Any], host: str, port: int) -> dict[str, Any]:
    params = {key: value for key, value in params.items() if key != "unix_socket"}
    return {**params, "host": host, "port": port}


def _replica(session: Session, item: str) -> Replica:
    """A `replicas` item: a URL "mysql://user:password@host:port" or a Django database alias."""
    if "://" not in item:
        params = _mysql_wrapper(item).get_connection_params()
        params.pop("conv", None)
        return Replica(item, {**params, "connect_timeout": CONNECT_TIMEOUT, "read_timeout": READ_TIMEOUT})
    url = urlsplit(item)
    if url.scheme not in ("mysql", "mariadb") or not url.hostname:
        raise OnlineMigrationError(
            f"replicas: {item!r} is not a URL like 'mysql://user:password@host:3306'."
        )
    params = _at(_primary_params(session), url.hostname, url.port or 3306)
    if url.username is not None:
        params["user"] = unquote(url.username)
        params["password"] = unquote(url.password or "")
    return Replica(f"{url.hostname}:{url.port or 3306}", params)


def discover_replicas(session: Session) -> list[Replica]:
    """The primary's replicas and theirs, down every chain, reached with the primary's
    credentials (pt-osc's `--recursion-method=hosts`, checked against `processlist`): a
    replica of a replica is behind by its source's lag and its own.

    `SHOW SLAVE HOSTS` lists the replicas that registered, with their address only when they
    set `report_host` (and `report_port`). A replica that streams the binlog (a `Binlog Dump`
    thread in the processlist) but is not listed with an address cannot be watched: that is an
    error naming it, not a silent pass. Servers are told apart by server id, so a primary that
    is also its replica's replica (master-master) is not watched as its own replica.
    """
    params = _primary_params(session)
    seen = {int(session.value("SELECT @@server_id"))}
    found: list[Replica] = []
    sources = [("the primary", session.rows)]
    try:
        while sources:
            where, rows = sources.pop(0)
            for server_id, replica in _registered_replicas(where, rows, params, seen):
                seen.add(server_id)
                found.append(replica)
                sources.append((f"replica {replica.name}", functools.partial(_rows_on, replica)))
    except BaseException:
        for replica in found:
            replica.close()
        raise
    return found


def _registered_replicas(where: str, rows: Callable[[str], list[tuple]], params: dict[str, Any],
                         known: set[int]) -> list[tuple[int, Replica]]:
    """(server id, replica) of each server that replicates from the one `rows` queries, but
    for the `known` servers (the primary, the replicas found already)."""
    try:
        if not rows("SELECT @@log_bin")[0][0]:
            return []
        registered = _replica_hosts(rows)
        streams = rows("SELECT HOST FROM information_schema.PROCESSLIST WHERE COMMAND LIKE 'Binlog Dump%'")
    except MySQLdb.Error as error:
        raise OnlineMigrationError(
            f"Cannot discover the replicas of {where} ({error}). Check that it is up and that the user may "
            "connect and run SHOW SLAVE HOSTS (REPLICATION MASTER ADMIN on MariaDB, REPLICATION SLAVE on "
            "MySQL), or list the replicas in `replicas`, or pass replicas=[] to copy without watching replica lag."
        ) from error
    hosts = [(int(server_id), host, port) for server_id, host, port, *_ in registered if int(server_id) not in known]
    found = [(server_id, Replica(f"{host}:{port}", _at(params, host, int(port)))) for server_id, host, port in hosts
             if host]
    known_streams = len(registered) - len(hosts)  # the known servers read this binlog too (master-master)
    if len(streams) > len(found) + known_streams:
        raise OnlineMigrationError(
            f"{len(streams)} server(s) read the binlog of {where} (from {', '.join(sorted(str(h) for h, in streams))}) "
            f"but only {len(found)} report an address in SHOW SLAVE HOSTS, so some replicas cannot be "
            "watched for lag. Set report_host and report_port on every replica, or list them in "
            "`replicas`, or pass replicas=[] to copy without watching replica lag."
        )
    return found


def _rows_on(replica: Replica, sql: str) -> list[tuple]:
    """Rows of `sql` on the replica's own connection (opened here, and kept for the lag checks)."""
    if replica.connection is None:
        replica.connection = _connect(**replica.params)
    with replica.connection.cursor() as cursor:
        cursor.execute(sql)
        return list(cursor.fetchall())


def _replica_hosts(rows: Callable[[str], list[tuple]]) -> list[tuple]:
    """(Server_id, Host, Port, ...) of the registered replicas. MySQL 8.4 knows only SHOW REPLICAS,
    MySQL before 8.0.22 only SHOW SLAVE HOSTS; MariaDB knows the latter."""
    try:
        return rows("SHOW SLAVE HOSTS")
    except MySQLdb.ProgrammingError as error:
        if error.args[0] != ER_PARSE_ERROR:
            raise
        return rows("SHOW REPLICAS")
