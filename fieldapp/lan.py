"""The participant listener: the participant pages on the laptop's Wi-Fi address, nothing else.

Started when a facilitator opens a consultation to phones, stopped when input closes. It is a
second waitress server in the same process, bound to one address (never 0.0.0.0), serving an
app built with ``participant_only``: facilitator routes do not exist there. The running
servers are process state (a listener dies with the process), kept in this module.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

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


def network_address() -> str | None:
    """This laptop's address on its network (the hotspot), found without sending anything."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.connect(("10.255.255.255", 1))  # UDP connect picks a route; no packet leaves
            address = str(probe.getsockname()[0])
        except OSError:
            return None
    return None if address.startswith("127.") or address == "0.0.0.0" else address  # noqa: S104


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
    """Stop the listener for ``key`` (its address stops answering)."""
    with _lock:
        listener = _listeners.pop(key, None)
    if listener is None:
        return
    listener.server.close()
    listener.server.task_dispatcher.shutdown()
    listener.thread.join(timeout=5)
