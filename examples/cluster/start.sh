#!/usr/bin/env bash
# Starts the cluster example on loopback: a receiver (standing in for Slack and PagerDuty), a
# 3-peer Alertmanager cluster configured by `vigil alertmanager-config`, two vigil replicas and
# a trader that writes to both. `start.sh` starts all of them; `start.sh vigil-a` one of them
# (after stop.sh vigil-a, or a kill). Stop with stop.sh.
#
#   CLUSTER_DIR   where logs, state, pids and the receiver's messages go (/tmp/vigil-cluster)
#   PORT_BASE     ports PORT_BASE+1..3 (Alertmanagers), +11..13 (their gossip), +20 (receiver),
#                 +31, +32 (the vigils' APIs); default 19100
#   VIGIL         the vigil binary (default: swift build, then .build/debug/vigil)
#   TRADER        0: no trader (a test writes the stream itself); default 1
#   AM_PEER_TIMEOUT  Alertmanager's --cluster.peer-timeout (its default 15s)
set -euo pipefail
source "$(dirname "$0")/env.sh"
components=${*:-$ALL}
mkdir -p "$CLUSTER_DIR"/{pids,logs}

command -v prometheus-alertmanager >/dev/null || { echo "start.sh: prometheus-alertmanager is not installed (apt-get install prometheus-alertmanager)" >&2; exit 1; }
if [ -z "${VIGIL:-}" ]; then
    (cd "$REPO" && swift build --product vigil >/dev/null)
    VIGIL="$REPO/.build/debug/vigil"
fi

wait_http() { # URL, component: up to 30 s, less if it exits; says why it gave up
    for _ in $(seq 300); do
        curl -fsS -o /dev/null "$1" 2>/dev/null && return 0
        running "$2" || break
        sleep 0.1
    done
    if running "$2"; then echo "start.sh: $2 did not come up at $1 in 30 s" >&2; else echo "start.sh: $2 exited before it came up at $1" >&2; fi
    if [ -s "$CLUSTER_DIR/logs/$2.log" ]; then
        echo "start.sh: the end of $CLUSTER_DIR/logs/$2.log:" >&2
        tail -n 20 "$CLUSTER_DIR/logs/$2.log" >&2
    fi
    exit 1
}

launch() { # NAME, command...: in the background, its pid in pids/NAME.pid
    local name=$1; shift
    if running "$name"; then echo "$name is already running"; return; fi
    "$@" >>"$CLUSTER_DIR/logs/$name.log" 2>&1 &
    echo $! >"$(pidfile "$name")"
}

"$VIGIL" alertmanager-config --config "$HERE/vigil.conf" --rules "$HERE/rules" --peer-timeout "${AM_PEER_TIMEOUT:-15s}" \
    >"$CLUSTER_DIR/alertmanager.yml"

for c in $components; do
    case $c in
    receiver)
        launch receiver python3 "$HERE/receiver.py" --port "$RECEIVER_PORT" --out "$CLUSTER_DIR/received.ndjson"
        wait_http "http://127.0.0.1:$RECEIVER_PORT/" receiver ;;
    am1 | am2 | am3)
        n=${c#am}
        peers=()
        for p in 1 2 3; do [ "$p" = "$n" ] || peers+=(--cluster.peer="127.0.0.1:$(am_gossip "$p")"); done
        launch "$c" prometheus-alertmanager --config.file="$CLUSTER_DIR/alertmanager.yml" --storage.path="$CLUSTER_DIR/$c" \
            --web.listen-address="127.0.0.1:$(am_web "$n")" --cluster.listen-address="127.0.0.1:$(am_gossip "$n")" \
            --cluster.advertise-address="127.0.0.1:$(am_gossip "$n")" "${peers[@]}" \
            --cluster.peer-timeout="${AM_PEER_TIMEOUT:-15s}" --log.level=info
        wait_http "http://127.0.0.1:$(am_web "$n")/-/ready" "$c" ;;
    # An Alertmanager holds every notification until its gossip settles (about 10 s).
    vigil-a | vigil-b)
        for p in 1 2 3; do
            running "am$p" || continue
            for _ in $(seq 300); do
                curl -fsS "http://127.0.0.1:$(am_web "$p")/api/v2/status" 2>/dev/null | grep -q '"status":"ready"' && break
                sleep 0.1
            done
        done
        r=${c#vigil-}
        launch "$c" "$VIGIL" run --config "$HERE/vigil.conf" --rules "$HERE/rules" --listen "unix:$CLUSTER_DIR/$c.sock" \
            --http "127.0.0.1:$(vigil_http "$r")" --state-dir "$CLUSTER_DIR/state-$r"
        wait_http "http://127.0.0.1:$(vigil_http "$r")/health" "$c" ;;
    trader)
        [ "${TRADER:-1}" = 0 ] && continue
        launch trader python3 "$REPO/examples/trader.py" --socket "$CLUSTER_DIR/vigil-a.sock" --socket "$CLUSTER_DIR/vigil-b.sock" \
            --incident --incident-after 20 --interval 0.5 --seconds 86400 ;;
    *) echo "start.sh: unknown component '$c' (components: $ALL)" >&2; exit 2 ;;
    esac
done
echo "started: $components"
echo "  vigils: http://127.0.0.1:$(vigil_http a)  http://127.0.0.1:$(vigil_http b)"
echo "  alertmanagers: $AM1_URL $AM2_URL $AM3_URL"
echo "  received messages: $CLUSTER_DIR/received.ndjson"
