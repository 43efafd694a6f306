"""The participant listener: the participant pages on the laptop's Wi-Fi address, nothing else.

Started when a facilitator opens a consultation to phones, stopped when input closes. It is a
process of its own (``fieldapp participants-listener``, see ``cli_listener.py``), a child of
the facilitator's fieldapp, so that a room of phones busy in it never slows the facilitator's
pages and a crash of it never takes them down. It listens on one address (never 0.0.0.0) and
serves an app built with ``participant_only``: facilitator routes do not exist there.

The child stops when its standard input closes: :func:`stop` closes it (then terminates the
child if it does not end in time), and so does the system when the facilitator's process dies
in any way, Ctrl+C, a crash or ``kill -9``, on Windows as on Linux. A supervisor thread per
child restarts a child that dies while its consultation is still open to phones, with
pauses growing between attempts, so the address shown on the facilitator's page keeps
working. Every child is stopped when the facilitator's process exits (``atexit``, and
``cli.serve``'s own clean stop).

A listener is one or more such processes on one listening socket (``LAN_PROCESSES``; two on
a machine with two cores or more). The facilitator's process binds the socket, so that a port
already taken is refused at once and a restarted child finds its address still open, and
hands it to each child (inherited on Linux and macOS, ``socket.share`` on Windows); the
system gives each new connection to whichever child accepts it first. One Python process
spends most of a question page holding the interpreter's lock; a second one on the other core
more than doubled what 90 phones got (bench/README.md). Each child has a supervisor of its
own, and one crashed child leaves the others serving.
"""

from __future__ import annotations

import atexit
import base64
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

# The listening socket's queue of connections not yet accepted (waitress's own default).
LISTEN_BACKLOG = 1024
# At most this many listener processes, whatever the settings say (each holds the app and a
# pool of database connections: about 100 MB resident).
MAX_PROCESSES = 4

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


def hand_over_line(listening: socket.socket, pid: int) -> str:
    """The line a Windows child reads first on its standard input: ``socket.share``'s
    duplicate of the listening socket for process ``pid`` (only that process can take it up),
    in base64 (read back by ``cli_listener.inherited_socket``)."""
    shared = listening.share(pid)  # type: ignore[attr-defined,unused-ignore]
    return base64.b64encode(shared).decode("ascii") + "\n"


class _Child:
    """One run of the listener process, and the thread that reads what it says."""

    def __init__(
        self, instance_path: Path, listening: socket.socket, slot: int, processes: int
    ) -> None:
        self.started = time.monotonic()
        self.messages: queue.Queue[dict[str, Any] | None] = queue.Queue()
        self.write_wait: dict[str, Any] | None = None
        self.ready: dict[str, Any] = {}
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(
            [str(PACKAGE_ROOT), *filter(None, [env.get("PYTHONPATH")])]
        )
        host, port = listening.getsockname()[:2]
        argv = [sys.executable, "-m", "fieldapp", "--instance", str(instance_path)]
        argv += ["participants-listener", "--host", host, "--port", str(port)]
        argv += ["--slot", str(slot), "--processes", str(processes)]
        shared = sys.platform == "win32"
        argv += ["--socket-on-stdin"] if shared else ["--socket-fd", str(listening.fileno())]
        self.process = subprocess.Popen(  # noqa: S603 -- this Python running fieldapp itself
            argv,
            stdin=subprocess.PIPE,  # the socket on Windows, then nothing: its end is ours
            stdout=subprocess.PIPE,
            text=True,
            encoding="utf-8",
            errors="replace",
            env=env,
            close_fds=True,
            pass_fds=() if shared else (listening.fileno(),),
        )
        if shared:
            with contextlib.suppress(OSError):
                assert self.process.stdin is not None  # noqa: S101 -- opened with stdin=PIPE
                self.process.stdin.write(hand_over_line(listening, self.process.pid))
                self.process.stdin.flush()
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


def listening_socket(host: str, port: int) -> socket.socket:
    """A socket listening on ``host:port`` (port 0: any free one), to hand to the children.

    OSError when the port is taken or the address is not this machine's. As waitress does for
    its own sockets: ``SO_REUSEADDR`` where it only lets a restarted server take its port
    back at once (not on Windows, where it would let another program share the port; there
    ``SO_EXCLUSIVEADDRUSE`` keeps it ours).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    listening = socket.socket(family, socket.SOCK_STREAM)
    try:
        if sys.platform == "win32":
            exclusive = getattr(socket, "SO_EXCLUSIVEADDRUSE", None)
            if exclusive is not None:
                listening.setsockopt(socket.SOL_SOCKET, exclusive, 1)
        else:
            listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listening.bind((host, port))
        listening.listen(LISTEN_BACKLOG)
    except OSError:
        listening.close()
        raise
    return listening


def merged_write_waits(waits: list[dict[str, Any]]) -> dict[str, Any] | None:
    """The write-lock waits of several children as one: counts added, the longest wait, and
    for p50/p99 the worst child's (an upper bound: the children's samples are not kept)."""
    if not waits:
        return None
    if len(waits) == 1:
        return dict(waits[0])
    merged = dict(waits[0])
    for name in ("count", "contended"):
        merged[name] = sum(int(wait.get(name, 0)) for wait in waits)
    for name in ("p50_ms", "p99_ms", "max_ms"):
        merged[name] = max(float(wait.get(name, 0.0)) for wait in waits)
    return merged


@dataclass(eq=False)
class Listener:
    """A participant listener: one listening socket served by ``processes`` children, each
    restarted by its own supervisor if it crashes."""

    key: str
    host: str
    port: int
    instance_path: Path
    processes: int = 1
    restarts: int = 0  # how many times a supervisor started a crashed child again
    _socket: socket.socket | None = field(default=None, repr=False)
    _children: dict[int, _Child] = field(default_factory=dict, repr=False)
    _given_up: set[int] = field(default_factory=set, repr=False)
    _stopping: threading.Event = field(default_factory=threading.Event, repr=False)
    _guard: threading.Lock = field(default_factory=threading.Lock, repr=False)
    _supervisors: list[threading.Thread] = field(default_factory=list, repr=False)

    @property
    def url(self) -> str:
        """The address participants type or scan."""
        return f"http://{self.host}:{self.port}"

    def _first(self) -> _Child:
        with self._guard:
            children = [self._children[slot] for slot in sorted(self._children)]
        assert children, "no child was started"  # noqa: S101 -- set before it is handed out
        return children[0]

    @property
    def pid(self) -> int:
        """The process id of the first child serving now."""
        return int(self._first().process.pid)

    @property
    def pids(self) -> list[int]:
        """The process ids of the children serving now, by slot."""
        with self._guard:
            return [int(self._children[slot].process.pid) for slot in sorted(self._children)]

    def is_alive(self) -> bool:
        """True while at least one child serves."""
        with self._guard:
            children = list(self._children.values())
        return any(child.process.poll() is None for child in children)

    @property
    def server(self) -> ServerReport:
        """The first child's waitress server as it reported itself when it started."""
        settings = dict(self._first().ready.get("settings", {}))
        listen = []
        for host, port in settings.pop("listen", []):
            family = socket.AF_INET6 if ":" in host else socket.AF_INET
            listen.append((family, socket.SOCK_STREAM, socket.IPPROTO_TCP, (host, port)))
        return ServerReport(SimpleNamespace(**settings, listen=listen), self.host, self.port)

    @property
    def write_wait(self) -> dict[str, Any] | None:
        """How long the stopped children's writers waited for the write lock (merged
        ``database.write_wait_stats`` of those processes); None while they run."""
        with self._guard:
            children = [self._children[slot] for slot in sorted(self._children)]
        waits = [child.write_wait for child in children if child.write_wait is not None]
        return merged_write_waits(waits)

    def launch(self) -> None:
        """Bind the socket, start one supervisor per child; return once the first listens.

        Each child is started by its supervisor thread, so that on Linux the kernel's
        parent-death signal (bound to the thread that started a process) comes only when that
        supervisor itself ends. The first child failing to start fails the launch; a later
        one is logged and the others serve without it.
        """
        self._socket = listening_socket(self.host, self.port)
        self.port = int(self._socket.getsockname()[1])  # port 0 asked for any: keep the one given
        outcomes: list[queue.Queue[OSError | None]] = []
        for slot in range(1, self.processes + 1):
            outcome: queue.Queue[OSError | None] = queue.Queue()
            outcomes.append(outcome)
            supervisor = threading.Thread(
                target=self._supervise,
                args=(slot, outcome),
                name=f"participants-{self.key}-{slot}",
                daemon=True,
            )
            self._supervisors.append(supervisor)
            supervisor.start()
        failures = [outcome.get() for outcome in outcomes]
        if failures[0] is not None:
            self.shutdown()
            raise failures[0]
        for slot, failed in enumerate(failures[1:], start=2):
            if failed is not None:
                logger.warning("participant listener process %s did not start: %s", slot, failed)

    def _start_child(self, slot: int, abort: threading.Event | None = None) -> _Child:
        """A new child serving this listener's socket; OSError when it cannot."""
        assert self._socket is not None  # noqa: S101 -- bound in launch()
        child = _Child(self.instance_path, self._socket, slot, self.processes)
        child.wait_ready(abort)
        return child

    def _supervise(self, slot: int, outcome: queue.Queue[OSError | None]) -> None:
        """Start the slot's child, then again each time it dies without being asked to."""
        try:
            child = self._start_child(slot, abort=self._stopping)
        except OSError as error:
            outcome.put(error)
            return
        except BaseException as error:  # never leave launch() waiting
            outcome.put(OSError(errno.EIO, f"{type(error).__name__}"))
            raise
        with self._guard:
            self._children[slot] = child
        outcome.put(None)
        crashes = 0
        while True:
            code = child.process.wait()
            child.finish()
            if self._stopping.is_set() or code == 0:  # asked to stop, or a clean stop
                return
            crashes = 1 if time.monotonic() - child.started >= STEADY_SECONDS else crashes + 1
            logger.warning(
                "the participant listener on %s stopped unexpectedly (process %s, exit code %s)",
                self.url,
                slot,
                code,
            )
            restarted = self._restart(slot, crashes)
            if restarted is None:
                return
            child = restarted

    def _restart(self, slot: int, crashes: int) -> _Child | None:
        """A new child after a crash, after a pause; None when stopped or when giving up."""
        while crashes <= len(RESTART_PAUSES):
            if self._stopping.wait(RESTART_PAUSES[crashes - 1]):
                return None
            try:
                child = self._start_child(slot, abort=self._stopping)
            except OSError as error:
                logger.warning("the participant listener could not start again: %s", error)
                crashes += 1
                continue
            with self._guard:
                if self._stopping.is_set():
                    child.end()
                    return None
                self._children[slot] = child
                self.restarts += 1
            logger.warning("the participant listener on %s was started again", self.url)
            return child
        logger.error("the participant listener on %s crashed too often: given up", self.url)
        with self._guard:
            self._given_up.add(slot)
            everything_gone = len(self._given_up) == self.processes
        if everything_gone:
            with _lock:
                if _listeners.get(self.key) is self:
                    del _listeners[self.key]
            self._close_socket()
        return None

    def _close_socket(self) -> None:
        with self._guard:
            listening, self._socket = self._socket, None
        if listening is not None:
            listening.close()

    def shutdown(self) -> None:
        """Stop the children and their supervisors (no restart after this), then let the
        address go."""
        self._stopping.set()
        with self._guard:
            children = list(self._children.values())
        # Closing every child's standard input first lets them stop side by side.
        for child in children:
            with contextlib.suppress(OSError):
                if child.process.stdin is not None:
                    child.process.stdin.close()
        for child in children:
            child.end()
        for supervisor in self._supervisors:
            if supervisor is not threading.current_thread():
                supervisor.join(timeout=READY_SECONDS + STOP_SECONDS + KILL_SECONDS)
        self._close_socket()


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


def start(key: str, instance_path: Path, host: str, port: int, processes: int = 1) -> Listener:
    """Start (or return the running) listener for ``key`` on ``host:port``, served by
    ``processes`` children.

    Returns once the first child listens. OSError when it cannot (the port is taken, the
    address is not this laptop's, the child's own reason) or does not start within
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
        processes = max(1, min(int(processes), MAX_PROCESSES))
        listener = Listener(key, host, port, Path(instance_path).resolve(), processes)
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
