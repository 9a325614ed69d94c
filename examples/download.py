"""Concurrent downloads: a local HTTP server, a pipeline fetching from it with 8 workers.

The example starts its own ``http.server`` on 127.0.0.1 (each response takes
about 20 ms, like a remote service), downloads every file, checks each
against its checksum, and compares one worker with eight.
Run it with ``python examples/download.py``.
"""

from __future__ import annotations

import hashlib
import http.server
import threading
import time
import urllib.request
from typing import Any

from paipa import Pipeline, step

FILES = {f"/data/{n}.bin": bytes([n % 256]) * (1000 + n) for n in range(40)}


class SlowHandler(http.server.BaseHTTPRequestHandler):
    """Serves the generated files, each after a 20 ms pause."""

    def do_GET(self) -> None:
        body = FILES.get(self.path)
        time.sleep(0.02)
        if body is None:
            self.send_error(404)
            return
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # keep the example's output readable


def main() -> None:
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    base = f"http://127.0.0.1:{server.server_address[1]}"
    serving = threading.Thread(target=server.serve_forever, daemon=True)
    serving.start()
    try:

        @step.map
        def fetch(path: str) -> tuple[str, bytes]:
            with urllib.request.urlopen(base + path, timeout=10) as response:
                return path, response.read()

        @step.filter
        def intact(download: tuple[str, bytes]) -> bool:
            path, body = download
            return hashlib.sha256(body).digest() == hashlib.sha256(FILES[path]).digest()

        for workers in (1, 8):
            pipeline = Pipeline(sorted(FILES)) | fetch.with_options(workers=workers) | intact
            started = time.perf_counter()
            downloads = pipeline.collect()
            seconds = time.perf_counter() - started
            size = sum(len(body) for _, body in downloads)
            print(
                f"{workers} worker{'s' if workers > 1 else ' '}: {len(downloads)} files, "
                f"{size:,} bytes, all checksums OK, in {seconds:.2f} s"
            )
    finally:
        server.shutdown()
        server.server_close()


if __name__ == "__main__":
    main()
