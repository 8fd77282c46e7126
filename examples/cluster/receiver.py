#!/usr/bin/env python3
"""The example's receiver: answers every POST with 200 and appends one JSON line per request,
{"at": unix seconds, "path": ..., "body": the parsed JSON}, to --out. Alertmanager posts Slack
messages to /slack and PagerDuty events to /pagerduty here (start.sh points them at it)."""
import argparse
import json
import signal
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

lock = threading.Lock()


def main():
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--port", type=int, required=True)
    p.add_argument("--out", required=True)
    args = p.parse_args()
    # Stop on SIGTERM (stop.sh), even when started with it blocked (a mask is inherited).
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    signal.pthread_sigmask(signal.SIG_UNBLOCK, [signal.SIGTERM, signal.SIGINT])

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self):
            length = min(int(self.headers.get("Content-Length") or 0), 1 << 20)
            raw = self.rfile.read(length)
            try:
                body = json.loads(raw)
            except ValueError:
                body = raw.decode("utf-8", "replace")
            with lock, open(args.out, "a") as f:
                f.write(json.dumps({"at": time.time(), "path": self.path, "body": body}) + "\n")
            reply = b'{"status":"success","message":"Event processed","dedup_key":"x"}' if "pagerduty" in self.path else b"ok"
            self.send_response(202 if "pagerduty" in self.path else 200)
            self.send_header("Content-Length", str(len(reply)))
            self.end_headers()
            self.wfile.write(reply)

        def do_GET(self):
            self.send_response(200)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, *a):
            pass

    ThreadingHTTPServer(("127.0.0.1", args.port), Handler).serve_forever()


if __name__ == "__main__":
    main()
