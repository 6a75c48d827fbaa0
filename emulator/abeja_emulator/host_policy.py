"""Which `Host` names the emulator answers: loopback ones, plus what `--host` / `--allowed-host` name.

A web page can rebind its own domain to 127.0.0.1 and then call the emulator from the browser with its
well-known default credentials; its requests still carry the page's domain in `Host`. Refusing names
that are not loopback (or chosen by the user) stops that. `{organization}.<name>` is the same name:
the virtual-host inference style puts the organization in front.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Iterable

ANY_HOST = "*"
WILDCARD_ADDRESSES = ("0.0.0.0", "::", "")


def is_loopback(name: str) -> bool:
    """`localhost`, `*.localhost`, 127.0.0.0/8 and ::1 (a name, not a Host header: no port)."""
    name = name.lower().rstrip(".")
    if name == "localhost" or name.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(name.strip("[]")).is_loopback
    except ValueError:
        return False


def split_host(header: str) -> str:
    """The name of a Host header: no port, no IPv6 brackets' port, lower case, no trailing dot."""
    header = header.strip().lower()
    if header.startswith("["):
        return header[: header.find("]") + 1] if "]" in header else header
    return header.rsplit(":", 1)[0].rstrip(".") if header.count(":") <= 1 else header


class HostPolicy:
    """Loopback names always; `extra` names (and their subdomains) too; `*` in extra means any name."""

    def __init__(self, extra: Iterable[str] = ()) -> None:
        names = {n.strip().lower().rstrip(".") for n in extra if n.strip()}
        self.any = ANY_HOST in names
        self.names = frozenset(n.strip("[]") for n in names - {ANY_HOST})

    @classmethod
    def for_bind(cls, bind_host: str, allowed: Iterable[str] = ()) -> HostPolicy:
        """The names a server bound to `bind_host` answers: a wildcard bind adds the machine's names."""
        extra = list(allowed)
        if bind_host in WILDCARD_ADDRESSES:  # the printed URL names the wildcard address itself
            extra += [bind_host, socket.gethostname(), socket.getfqdn()]
        elif not is_loopback(bind_host):
            extra.append(bind_host)
        return cls(extra)

    def allows(self, header: str | None) -> bool:
        name = split_host(header or "")
        if self.any or not name:  # no Host at all: HTTP/1.0 tools, never a browser
            return True
        bare = name.strip("[]")
        if is_loopback(bare) or bare in self.names:
            return True
        # `{organization}.<allowed name>` (virtual-host inference)
        _, dot, rest = bare.partition(".")
        return bool(dot) and (is_loopback(rest) or rest in self.names)

    def describe(self) -> str:
        if self.any:
            return "any name"
        loopback = ["localhost", "127.0.0.1", "[::1]"]
        return ", ".join([*loopback, *sorted(n for n in self.names if n and not is_loopback(n))])
