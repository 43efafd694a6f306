"""The laptop of the room benchmark: its installation, its server, its network and its CPU.

- :func:`build_laptop`: a field installation with a facilitator's account and a consultation of
  eight questions in Arabic, Sorani and Kurmanji (not yet open for input: the facilitator
  opens it through the pages), and ``LAN_ADDRESS``/``LAN_PORT`` written in its ``config.py``.
- :class:`LaptopServer`: ``run.py`` started as a facilitator starts it, optionally inside a
  network namespace and under a CPU limit; finds the phones' listener by the port it holds.
- :func:`hotspot`: a laptop namespace and a phones namespace joined by a veth pair, the
  laptop at 10.42.0.1/24 and one address per phone, shaped by ``tc netem`` when asked.
- :func:`half_core`: the server's processes limited to half a core (cgroup v1 ``cpu``,
  cgroup v2 ``cpu.max``, or one core shared with a busy process), or the reason it cannot be.

Everything made here is removed on the way out (``finally``), Ctrl+C included.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

ROOT = Path(__file__).resolve().parent.parent
IP = shutil.which("ip")
TC = shutil.which("tc")
USERNAME = "amira"
PASSWORD = "olive grove at dawn"  # noqa: S105 -- the benchmark's own throwaway account
LANGUAGES = ("ar", "ckb", "ku")
TITLE = {
    "ar": "جلسة استماع في الحي",
    "ckb": "دانیشتنی گوێگرتن لە گەڕەک",
    "ku": "Civîna guhdarîkirinê",
}

_OPTIONS = [
    {"id": "o1", "label": {"ar": "الطرق", "ckb": "ڕێگاوبان", "ku": "Rê"}},
    {"id": "o2", "label": {"ar": "الصحة", "ckb": "تەندروستی", "ku": "Tenduristî"}},
    {"id": "o3", "label": {"ar": "فرص العمل", "ckb": "هەلی کار", "ku": "Kar"}},
]
_SERVICES = [
    {"id": "s1", "label": {"ar": "الماء", "ckb": "ئاو", "ku": "Av"}},
    {"id": "s2", "label": {"ar": "الكهرباء", "ckb": "کارەبا", "ku": "Elektrîk"}},
    {"id": "s3", "label": {"ar": "المدارس", "ckb": "قوتابخانە", "ku": "Dibistan"}},
]
# Eight questions of every kind a sheet has; three take typed text (where phones type markers).
QUESTIONS: list[dict[str, Any]] = [
    {
        "type": "free_text",
        "required": True,
        "text": {
            "ar": "ما أهم مشكلة تواجه منطقتك؟",
            "ckb": "گرنگترین کێشەی ناوچەکەت چییە؟",
            "ku": "Pirsgirêka herî girîng a herêma we çi ye?",
        },
    },
    {
        "type": "single_choice",
        "text": {
            "ar": "ما الذي يجب أن يأتي أولاً؟",
            "ckb": "چی دەبێت یەکەم بێت؟",
            "ku": "Divê çi pêşî were?",
        },
        "options": _OPTIONS,
    },
    {
        "type": "rating",
        "text": {
            "ar": "كيف تقيّم الخدمات العامة؟",
            "ckb": "خزمەتگوزارییە گشتییەکان چۆن هەڵدەسەنگێنیت؟",
            "ku": "Hûn xizmetên giştî çawa dinirxînin?",
        },
    },
    {
        "type": "free_text",
        "text": {
            "ar": "ماذا تقترح على البلدية؟",
            "ckb": "چی پێشنیار دەکەیت بۆ شارەوانی؟",
            "ku": "Hûn ji şaredariyê re çi pêşniyar dikin?",
        },
    },
    {
        "type": "multiple_choice",
        "text": {
            "ar": "أي الخدمات تستخدمها؟",
            "ckb": "کام خزمەتگوزارییانە بەکاردەهێنیت؟",
            "ku": "Hûn kîjan xizmetan bi kar tînin?",
        },
        "options": _SERVICES,
    },
    {
        "type": "yes_no",
        "text": {
            "ar": "هل تشعر بالأمان في منطقتك؟",
            "ckb": "لە ناوچەکەت هەست بە ئاسایش دەکەیت؟",
            "ku": "Hûn li herêma xwe xwe ewle hîs dikin?",
        },
    },
    {
        "type": "ranking",
        "text": {
            "ar": "رتّب الأولويات",
            "ckb": "ئەولەویەتەکان ڕیز بکە",
            "ku": "Pêşîniyan rêz bikin",
        },
        "options": _OPTIONS,
    },
    {
        "type": "free_text",
        "text": {
            "ar": "هل لديك ملاحظة أخرى؟",
            "ckb": "تێبینییەکی ترت هەیە؟",
            "ku": "Têbîniyeke we ya din heye?",
        },
    },
]


@dataclass
class Laptop:
    """An installation ready for the room."""

    folder: Path
    record_id: str
    lan_address: str
    lan_port: int
    username: str = USERNAME
    password: str = PASSWORD


def free_port(host: str = "127.0.0.1") -> int:
    """A port nobody listens on."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


def write_settings(folder: Path, **settings: object) -> None:
    """Add settings to the installation's ``config.py``, as a facilitator would edit it."""
    path = folder / "config.py"
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    lines = "".join(f"{name} = {value!r}\n" for name, value in settings.items())
    path.write_text(text + ("\n" if text and not text.endswith("\n") else "") + lines, "utf-8")


def _account(folder: Path) -> None:
    from fieldapp.models import Role
    from fieldapp.services import accounts
    from tests.conftest import FAST_HASH
    from tests.sync_world import opened

    with opened(folder):
        accounts.create_user(
            USERNAME,
            PASSWORD,
            Role.COORDINATOR,
            accounts.PasswordPolicy(hash_method=FAST_HASH),
            display_name="Amira",
        )


def build_laptop(root: Path, lan_address: str, lan_port: int, processes: int = 2) -> Laptop:
    """A field laptop with the room's consultation (input not open yet) and an account; its
    phones served by ``processes`` listener processes (``LAN_PROCESSES``)."""
    sys.path.insert(0, str(ROOT))
    from fieldapp.models import DeviceRole
    from fieldapp.services import workspace
    from tests.sync_world import Installation

    office = Installation(root / "ho", DeviceRole.HEADOFFICE, "Head office")
    laptop = Installation(root / "laptop", DeviceRole.FIELD, "Laptop", (office,))
    with laptop.session():
        record_id = workspace.save_consultation(
            {
                "kind": "town_hall",
                "title": TITLE,
                "original_language": "ar",
                "status": "open",
                "governorate": "IQ-NI",
                "languages": list(LANGUAGES),
                "consent_text": {
                    "ar": "تُحفظ إجاباتك دون اسمك.",
                    "ckb": "وەڵامەکانت بەبێ ناوت هەڵدەگیرێن.",
                    "ku": "Bersivên we bê navê we têne tomarkirin.",
                },
            }
        )
        for question in QUESTIONS:
            workspace.add_question(record_id, {**question, "original_language": "ar"})
    _account(laptop.folder)
    write_settings(
        laptop.folder, LAN_ADDRESS=lan_address, LAN_PORT=lan_port, LAN_PROCESSES=processes
    )
    return Laptop(laptop.folder, record_id, lan_address, lan_port)


def build_stress_laptop(
    root: Path, lan_address: str, lan_port: int, processes: int = 2
) -> tuple[Laptop, str, str]:
    """bench/intake.py's laptop (one free-text question, input open) with an account, its
    phones served by ``processes`` listener processes.

    Returns the laptop, the join code and the question's id.
    """
    sys.path.insert(0, str(ROOT))
    from fieldapp.services import intake
    from tests.sync_world import meeting_laptop, opened

    folder, code, question = meeting_laptop(root)
    with opened(folder):
        record_id = intake.meeting_for(code).consultation.id  # type: ignore[union-attr]
    _account(folder)
    write_settings(folder, LAN_ADDRESS=lan_address, LAN_PORT=lan_port, LAN_PROCESSES=processes)
    return Laptop(folder, record_id, lan_address, lan_port), code, question


# ---- processes -------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float | None:
    """User + system CPU time of a running process, or None when it is gone."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


def alive(pid: int) -> bool:
    """The process exists and is not a zombie."""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def listening_pids(namespace_pid: int, host: str, port: int) -> list[int]:
    """The processes holding the listening socket ``host:port`` in ``namespace_pid``'s
    network: the facilitator's app, which binds it, and the listener processes it handed it to."""
    wanted = f"{socket.inet_aton(host)[::-1].hex().upper()}:{port:04X}"
    inodes = set()
    try:
        table = Path(f"/proc/{namespace_pid}/net/tcp").read_text().splitlines()[1:]
    except OSError:
        return []
    for line in table:
        columns = line.split()
        if columns[1] == wanted and columns[3] == "0A":  # LISTEN
            inodes.add(f"socket:[{columns[9]}]")
    holders: list[int] = []
    if not inodes:
        return holders
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if any(os.readlink(fd) in inodes for fd in (entry / "fd").iterdir()):
                holders.append(int(entry.name))
        except OSError:
            continue
    return sorted(holders)


class Worker:
    """A child process speaking JSON lines on stdout (optionally inside a network namespace)."""

    def __init__(self, argv: list[str], namespace: str | None = None) -> None:
        prefix = [IP, "netns", "exec", namespace] if namespace and IP else []
        self.process = subprocess.Popen(
            [*prefix, *argv],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=ROOT,
            env={**os.environ, "PYTHONPATH": str(ROOT)},
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.errors: list[str] = []
        self.pumps = [
            threading.Thread(target=self._pump, args=(self.process.stdout, True), daemon=True),
            threading.Thread(target=self._pump, args=(self.process.stderr, False), daemon=True),
        ]
        for pump in self.pumps:
            pump.start()

    def _pump(self, stream: IO[str] | None, out: bool) -> None:
        assert stream is not None
        for line in stream:
            if out:
                self.lines.put(line)
            else:
                self.errors.append(line)
                del self.errors[:-200]
        if out:
            self.lines.put(None)

    def read(self, timeout: float) -> dict[str, Any]:
        """The next JSON line; fails with the worker's stderr when it ends or falls silent."""
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise RuntimeError(f"worker silent for {timeout:.0f} s: {self.stderr()}") from None
        if line is None:
            self.process.wait(timeout=10)
            raise RuntimeError(f"worker ended ({self.process.returncode}): {self.stderr()}")
        return dict(json.loads(line))

    def stderr(self) -> str:
        """The last lines the worker wrote on stderr."""
        return "".join(self.errors[-30:])

    def send(self, line: str) -> None:
        """One line on the worker's stdin (ignored when it has ended)."""
        assert self.process.stdin is not None
        with contextlib.suppress(OSError):
            self.process.stdin.write(line + "\n")
            self.process.stdin.flush()

    def finish(self, timeout: float) -> dict[str, Any]:
        """Close its stdin (its cue to end) and return the last JSON line it prints."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        last: dict[str, Any] = {}
        with contextlib.suppress(RuntimeError):
            while True:
                last = self.read(timeout)
        self.stop()
        return last

    def stop(self) -> None:
        """End it: stdin closed, then SIGTERM, then SIGKILL."""
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):
                self.process.stdin.close()
        _end(self.process, grace=5)
        for pump in self.pumps:
            pump.join(timeout=5)
        for stream in (self.process.stdout, self.process.stderr):
            if stream is not None:
                stream.close()


def _end(process: subprocess.Popen[Any], grace: float) -> None:
    if process.poll() is not None:
        return
    with contextlib.suppress(subprocess.TimeoutExpired):
        process.wait(timeout=grace / 2)
        return
    process.terminate()
    try:
        process.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait(timeout=10)


class LaptopServer:
    """``run.py --port N`` on an installation, as a facilitator starts it."""

    def __init__(
        self,
        laptop: Laptop,
        namespace: str | None = None,
        limit: CpuLimit | None = None,
    ) -> None:
        self.laptop = laptop
        self.namespace = namespace
        self.limit = limit
        # In a namespace of its own every port is free; beside other work, find a free one.
        self.port = 5000 if namespace else free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.process: subprocess.Popen[Any] | None = None
        self.log = Path(laptop.folder.parent / "server.log")
        self.listeners: list[int] = []
        self.stopped: dict[str, Any] = {}

    def start(self) -> None:
        """Start the server (the facilitator's worker waits until it answers)."""
        prefix = [IP, "netns", "exec", self.namespace] if self.namespace and IP else []
        env = {**os.environ, "FIELDAPP_INSTANCE": str(self.laptop.folder)}
        with self.log.open("w") as log:
            self.process = subprocess.Popen(
                [*prefix, sys.executable, str(ROOT / "run.py"), "--port", str(self.port)],
                stdout=log,
                stderr=subprocess.STDOUT,
                env=env,
                cwd=ROOT,
            )
        if self.limit is not None:  # before the listener is forked: it inherits the limit
            self.limit.add(self.process.pid)

    @property
    def pid(self) -> int:
        """The facilitator app's process."""
        assert self.process is not None
        return self.process.pid

    def find_listeners(self) -> list[int]:
        """The processes that serve the phones' address, other than the app that bound it
        (and put them under the CPU limit too)."""
        holders = listening_pids(self.pid, self.laptop.lan_address, self.laptop.lan_port)
        self.listeners = [pid for pid in holders if pid != self.pid]
        if self.limit is not None:
            for pid in self.listeners:
                self.limit.add(pid)
        return self.listeners

    def running(self) -> bool:
        """The server process has not exited."""
        return self.process is not None and self.process.poll() is None

    def output(self) -> str:
        """What the server printed."""
        try:
            return self.log.read_text(errors="replace")
        except OSError:
            return ""

    def stop(self) -> dict[str, Any]:
        """Stop it as Ctrl+C does; whether the listener process went with it."""
        if self.process is None:
            return {}
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
        _end(self.process, grace=15)
        orphan = False
        deadline = time.monotonic() + 10
        while any(map(alive, self.listeners)) and time.monotonic() < deadline:
            time.sleep(0.1)
        for pid in filter(alive, self.listeners):  # a listener that outlived its parent
            orphan = True
            with contextlib.suppress(OSError):
                os.kill(pid, signal.SIGKILL)
        return {"returncode": self.process.returncode, "listener_outlived_app": orphan}


# ---- after the run: what the database holds -------------------------------------------------


def database_check(folder: Path, record_id: str) -> tuple[str, list[dict[str, Any]], int]:
    """``PRAGMA integrity_check``, the consultation's submissions and the drafts left."""
    from fieldapp.config import DATABASE_FILE

    connection = sqlite3.connect(folder / DATABASE_FILE)
    try:
        integrity = "; ".join(row[0] for row in connection.execute("PRAGMA integrity_check"))
        bodies = [
            json.loads(row[0])
            for row in connection.execute(
                "SELECT body FROM submission WHERE consultation_id = ?", (record_id,)
            )
        ]
        try:
            drafts = connection.execute("SELECT count(*) FROM participant_draft").fetchone()[0]
        except sqlite3.Error:
            drafts = -1
    finally:
        connection.close()
    return integrity, bodies, int(drafts)


# ---- the hotspot: network namespaces, and the air between them -----------------------------

# The weak hotspot: 20 Mbit/s shared by every phone, 30 ms each way, 1% of packets lost each way.
RATE_BITS = 20_000_000
DELAY_S = 0.030
LOSS = 0.01
QUEUE_PACKETS = 1000
NETEM = (
    f"delay {int(DELAY_S * 1000)}ms loss {LOSS:.0%} "
    f"rate {RATE_BITS // 1_000_000}mbit limit {QUEUE_PACKETS}"
)

ETHTOOL_OFF = """
import ctypes, fcntl, socket, struct, sys
# TSO, GSO and GRO off (ETHTOOL_STSO, _SGSO, _SGRO): netem then sees and drops real packets.
for command in (0x1F, 0x24, 0x2C):
    value = ctypes.create_string_buffer(struct.pack("II", command, 0))
    request = struct.pack("16sP16x", sys.argv[1].encode(), ctypes.addressof(value))
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        fcntl.ioctl(sock.fileno(), 0x8946, request)
"""


@dataclass
class Hotspot:
    """The namespaces made for one run, and how the link between them is shaped."""

    laptop: str
    phones: str
    laptop_ip: str
    phone_ips: list[str]
    shaping: str
    air: dict[str, Any] = field(default_factory=dict)  # the user-space shaper's counters


def _netns_unavailable() -> str | None:
    if sys.platform != "linux":
        return "network namespaces exist on Linux only"
    if os.geteuid() != 0:
        return "network namespaces need root"
    if IP is None:
        return "needs the ip command (iproute2)"
    return None


def shaping_method() -> tuple[str | None, str]:
    """("netem" or "userspace", how), or (None, why the weak network cannot be made here).

    ``tc netem`` on a veth pair when the kernel has it; otherwise the user-space shaper of
    ``bench/room_air.py`` between two TUN devices (this machine's kernel has no netem).
    """
    reason = _netns_unavailable()
    if reason:
        return None, reason
    assert IP is not None
    probe = f"fa-probe-{uuid.uuid4().hex[:8]}"
    made = subprocess.run([IP, "netns", "add", probe], capture_output=True, text=True, check=False)
    if made.returncode:
        return None, f"ip netns add failed: {made.stderr.strip()}"
    try:
        if TC is not None:
            subprocess.run(
                [IP, "-n", probe, "link", "add", "p0", "type", "veth", "peer", "name", "p1"],
                check=True,
                capture_output=True,
            )
            shaped = subprocess.run(
                [TC, "-n", probe, "qdisc", "add", "dev", "p0", "root", "netem", "delay", "1ms"],
                capture_output=True,
                text=True,
                check=False,
            )
            if shaped.returncode == 0:
                return "netem", f"tc netem {NETEM} on both ends of a veth pair"
        if not Path("/dev/net/tun").exists():
            return None, "neither tc netem nor /dev/net/tun (for the user-space shaper) is here"
    finally:
        subprocess.run([IP, "netns", "delete", probe], check=False, capture_output=True)
    return "userspace", (
        f"no netem in this kernel: bench/room_air.py between two TUN devices, "
        f"{RATE_BITS // 1_000_000} Mbit/s air time shared by both directions, "
        f"{int(DELAY_S * 1000)} ms and {LOSS:.0%} loss each way, {QUEUE_PACKETS} packets queued"
    )


def namespaces_unavailable() -> str | None:
    """Why the weak network cannot be made here, or None."""
    method, reason = shaping_method()
    return None if method else reason


def _run(*argv: str | None) -> None:
    subprocess.run([str(a) for a in argv], check=True, capture_output=True)


@contextlib.contextmanager
def hotspot(phones: int, shaped: bool = True, seconds: float = 900) -> Iterator[Hotspot]:
    """A laptop (10.42.0.1/24, no route) and ``phones`` phones (10.42.0.2 up) on one link.

    Shaped (when asked) as a weak hotspot: :data:`RATE_BITS` shared, :data:`DELAY_S` and
    :data:`LOSS` each way, by ``tc netem`` or the user-space shaper (:func:`shaping_method`),
    which ends after ``seconds`` at the latest. Both namespaces, and with them the link, are
    deleted afterwards.
    """
    if phones > 250:
        raise ValueError("one /24 holds 250 phones")
    assert IP is not None
    method, how = shaping_method() if shaped else ("veth", "none (a plain veth pair)")
    if method is None:
        raise RuntimeError(how)
    suffix = uuid.uuid4().hex[:8]
    laptop, phone = f"fa-room-laptop-{suffix}", f"fa-room-phones-{suffix}"
    made: list[str] = []
    air: Worker | None = None
    found = Hotspot(laptop, phone, "10.42.0.1", [f"10.42.0.{2 + n}" for n in range(phones)], how)
    try:
        for name in (laptop, phone):
            _run(IP, "netns", "add", name)
            made.append(name)
        if method == "userspace":
            air = Worker(
                [
                    *(sys.executable, "-m", "bench.room_air", laptop, phone),
                    *("--rate", str(RATE_BITS), "--delay", str(DELAY_S), "--loss", str(LOSS)),
                    *("--limit", str(QUEUE_PACKETS), "--seconds", str(seconds)),
                ]
            )
            air.read(timeout=30)
            devices = {laptop: "air0", phone: "air0"}
        else:
            _run(IP, "-n", laptop, "link", "add", "wlan0", "type", "veth", "peer", "name", "wifi0")
            _run(IP, "-n", laptop, "link", "set", "wifi0", "netns", phone)
            devices = {laptop: "wlan0", phone: "wifi0"}
            for name, device in devices.items():
                subprocess.run(  # real packets for netem to drop (best effort)
                    [IP, "netns", "exec", name, sys.executable, "-c", ETHTOOL_OFF, device],
                    capture_output=True,
                    check=False,
                )
        _run(IP, "-n", laptop, "addr", "add", "10.42.0.1/24", "dev", devices[laptop])
        batch = "".join(f"addr add {ip}/24 dev {devices[phone]}\n" for ip in found.phone_ips)
        subprocess.run(
            [IP, "-n", phone, "-batch", "-"],
            input=batch,
            text=True,
            check=True,
            capture_output=True,
        )
        for name, device in devices.items():
            _run(IP, "-n", name, "link", "set", "lo", "up")
            _run(IP, "-n", name, "link", "set", device, "up")
        if method == "netem":
            for name, device in devices.items():
                _run(TC, "-n", name, "qdisc", "add", "dev", device, "root", "netem", *NETEM.split())
        yield found
    finally:
        if air is not None:
            found.air = air.finish(timeout=10)
        for name in reversed(made):
            subprocess.run([str(IP), "netns", "delete", name], check=False, capture_output=True)


# ---- half a core -----------------------------------------------------------------------------

CGROUP_V1_CPU = Path("/sys/fs/cgroup/cpu")
HALF_CORE_QUOTA_US = 50_000
PERIOD_US = 100_000


@dataclass
class CpuLimit:
    """How the server's processes are held to half a core."""

    kind: str  # "cgroup v1", "cgroup v2" or "taskset + busy process"
    path: Path | None = None
    busy: subprocess.Popen[Any] | None = None
    added: list[int] = field(default_factory=list)
    _add: Callable[[int], None] | None = None

    def add(self, pid: int) -> None:
        """Put a process (and the threads and children it makes later) under the limit."""
        if pid in self.added:
            return
        assert self._add is not None
        self._add(pid)
        self.added.append(pid)

    def holds(self, pid: int) -> bool:
        """The process is under this limit now (its cgroup, or its CPU affinity)."""
        try:
            if self.path is not None:
                return f"/{self.path.name}" in Path(f"/proc/{pid}/cgroup").read_text()
            return len(os.sched_getaffinity(pid)) == 1
        except OSError:
            return False

    def stats(self) -> dict[str, Any]:
        """Throttling counters, when the kernel keeps them."""
        found: dict[str, Any] = {"kind": self.kind}
        if self.path is not None:
            with contextlib.suppress(OSError):
                for line in (self.path / "cpu.stat").read_text().splitlines():
                    name, _, value = line.partition(" ")
                    if name in ("nr_periods", "nr_throttled", "throttled_time", "throttled_usec"):
                        found[name] = int(value)
        return found


def _cgroup2_root() -> Path | None:
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if len(parts) > 2 and parts[2] == "cgroup2":
            return Path(parts[1])
    return None


def _joiner(group: Path) -> Callable[[int], None]:
    def join(pid: int) -> None:
        (group / "cgroup.procs").write_text(str(pid))

    return join


@contextlib.contextmanager
def half_core(seconds: float) -> Iterator[CpuLimit | str]:
    """A limit of half a core for the processes added to it; or why none could be made.

    ``seconds`` bounds the busy process of the last fallback.
    """
    name = f"fieldapp-room-{uuid.uuid4().hex[:8]}"
    v1 = CGROUP_V1_CPU
    v2 = _cgroup2_root()
    limit: CpuLimit | None = None
    reasons = []
    try:
        if (v1 / "cpu.cfs_quota_us").exists():
            try:
                group = v1 / name
                group.mkdir()
                limit = CpuLimit("cgroup v1", group)
                (group / "cpu.cfs_period_us").write_text(str(PERIOD_US))
                (group / "cpu.cfs_quota_us").write_text(str(HALF_CORE_QUOTA_US))
                limit._add = _joiner(group)
            except OSError as exc:
                reasons.append(f"cgroup v1: {exc}")
                limit = None
        if limit is None and v2 is not None:
            try:
                if "cpu" not in (v2 / "cgroup.controllers").read_text().split():
                    raise OSError("the cpu controller is not in cgroup v2 here")
                subtree = v2 / "cgroup.subtree_control"
                if "cpu" not in subtree.read_text().split():
                    subtree.write_text("+cpu")
                group = v2 / name
                group.mkdir()
                limit = CpuLimit("cgroup v2", group)
                (group / "cpu.max").write_text(f"{HALF_CORE_QUOTA_US} {PERIOD_US}")
                limit._add = _joiner(group)
            except OSError as exc:
                reasons.append(f"cgroup v2: {exc}")
                limit = None
        if limit is None and hasattr(os, "sched_setaffinity"):
            try:
                core = min(os.sched_getaffinity(0))
                busy = subprocess.Popen(
                    [
                        sys.executable,
                        "-c",
                        "import time\nend = time.monotonic() + float(__import__('sys').argv[1])\n"
                        "while time.monotonic() < end:\n    pass\n",
                        str(seconds),
                    ]
                )
                os.sched_setaffinity(busy.pid, {core})
                limit = CpuLimit("taskset + busy process", busy=busy)

                def pin(pid: int) -> None:
                    for task in Path(f"/proc/{pid}/task").iterdir():
                        os.sched_setaffinity(int(task.name), {core})

                limit._add = pin
            except OSError as exc:
                reasons.append(f"taskset: {exc}")
                limit = None
        yield limit if limit is not None else "no way to limit the CPU: " + "; ".join(reasons)
    finally:
        if limit is not None and limit.busy is not None:
            limit.busy.kill()
            limit.busy.wait(timeout=10)
        if limit is not None and limit.path is not None:
            parent = limit.path.parent / "cgroup.procs"
            with contextlib.suppress(OSError):
                for pid in (limit.path / "cgroup.procs").read_text().split():
                    with contextlib.suppress(OSError):
                        parent.write_text(pid)
            deadline = time.monotonic() + 5
            while limit.path.exists() and time.monotonic() < deadline:
                try:
                    limit.path.rmdir()
                except OSError:
                    time.sleep(0.1)


# ---- the laptop at work: the server, a facilitator signed in, phones let in ------------------


@dataclass
class Running:
    """A started laptop: its server, the facilitator's worker and the phones' address."""

    server: LaptopServer
    facilitator: Worker
    phone_url: str
    code: str


@contextlib.contextmanager
def laptop_running(
    laptop: Laptop,
    namespace: str | None = None,
    limit: CpuLimit | None = None,
    poll_every: float = 5.0,
) -> Iterator[Running]:
    """Start ``run.py``; a facilitator signs in and lets phones join (``bench.room`` worker).

    On leaving, the facilitator's worker ends and the server is stopped as Ctrl+C stops it
    (``server.stopped`` then says whether the listener went with it).
    """
    server = LaptopServer(laptop, namespace, limit)
    facilitator: Worker | None = None
    try:
        server.start()
        facilitator = Worker(
            [sys.executable, "-m", "bench.room", "--worker", "facilitator"], namespace
        )
        facilitator.send(
            json.dumps(
                {
                    "url": f"http://127.0.0.1:{server.port}",
                    "record_id": laptop.record_id,
                    "username": laptop.username,
                    "password": laptop.password,
                    "poll_every": poll_every,
                }
            )
        )
        try:
            ready = facilitator.read(timeout=120)
        except RuntimeError as exc:
            raise RuntimeError(f"{exc}\n--- server output:\n{server.output()[-4000:]}") from None
        # The phones talk only to the address this benchmark chose (loopback or its namespace).
        shown = urllib.parse.urlsplit(ready["phone_url"]).hostname
        if shown != laptop.lan_address:
            raise RuntimeError(f"the overview shows {shown}, not {laptop.lan_address}")
        if not server.find_listeners():
            time.sleep(0.5)  # a child process may still be starting
            server.find_listeners()
        yield Running(server, facilitator, ready["phone_url"], ready["code"])
    finally:
        if facilitator is not None:
            facilitator.stop()
        server.stopped = server.stop()
