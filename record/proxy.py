"""A loopback TCP forwarder a nemesis can cut: the partition that needs no firewall.

Servers reach one node through the proxy while clients reach it directly, so cutting
the proxy isolates the node from its peers (replicas, Sentinels) and not from the
clients, as a network partition with clients on the node's side does.
"""

from __future__ import annotations

import socket
import threading


class Proxy:
    """Forwards 127.0.0.1:``port`` (a free port) to ``target``; ``cut()`` closes every
    forwarded connection and refuses new ones until ``heal()``."""

    def __init__(self, target: tuple[str, int]):
        self.target = target
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.cut_off = False
        self.lock = threading.Lock()
        self.socks: set[socket.socket] = set()
        self.closed = False
        threading.Thread(target=self._accept, name="replicheck-proxy", daemon=True).start()

    def _accept(self) -> None:
        while not self.closed:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            with self.lock:
                refuse = self.cut_off
            if refuse:
                client.close()
                continue
            try:
                server = socket.create_connection(self.target, timeout=5)
                server.settimeout(None)
            except OSError:
                client.close()
                continue
            with self.lock:
                self.socks |= {client, server}
            for a, b in ((client, server), (server, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                self._close(s)

    def _close(self, s: socket.socket) -> None:
        with self.lock:
            self.socks.discard(s)
        try:
            s.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        s.close()

    def cut(self) -> None:
        with self.lock:
            self.cut_off = True
            socks = list(self.socks)
        for s in socks:
            self._close(s)

    def heal(self) -> None:
        with self.lock:
            self.cut_off = False

    def close(self) -> None:
        self.closed = True
        self.cut()
        self.listener.close()
