# Shared by start.sh and stop.sh: where the example lives and its loopback ports.
CLUSTER_DIR=${CLUSTER_DIR:-/tmp/vigil-cluster}
PORT_BASE=${PORT_BASE:-19100}
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
RECEIVER_PORT=$((PORT_BASE + 20))
am_web() { echo $((PORT_BASE + $1)); }          # Alertmanager N's API: PORT_BASE+N
am_gossip() { echo $((PORT_BASE + 10 + $1)); }  # and its cluster (gossip) port
vigil_http() { case $1 in a) echo $((PORT_BASE + 31)) ;; b) echo $((PORT_BASE + 32)) ;; esac; }
ALL="receiver am1 am2 am3 vigil-a vigil-b trader"

export AM1_URL="http://127.0.0.1:$(am_web 1)" AM2_URL="http://127.0.0.1:$(am_web 2)" AM3_URL="http://127.0.0.1:$(am_web 3)"
export SLACK_URL="http://127.0.0.1:$RECEIVER_PORT/slack"
export PAGERDUTY_URL="http://127.0.0.1:$RECEIVER_PORT/pagerduty"
export PAGERDUTY_ROUTING_KEY=${PAGERDUTY_ROUTING_KEY:-example-routing-key}

pidfile() { echo "$CLUSTER_DIR/pids/$1.pid"; }
running() { [ -f "$(pidfile "$1")" ] && kill -0 "$(cat "$(pidfile "$1")")" 2>/dev/null; }
