#!/usr/bin/env python3
"""A stand-in trading core for wiring vigil: records the seed's metrics, health and logs through
vigil's client (clients/python/vigil_client.py: the standard library only, never blocking).

    vigil run --rules rules/ --listen unix:/tmp/vigil.sock &
    python3 examples/trader.py --socket /tmp/vigil.sock --incident

Without --incident it records normal values; with it, Kalshi's feed latency climbs after a
minute (--incident-after) and the Polymarket adapter goes down a minute later. --seconds bounds
the run. --socket may be repeated: replicas (examples/cluster) each get every record.
"""
import argparse
import os
import random
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "clients", "python"))
from vigil_client import VigilClient  # noqa: E402


def record(vigil, elapsed, incident, after=60):
    """One pass of the trading loop's bookkeeping."""
    slow = incident and elapsed >= after
    down = incident and elapsed >= after + 60
    vigil.gauge("feed_latency_p95", 2600 if slow else 150 + random.randint(-20, 20), venue="kalshi")
    vigil.gauge("feed_latency_p95", 180 + random.randint(-20, 20), venue="polymarket")
    vigil.metrics({"position_utilization": 0.55, "daily_pnl": 1200, "daily_loss": 0, "position_exposure": 120000,
                   "fill_rate": 0.92, "new_arbitrage_edge": 120, "schema_validation_errors": 0})
    for venue in ("kalshi", "polymarket"):
        bad = down and venue == "polymarket"
        vigil.health(f"{venue}_adapter", "down" if bad else "healthy",
                     {"websocket_connected": not bad, "recent_data": True}, ["redis", "venue_api"])
    # The seed's structured log format (the event `log{service, level}`).
    vigil.log("INFO", "order_router", "Paired order executed", pair_id="fed_rate_mar_25", edge_cents=320, quantity=500)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--socket", required=True, action="append",
                   help="the Unix socket vigil listens on; repeat it to feed several replicas")
    p.add_argument("--interval", type=float, default=1.0, help="seconds between passes")
    p.add_argument("--seconds", type=float, default=300, help="stop after this long")
    p.add_argument("--incident", action="store_true", help="degrade after a minute")
    p.add_argument("--incident-after", type=float, default=60, help="seconds before the incident starts")
    args = p.parse_args()
    replicas = [VigilClient(path) for path in args.socket]
    start = time.monotonic()
    while time.monotonic() - start < args.seconds:
        elapsed = time.monotonic() - start
        for vigil in replicas:
            record(vigil, elapsed, args.incident, args.incident_after)
        time.sleep(args.interval)
    for path, vigil in zip(args.socket, replicas):
        vigil.close()
        if vigil.dropped:
            print(f"vigil at {path} was unreachable: {vigil.dropped} records dropped", file=sys.stderr)


if __name__ == "__main__":
    main()
