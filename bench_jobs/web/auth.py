"""Who is calling: per-site API keys (`Authorization: token key:secret`), dashboard sessions, CSRF.

Keys live in `sites/SITE/api_keys.json` (mode 0600). Only a salted scrypt hash of each secret is
stored; the secret is shown once, by `api-key create`. A verified key is remembered in this process
(keyed on a SHA-256 of the secret and the file's mtime), so a busy API does not pay scrypt per call and
a revoke, which rewrites the file, takes effect at the next request.

The dashboard logs in with the same key:secret and then carries a signed cookie (HMAC-SHA256 with
`config/web_secret`, 0600, made on first use); each form carries a CSRF token derived from it.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import secrets
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bench_jobs.bench.config import read_json, write_json
from bench_jobs.errors import BenchJobsError

if TYPE_CHECKING:
    from bench_jobs.bench.layout import Bench

ROLES = ("admin", "read")  # admin: the API and every dashboard action; read: sees all, changes nothing
KEYS_FILE = "api_keys.json"
SECRET_FILE = "web_secret"
SESSION_SECONDS = 12 * 3600
# scrypt cost: ~20 ms per check on this machine, paid once per key per process thanks to the cache.
SCRYPT = {"n": 2**14, "r": 8, "p": 1}


class AuthError(BenchJobsError):
    """Missing, malformed or unknown credentials (HTTP 401)."""


class UnknownKey(BenchJobsError):
    """`api-key revoke` of a key the site does not have."""


@dataclass(frozen=True)
class Principal:
    """An authenticated caller: the site its key belongs to, the key's id and its role."""

    site: str
    key: str
    role: str

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"


# -- the key store ---------------------------------------------------------------------------------
def keys_path(bench: Bench, site: str) -> Path:
    return bench.sites_path / site / KEYS_FILE


def _load(bench: Bench, site: str) -> dict[str, Any]:
    path = keys_path(bench, site)
    return read_json(path).get("keys", {}) if path.is_file() else {}


def _hash(secret: str, salt: bytes) -> str:
    digest = hashlib.scrypt(secret.encode(), salt=salt, dklen=32, **SCRYPT)
    return f"scrypt${SCRYPT['n']}${SCRYPT['r']}${SCRYPT['p']}${salt.hex()}${digest.hex()}"


def _matches(secret: str, stored: str) -> bool:
    try:
        scheme, n, r, p, salt, digest = stored.split("$")
        if scheme != "scrypt":
            return False
        got = hashlib.scrypt(secret.encode(), salt=bytes.fromhex(salt), n=int(n), r=int(r), p=int(p), dklen=32)
    except (ValueError, TypeError):
        return False
    return hmac.compare_digest(got.hex(), digest)


def create_key(bench: Bench, site: str, role: str = "admin", label: str = "") -> tuple[str, str]:
    """A new key for `site`: returns (key, secret); only the secret's hash is written (0600)."""
    bench.require_site(site)
    if role not in ROLES:
        raise BenchJobsError(f"unknown role '{role}'", f"use one of: {', '.join(ROLES)}")
    key, secret = secrets.token_hex(8)[:15], secrets.token_urlsafe(24)
    path = keys_path(bench, site)
    data = read_json(path) if path.is_file() else {}
    data.setdefault("keys", {})[key] = {
        "hash": _hash(secret, secrets.token_bytes(16)), "role": role, "label": label,
        "created": datetime.now(UTC).isoformat(timespec="seconds")}
    write_json(path, data, mode=0o600)
    return key, secret


def list_keys(bench: Bench, site: str) -> list[dict[str, Any]]:
    bench.require_site(site)
    return [{"key": key, "role": entry.get("role", "admin"), "label": entry.get("label", ""),
             "created": entry.get("created")} for key, entry in sorted(_load(bench, site).items())]


def revoke_key(bench: Bench, site: str, key: str) -> None:
    bench.require_site(site)
    path = keys_path(bench, site)
    data = read_json(path) if path.is_file() else {}
    if key not in data.get("keys", {}):
        raise UnknownKey(f"site {site} has no API key '{key}'",
                         f"list them with `bench-jobs --site {site} api-key list`")
    del data["keys"][key]
    write_json(path, data, mode=0o600)


def auth_configured(bench: Bench) -> bool:
    """True when any site has an API key: then the dashboard asks everyone to log in."""
    return any(_load(bench, site) for site in bench.sites())


_verified: dict[tuple[str, str, str, int], str] = {}


def verify(bench: Bench, site: str, key: str, secret: str) -> Principal | None:
    """The principal for key:secret on `site`, or None."""
    path = keys_path(bench, site)
    try:
        mtime = path.stat().st_mtime_ns
    except OSError:
        return None
    token = (site, key, hashlib.sha256(secret.encode()).hexdigest(), mtime)
    role = _verified.get(token)
    if role is None:
        entry = _load(bench, site).get(key)
        if not entry or not _matches(secret, str(entry.get("hash", ""))):
            return None
        role = str(entry.get("role", "admin"))
        if len(_verified) > 1000:
            _verified.clear()
        _verified[token] = role
    return Principal(site, key, role)


def key_role(bench: Bench, site: str, key: str) -> str | None:
    """The role of a key that still exists (a session of a revoked key ends at its next request)."""
    entry = _load(bench, site).get(key)
    return str(entry.get("role", "admin")) if entry else None


def parse_token(header: str | None) -> tuple[str, str] | None:
    """`token key:secret` -> (key, secret); None when there is no such header; AuthError when malformed."""
    if not header:
        return None
    scheme, _, credentials = header.partition(" ")
    if scheme.lower() != "token":
        raise AuthError("Authorization must be 'token KEY:SECRET'",
                        "create a key with `bench-jobs --site SITE api-key create`")
    key, sep, secret = credentials.strip().partition(":")
    if not sep or not key or not secret:
        raise AuthError("Authorization must be 'token KEY:SECRET'",
                        "create a key with `bench-jobs --site SITE api-key create`")
    return key, secret


# -- sessions and CSRF -----------------------------------------------------------------------------
def server_secret(bench: Bench) -> bytes:
    """The bench's cookie-signing secret, created once (0600); every server process reads the same.

    Created whole or not at all: written to a temporary file, then hard-linked into place, so a
    process starting at the same moment reads either nothing (and links its own, which fails) or
    the complete secret, never an empty file.
    """
    path = bench.config_path / SECRET_FILE
    try:
        return bytes.fromhex(path.read_text().strip())
    except (OSError, ValueError):
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{SECRET_FILE}.{os.getpid()}.{secrets.token_hex(4)}")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(secrets.token_hex(32))
    try:
        os.link(tmp, path)
    except FileExistsError:
        pass  # another process made it first: use theirs
    finally:
        tmp.unlink(missing_ok=True)
    return bytes.fromhex(path.read_text().strip())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def make_session(bench: Bench, principal: Principal, now: float | None = None) -> str:
    payload = _b64(json.dumps({"site": principal.site, "key": principal.key,
                               "exp": int((now or time.time()) + SESSION_SECONDS),
                               "nonce": secrets.token_hex(8)}).encode())
    signature = hmac.new(server_secret(bench), payload.encode(), hashlib.sha256).hexdigest()
    return f"{payload}.{signature}"


def read_session(bench: Bench, cookie: str | None, now: float | None = None) -> Principal | None:
    if not cookie or "." not in cookie:
        return None
    payload, _, signature = cookie.rpartition(".")
    expected = hmac.new(server_secret(bench), payload.encode(), hashlib.sha256).hexdigest()
    if not hmac.compare_digest(signature, expected):
        return None
    try:
        data = json.loads(_unb64(payload))
        site, key, exp = str(data["site"]), str(data["key"]), float(data["exp"])
    except (ValueError, KeyError, TypeError):
        return None
    if exp < (now or time.time()) or site not in bench.sites():
        return None
    role = key_role(bench, site, key)
    return Principal(site, key, role) if role else None


def csrf_token(bench: Bench, cookie: str) -> str:
    """Bound to the session cookie: a page of another origin can neither read nor forge it."""
    return hmac.new(server_secret(bench), b"csrf:" + cookie.encode(), hashlib.sha256).hexdigest()[:40]


def check_csrf(bench: Bench, cookie: str | None, token: str | None) -> bool:
    return bool(cookie and token) and hmac.compare_digest(csrf_token(bench, cookie or ""), token or "")
