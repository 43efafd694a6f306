"""The hotspot's air, in user space, for kernels without ``tc netem`` (this one has none).

Two TUN devices named ``air0``, one in the laptop's network namespace and one in the phones',
and this process between them: every IP packet either way is read, dropped with probability
``loss``, queued for the shared air time (``rate`` bits per second for both directions
together, as a Wi-Fi channel is shared; at most ``limit`` packets waiting, the rest dropped),
and delivered ``delay`` seconds after it has been sent. TUN devices carry real packets of at
most the MTU (no segmentation offload), so the loss applies to packets as on the air.

    python -m bench.room_air LAPTOP_NS PHONES_NS --seconds 900

Prints ``{"ready": true}`` once both devices exist (the caller then gives them addresses),
and its counters when standard input closes, on SIGTERM, or after ``--seconds``.
The devices disappear with the process.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import ctypes
import fcntl
import json
import os
import random
import resource
import signal
import struct
import sys
import threading
import time
from collections import deque
from typing import Any

CLONE_NEWNET = 0x40000000
TUNSETIFF = 0x400454CA
IFF_TUN = 0x0001
IFF_NO_PI = 0x1000
DEVICE = "air0"


def _enter(namespace_file: str) -> None:
    libc = ctypes.CDLL(None, use_errno=True)
    descriptor = os.open(namespace_file, os.O_RDONLY)
    try:
        if libc.setns(descriptor, CLONE_NEWNET) != 0:
            error = ctypes.get_errno()
            raise OSError(error, f"setns {namespace_file}: {os.strerror(error)}")
    finally:
        os.close(descriptor)


def _tun(name: str) -> int:
    descriptor = os.open("/dev/net/tun", os.O_RDWR | os.O_NONBLOCK)
    fcntl.ioctl(descriptor, TUNSETIFF, struct.pack("16sH22x", name.encode(), IFF_TUN | IFF_NO_PI))
    return descriptor


def open_devices(laptop: str, phones: str) -> tuple[int, int]:
    """An ``air0`` TUN device in each namespace (by name, as ``ip netns`` keeps them)."""
    home = f"/proc/{os.getpid()}/ns/net"
    saved = os.open(home, os.O_RDONLY)
    try:
        _enter(f"/run/netns/{laptop}")
        laptop_fd = _tun(DEVICE)
        _enter(f"/run/netns/{phones}")
        phones_fd = _tun(DEVICE)
    finally:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.setns(saved, CLONE_NEWNET)
        os.close(saved)
    return laptop_fd, phones_fd


class Air:
    """One shared channel: loss, a FIFO of air time at ``rate``, then ``delay``."""

    def __init__(self, rate: float, delay: float, loss: float, limit: int, seed: int) -> None:
        self.rate, self.delay, self.loss, self.limit = rate, delay, loss, limit
        self.rng = random.Random(seed)
        self.free_at = 0.0  # when the air is free again
        self.waiting: deque[float] = deque()  # when each queued packet leaves the queue
        self.counts = {"packets": 0, "bytes": 0, "lost": 0, "queue_full": 0}
        self.longest_wait = 0.0

    def schedule(self, loop: asyncio.AbstractEventLoop, packet: bytes, out: int) -> None:
        """Send ``packet`` through the air to the device ``out``."""
        now = loop.time()
        self.counts["packets"] += 1
        if self.rng.random() < self.loss:
            self.counts["lost"] += 1
            return
        while self.waiting and self.waiting[0] <= now:
            self.waiting.popleft()
        if len(self.waiting) >= self.limit:
            self.counts["queue_full"] += 1
            return
        start = max(now, self.free_at)
        self.free_at = start + len(packet) * 8 / self.rate
        self.waiting.append(self.free_at)
        self.longest_wait = max(self.longest_wait, self.free_at - now)
        self.counts["bytes"] += len(packet)
        loop.call_at(self.free_at + self.delay, _deliver, out, packet)


def _deliver(out: int, packet: bytes) -> None:
    with contextlib.suppress(BlockingIOError, OSError):  # a full device drops, as a radio would
        os.write(out, packet)


async def relay(laptop_fd: int, phones_fd: int, air: Air, seconds: float) -> None:
    """Move packets both ways until stdin closes, SIGTERM, or ``seconds`` have passed."""
    loop = asyncio.get_running_loop()
    done = asyncio.Event()

    def pump(source: int, target: int) -> None:
        for _burst in range(64):  # bounded per wake-up, so both directions get their turn
            try:
                packet = os.read(source, 65536)
            except BlockingIOError:
                return
            air.schedule(loop, packet, target)

    loop.add_reader(laptop_fd, pump, laptop_fd, phones_fd)
    loop.add_reader(phones_fd, pump, phones_fd, laptop_fd)
    loop.add_signal_handler(signal.SIGTERM, done.set)
    loop.add_signal_handler(signal.SIGINT, done.set)

    def watch_stdin() -> None:  # the parent closing the pipe (or dying) ends the relay
        sys.stdin.read()
        loop.call_soon_threadsafe(done.set)

    threading.Thread(target=watch_stdin, daemon=True).start()
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(done.wait(), seconds)
    loop.remove_reader(laptop_fd)
    loop.remove_reader(phones_fd)


def main() -> None:
    """Open the devices, say so, relay, print the counters."""
    parser = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    parser.add_argument("laptop")
    parser.add_argument("phones")
    parser.add_argument("--rate", type=float, default=20e6, help="bits per second, shared")
    parser.add_argument("--delay", type=float, default=0.030, help="seconds, each way")
    parser.add_argument("--loss", type=float, default=0.01, help="share of packets lost")
    parser.add_argument("--limit", type=int, default=1000, help="packets waiting for the air")
    parser.add_argument("--seconds", type=float, default=900)
    parser.add_argument("--seed", type=int, default=13)
    args = parser.parse_args()
    laptop_fd, phones_fd = open_devices(args.laptop, args.phones)
    print(json.dumps({"ready": True}), flush=True)
    air = Air(args.rate, args.delay, args.loss, args.limit, args.seed)
    started = time.monotonic()
    try:
        asyncio.run(relay(laptop_fd, phones_fd, air, args.seconds))
    finally:
        os.close(laptop_fd)
        os.close(phones_fd)
    usage = resource.getrusage(resource.RUSAGE_SELF)
    report: dict[str, Any] = {
        **air.counts,
        "longest_queue_ms": round(air.longest_wait * 1000, 1),
        "seconds": round(time.monotonic() - started, 1),
        "cpu_s": round(usage.ru_utime + usage.ru_stime, 2),
    }
    print(json.dumps(report), flush=True)


if __name__ == "__main__":
    main()
