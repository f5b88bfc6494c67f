"""A running `bench-jobs serve` for the web tests: a real subprocess on a free port, plus an HTTP client."""

from __future__ import annotations

import json
import subprocess
import urllib.error
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from tests.redis_server import free_port
from tests.waiting import wait_for


@dataclass
class Answer:
    status: int
    body: bytes
    headers: Any

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", "replace")


def encode_body(headers: dict, data: dict | None, json_body: Any) -> bytes | None:
    """A request body (JSON, else a form, else none), setting its Content-Type in `headers`."""
    if json_body is not None:
        headers["Content-Type"] = "application/json"
        return json.dumps(json_body).encode()
    if data is not None:
        headers["Content-Type"] = "application/x-www-form-urlencoded"
        return urllib.parse.urlencode(data).encode()
    return None


class WebServer:
    """`bench-jobs --site SITE serve` on 127.0.0.1:PORT, killed at teardown."""

    def __init__(self, bench, log_dir: Path, *args: str, site: str | None = None) -> None:
        self.bench = bench
        self.port = free_port()
        self.log = log_dir / f"serve-{self.port}.log"
        site_args = ["--site", site or bench.site]
        handle = open(self.log, "wb")  # noqa: SIM115 - lives with the process
        self.proc = bench.popen(*site_args, "serve", "--port", str(self.port), *args, stdout=handle,
                                stderr=subprocess.STDOUT)
        wait_for(self._up, 30, 0.1, what=f"the server on port {self.port} (log {self.log})")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def _up(self) -> bool:
        if self.proc.poll() is not None:
            raise AssertionError(f"serve exited {self.proc.returncode}: {self.log.read_text()}")
        try:
            urllib.request.urlopen(self.url + "/assets/bench_jobs/call.js", timeout=2).read()
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError):
            return False

    def request(self, method: str, path: str, *, params: dict | None = None, data: dict | None = None,
                json_body: Any = None, headers: dict | None = None, token: str | None = None) -> Answer:
        url = self.url + urllib.parse.quote(path, safe="/:")
        if params:
            url += "?" + urllib.parse.urlencode(params)
        headers = dict(headers or {})
        if token:
            headers["Authorization"] = f"token {token}"
        body = encode_body(headers, data, json_body)
        req = urllib.request.Request(url, data=body, method=method, headers=headers)
        try:
            with urllib.request.urlopen(req, timeout=30) as response:
                return Answer(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)


def api_key(bench, role: str = "admin", site: str | None = None) -> str:
    """Create a key through the CLI, as an operator would; returns 'key:secret'."""
    result = bench.run("--site", site or bench.site, "api-key", "create", "--role", role)
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


class Browser:
    """Cookies across requests (a logged-in dashboard user) over urllib; redirects not followed."""

    def __init__(self, server: WebServer) -> None:
        import http.cookiejar

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        self.server = server
        self.jar = http.cookiejar.CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar), NoRedirect())

    def cookie(self, name: str) -> str | None:
        return next((c.value for c in self.jar if c.name == name), None)

    def request(self, method: str, path: str, data: dict | None = None, headers: dict | None = None,
                json_body: Any = None) -> Answer:
        headers = dict(headers or {})
        body = encode_body(headers, data, json_body)
        req = urllib.request.Request(self.server.url + path, data=body, method=method, headers=headers)
        try:
            with self.opener.open(req, timeout=30) as response:
                return Answer(response.status, response.read(), response.headers)
        except urllib.error.HTTPError as exc:
            return Answer(exc.code, exc.read(), exc.headers)

    def get(self, path: str) -> Answer:
        return self.request("GET", path)

    def post(self, path: str, data: dict, **kwargs: Any) -> Answer:
        return self.request("POST", path, data=data, **kwargs)

    def login(self, token: str) -> Answer:
        key, secret = token.split(":")
        answer = self.post("/login", {"key": key, "secret": secret, "next": "/"})
        assert answer.status == 303, answer.text
        return answer
