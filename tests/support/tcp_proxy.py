"""A loopback TCP proxy that tests control, to break connections the way networks do.

    with TcpProxy(server.host, server.port) as proxy:    # clients connect to proxy.port
        proxy.freeze()     # current connections go silent: nothing passes, nothing closes
        proxy.drop()       # current connections are closed
        proxy.delay = 0.01 # seconds of delay per chunk forwarded (a slow link)
        proxy.cut()        # current connections closed, new ones refused until restore()
        proxy.blackhole()  # current and new connections go silent until restore()

    TcpProxy(host, port, latency=0.005)  # 5 ms each way (10 ms round trip), full bandwidth

New connections made after `freeze()` or `drop()` work normally; after `cut()` they are
closed at once (the server is down), after `blackhole()` they hang.
"""

from __future__ import annotations

import contextlib
import queue
import select
import socket
import threading
import time
from types import TracebackType


class _Pair:
    def __init__(self, client: socket.socket, upstream: socket.socket) -> None:
        self.client = client
        self.upstream = upstream
        self.frozen = False
        self.closed = threading.Event()

    def close(self) -> None:
        self.closed.set()
        for sock in (self.client, self.upstream):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            with contextlib.suppress(OSError):
                sock.close()


class TcpProxy:
    def __init__(
        self, target_host: str, target_port: int, *, chunk: int = 16384, latency: float = 0.0
    ) -> None:
        self.target = (target_host, target_port)
        self.chunk = chunk
        self.latency = latency
        self.delay = 0.0
        self.connections = 0
        self.refusing = False
        self.swallowing = False
        self._pairs: list[_Pair] = []
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.host = "127.0.0.1"
        self.port: int = self._listener.getsockname()[1]
        self._thread = threading.Thread(target=self._accept, name="tcp-proxy", daemon=True)

    def start(self) -> TcpProxy:
        self._thread.start()
        return self

    def __enter__(self) -> TcpProxy:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self._stop.set()
        with contextlib.suppress(OSError):
            self._listener.close()
        self.drop()
        self._thread.join(timeout=5)

    def freeze(self) -> int:
        """Black-hole every current connection; return how many."""
        with self._lock:
            live = [p for p in self._pairs if not p.closed.is_set()]
            for pair in live:
                pair.frozen = True
        return len(live)

    def drop(self) -> int:
        """Close every current connection; return how many."""
        with self._lock:
            live = [p for p in self._pairs if not p.closed.is_set()]
            self._pairs = []
        for pair in live:
            pair.close()
        return len(live)

    def cut(self) -> int:
        """The server is down: close every connection, refuse new ones until `restore`."""
        self.refusing = True
        return self.drop()

    def blackhole(self) -> int:
        """The network is gone: every connection, current or new, goes silent."""
        self.swallowing = True
        return self.freeze()

    def restore(self) -> None:
        """New connections work again (black-holed ones stay silent: clients time out)."""
        self.refusing = False
        self.swallowing = False

    def _accept(self) -> None:
        while not self._stop.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            if self.refusing:
                with contextlib.suppress(OSError):
                    client.close()
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                client.close()
                continue
            upstream.settimeout(None)
            pair = _Pair(client, upstream)
            pair.frozen = self.swallowing
            with self._lock:
                self._pairs.append(pair)
                self.connections += 1
            if self.latency:
                for src, dst in ((client, upstream), (upstream, client)):
                    self._delayed(pair, src, dst)
            else:
                threading.Thread(target=self._pump, args=(pair,), daemon=True).start()

    def _delayed(self, pair: _Pair, src: socket.socket, dst: socket.socket) -> None:
        """One direction with a fixed delay: a reader stamps each chunk, a writer sends it
        ``latency`` seconds later (chunks in flight overlap, so bandwidth is kept)."""
        pending: queue.Queue[tuple[float, bytes]] = queue.Queue()

        def read() -> None:
            try:
                while not pair.closed.is_set():
                    data = src.recv(self.chunk)
                    pending.put((time.monotonic() + self.latency, data))
                    if not data:
                        return
            except OSError:
                pending.put((0.0, b""))

        def write() -> None:
            try:
                while True:
                    due, data = pending.get()
                    if not data:
                        break
                    wait = due - time.monotonic()
                    if wait > 0:
                        time.sleep(wait)
                    dst.sendall(data)
            except OSError:
                pass
            pair.close()

        threading.Thread(target=read, daemon=True).start()
        threading.Thread(target=write, daemon=True).start()

    def _pump(self, pair: _Pair) -> None:
        peers = {pair.client: pair.upstream, pair.upstream: pair.client}
        try:
            while not pair.closed.is_set():
                if pair.frozen:
                    time.sleep(0.05)
                    continue
                readable, _, _ = select.select(list(peers), [], [], 0.05)
                for sock in readable:
                    if pair.frozen:
                        break
                    data = sock.recv(self.chunk)
                    if not data:
                        pair.close()
                        return
                    if self.delay:
                        time.sleep(self.delay)
                    peers[sock].sendall(data)
        except OSError:
            pair.close()
