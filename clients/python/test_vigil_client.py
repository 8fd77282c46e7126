"""Tests of vigil_client against a real Unix socket server (standard library unittest; run
with `python3 -m unittest discover -s clients/python`). Every wait is bounded."""

import json
import os
import socket
import tempfile
import threading
import time
import unittest

from vigil_client import VigilClient


class Server:
    """A Unix socket server collecting lines, like vigil's `--listen`."""

    def __init__(self, path, read=True):
        self.path = path
        self.lines = []
        self.lock = threading.Lock()
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.read = read
        self.conns = []
        self.thread = threading.Thread(target=self._accept, daemon=True)
        self.thread.start()

    def _accept(self):
        while True:
            try:
                c, _ = self.sock.accept()
            except OSError:
                return
            self.conns.append(c)
            if self.read:
                threading.Thread(target=self._read, args=(c,), daemon=True).start()

    def _read(self, c):
        buf = b""
        while True:
            try:
                data = c.recv(65536)
            except OSError:
                return
            if not data:
                return
            buf += data
            *done, buf = buf.split(b"\n")
            with self.lock:
                self.lines.extend(json.loads(d) for d in done)

    def wait_for(self, n, timeout=5.0):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with self.lock:
                if len(self.lines) >= n:
                    return list(self.lines)
            time.sleep(0.01)
        with self.lock:
            return list(self.lines)

    def close(self):
        self.sock.close()
        for c in self.conns:
            c.close()
        try:
            os.unlink(self.path)
        except OSError:
            pass


class VigilClientTests(unittest.TestCase):
    def setUp(self):
        self.dir = tempfile.mkdtemp()
        self.path = os.path.join(self.dir, "vigil.sock")

    def test_every_shape_arrives_as_spec_ndjson(self):
        server = Server(self.path)
        client = VigilClient(self.path, labels={"host": "trader-01"})
        try:
            before = time.time_ns()
            client.gauge("feed_latency_p95", 2600, venue="kalshi")
            client.inc("trades_total", venue="kalshi", outcome="filled")
            client.inc("trades_total", 2, venue="kalshi", outcome="filled")
            client.metrics({"daily_pnl": 1200, "position_utilization": 0.55})
            client.health("kalshi_adapter", "degraded", {"websocket_connected": True, "recent_data": False}, ["redis"])
            client.event("spec_validation_changed", market="fed_rate_mar_25", changes=3)
            client.log("INFO", "order_router", "Paired order executed", pair_id="fed_rate_mar_25", edge_cents=320)
            client.gauge("bad", float("nan"))
            lines = server.wait_for(7)
        finally:
            client.close()
            server.close()
        self.assertEqual(len(lines), 7, lines)
        for line in lines:
            self.assertGreaterEqual(line.pop("timestamp_ns"), before)
        self.assertEqual(lines[0], {"metric": "feed_latency_p95", "value": 2600, "labels": {"host": "trader-01", "venue": "kalshi"}})
        self.assertEqual([l["value"] for l in lines[1:3]], [1, 3])
        self.assertEqual(lines[3], {"metrics": {"daily_pnl": 1200, "position_utilization": 0.55}, "labels": {"host": "trader-01"}})
        self.assertEqual(lines[4], {"service": "kalshi_adapter", "status": "degraded",
                                    "details": {"websocket_connected": True, "recent_data": False}, "dependencies": ["redis"]})
        self.assertEqual(lines[5], {"event": "spec_validation_changed", "market": "fed_rate_mar_25", "changes": 3})
        self.assertEqual(lines[6], {"level": "INFO", "service": "order_router", "message": "Paired order executed",
                                    "data": {"pair_id": "fed_rate_mar_25", "edge_cents": 320}})
        self.assertEqual(client.dropped, 0)

    def test_the_loop_never_blocks_while_vigil_is_down_and_drops_are_counted(self):
        client = VigilClient(self.path, queue_size=1000)  # nothing listens at the path
        try:
            worst = 0.0
            for i in range(20_000):
                t = time.perf_counter()
                client.gauge("x", i)
                worst = max(worst, time.perf_counter() - t)
            # A call that waited on the socket would take the writer's backoff (≥ 0.1 s).
            self.assertLess(worst, 0.05)
            self.assertEqual(client.sent, 0)
            self.assertGreaterEqual(client.dropped, 19_000 - 10)
        finally:
            client.close(timeout=0.1)

    def test_a_vigil_that_stops_reading_does_not_block_the_loop(self):
        server = Server(self.path, read=False)  # accepts, never reads: the socket buffer fills
        client = VigilClient(self.path, queue_size=1000)
        try:
            worst = 0.0
            payload = "x" * 200
            for i in range(50_000):
                t = time.perf_counter()
                client.event("e", note=payload, n=i)
                worst = max(worst, time.perf_counter() - t)
            self.assertLess(worst, 0.05)
            self.assertGreater(client.dropped, 0)
        finally:
            client.close(timeout=0.1)
            server.close()

    def test_it_reconnects_when_vigil_comes_back(self):
        client = VigilClient(self.path, backoff=(0.02, 0.1))
        try:
            client.gauge("x", 1)
            time.sleep(0.1)  # vigil is down: the record waits in the queue
            server = Server(self.path)
            client.gauge("x", 2)
            lines = server.wait_for(2)
            self.assertEqual([l["value"] for l in lines], [1, 2])
            # vigil restarts: the client finds the new socket.
            server.close()
            time.sleep(0.05)
            client.gauge("x", 3)  # may be lost in the write that meets the closed socket
            server = Server(self.path)
            deadline = time.monotonic() + 5
            while time.monotonic() < deadline and not any(l["value"] == 4 for l in server.wait_for(1, 0.05)):
                client.gauge("x", 4)
            self.assertTrue(any(l["value"] == 4 for l in server.wait_for(1)))
            server.close()
        finally:
            client.close(timeout=0.1)


if __name__ == "__main__":
    unittest.main()


class ExampleTraderTests(unittest.TestCase):
    def test_examples_trader_records_every_shape_through_the_client(self):
        import subprocess
        import sys
        d = tempfile.mkdtemp()
        path = os.path.join(d, "vigil.sock")
        server = Server(path)
        try:
            trader = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "..", "examples", "trader.py")
            subprocess.run([sys.executable, trader, "--socket", path, "--interval", "0.2", "--seconds", "0.5"], check=True, timeout=30)
            lines = server.wait_for(21)  # three passes of 7 lines
        finally:
            server.close()
        self.assertGreaterEqual(len(lines), 14)
        shapes = {("metric" in l, "metrics" in l, "status" in l, "message" in l) for l in lines}
        self.assertEqual(shapes, {(True, False, False, False), (False, True, False, False), (False, False, True, False), (False, False, False, True)})
