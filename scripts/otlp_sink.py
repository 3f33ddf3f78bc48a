"""An OTLP/HTTP trace sink for load runs (scripts/load.sh with TRACES=1): accepts POST /v1/traces,
answers 200 with an empty ExportTraceServiceResponse, and counts what it got. It does not decode:
tests/it/traces.rs checks the content; this only lets the exporter run at full speed.

    python3 scripts/otlp_sink.py PORT COUNTS_FILE

On SIGTERM it writes "requests=N bytes=M" to COUNTS_FILE and exits. Loopback only.
"""

import signal
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

counts = {"requests": 0, "bytes": 0}
lock = threading.Lock()


class Sink(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def do_POST(self):
        length = int(self.headers.get("Content-Length", "0"))
        self.rfile.read(length)
        ok = self.path == "/v1/traces"
        if ok:
            with lock:
                counts["requests"] += 1
                counts["bytes"] += length
        self.send_response(200 if ok else 404)
        self.send_header("Content-Type", "application/x-protobuf")
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, *args):
        pass


def main():
    port, out = int(sys.argv[1]), sys.argv[2]
    server = ThreadingHTTPServer(("127.0.0.1", port), Sink)

    def stop(*_):
        with lock, open(out, "w") as f:
            f.write(f"requests={counts['requests']} bytes={counts['bytes']}\n")
        sys.exit(0)

    signal.signal(signal.SIGTERM, stop)
    server.serve_forever()


if __name__ == "__main__":
    main()
