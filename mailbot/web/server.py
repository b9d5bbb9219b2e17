"""`mailbot serve`: the dashboard on waitress, a pure-Python production WSGI server.

`DashboardServer` binds at once (so port 0 works and the real port can be printed) and runs its
loop in small steps that watch a stop flag: SIGINT/SIGTERM stop `serve` cleanly, and tests and
`mailbot demo --serve` can start and stop the same server in a thread.
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
from collections.abc import Callable
from types import FrameType

from flask import Flask
from waitress import wasyncore
from waitress.server import create_server

from mailbot.errors import ConfigError

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8025
DEFAULT_THREADS = 4  # a handful of clerks; a download must not block the other pages
STEP_SECONDS = 0.2  # how quickly a stop request is noticed


class DashboardServer:
    def __init__(self, app: Flask, host: str = DEFAULT_HOST, port: int = DEFAULT_PORT) -> None:
        try:
            self._server = create_server(app, host=host, port=port, threads=DEFAULT_THREADS,
                                         ident="mailbot",
                                         # web/clients.py reads X-Forwarded-For from the
                                         # proxies the settings trust, then drops the headers.
                                         clear_untrusted_proxy_headers=False)
        except OSError as exc:
            raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror or exc}; "
                              "choose another with --host/--port") from None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        host = self._server.effective_host
        host = f"[{host}]" if ":" in host else host
        return f"http://{host}:{self._server.effective_port}/"

    def run(self) -> None:
        """Serve until stop() is called (from a signal handler or another thread)."""
        try:
            while not self._stop.is_set():
                wasyncore.loop(timeout=STEP_SECONDS, map=self._server._map, count=1)
        finally:
            self._server.task_dispatcher.shutdown()
            wasyncore.close_all(self._server._map)

    def start(self) -> DashboardServer:
        self._thread = threading.Thread(target=self.run, name="dashboard", daemon=True)
        self._thread.start()
        return self

    def request_stop(self) -> None:
        """Ask the loop to end; safe from a signal handler."""
        self._stop.set()

    def stop(self) -> None:
        self.request_stop()
        if self._thread is not None:
            self._thread.join(timeout=10)

    def __enter__(self) -> DashboardServer:
        return self.start()

    def __exit__(self, *_exc: object) -> None:
        self.stop()


def settle_heap() -> None:
    """Once the application is built: what exists now lives as long as the process, so the
    garbage collector should stop walking it. A page listing 500 units makes some 50,000
    short-lived objects, and each full collection they set off walked every loaded module's
    objects as well (about 75 ms a time, in the middle of a page). Not for the intake: frozen
    objects are not finalised at exit, and a `poll` must close its SQLite connections (which
    folds the write-ahead log back into the database)."""
    gc.collect()
    gc.freeze()


def serve_until_signalled(server: DashboardServer, announce: Callable[[str], None]) -> None:
    """Serve in this (main) thread until SIGINT or SIGTERM."""
    def stop(_signum: int, _frame: FrameType | None) -> None:
        server.request_stop()

    previous = {sig: signal.signal(sig, stop) for sig in (signal.SIGINT, signal.SIGTERM)}
    logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" chatter
    settle_heap()
    announce(server.url)
    try:
        server.run()
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
