#!/usr/bin/env python3
"""A stand-in trading core for wiring vigil: writes the seed's metrics, health and events as
NDJSON to a Unix socket (the standard library only).

    vigil run --rules rules/ --listen unix:/tmp/vigil.sock &
    python3 examples/trader.py --socket /tmp/vigil.sock --incident

Without --incident it streams normal values; with it, Kalshi's feed latency climbs after a
minute and the Polymarket adapter goes down after two. --seconds bounds the run.
"""
import argparse
import datetime
import json
import random
import socket
import time


def now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="microseconds").replace("+00:00", "Z")


def lines(elapsed, incident):
    slow = incident and elapsed >= 60
    down = incident and elapsed >= 120
    ts = now()
    yield {"ts": ts, "metric": "feed_latency_p95", "labels": {"venue": "kalshi"}, "value": 2600 if slow else 150 + random.randint(-20, 20)}
    yield {"ts": ts, "metric": "feed_latency_p95", "labels": {"venue": "polymarket"}, "value": 180 + random.randint(-20, 20)}
    yield {"ts": ts, "metrics": {"position_utilization": 0.55, "daily_pnl": 1200, "daily_loss": 0, "position_exposure": 120000,
                                 "fill_rate": 0.92, "new_arbitrage_edge": 120, "schema_validation_errors": 0}, "labels": {}}
    for venue in ("kalshi", "polymarket"):
        bad = down and venue == "polymarket"
        yield {"ts": ts, "service": f"{venue}_adapter", "status": "down" if bad else "healthy",
               "details": {"websocket_connected": not bad, "recent_data": True}, "dependencies": ["redis", "venue_api"]}
    # The seed's structured log format is valid input too (the event `log{service, level}`).
    yield {"timestamp": ts, "level": "INFO", "service": "order_router", "trace_id": "abc123", "message": "Paired order executed",
           "data": {"pair_id": "fed_rate_mar_25", "edge_cents": 320, "quantity": 500}, "tags": ["arbitrage"]}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", required=True, help="the Unix socket vigil listens on")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between batches")
    p.add_argument("--seconds", type=float, default=300, help="stop after this long")
    p.add_argument("--incident", action="store_true", help="degrade after a minute")
    args = p.parse_args()
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(args.socket)
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        batch = "".join(json.dumps(line, separators=(",", ":")) + "\n" for line in lines(time.monotonic() - start, args.incident))
        s.sendall(batch.encode())
        time.sleep(args.interval)
    s.close()


if __name__ == "__main__":
    main()
