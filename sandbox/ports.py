"""Free loopback ports, chosen at start so parallel runs never collide."""

import socket

LOOPBACK = "127.0.0.1"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def loopback_addresses(count: int) -> tuple[str, ...]:
    """127.0.0.1, 127.0.0.2, ...: Linux routes all of 127.0.0.0/8 to lo, so each is its own
    address to bind and to connect to, with no setup."""
    if not 1 <= count <= 254:
        raise ValueError(f"{count} loopback addresses: expected 1 to 254")
    return tuple(f"127.0.0.{n}" for n in range(1, count + 1))


def free_port_on(addresses: tuple[str, ...], attempts: int = 20) -> int:
    """A port free on every one of `addresses` (one sshd listens on that port of each)."""
    for _ in range(attempts):
        port = free_port()
        try:
            for address in addresses[1:]:
                with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
                    sock.bind((address, port))
        except OSError:
            continue
        return port
    raise OSError(f"no port free on all of {', '.join(addresses)} after {attempts} tries")


def wait_for_port(port: int, timeout_s: float = 10.0, host: str = LOOPBACK) -> bool:
    """True once something accepts connections on host:port, False at the deadline."""
    import time

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            with socket.create_connection((host, port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.05)
    return False
