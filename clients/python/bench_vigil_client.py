"""The per-call cost of vigil_client on the trading loop, as one JSON line: the median and
p99 of batches of 1,000 calls, with vigil up (a reading Unix socket server) and down.

    python3 clients/python/bench_vigil_client.py
"""

import json
import os
import socket
import tempfile
import threading
import time

from vigil_client import VigilClient


def serve(path):
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)

    def run():
        c, _ = s.accept()
        while c.recv(1 << 20):
            pass

    threading.Thread(target=run, daemon=True).start()
    return s


def measure(client, calls=200_000, batch=1000):
    per_call = []
    for b in range(calls // batch):
        t = time.perf_counter_ns()
        for i in range(batch):
            client.gauge("feed_latency_p95", i, venue="kalshi")
        per_call.append((time.perf_counter_ns() - t) / batch)
        if b % 20 == 0:
            time.sleep(0.001)  # a trading loop pauses; the writer catches up
    per_call.sort()
    return per_call[len(per_call) // 2], per_call[int(len(per_call) * 0.99)]


def main():
    path = os.path.join(tempfile.mkdtemp(), "vigil.sock")
    server = serve(path)
    up = VigilClient(path)
    time.sleep(0.1)
    up_p50, up_p99 = measure(up)
    up.close()
    server.close()
    down = VigilClient(os.path.join(tempfile.mkdtemp(), "absent.sock"), queue_size=10_000)
    down_p50, down_p99 = measure(down)
    down.close(timeout=0.1)
    print(json.dumps({"bench": "python_client_call", "up_p50_ns": round(up_p50), "up_p99_ns": round(up_p99),
                      "down_p50_ns": round(down_p50), "down_p99_ns": round(down_p99), "sent": up.sent, "dropped_while_down": down.dropped,
                      "target_p50_ns": 2000}))


if __name__ == "__main__":
    main()
