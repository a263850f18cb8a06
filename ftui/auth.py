"""Sign-in for a shared box: an auth file of argon2id hashes, checked off the event loop, with back-off.

The file has one account a line, `name:HASH` or `name:HASH:admin` (admins see every user's runs and the
box, and may stop any run); blank lines and # comments are skipped. `python -m ftui users add NAME` writes
it (atomically, mode 0600). A line that holds a plain password is refused at start-up with a sentence
that says how to fix it: a file that leaks must not leak passwords.

Gradio calls the `check` coroutine on each sign-in. Hashing takes ~50 ms of CPU on purpose, so it runs in
a thread (the server's event loop keeps answering everyone else), and unknown names are hashed too (the
time does not tell which names exist). After FREE_FAILURES failed sign-ins for a name or from an address,
that name or address is refused without a check for 2, 4, 8 ... seconds (at most MAX_LOCK_S) after each
further failure; a success clears both.
"""
from __future__ import annotations

import asyncio
import contextvars
import os
import threading
import time
from dataclasses import dataclass
from pathlib import Path

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from ftui.atomic import write_text_atomic

FREE_FAILURES = 3
MAX_LOCK_S = 300.0
HASH_PREFIX = "$argon2id$"
_hasher = PasswordHasher()  # argon2-cffi's defaults: argon2id, RFC 9106's low-memory profile
_client = contextvars.ContextVar("ftui_client_address", default="?")


@dataclass(frozen=True)
class Account:
    name: str
    password_hash: str
    admin: bool = False


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def read_accounts(path: Path) -> dict[str, Account]:
    """The accounts in an auth file; ValueError with a sentence for a line that is not `name:HASH[:admin]`."""
    from ftui.runs.store import OWNER  # user names become folder names: the store's rule applies

    accounts = {}
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        name, _, rest = line.partition(":")
        password_hash, _, role = rest.partition(":")
        if not name or not password_hash:
            raise ValueError(f'line {number} is not "name:hash"')
        if not OWNER.match(name):
            raise ValueError(f"line {number}: user names may use letters, digits and . _ @ - only")
        if not password_hash.startswith(HASH_PREFIX):
            raise ValueError(f"line {number} ({name}) holds a plain-text password, which ftui no longer accepts. "
                             f"Store it as a hash: python -m ftui users list --auth-file {path} hashes every "
                             f"plain-text line in place (or set a new one: python -m ftui users add {name})")
        if role not in ("", "admin"):
            raise ValueError(f'line {number} ({name}): the only role after the hash is "admin" (got {role!r})')
        accounts[name] = Account(name, password_hash, role == "admin")
    return accounts


def write_accounts(path: Path, accounts: dict[str, Account]) -> None:
    lines = ["# ftui accounts: name:argon2id-hash[:admin]; edit with python -m ftui users add|remove|list"]
    lines += [f"{a.name}:{a.password_hash}{':admin' if a.admin else ''}" for a in accounts.values()]
    write_text_atomic(Path(path), "\n".join(lines) + "\n")
    os.chmod(path, 0o600)


class Throttle:
    """Failed sign-ins per key (a name, an address) -> refused until a time that doubles with each failure."""

    def __init__(self, clock=time.monotonic):
        self._clock = clock
        self._failures: dict[str, int] = {}
        self._locked_until: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait_s(self, keys: list[str]) -> float:
        now = self._clock()
        with self._lock:
            return max([self._locked_until.get(key, 0.0) - now for key in keys] + [0.0])

    def failed(self, keys: list[str]) -> None:
        now = self._clock()
        with self._lock:
            for key in keys:
                n = self._failures[key] = self._failures.get(key, 0) + 1
                if n > FREE_FAILURES:
                    self._locked_until[key] = now + min(MAX_LOCK_S, 2.0 ** (n - FREE_FAILURES))

    def succeeded(self, keys: list[str]) -> None:
        with self._lock:
            for key in keys:
                self._failures.pop(key, None)
                self._locked_until.pop(key, None)


class Authenticator:
    """Gradio's `auth=`: `await check(name, password)` -> bool."""

    def __init__(self, accounts: dict[str, Account], throttle: Throttle | None = None):
        self.accounts = accounts
        self.throttle = throttle or Throttle()
        self._decoy = hash_password(os.urandom(16).hex())  # unknown names are checked against this

    def is_admin(self, name: str | None) -> bool:
        account = self.accounts.get(name or "")
        return bool(account and account.admin)

    async def check(self, name: str, password: str) -> bool:
        keys = [f"name:{name}", f"address:{_client.get()}"]
        if self.throttle.wait_s(keys) > 0:
            return False  # locked for now: not even checked, so guessing gains nothing
        account = self.accounts.get(name)
        ok = await asyncio.to_thread(_verify, account.password_hash if account else self._decoy, password)
        ok = ok and account is not None
        (self.throttle.succeeded if ok else self.throttle.failed)(keys)
        return ok


def _verify(password_hash: str, password: str) -> bool:
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


class ClientAddress:
    """ASGI middleware: the caller's address, for the sign-in check's back-off per address (Gradio passes only
    the name and password to `auth`). Behind a reverse proxy every caller has the proxy's address; then the
    back-off per name still holds."""

    def __init__(self, app):
        self.app = app

    async def __call__(self, scope, receive, send):
        if scope.get("type") == "http" and str(scope.get("path", "")).rstrip("/").endswith("/login"):
            _client.set((scope.get("client") or ("?", 0))[0])
        await self.app(scope, receive, send)
