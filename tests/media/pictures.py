"""Real pictures and a loopback media host for the MMS tests (fakes only at the HTTP level)."""

from __future__ import annotations

import base64
import struct
import threading
import zlib
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


def png(width: int = 40, height: int = 30, rgb: tuple[int, int, int] = (220, 60, 40)) -> bytes:
    """A real PNG of one colour (browsers decode it: naturalWidth is `width`)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    row = b"\x00" + bytes(rgb) * width
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(row * height))
        + chunk(b"IEND", b"")
    )


@dataclass
class MediaHost:
    """A tiny HTTP server on 127.0.0.1: `/pic.png` a PNG, `/redirect` to it on
    `localhost` (another host), `/page` HTML declared as a PNG."""

    port: int = 0
    authorizations: list[str | None] = field(default_factory=list)
    picture: bytes = field(default_factory=png)

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def basic(self, user: str, password: str) -> str:
        return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


@contextmanager
def media_host() -> Iterator[MediaHost]:
    """Serve `MediaHost` until the block ends."""
    host = MediaHost()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            host.authorizations.append(self.headers.get("Authorization"))
            if self.path.startswith("/redirect"):
                # Another host (as Twilio's API redirects to its storage): no credentials there.
                where = f"http://localhost:{host.port}/pic.png"
                self._answer(302, b"", "text/plain", Location=where)
            elif self.path.startswith("/pic.png"):
                self._answer(200, host.picture, "image/png")
            elif self.path.startswith("/page"):
                self._answer(200, b"<html><script>alert(1)</script></html>", "image/png")
            else:
                self._answer(404, b"", "text/plain")

        def _answer(self, status: int, body: bytes, kind: str, **headers: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", kind)
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers.items():
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    host.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield host
    finally:
        server.shutdown()
        server.server_close()
