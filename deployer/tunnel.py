"""Local port forwards over an SSH transport (ssh -L): how the control machine reaches
a service that listens only on a host's loopback (Ollama, Open WebUI)."""

from __future__ import annotations

import select
import socket
import threading

import paramiko

from deployer.connection import CHUNK


class Tunnel:
    """A local TCP port that forwards to host:port as seen from the target (ssh -L)."""

    def __init__(self, transport: paramiko.Transport, host: str, port: int) -> None:
        self.transport = transport
        self.dest = (host, port)
        self.server = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.server.bind(("127.0.0.1", 0))
        self.server.listen(16)
        self.port = self.server.getsockname()[1]
        self._closed = False
        threading.Thread(target=self._accept, name=f"tunnel-{host}:{port}", daemon=True).start()

    def _accept(self) -> None:
        while not self._closed:
            try:
                client, addr = self.server.accept()
            except OSError:
                return
            try:
                chan = self.transport.open_channel("direct-tcpip", self.dest, addr)
            except (paramiko.SSHException, OSError, EOFError):
                client.close()
                continue
            threading.Thread(target=self._pump, args=(client, chan), daemon=True).start()

    @staticmethod
    def _pump(sock: socket.socket, chan: paramiko.Channel) -> None:
        try:
            while True:
                r, _, _ = select.select([sock, chan], [], [], 60)
                if not r:
                    continue
                if sock in r:
                    data = sock.recv(CHUNK)
                    if not data:
                        break
                    chan.sendall(data)
                if chan in r:
                    data = chan.recv(CHUNK)
                    if not data:
                        break
                    sock.sendall(data)
        except (OSError, EOFError, ValueError, paramiko.SSHException):
            pass  # either end closed (select on a closed channel raises ValueError)
        finally:
            for end in (chan, sock):
                try:
                    end.close()
                except (OSError, EOFError, paramiko.SSHException):
                    pass  # the transport is already gone: nothing left to close

    def close(self) -> None:
        self._closed = True
        try:
            self.server.close()
        except OSError:
            pass
