#!/usr/bin/env bash
# Stops the cluster example (all of it, or the components named: stop.sh am2), each with
# SIGTERM, then SIGKILL after 10 s.
set -uo pipefail
source "$(dirname "$0")/env.sh"
components=${*:-trader vigil-b vigil-a am3 am2 am1 receiver}
for c in $components; do
    f=$(pidfile "$c")
    [ -f "$f" ] || continue
    pid=$(cat "$f")
    if kill -TERM "$pid" 2>/dev/null; then
        for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$pid" 2>/dev/null && echo "$c did not stop in 10 s: killed"
    fi
    rm -f "$f"
done
echo "stopped: $components"
