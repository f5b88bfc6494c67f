"""A read-only Redis client for the listing commands that does not import redis-py.

`import redis` costs ~100 ms (redis-py 8 loads `redis.asyncio`, `importlib.metadata` and more), over half
of a listing command's wall time. `show-pending-jobs`, `workers` and `jobs list/show` send a few kinds
of read command (COMMANDS below) over one connection, so this client speaks RESP2 over a plain socket
for those and returns redis-py's reply shapes (bytes, `set` for SMEMBERS, `dict` for HGETALL, `(member, float)` pairs
WITHSCORES).

It answers only the happy path itself. Everything else goes to the bench's redis-py client, which then
behaves, retries and words its errors exactly as before:
- a method or keyword it does not know (a script, INFO, `desc=`...): called on redis-py instead;
- an error reply, a refused or dropped connection: the whole call or pipeline is sent again through
  redis-py (safe: every command here only reads), which raises its own exception;
- TLS (`rediss://`), Sentinel or URL options other than the database: `light_client` returns None and
  the caller uses redis-py from the start.
"""

from __future__ import annotations

import socket
from collections.abc import Callable
from typing import TYPE_CHECKING, Any
from urllib.parse import parse_qsl, unquote, urlsplit

if TYPE_CHECKING:
    import redis


def redis_py_error(exc: BaseException, name: str) -> bool:
    """Whether `exc` is redis-py's exception class `name` (e.g. "NoPermissionError"), checked without
    importing redis-py: code that the listing commands run must not load it, and none of its exceptions
    can exist before it is loaded."""
    import sys

    module = sys.modules.get("redis.exceptions")
    return module is not None and isinstance(exc, getattr(module, name))


class _Unsupported(Exception):
    """What this client does not do itself: the call goes to redis-py."""


def _word(value: object) -> bytes:
    """One argument as redis-py's Encoder writes it; other types are redis-py's to refuse."""
    if isinstance(value, bytes):
        return value
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value).encode()
    if isinstance(value, float):
        return repr(value).encode()
    raise _Unsupported


def pack(words: list[object]) -> bytes:
    """A command as a RESP array of bulk strings."""
    parts = [b"*%d\r\n" % len(words)]
    for value in words:
        data = _word(value)
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


# An error reply (`-ERR ...`), kept as a value so a pipeline reads every reply before deciding; its
# text is redis-py's to word when it asks again.
_ERROR = object()


def read_reply(stream: Any) -> Any:
    """One RESP2 reply from a buffered binary stream."""
    line = stream.readline()
    if not line.endswith(b"\r\n"):
        raise ConnectionError("connection closed by server")
    kind, rest = line[:1], line[1:-2]
    if kind == b"$":
        size = int(rest)
        if size < 0:
            return None
        data = stream.read(size + 2)
        if len(data) != size + 2:
            raise ConnectionError("connection closed by server")
        return data[:-2]
    if kind == b":":
        return int(rest)
    if kind == b"*":
        size = int(rest)
        return None if size < 0 else [read_reply(stream) for _ in range(size)]
    if kind == b"+":
        return rest
    if kind == b"-":
        return _ERROR
    raise ConnectionError(f"unexpected reply from Redis: {line[:40]!r}")


# -- the commands it answers: method -> (build the command words, shape the reply as redis-py does) --
Build = Callable[..., list[object]]
Shape = Callable[[Any], Any]


def _same(reply: Any) -> Any:
    return reply


def _pairs(reply: list[bytes]) -> dict[bytes, bytes]:
    it = iter(reply)
    return dict(zip(it, it, strict=True))


def _ranged(command: str) -> Build:
    def build(name: object, start: int, end: int, withscores: bool = False) -> list[object]:
        return [command, name, start, end, *(["WITHSCORES"] if withscores else [])]
    return build


def _score_pairs(reply: list[bytes]) -> list[tuple[bytes, float]]:
    it = iter(reply)
    return [(member, float(score)) for member, score in zip(it, it, strict=True)]


def _flat(keys: object, args: tuple[object, ...]) -> list[object]:
    """redis-py's `list_or_args`: a list of keys or the first of several."""
    return [*keys, *args] if isinstance(keys, list | tuple) else [keys, *args]


COMMANDS: dict[str, tuple[Build, Shape]] = {
    "ping": (lambda: ["PING"], lambda reply: reply == b"PONG"),
    "get": (lambda name: ["GET", name], _same),
    "mget": (lambda keys, *args: ["MGET", *_flat(keys, args)], _same),
    "exists": (lambda *names: ["EXISTS", *names], _same),
    "type": (lambda name: ["TYPE", name], _same),
    "hget": (lambda name, key: ["HGET", name, key], _same),
    "hmget": (lambda name, keys, *args: ["HMGET", name, *_flat(keys, args)], _same),
    "hgetall": (lambda name: ["HGETALL", name], _pairs),
    "hexists": (lambda name, key: ["HEXISTS", name, key], bool),
    "llen": (lambda name: ["LLEN", name], _same),
    "lrange": (lambda name, start, end: ["LRANGE", name, start, end], _same),
    "scard": (lambda name: ["SCARD", name], _same),
    "smembers": (lambda name: ["SMEMBERS", name], lambda reply: set(reply)),
    "zcard": (lambda name: ["ZCARD", name], _same),
    "zcount": (lambda name, low, high: ["ZCOUNT", name, low, high], _same),
    "zrange": (_ranged("ZRANGE"), _same),
    "zrevrange": (_ranged("ZREVRANGE"), _same),
}


def _command(name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> tuple[bytes, Shape]:
    """The packed command for a redis-py method call, and how to shape its reply; `_Unsupported` when
    this client does not know the method or one of its arguments."""
    build, shape = COMMANDS[name]
    try:
        words = build(*args, **kwargs)
    except TypeError:  # a keyword or arity it does not take (desc=, byscore=, ...)
        raise _Unsupported from None
    if kwargs.get("withscores"):
        shape = _score_pairs
    return pack(words), shape


class Address:
    """Where and as whom to connect, read from a redis:// or unix:// URL the way redis-py reads it."""

    def __init__(self, url: str, username: str | None, password: str | None) -> None:
        parts = urlsplit(url)
        query = dict(parse_qsl(parts.query))
        if parts.scheme not in ("redis", "unix") or set(query) - {"db"}:
            raise _Unsupported
        self.username = unquote(parts.username) if parts.username else username
        self.password = unquote(parts.password) if parts.password else password
        self.path = unquote(parts.path) if parts.scheme == "unix" else None
        self.host, self.port = parts.hostname or "localhost", parts.port or 6379
        db = query.get("db") or (parts.path.lstrip("/") if parts.scheme == "redis" else "") or "0"
        if not db.isdigit() or (self.username and not self.password):
            raise _Unsupported
        self.db = int(db)

    def open(self, connect_timeout: float) -> socket.socket:
        if self.path is not None:
            sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            sock.settimeout(connect_timeout)
            try:
                sock.connect(self.path)
            except BaseException:
                sock.close()
                raise
            return sock
        sock = socket.create_connection((self.host, self.port), timeout=connect_timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return sock

    def handshake(self) -> list[list[object]]:
        """The commands redis-py sends on connect that change what later commands see."""
        words: list[list[object]] = []
        if self.password:
            words.append(["AUTH", *([self.username] if self.username else []), self.password])
        if self.db:
            words.append(["SELECT", self.db])
        return words


class ReadClient:
    """The listed read commands over one socket, in redis-py's reply shapes; anything else on redis-py."""

    def __init__(self, address: Address, full: Callable[[], redis.Redis], connect_timeout: float,
                 socket_timeout: float | None) -> None:
        self._address = address
        self._full_factory = full
        self._full_client: redis.Redis | None = None
        self._timeouts = connect_timeout, socket_timeout
        self._sock: socket.socket | None = None
        self._stream: Any = None

    def full(self) -> redis.Redis:
        """The bench's redis-py client, made on first need."""
        if self._full_client is None:
            self._full_client = self._full_factory()
        return self._full_client

    def __getattr__(self, name: str) -> Any:
        if name not in COMMANDS:
            return getattr(self.full(), name)

        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                command, shape = _command(name, args, kwargs)
                reply = self.exchange([command])[0]
            except (_Unsupported, OSError, ValueError):
                return getattr(self.full(), name)(*args, **kwargs)
            return shape(reply)
        return call

    def pipeline(self, transaction: bool = True, shard_hint: Any = None) -> Any:
        if transaction or shard_hint is not None:
            return self.full().pipeline(transaction=transaction, shard_hint=shard_hint)
        return ReadPipeline(self)

    def exchange(self, commands: list[bytes]) -> list[Any]:
        """Send commands in one write and read their replies; OSError if the connection fails and
        `_Unsupported` on an error reply (the caller then asks redis-py)."""
        stream = self._connected()
        try:
            assert self._sock is not None
            self._sock.sendall(b"".join(commands))
            replies = [read_reply(stream) for _ in commands]
        except TimeoutError:
            # Sent and not answered (a paused or stuck server): asking again through redis-py would
            # double the wait, so fail now, as redis-py would.
            self.close()
            import redis

            raise redis.TimeoutError("Timeout reading from socket") from None
        except BaseException:
            self.close()
            raise
        if any(reply is _ERROR for reply in replies):
            raise _Unsupported
        return replies

    def _connected(self) -> Any:
        if self._stream is not None:
            return self._stream
        connect_timeout, socket_timeout = self._timeouts
        sock = self._address.open(connect_timeout)
        sock.settimeout(socket_timeout)
        self._sock, self._stream = sock, sock.makefile("rb")
        handshake = self._address.handshake()
        if handshake:
            try:
                self.exchange([pack(words) for words in handshake])
            except BaseException:  # refused credentials: no unauthenticated socket may stay behind
                self.close()
                raise
        return self._stream

    def close(self) -> None:
        if self._stream is not None:
            self._stream.close()
        if self._sock is not None:
            self._sock.close()
        self._sock = self._stream = None


class ReadPipeline:
    """A non-transactional pipeline of the listed read commands. Calls are recorded as made, so the
    whole pipeline can be replayed on a redis-py pipeline when this client cannot finish it."""

    def __init__(self, client: ReadClient) -> None:
        self._client = client
        self._calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self._replayed: Any = None

    def __getattr__(self, name: str) -> Any:
        if self._replayed is None and name not in COMMANDS:
            self._replayed = self._replay(self._calls)
        if self._replayed is not None:
            return getattr(self._replayed, name)

        def queue(*args: Any, **kwargs: Any) -> ReadPipeline:
            self._calls.append((name, args, kwargs))
            return self
        return queue

    def _replay(self, calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]]) -> Any:
        pipe = self._client.full().pipeline(transaction=False)
        for name, args, kwargs in calls:
            getattr(pipe, name)(*args, **kwargs)
        return pipe

    def execute(self) -> list[Any]:
        if self._replayed is not None:
            return list(self._replayed.execute())
        calls, self._calls = self._calls, []  # emptied like redis-py's, whatever happens next
        try:
            commands = [_command(name, args, kwargs) for name, args, kwargs in calls]
            replies = self._client.exchange([command for command, _ in commands]) if commands else []
        except (_Unsupported, OSError, ValueError):
            return list(self._replay(calls).execute())
        return [shape(reply) for (_, shape), reply in zip(commands, replies, strict=True)]

    def __enter__(self) -> ReadPipeline:
        return self

    def __exit__(self, *exc: object) -> None:
        self._calls = []


def light_client(url: str, username: str | None, password: str | None, full: Callable[[], redis.Redis],
                 connect_timeout: float, socket_timeout: float | None) -> ReadClient | None:
    """A ReadClient for a plain redis:// or unix:// URL; None where only redis-py will do (TLS, URL
    options, a username without a password)."""
    try:
        address = Address(url, username, password)
    except (_Unsupported, ValueError):
        return None
    return ReadClient(address, full, connect_timeout, socket_timeout)
