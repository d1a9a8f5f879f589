"""A TCP proxy on 127.0.0.1 that a test can cut and restore: a database outage on demand.

The service is pointed at the proxy instead of the database. ``cut()`` is what
a database crash looks like from the client: every open connection is reset
and new ones are refused. ``blackhole()`` is a network partition: open
connections stay open but nothing more gets through, new ones are accepted and
never answered. ``restore()`` resets what is open and forwards again.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from enum import Enum

ACCEPT_POLL_SECONDS = 0.1
CHUNK_BYTES = 65536
# SO_LINGER on, zero seconds: close() sends a reset, as a crashed server's kernel would.
LINGER_RESET = struct.pack("ii", 1, 0)


class Mode(Enum):
    FORWARD = "forward"
    CUT = "cut"
    BLACKHOLE = "blackhole"


class TcpProxy:
    """Forwards ``127.0.0.1:port`` to ``upstream``, one thread per direction per connection."""

    def __init__(self, upstream_host: str, upstream_port: int) -> None:
        self.upstream = (upstream_host, upstream_port)
        self.port = 0
        self.mode = Mode.FORWARD
        self.connections_accepted = 0
        # Seconds each chunk waits before it is forwarded: a slow network or database.
        self.delay = 0.0
        self._lock = threading.Lock()
        self._sockets: set[socket.socket] = set()
        self._listener: socket.socket | None = None
        self._accepting: threading.Thread | None = None
        self._stop_accepting = threading.Event()

    def __enter__(self) -> TcpProxy:
        self._listen()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def _listen(self) -> None:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", self.port))
        listener.listen(128)
        listener.settimeout(ACCEPT_POLL_SECONDS)
        self.port = listener.getsockname()[1]
        self._listener = listener
        self._stop_accepting = threading.Event()
        self._accepting = threading.Thread(
            target=self._accept_loop, args=(listener, self._stop_accepting), daemon=True
        )
        self._accepting.start()

    def _stop_listening(self) -> None:
        if self._listener is not None:
            self._stop_accepting.set()
            assert self._accepting is not None
            self._accepting.join()
            self._listener.close()
            self._listener = None

    def _accept_loop(self, listener: socket.socket, stop: threading.Event) -> None:
        while not stop.is_set():
            try:
                client, _ = listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            client.settimeout(None)
            self.connections_accepted += 1
            self._track(client)
            if self.mode is Mode.BLACKHOLE:
                continue  # held open, never answered
            try:
                upstream = socket.create_connection(self.upstream, timeout=5)
            except OSError:
                self._drop(client)
                continue
            upstream.settimeout(None)
            self._track(upstream)
            for source, target in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(source, target), daemon=True).start()

    def _track(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.add(sock)

    def _drop(self, sock: socket.socket) -> None:
        with self._lock:
            self._sockets.discard(sock)
        with contextlib.suppress(OSError):
            sock.shutdown(socket.SHUT_RDWR)
        sock.close()

    def _pump(self, source: socket.socket, target: socket.socket) -> None:
        try:
            while chunk := source.recv(CHUNK_BYTES):
                if self.delay:
                    time.sleep(self.delay)
                if self.mode is not Mode.BLACKHOLE:
                    target.sendall(chunk)
        except OSError:
            pass
        finally:
            self._drop(source)
            self._drop(target)

    def _drop_all(self) -> None:
        with self._lock:
            open_sockets = list(self._sockets)
        for sock in open_sockets:
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, LINGER_RESET)
            self._drop(sock)

    def cut(self) -> None:
        """Reset every open connection and refuse new ones."""
        self.mode = Mode.CUT
        self._stop_listening()
        self._drop_all()

    def blackhole(self) -> None:
        """Swallow what open connections send; accept new ones but never answer."""
        self.mode = Mode.BLACKHOLE
        self._stop_listening()
        self._listen()

    def restore(self) -> None:
        """Forward again on the same port."""
        self._stop_listening()
        self._drop_all()
        self.mode = Mode.FORWARD
        self._listen()

    def close(self) -> None:
        self._stop_listening()
        self._drop_all()
