"""Behaviour that only a real HTTP server shows: uvicorn in a thread, with the options `recsmith serve` passes.

* X-Forwarded-For no longer picks the client's rate-limit bucket unless the proxy is trusted
  (issue 18, defect 6);
* after a 500 the keep-alive connection still serves the next request (defect 7).
"""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time

import pytest
import uvicorn

from recsmith.cli.serve import proxy_options


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextlib.contextmanager
def running(app, forwarded_allow_ips: str = ""):
    port = _free_port()
    config = uvicorn.Config(app, host="127.0.0.1", port=port, log_level="error", **proxy_options(forwarded_allow_ips))
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.02)
    assert server.started, "uvicorn did not start"
    try:
        yield port
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def _app(bundle, tmp_path, api_key, **overrides):
    from recsmith.serving.app import create_app
    from recsmith.serving.settings import ServeSettings

    values = {"bundle": bundle, "state_dir": tmp_path / "state", "api_keys": [api_key], "environment": "test"}
    return create_app(ServeSettings(**{**values, **overrides}))


def _exchange(sock: socket.socket, request: bytes) -> tuple[int, dict[str, str], bytes]:
    """Send one HTTP/1.1 request on an open connection and read its whole answer."""
    sock.sendall(request)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError("the server closed the connection")
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode().split("\r\n")
    headers = {k.lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:])}
    length = int(headers.get("content-length", 0))
    while len(body) < length:
        body += sock.recv(65536)
    return int(lines[0].split()[1]), headers, body


def _get(path: str, extra: str = "") -> bytes:
    return f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()


def test_default_options_trust_no_proxy():
    assert proxy_options("") == {"proxy_headers": False, "forwarded_allow_ips": ""}
    assert proxy_options(" 10.0.0.1, 10.0.0.2 ") == {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.1,10.0.0.2"}


@pytest.mark.parametrize(("trusted", "limited"), [("", True), ("127.0.0.1", False)])
def test_forwarded_for_changes_the_bucket_only_behind_a_trusted_proxy(bundles, tmp_path, api_key, trusted, limited):
    app = _app(bundles["itemknn"], tmp_path, api_key, rate_limit_per_s=0.5, rate_limit_burst=3)
    with running(app, trusted) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        codes = [
            _exchange(sock, _get("/v1/users/u1/recommendations", f"X-Forwarded-For: 203.0.113.{i}\r\n"))[0]
            for i in range(10)
        ]
    if limited:  # the header is ignored: one client, one bucket of 3
        assert codes[:3] == [200] * 3 and codes[3:] == [429] * 7
    else:  # a trusted proxy says these are ten clients
        assert codes == [200] * 10


def test_keep_alive_connection_survives_a_500(bundles, tmp_path, api_key, monkeypatch):
    app = _app(bundles["itemknn"], tmp_path, api_key, rate_limit_per_s=0)
    with running(app) as port, socket.create_connection(("127.0.0.1", port)) as sock:
        sock.settimeout(10)

        async def broken(*args, **kwargs):
            raise RuntimeError("a bug")

        monkeypatch.setattr(app.state.service, "recommend_user_async", broken)
        status, headers, body = _exchange(sock, _get("/v1/users/u1/recommendations"))
        assert status == 500 and headers["content-type"] == "application/json"
        assert json.loads(body)["error"]["code"] == "internal_error"
        assert headers.get("connection", "").lower() != "close"
        status, _, body = _exchange(sock, _get("/health"))  # the same connection
        assert status == 200 and json.loads(body) == {"status": "ok"}


@pytest.mark.parametrize(
    ("args", "env", "expected"),
    [
        ([], {}, {"proxy_headers": False, "forwarded_allow_ips": ""}),
        (["--forwarded-allow-ips", "10.1.2.3"], {}, {"proxy_headers": True, "forwarded_allow_ips": "10.1.2.3"}),
        (
            [],
            {"RECSMITH_FORWARDED_ALLOW_IPS": "10.0.0.0/8"},
            {"proxy_headers": True, "forwarded_allow_ips": "10.0.0.0/8"},
        ),
    ],
)
def test_recsmith_serve_passes_the_proxy_options(bundles, tmp_path, monkeypatch, args, env, expected):
    from recsmith.cli.main import main

    seen = {}
    monkeypatch.setattr(uvicorn, "run", lambda *a, **kw: seen.update(kw))
    monkeypatch.delenv("FORWARDED_ALLOW_IPS", raising=False)  # uvicorn's own variable must not matter
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    for name in ("RECSMITH_BUNDLE", "RECSMITH_STATE_DIR"):  # `serve` sets them for its workers: restore after
        monkeypatch.setenv(name, "")
        monkeypatch.delenv(name)
    assert main(["serve", "--bundle", str(bundles["itemknn"]), "--state-dir", str(tmp_path), *args]) == 0
    assert {k: seen[k] for k in expected} == expected
