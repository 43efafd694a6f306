"""The participant listener: the participant pages on the laptop's Wi-Fi address, nothing else.

Started when a facilitator opens a consultation to phones, stopped when input closes. It is a
second waitress server in the same process, bound to one address (never 0.0.0.0), serving an
app built with ``participant_only``: facilitator routes do not exist there. The running
servers are process state (a listener dies with the process), kept in this module.
"""

from __future__ import annotations

import ipaddress
import threading
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import ifaddr

from . import create_app
from .config import SERVER_THREADS

# Sized for a room of phones: each browser opens up to 6 connections (SECURITY.md L-01).
WAITRESS_SETTINGS: dict[str, Any] = {
    "threads": SERVER_THREADS,
    "connection_limit": 300,
    "channel_timeout": 30,
    "asyncore_use_poll": True,
    "max_request_body_size": 64 * 1024,
    "ident": "fieldapp",
}


@dataclass
class Listener:
    """A running participant listener."""

    host: str
    port: int
    server: Any
    thread: threading.Thread

    @property
    def url(self) -> str:
        """The address participants type or scan."""
        return f"http://{self.host}:{self.port}"


_listeners: dict[str, Listener] = {}
_lock = threading.Lock()


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
    """Start (or return the running) listener for ``key`` on ``host:port``."""
    if host in ("0.0.0.0", "::", ""):  # noqa: S104 -- refused, never used
        raise ValueError("the participant listener binds one address, never all of them")
    import waitress

    with _lock:
        running = _listeners.get(key)
        if running is not None:
            return running
        app = create_app(
            {"TRUSTED_HOSTS": [host, f"{host}:{port}"]},
            instance_path=instance_path,
            participant_only=True,
        )
        server = waitress.create_server(app, host=host, port=port, **WAITRESS_SETTINGS)
        thread = threading.Thread(target=server.run, name=f"participants-{key}", daemon=True)
        thread.start()
        listener = Listener(host, int(server.effective_port), server, thread)
        _listeners[key] = listener
        return listener


def running(key: str) -> Listener | None:
    """The listener for ``key``, if it runs."""
    return _listeners.get(key)


def stop(key: str) -> None:
    """Stop the listener for ``key``: its address stops answering, its connections close."""
    from waitress import wasyncore

    with _lock:
        listener = _listeners.pop(key, None)
    if listener is None:
        return
    listener.server.close()  # the listening socket: no new connections
    listener.server.task_dispatcher.shutdown()
    # Phones keep their connections open between pages. Left open, a phone's next page would
    # wait on a server that no longer answers (even after another meeting's listener took the
    # port), and the server's loop, with its thread, would never end.
    wasyncore.close_all(listener.server._map)
    listener.thread.join(timeout=5)
