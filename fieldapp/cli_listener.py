"""``fieldapp participants-listener``: the phones' listener, a process of its own.

Started by the facilitator's fieldapp (``fieldapp.lan.start``), never by a person, so the
command is hidden. It serves the participant pages only (an app built with
``participant_only``) with waitress on one address, never all of them: on the listening socket
its parent bound and handed over (``--socket-fd`` on Linux and macOS, ``--socket-on-stdin`` on
Windows), one of ``--processes`` processes serving it, or on ``--host``/``--port`` bound
itself when run without one. It talks to its parent in JSON lines on standard output:

- ``{"ready": {"pid": ..., "host": ..., "port": ..., "settings": {...}}}`` once it listens,
- ``{"error": {"reason": "...", "errno": N}}`` when it cannot (the port is taken, the folder
  is unusable), then it exits with code 3,
- ``{"stopped": {"write_wait": {...}}}`` when it stops: how long its writers waited for the
  database's write lock (also written to ``write-wait-participants.json``, or
  ``write-wait-participants-N.json`` for process N > 1, in the instance folder, for
  benchmarks).

It stops, closing its connections and checkpointing the database, when its standard input
closes (the parent closed it to stop it, or the parent is gone: the system closes a dead
process's pipes, on Windows as on Linux), on SIGINT, SIGTERM or SIGHUP, and on Linux also when
the parent thread that started it ends (``PR_SET_PDEATHSIG``). A clean stop exits with 0, which
the parent's supervisor never mistakes for a crash.
"""

from __future__ import annotations

import base64
import contextlib
import ctypes
import json
import os
import signal
import socket
import sys
import threading
import time
from pathlib import Path
from typing import Any

import click

from .cli import cli, instance_path, reports_instance_errors

# The parent waits for one of these lines; anything else on standard output is ignored.
READY, ERROR, STOPPED = "ready", "error", "stopped"
EXIT_CRASHED = 1
EXIT_CANNOT_LISTEN = 3
PR_SET_PDEATHSIG = 1  # linux/prctl.h
SERVER_STOP_SECONDS = 5


def tell_parent(kind: str, body: Any) -> None:
    """One JSON line to the parent on standard output (nothing if the parent is gone)."""
    try:
        sys.stdout.write(json.dumps({kind: body}, sort_keys=True) + "\n")
        sys.stdout.flush()
    except (OSError, ValueError):  # a closed pipe: the parent is gone
        sys.stdout = open(os.devnull, "w")  # noqa: SIM115 -- nothing left to flush at exit


def die_with_parent_thread() -> None:
    """On Linux, have the kernel send SIGTERM when the thread that started this process ends.

    A second way to notice a parent killed at once, beside standard input; elsewhere (or if
    the C library cannot be loaded) standard input alone does it.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_PDEATHSIG, int(signal.SIGTERM), 0, 0, 0)
    except (OSError, AttributeError):
        return


class StopRequest:
    """Whether this process was asked to stop: a plain flag, no lock.

    Signal handlers run in the main thread between two bytecodes, possibly while it holds a
    lock inside ``threading.Event.wait``; a handler calling ``Event.set`` then waits for that
    same lock for ever (it happened: a listener stuck after SIGTERM). Setting an attribute
    takes no lock; the main thread looks at it every :data:`POLL_SECONDS`.
    """

    def __init__(self) -> None:
        self.asked = False

    def ask(self, *_signal: object) -> None:
        """Ask for a stop (also a signal handler's signature)."""
        self.asked = True


POLL_SECONDS = 0.1


def watch_parent(stop: StopRequest) -> None:
    """Ask for a stop when standard input reaches its end: the parent closed it, or died."""

    # The descriptor, not sys.stdin: a daemon thread blocked in sys.stdin's buffered read holds
    # its lock, and an interpreter exiting after a signal (stdin still open) then aborts with
    # "could not acquire lock for <stdin> at interpreter shutdown" (exit code -6, which the
    # parent took for a crash and restarted the listener while stopping itself).
    descriptor = sys.stdin.fileno()

    def read_until_closed() -> None:
        with contextlib.suppress(OSError, ValueError):
            while os.read(descriptor, 4096):
                pass  # the parent sends nothing; whatever comes is not a command
        stop.ask()

    threading.Thread(target=read_until_closed, name="parent-watch", daemon=True).start()


def stop_on_signals(stop: StopRequest) -> None:
    """SIGINT (Ctrl+C in the facilitator's terminal reaches this process too), SIGTERM,
    SIGHUP and Windows' SIGBREAK: a clean stop."""
    names = ("SIGINT", "SIGTERM", "SIGHUP", "SIGBREAK")
    for number in [getattr(signal, name) for name in names if hasattr(signal, name)]:
        signal.signal(number, stop.ask)


def reported_settings(server: Any) -> dict[str, Any]:
    """What the parent is told of the waitress server: its settings and where it listens."""
    adjustments = server.adj
    return {
        "threads": adjustments.threads,
        "connection_limit": adjustments.connection_limit,
        "channel_timeout": adjustments.channel_timeout,
        "asyncore_use_poll": adjustments.asyncore_use_poll,
        "max_request_body_size": adjustments.max_request_body_size,
        "listen": [[server.effective_host, int(server.effective_port)]],
    }


def close_server(server: Any, thread: threading.Thread) -> None:
    """Stop accepting, end the worker threads and close every open connection (phones keep
    theirs alive between pages; left open, the loop and its thread would never end)."""
    from waitress import wasyncore

    server.close()
    server.task_dispatcher.shutdown(timeout=SERVER_STOP_SECONDS)
    wasyncore.close_all(server._map)
    thread.join(timeout=SERVER_STOP_SECONDS)


def inherited_socket(fd: int | None, on_stdin: bool) -> socket.socket | None:
    """The listening socket the parent handed over: a descriptor this process inherited
    (Linux, macOS), or ``socket.share``'s bytes on the first line of standard input
    (Windows). None when there is none: this process binds its address itself."""
    if fd is not None:
        return socket.socket(fileno=fd)
    if on_stdin:
        line = first_line(sys.stdin.fileno())
        return socket.fromshare(base64.b64decode(line.strip()))  # type: ignore[attr-defined,unused-ignore]
    return None


def first_line(descriptor: int) -> bytes:
    """One line read from ``descriptor`` a byte at a time: nothing after it is consumed (or
    buffered), so the parent watch reads the rest of the same descriptor."""
    line = bytearray()
    while not line.endswith(b"\n"):
        byte = os.read(descriptor, 1)
        if not byte:
            break
        line += byte
    return bytes(line)


def serve_participants(
    folder: Path,
    host: str,
    port: int,
    *,
    listening: socket.socket | None = None,
    slot: int = 1,
    processes: int = 1,
) -> int:
    """Serve the participant pages until told to stop; the exit code.

    On ``listening`` when the parent handed over its socket (one of ``processes`` children
    serving it; this is number ``slot``), else on ``host:port`` bound here.
    """
    import waitress

    from . import create_app
    from .config import InstanceError
    from .database import close_database, connection_errors, save_write_wait_stats
    from .database import write_wait_stats as waits
    from .lan import WAITRESS_SETTINGS, refuse_every_address

    die_with_parent_thread()
    stop = StopRequest()
    stop_on_signals(stop)
    watch_parent(stop)
    try:
        refuse_every_address(host)
        app = create_app(
            {"TRUSTED_HOSTS": [host, f"{host}:{port}"], "PARTICIPANT_PROCESSES": processes},
            instance_path=folder,
            participant_only=True,
        )
        if listening is not None:
            server = waitress.create_server(app, sockets=[listening], **WAITRESS_SETTINGS)
        else:
            server = waitress.create_server(app, host=host, port=port, **WAITRESS_SETTINGS)
    except OSError as error:  # the address is taken or is not this machine's
        tell_parent(ERROR, {"reason": error.strerror or str(error), "errno": error.errno})
        return EXIT_CANNOT_LISTEN
    except (InstanceError, ValueError) as error:
        tell_parent(ERROR, {"reason": str(error), "errno": None})
        return EXIT_CANNOT_LISTEN
    bound = int(server.effective_port)
    app.config["TRUSTED_HOSTS"] = [host, f"{host}:{bound}"]
    thread = threading.Thread(target=server.run, name="participants", daemon=True)
    thread.start()
    tell_parent(
        READY,
        {"pid": os.getpid(), "host": host, "port": bound, "settings": reported_settings(server)},
    )
    while not stop.asked and thread.is_alive():
        time.sleep(POLL_SECONDS)
    asked = stop.asked  # else the server's loop ended by itself: a crash, to be restarted
    close_server(server, thread)
    with app.app_context():
        try:  # a checkpoint if nobody is busy: the write-ahead log folded into the file
            close_database(wait_for_others=False)
        except connection_errors():  # a database server gone (PostgreSQL): nothing to fold
            from .extensions import db

            db.engine.dispose()
    save_write_wait_stats(folder, "participants" if slot == 1 else f"participants-{slot}")
    tell_parent(STOPPED, {"write_wait": waits()})
    return 0 if asked else EXIT_CRASHED


@cli.command("participants-listener", hidden=True, with_appcontext=False)
@click.option("--host", required=True, help="The one address to listen on (never 0.0.0.0).")
@click.option("--port", type=click.IntRange(0, 65535), required=True)
@click.option("--socket-fd", type=click.IntRange(0), help="An inherited listening socket.")
@click.option(
    "--socket-on-stdin", is_flag=True, help="The listening socket, shared, on standard input."
)
@click.option("--slot", type=click.IntRange(1), default=1, help="Which of the processes this is.")
@click.option("--processes", type=click.IntRange(1), default=1, help="How many serve the socket.")
@reports_instance_errors
def participants_listener_command(
    host: str, port: int, socket_fd: int | None, socket_on_stdin: bool, slot: int, processes: int
) -> None:
    """Serve the participant pages for phones until standard input closes (fieldapp.lan)."""
    listening = inherited_socket(socket_fd, socket_on_stdin)
    sys.exit(
        serve_participants(
            instance_path(), host, port, listening=listening, slot=slot, processes=processes
        )
    )
