"""The HTTP side of the fake: parse a request, apply faults, route it, and answer as GitHub.

Around every route's answer: GitHub's error bodies, ETags with 304s for `If-None-Match` (free
of rate limit), the `x-ratelimit-*` headers on API paths, a request id, the request log,
chunked streaming for downloads, and the cut-body fault.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import socket
import threading
import time
import urllib.parse
import uuid
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import TYPE_CHECKING, Any

from tests.fakes.github.api import HttpError, Request, Response, error_response
from tests.fakes.github.faults import Fault, fault_response
from tests.fakes.github.requestlog import KEPT_HEADERS, LoggedRequest
from tests.fakes.github.routes import dispatch
from tests.fakes.github.routes_tarball import CODELOAD_PREFIX

if TYPE_CHECKING:
    from tests.fakes.github.fake import FakeGitHub


def serve(fake: FakeGitHub) -> tuple[ThreadingHTTPServer, threading.Thread]:
    """A server for `fake` on a free port of 127.0.0.1, serving from a started daemon thread."""
    handler = type("_Handler", (Handler,), {"fake": fake})
    server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, name="fake-github", daemon=True)
    thread.start()
    return server, thread


class Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Headers and body go out in two writes; with Nagle on, a kept-alive client's delayed ACK
    # stalls every request after the first by ~40 ms. GitHub's servers don't do that.
    disable_nagle_algorithm = True
    server_version = "GitHub.com"
    fake: FakeGitHub

    def log_message(self, format: str, *args: Any) -> None:  # quiet
        pass

    def do_GET(self) -> None:
        self._handle("GET")

    def do_POST(self) -> None:
        self._handle("POST")

    def do_PATCH(self) -> None:
        self._handle("PATCH")

    def _handle(self, method: str) -> None:
        req = self._read(method)
        if self.fake.latency:
            time.sleep(self.fake.latency)
        fault = self.fake.take_fault(method, req.path)
        cut_after: int | None = None
        if fault is not None and fault.kind == "drop":
            self._log(req, 0)
            self._drop()
            return
        if fault is not None and fault.kind == "delay":
            time.sleep(fault.seconds)
            fault = None
        if fault is not None and fault.kind == "cut":
            cut_after = fault.after_bytes
            fault = None
        self._respond(req, self._answer(req, fault), cut_after)

    def _read(self, method: str) -> Request:
        parsed = urllib.parse.urlsplit(self.path)
        length = int(self.headers.get("Content-Length") or 0)
        return Request(
            fake=self.fake,
            method=method,
            path=urllib.parse.unquote(parsed.path),
            query=urllib.parse.parse_qs(parsed.query),
            headers=self.headers,
            body=self.rfile.read(length) if length else b"",
        )

    def _answer(self, req: Request, fault: Fault | None) -> Response:
        try:
            return fault_response(fault) if fault else dispatch(req)
        except HttpError as err:
            return error_response(err)
        except Exception as exc:  # a bug in the fake: answer 500, visibly
            return Response(500, json.dumps({"message": f"fake bug: {exc!r}"}).encode())

    def _respond(self, req: Request, resp: Response, cut_after: int | None) -> None:
        headers = {"Content-Type": "application/json; charset=utf-8", **resp.headers}
        status = _conditional(req, resp, headers)
        api = not req.path.startswith(CODELOAD_PREFIX)
        if api and resp.counted and status < 500 and status != 304:
            self.fake.spend()
        if api:
            headers.update(self.fake.rate_headers())
        headers["X-GitHub-Request-Id"] = uuid.uuid4().hex[:16].upper()
        self._log(req, status)
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        if resp.stream is not None:
            self._write_chunked(resp.stream, cut_after)
            return
        body = b"" if status == 304 else resp.body
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if cut_after is not None and len(body) > cut_after:
            self.wfile.write(body[:cut_after])
            self._drop()
            return
        self.wfile.write(body)

    def _write_chunked(self, stream: Iterator[bytes], cut_after: int | None) -> None:
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        sent = 0
        with contextlib.suppress(OSError):
            for chunk in stream:
                if not chunk:
                    continue
                if cut_after is not None and sent + len(chunk) > cut_after:
                    part = chunk[: cut_after - sent]
                    self.wfile.write(b"%x\r\n%s" % (len(chunk), part))
                    self._drop()
                    return
                self.wfile.write(b"%x\r\n%s\r\n" % (len(chunk), chunk))
                sent += len(chunk)
            self.wfile.write(b"0\r\n\r\n")

    def _drop(self) -> None:
        """Drop the connection (mid-body, or without an answer), as a reset network does."""
        self.close_connection = True
        with contextlib.suppress(OSError):
            self.wfile.flush()
            self.connection.shutdown(socket.SHUT_RDWR)

    def _log(self, req: Request, status: int) -> None:
        headers = {k: v for k in KEPT_HEADERS if (v := req.headers.get(k)) is not None}
        self.fake.record(LoggedRequest(req.method, req.path, req.query, status, headers))


def _conditional(req: Request, resp: Response, headers: dict[str, str]) -> int:
    """Add the ETag of a 200 GET; the status to send (304, free, if `If-None-Match` matches)."""
    if not (req.method == "GET" and resp.etag and resp.status == 200 and resp.stream is None):
        return resp.status
    etag = '"' + hashlib.sha256(resp.body).hexdigest()[:40] + '"'
    headers["ETag"] = etag
    headers["Cache-Control"] = "private, max-age=60, s-maxage=60"
    headers["Vary"] = "Accept, Authorization, Cookie, X-GitHub-OTP"
    inm = req.headers.get("If-None-Match")
    if inm and etag in [t.strip().removeprefix("W/") for t in inm.split(",")]:
        resp.body, resp.counted = b"", False
        return 304
    return resp.status
