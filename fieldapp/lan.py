"""The participant listener: the participant pages on the laptop's Wi-Fi address, nothing else.

Started when a facilitator opens a consultation to phones, stopped when input closes. It is a
process of its own (``fieldapp participants-listener``, see ``cli_listener.py``), a child of
the facilitator's fieldapp, so that a room of phones busy in it never slows the facilitator's
pages and a crash of it never takes them down. It binds one address (never 0.0.0.0) and serves
an app built with ``participant_only``: facilitator routes do not exist there.

The child stops when its standard input closes: :func:`stop` closes it (then terminates the
child if it does not end in time), and so does the system when the facilitator's process dies
in any way, Ctrl+C, a crash or ``kill -9``, on Windows as on Linux. A supervisor thread per
listener restarts a child that dies while its consultation is still open to phones, with
pauses growing between attempts, so the address shown on the facilitator's page keeps
working. Every child is stopped when the facilitator's process exits (``atexit``, and
``cli.serve``'s own clean stop).
"""

from __future__ import annotations

import atexit
import contextlib
import errno
import ipaddress
import json
import logging
import os
import queue
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import ifaddr

from .config import SERVER_THREADS

# Sized for a room of phones (SECURITY.md L-01). Each browser opens up to 6 connections and
# keeps them open between pages, so 90 phones hold about 360 (bench/room.py): with a limit of
# 300 the last phones to arrive waited 7-10 s for their start page. 500, not 6 x 90 = 540:
# on Windows waitress waits with select(), which CPython there builds for at most 512 sockets.
WAITRESS_SETTINGS: dict[str, Any] = {
    "threads": SERVER_THREADS,
    "connection_limit": 500,
    "channel_timeout": 30,
    "asyncore_use_poll": True,
    "max_request_body_size": 64 * 1024,
    "ident": "fieldapp",
}

# How long start() waits for the child to listen (importing fieldapp and opening the database
# take 1-2 s on a laptop, more on an old one busy with a browser).
READY_SECONDS = 20.0
# How long a child has to stop cleanly once its standard input is closed, then after SIGTERM.
STOP_SECONDS = 10.0
KILL_SECONDS = 3.0
# Pauses before restarting a child that died by itself, one per crash in a row; after the
# last one the supervisor gives up and the page offers to open the consultation to phones
# again. A child that ran STEADY_SECONDS before dying starts the count afresh.
RESTART_PAUSES = (0.2, 1.0, 2.0, 4.0, 8.0)
STEADY_SECONDS = 60.0
# The folder that holds the fieldapp package: the child imports the same code as its parent.
PACKAGE_ROOT = Path(__file__).resolve().parent.parent

logger = logging.getLogger(__name__)


def refuse_every_address(host: str) -> None:
    """Refuse the addresses that mean "all of them": the listener binds one address."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 -- refused, never used
        raise ValueError("the participant listener binds one address, never all of them")


@dataclass(frozen=True)
class ServerReport:
    """The child's waitress server as the child reported it: settings and bound address.

    ``adj`` has the names of waitress's ``Adjustments`` (``threads``, ``connection_limit``,
    ``listen`` as ``(family, type, protocol, (host, port))``...).
    """

    adj: SimpleNamespace
    effective_host: str
    effective_port: int


class _Child:
    """One run of the listener process, and the thread that reads what it says."""

    def __init__(self, instance_path: Path, host: str, port: int) -> None:
        self.started = time.monotonic()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.write_wait: dict[str, Any] | None = None
        self.ready: dict[str, Any] = {}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        argv = [sys.executable, "-m", "fieldapp", "--instance", str(instance_path)]
        argv += ["participants-listener", "--host", host, "--port", str(port)]
        self.process = subprocess.Popen(  # noqa: S603 -- this Python running fieldapp itself
            argv,
            stdin=subprocess.PIPE,  # never written: its end is the parent's end
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            close_fds=True,
        )
        self.reader = threading.Thread(target=self._read, name="participants-reader", daemon=True)
        self.reader.start()

    def _read(self) -> None:
        """Pass on the child's JSON lines; None at the end of its output."""
        from .cli_listener import STOPPED

        stream = self.process.stdout
        assert stream is not None  # noqa: S101 -- opened with stdout=PIPE
        with contextlib.suppress(OSError, ValueError):
            for line in stream:
                try:
                    message = json.loads(line)
                except ValueError:
                    continue
                if not isinstance(message, dict):
                    continue
                stopped = message.get(STOPPED)
                if isinstance(stopped, dict):
                    self.write_wait = stopped.get("write_wait")
                self.messages.put(message)
        self.messages.put(None)

    def wait_ready(self, abort: threading.Event | None = None) -> None:
        """Wait for the child to listen; OSError with its reason when it cannot."""
        from .cli_listener import ERROR, READY

        deadline = time.monotonic() + READY_SECONDS
        while True:
            if abort is not None and abort.is_set():
                self.end()
                raise OSError(errno.ECANCELED, "the participant listener was stopped")
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                self.end()
                raise OSError(errno.ETIMEDOUT, "the participant listener did not start in time")
            try:
                message = self.messages.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if message is None:
                code = self.end()
                raise OSError(errno.ECHILD, f"the participant listener exited with code {code}")
            if READY in message:
                self.ready = message[READY]
                return
            if ERROR in message:
                self.end()
                error = message[ERROR]
                raise OSError(error.get("errno") or errno.EINVAL, error.get("reason", "?"))

    def end(self) -> int:
        """Stop the child: its standard input closed (a clean stop), then SIGTERM, then kill.

        Its exit code. A phone's kept-alive connection ends with the process.
        """
        with contextlib.suppress(OSError):
            if self.process.stdin is not None:
                self.process.stdin.close()
        try:
            self.process.wait(timeout=STOP_SECONDS)
        except subprocess.TimeoutExpired:
            self.process.terminate()
            try:
                self.process.wait(timeout=KILL_SECONDS)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.finish()
        return int(self.process.returncode)

    def finish(self) -> None:
        """After the child's exit: read its last words and close the pipes."""
        self.reader.join(timeout=KILL_SECONDS)
        for stream in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):
                if stream is not None:
                    stream.close()


@dataclass(eq=False)
class Listener:
    """A participant listener: a child process, restarted by its supervisor if it crashes."""

    key: str
    host: str
    port: int
    instance_path: Path
    restarts: int = 0  # how many times the supervisor started a crashed child again
    _child: _Child | None = field(default=None, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _supervisor: threading.Thread | None = field(default=None, repr=False)

    @property
    def url(self) -> str:
        """The address participants type or scan."""
        return f"http://{self.host}:{self.port}"

    @property
    def pid(self) -> int:
        """The process id of the child serving now."""
        assert self._child is not None  # noqa: S101 -- set before the listener is handed out
        return int(self._child.process.pid)

    def is_alive(self) -> bool:
        """True while the child serving now runs."""
        return self._child is not None and self._child.process.poll() is None

    @property
    def server(self) -> ServerReport:
        """The child's waitress server as it reported itself when it started listening."""
        assert self._child is not None  # noqa: S101 -- set before the listener is handed out
        settings = dict(self._child.ready.get("settings", {}))
        listen = []
        for host, port in settings.pop("listen", []):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listen.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (host, port)))
        return ServerReport(SimpleNamespace(**settings, listen=listen), self.host, self.port)

    @property
    def write_wait(self) -> dict[str, Any] | None:
        """How long the last stopped child's writers waited for the write lock
        (``database.write_wait_stats`` of that process); None while it runs."""
        return self._child.write_wait if self._child is not None else None

    def launch(self) -> None:
        """Start the supervisor, which starts the child; return once it listens.

        The supervisor thread starts every child of this listener, so that on Linux the
        kernel's parent-death signal (bound to the thread that started a process) comes only
        when the supervisor itself ends.
        """
        outcome: queue.Queue[OSError | None] = queue.Queue()
        self._supervisor = threading.Thread(
            target=self._supervise, args=(outcome,), name=f"participants-{self.key}", daemon=True
        )
        self._supervisor.start()
        failed = outcome.get()
        if failed is not None:
            self._supervisor.join()
            raise failed

    def _start_child(self, abort: threading.Event | None = None) -> _Child:
        """A new child on this listener's address, listening; OSError when it cannot."""
        child = _Child(self.instance_path, self.host, self.port)
        child.wait_ready(abort)
        return child

    def _supervise(self, outcome: queue.Queue[OSError | None]) -> None:
        """Start the child, then start it again each time it dies without being asked to."""
        try:
            child = self._start_child()
        except OSError as error:
            outcome.put(error)
            return
        except BaseException as error:  # never leave launch() waiting
            outcome.put(OSError(errno.EIO, f"{type(error).__name__}"))
            raise
        self._child = child
        self.port = int(child.ready["port"])  # port 0 asked for any: keep the one given
        outcome.put(None)
        crashes = 0
        while True:
            code = child.process.wait()
            child.finish()
            if self._stopping.is_set() or code == 0:  # asked to stop, or a clean stop
                return
            crashes = 1 if time.monotonic() - child.started >= STEADY_SECONDS else crashes + 1
            logger.warning(
                "the participant listener on %s stopped unexpectedly (exit code %s)",
                self.url,
                code,
            )
            restarted = self._restart(crashes)
            if restarted is None:
                return
            child = restarted

    def _restart(self, crashes: int) -> _Child | None:
        """A new child after a crash, after a pause; None when stopped or when giving up."""
        while crashes <= len(RESTART_PAUSES):
            if self._stopping.wait(RESTART_PAUSES[crashes - 1]):
                return None
            try:
                child = self._start_child(abort=self._stopping)
            except OSError as error:
                logger.warning("the participant listener could not start again: %s", error)
                crashes += 1
                continue
            with self._guard:
                if self._stopping.is_set():
                    child.end()
                    return None
                self._child = child
                self.restarts += 1
            logger.warning("the participant listener on %s was started again", self.url)
            return child
        logger.error("the participant listener on %s crashed too often: given up", self.url)
        with _lock:
            if _listeners.get(self.key) is self:
                del _listeners[self.key]
        return None

    def shutdown(self) -> None:
        """Stop the child and its supervisor (no restart after this)."""
        self._stopping.set()
        with self._guard:
            child = self._child
        if child is not None:
            child.end()
        supervisor = self._supervisor
        if supervisor is not None and supervisor is not threading.current_thread():
            supervisor.join(timeout=READY_SECONDS + STOP_SECONDS + KILL_SECONDS)


_listeners: dict[str, Listener] = {}
_lock = threading.Lock()
_at_exit: list[bool] = []


# Where a laptop's own hotspot puts itself: NetworkManager's shared Wi-Fi (10.42.x.1/24) and
# Windows' Mobile Hotspot (192.168.137.1/24). Phones can reach the laptop there for certain.
HOTSPOT_NETWORKS = (
    ipaddress.IPv4Network("10.42.0.0/16"),
    ipaddress.IPv4Network("192.168.137.0/24"),
)
# Addresses of a local network (RFC 1918); a phone on the same Wi-Fi reaches these.
PRIVATE_NETWORKS = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
)
# A network without DHCP (a phone joined before the hotspot handed out addresses): last resort.
LINK_LOCAL = ipaddress.IPv4Network("169.254.0.0/16")
# Interfaces of containers, virtual machines and VPNs, which no phone in the room can reach.
VIRTUAL_INTERFACES = (
    "docker",
    "br-",
    "veth",
    "virbr",
    "vboxnet",
    "vmnet",
    "lxcbr",
    "lxdbr",
    "podman",
    "cni",
    "flannel",
    "tun",
    "tap",
    "wg",
    "tailscale",
    "zt",
)
VIRTUAL_DESCRIPTIONS = ("virtualbox", "vmware", "hyper-v", "wsl", "vpn", "tap-windows")


@dataclass(frozen=True)
class Address:
    """One address of this laptop that phones on its network could reach."""

    interface: str  # the interface's name as the system shows it (wlp2s0, Wi-Fi, ...)
    ip: str
    hotspot: bool  # in the range a laptop's own hotspot uses

    @property
    def rank(self) -> int:
        """0 the laptop's own hotspot, 1 another local network, 2 a virtual one, 3 link-local."""
        address = ipaddress.IPv4Address(self.ip)
        if self.hotspot:
            return 0
        if address in LINK_LOCAL:
            return 3
        name = self.interface.lower()
        virtual = name.startswith(VIRTUAL_INTERFACES) or any(
            word in name for word in VIRTUAL_DESCRIPTIONS
        )
        return 2 if virtual else 1


def _reachable(ip: str) -> bool:
    """A private or link-local IPv4 address: never loopback, never a public address."""
    address = ipaddress.IPv4Address(ip)
    if address.is_loopback or address.is_unspecified:
        return False
    return address in LINK_LOCAL or any(address in net for net in PRIVATE_NETWORKS)


def network_addresses(adapters: Iterable[ifaddr.Adapter] | None = None) -> list[Address]:
    """This laptop's addresses that phones on its Wi-Fi could reach, the likeliest first.

    Read from the interfaces themselves (no route is needed: a hotspot without internet has
    none). Order: the laptop's own hotspot (10.42.x.x, 192.168.137.x), other local networks,
    those of virtual machines and VPNs, then link-local addresses; within each, as listed by
    the system. ``adapters`` replaces the system's list (tests).
    """
    found: dict[str, Address] = {}
    for adapter in ifaddr.get_adapters() if adapters is None else adapters:
        for ip in adapter.ips:
            if not ip.is_IPv4 or not isinstance(ip.ip, str) or not _reachable(ip.ip):
                continue
            hotspot = any(ipaddress.IPv4Address(ip.ip) in net for net in HOTSPOT_NETWORKS)
            found.setdefault(ip.ip, Address(adapter.nice_name or adapter.name, ip.ip, hotspot))
    return sorted(found.values(), key=lambda address: address.rank)


def choose_address(addresses: list[Address], chosen: str | None) -> Address | None:
    """The address the facilitator chose among ``addresses`` (by default the likeliest).

    None when there is none, or when the chosen one is no longer on this laptop.
    """
    if not chosen:
        return addresses[0] if addresses else None
    return next((address for address in addresses if address.ip == chosen), None)


def network_address() -> str | None:
    """The likeliest address of this laptop on its network (the hotspot), if it has one."""
    chosen = choose_address(network_addresses(), None)
    return chosen.ip if chosen else None


def start(key: str, instance_path: Path, host: str, port: int) -> Listener:
    """Start (or return the running) listener for ``key`` on ``host:port``.

    Returns once the child listens. OSError, with the child's reason, when it cannot (the
    port is taken, the address is not this laptop's) or does not start within
    :data:`READY_SECONDS`.
    """
    refuse_every_address(host)
    with _lock:
        running = _listeners.get(key)
        if running is not None:
            return running
        if not _at_exit:
            atexit.register(stop_all)
            _at_exit.append(True)
        listener = Listener(key, host, port, Path(instance_path).resolve())
        listener.launch()
        _listeners[key] = listener
        return listener


def running(key: str) -> Listener | None:
    """The listener for ``key``, if it runs (or is being started again after a crash)."""
    return _listeners.get(key)


def stop(key: str) -> None:
    """Stop the listener for ``key``: its address stops answering, its connections close."""
    with _lock:
        listener = _listeners.pop(key, None)
    if listener is not None:
        listener.shutdown()


def stop_all() -> None:
    """Stop every listener of this process (the facilitator's fieldapp is stopping)."""
    for key in list(_listeners):
        stop(key)
