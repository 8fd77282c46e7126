#!/usr/bin/env bash
# Detection latency, side by side: vigil against a real Prometheus + Alertmanager at 1 s and at
# 100 ms scrape and evaluation, all three notifying one webhook receiver (bench/receiver.c,
# compiled here with cc; issue 16).
#
# Installs nothing. Needs: prometheus and prometheus-alertmanager (Debian packages), python3
# with prometheus_client, and a release build of vigil (built here if missing). `.ci/run` does
# not run it. Usage: bench/compare-prometheus.sh [FLIPS]   (default 200)
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in prometheus prometheus-alertmanager python3 cc; do
  command -v "$tool" >/dev/null || { echo "compare-prometheus: $tool is not installed (apt-get install -y prometheus prometheus-alertmanager)" >&2; exit 2; }
done
python3 -c 'import prometheus_client' 2>/dev/null || { echo "compare-prometheus: python3 lacks prometheus_client (pip install prometheus_client)" >&2; exit 2; }
[ -x .build/release/vigil ] || swift build -c release --product vigil >&2
receiver=$(mktemp -d)/receiver
trap 'rm -rf "$(dirname "$receiver")"' EXIT
cc -O2 -o "$receiver" bench/receiver.c
python3 bench/compare_prometheus.py --vigil .build/release/vigil --receiver "$receiver" --flips "${1:-200}"
