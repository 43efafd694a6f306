"""fieldapp in a child process, started as a facilitator starts it (run.py, waitress).

Shared by the browser tests, the load and power-cut tests and the intake benchmark.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def free_port() -> int:
    """A loopback port nobody listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(url: str, process: subprocess.Popen, timeout: float = 20) -> None:
    """Wait until ``url`` answers; fail with the server's output if it exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(process.stdout.read() if process.stdout else "exited")
        try:
            urllib.request.urlopen(url, timeout=1)  # noqa: S310 -- loopback test server
            return
        except OSError:
            time.sleep(0.1)
    raise AssertionError(f"{url} did not answer")


class Server:
    """``run.py --port N`` on an instance folder; can be stopped, or killed like a power cut.

    ``env`` adds environment variables (``FIELDAPP_LAN_ADDRESS``...). With ``own_terminal``
    the server leads a process group of its own, as a program started in a terminal does, so
    that :meth:`interrupt` can send Ctrl+C's SIGINT to it and its children and nothing else.
    """

    def __init__(
        self, folder: Path, env: dict[str, str] | None = None, own_terminal: bool = False
    ) -> None:
        self.folder = folder
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen | None = None
        self.log = tempfile.TemporaryFile("w+")  # noqa: SIM115 -- closed in stop()
        self.env = env or {}
        self.own_terminal = own_terminal

    def start(self) -> None:
        """Start and wait until the server answers (its output goes to a temporary file)."""
        env = {**os.environ, "FIELDAPP_INSTANCE": str(self.folder), **self.env}
        self.process = subprocess.Popen(
            [sys.executable, str(ROOT / "run.py"), "--port", str(self.port)],
            stdout=self.log,
            stderr=subprocess.STDOUT,
            text=True,
            env=env,
            start_new_session=self.own_terminal,
        )
        try:
            wait_for(self.url + "/static/css/app.css", self.process)
        except AssertionError:
            raise AssertionError(self.output()) from None

    def output(self) -> str:
        """What the server printed so far."""
        self.log.flush()
        self.log.seek(0)
        return self.log.read()

    def kill(self) -> None:
        """Stop the process at once, as a power cut would."""
        assert self.process is not None
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(timeout=10)

    def interrupt(self) -> None:
        """Press Ctrl+C in the server's terminal: SIGINT to its whole process group."""
        assert self.process is not None
        assert self.own_terminal, "only a server in a process group of its own"
        os.killpg(self.process.pid, signal.SIGINT)

    def children(self) -> list[int]:
        """The process ids of the server's child processes (Linux)."""
        assert self.process is not None
        return children_of(self.process.pid)

    def stop(self) -> None:
        """Stop the server the ordinary way."""
        if self.process and self.process.poll() is None:
            self.process.terminate()
            self.process.wait(timeout=10)
        self.log.close()


def children_of(pid: int) -> list[int]:
    """The process ids of ``pid``'s children, from ``/proc`` (Linux); [] once it is gone."""
    found: list[int] = []
    for listing in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(child) for child in listing.read_text().split()]
        except OSError:  # the thread ended meanwhile
            continue
    return sorted(set(found))


def process_alive(pid: int) -> bool:
    """True while ``pid`` runs; a zombie (ended, not yet reaped by its parent) is not alive."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] not in ("Z", "X")


def wait_until(condition, timeout: float, step: float = 0.05) -> bool:  # noqa: ANN001
    """Poll ``condition()`` until it is true or ``timeout`` seconds pass; its last value."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step)
    return bool(condition())


@contextmanager
def serving(folder: Path) -> Iterator[str]:
    """fieldapp serving ``folder`` on a free loopback port, for the length of the block."""
    server = Server(folder)
    server.start()
    try:
        yield server.url
    finally:
        server.stop()
