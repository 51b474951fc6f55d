"""Local ports for the embedded stack, the test harness and the benches."""

from __future__ import annotations

import socket


def port_is_free(host: str, port: int) -> bool:
    """True unless something listens there. SO_REUSEADDR like the servers themselves, so
    connections left in TIME_WAIT by a killed process do not count as "in use"."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind((host, port))
        except OSError:
            return False
    return True


def free_port(host: str = "127.0.0.1") -> int:
    """A port nothing listens on now (the OS's pick)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])
