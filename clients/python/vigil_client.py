"""vigil's trader-side client: push metrics, health, events and logs to vigil's Unix socket
without ever blocking or slowing the caller. Standard library only; one file, to copy or to
`pip install clients/python`.

    from vigil_client import VigilClient
    vigil = VigilClient("/run/vigil.sock")
    vigil.gauge("feed_latency_p95", 2600, venue="kalshi")
    vigil.inc("trades_total", venue="kalshi", outcome="filled")
    vigil.health("kalshi_adapter", "healthy", {"websocket_connected": True}, ["redis"])
    vigil.event("spec_validation_changed", market="fed_rate_mar_25")
    vigil.log("INFO", "order_router", "Paired order executed", pair_id="fed_rate_mar_25")

Every call only puts a small tuple on a bounded queue (`collections.deque`, atomic under the
GIL) and, if the writer sleeps, wakes it. A background thread turns the queue into NDJSON
(SPEC §4, each line stamped `timestamp_ns` at the call) and writes it in one `sendall` per
batch, so what one loop iteration records arrives together, as one instant. When vigil is down
or slow the thread reconnects with backoff (0.1 s doubling to 5 s) while the queue keeps the
newest `queue_size` records: the oldest are dropped first and counted in `dropped`.
"""

import collections
import json
import math
import socket
import threading
import time

__all__ = ["VigilClient"]

_GAUGE, _HEALTH, _EVENT, _LOG, _METRICS = range(5)


class VigilClient:
    def __init__(self, path="/run/vigil.sock", queue_size=100_000, labels=None, backoff=(0.1, 5.0)):
        """`path`: vigil's socket (`vigil run --listen unix:PATH`). `labels`: added to every
        metric (a call's own labels win)."""
        self.path = path
        self.queue_size = queue_size
        self.labels = dict(labels or {})
        self._backoff = backoff
        self._queue = collections.deque(maxlen=queue_size)
        self._wake = threading.Event()
        self._stop = False
        self._totals = {}
        self._dropped_full = 0  # written by callers only
        self._dropped_io = 0  # written by the writer only
        self.sent = 0
        """Records written to vigil's socket."""
        self.connected = False
        self._writer = threading.Thread(target=self._run, name="vigil-client", daemon=True)
        self._writer.start()

    @property
    def dropped(self):
        """Records lost: pushed out of a full queue while vigil was down or slow, or in a write
        that vigil's going away cut short."""
        return self._dropped_full + self._dropped_io

    # -- what the trading loop calls: O(1), never blocks ------------------------------------

    def gauge(self, name, value, **labels):
        """The current value of `name{labels}`."""
        self._put((_GAUGE, name, value, labels, time.time_ns()))

    def counter(self, name, total, **labels):
        """A counter's running total (as `prometheus_client` keeps it); vigil's `rate` and
        `increase` read it, resets included."""
        self._put((_GAUGE, name, total, labels, time.time_ns()))

    def inc(self, name, amount=1, **labels):
        """Adds `amount` to the counter `name{labels}` this client keeps, and sends its total."""
        key = (name, tuple(sorted(labels.items())))
        total = self._totals.get(key, 0) + amount
        self._totals[key] = total
        self._put((_GAUGE, name, total, labels, time.time_ns()))

    def metrics(self, values, **labels):
        """Several gauges of one instant in one line (`{"metrics": {...}}`): a rule reading two
        of them never sees one updated without the other."""
        self._put((_METRICS, None, values, labels, time.time_ns()))

    def health(self, service, status, details=None, dependencies=None):
        """The seed's `HealthStatus`: `status` is healthy, degraded or down; `details` maps
        check names to booleans (each becomes `health_check{service, check}`)."""
        self._put((_HEALTH, service, status, (details, dependencies), time.time_ns()))

    def event(self, name, **fields):
        """An event, true at the instant it arrives; string fields become labels, numbers
        `name.field` series."""
        self._put((_EVENT, name, None, fields, time.time_ns()))

    def log(self, level, service, message, **data):
        """A structured log line in the seed's format: the event `log{service, level}`."""
        self._put((_LOG, service, (level, message), data, time.time_ns()))

    def close(self, timeout=1.0):
        """Sends what is queued (for at most `timeout` seconds while connected) and stops the
        writer; what is left is dropped."""
        deadline = time.monotonic() + timeout
        while self._queue and self.connected and time.monotonic() < deadline:
            self._wake.set()
            time.sleep(0.005)
        self._stop = True
        self._wake.set()
        self._writer.join(max(0.0, deadline - time.monotonic()) + 0.1)

    def _put(self, record):
        q = self._queue
        if len(q) == self.queue_size:
            self._dropped_full += 1  # the deque drops its oldest to make room
        q.append(record)
        if not self._wake.is_set():
            self._wake.set()

    # -- the writer thread -------------------------------------------------------------------

    def _run(self):
        sock = None
        delay = self._backoff[0]
        while not self._stop:
            if sock is None:
                sock = self._connect()
                if sock is None:
                    self._wake.wait(delay)
                    self._wake.clear()
                    delay = min(delay * 2, self._backoff[1])
                    continue
                delay = self._backoff[0]
            if not self._queue:
                self._wake.wait(1.0)
                self._wake.clear()
            batch = self._drain()
            if not batch:
                continue
            try:
                sock.sendall(batch[0])
                self.sent += batch[1]
            except OSError:
                # vigil went away mid-write: this batch is lost (counted), the next reconnects.
                self._dropped_io += batch[1]
                sock.close()
                sock = None
                self.connected = False
        if sock is not None:
            sock.close()

    def _connect(self):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        try:
            s.connect(self.path)
        except OSError:
            s.close()
            return None
        self.connected = True
        return s

    #: Records in one write at most: progress is steady and a batch's memory bounded.
    batch_limit = 2048

    def _drain(self):
        q = self._queue
        parts = []
        n = 0
        while q and n < self.batch_limit:
            try:
                record = q.popleft()
            except IndexError:
                break
            line = self._encode(record)
            if line is not None:
                parts.append(line)
            n += 1
        return ("".join(parts).encode(), n) if parts else None

    def _encode(self, record):
        kind, name, value, extra, ns = record
        if kind == _GAUGE:
            if not _finite(value):
                return None
            line = {"timestamp_ns": ns, "metric": name, "value": value, "labels": self._merged(extra)}
        elif kind == _METRICS:
            values = {k: v for k, v in value.items() if _finite(v)}
            if not values:
                return None
            line = {"timestamp_ns": ns, "metrics": values, "labels": self._merged(extra)}
        elif kind == _HEALTH:
            details, dependencies = extra
            line = {"timestamp_ns": ns, "service": name, "status": value, "details": details or {},
                    "dependencies": list(dependencies or [])}
        elif kind == _EVENT:
            line = {"timestamp_ns": ns, "event": name}
            line.update(extra)
        else:
            level, message = value
            line = {"timestamp_ns": ns, "level": level, "service": name, "message": message, "data": extra}
        try:
            return json.dumps(line, separators=(",", ":"), default=str) + "\n"
        except (TypeError, ValueError):
            return None

    def _merged(self, labels):
        if not self.labels:
            return {k: str(v) for k, v in labels.items()}
        merged = dict(self.labels)
        merged.update(labels)
        return {k: str(v) for k, v in merged.items()}


def _finite(v):
    return isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) or isinstance(v, bool)
