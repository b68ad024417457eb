#!/usr/bin/env bash
# Two fixlua processes over loopback, both pinned to CPU 0: the acceptor's script answers each
# NewOrderSingle with an ExecutionReport built in Lua. Prints, in one run: a bare C TCP
# ping-pong of the same size (the floor), the fixlua round trip (ping-pong) and pipelined
# throughput with the file journal (sync=batch), and the acceptor's user-space instructions
# per order under callgrind, with the Lua script and with a C hook (what the engine costs
# without Lua). Usage: bench/fixlua_pair.sh [BUILD_DIR] [ORDERS]
set -euo pipefail
build=${1:-build}
orders=${2:-20000}
here=$(cd "$(dirname "$0")" && pwd)
fixlua=$(cd "$build" && pwd)/fixlua
pin="taskset -c 0"
export FLB_DIR=$(mktemp -d /tmp/flb.XXXXXX)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$FLB_DIR"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

$pin "$build/bench/engine" "$orders" 0 bare

run_pair() { # mode count [acceptor prefix]
  export FLB_MODE=$1 FLB_COUNT=$2 FLB_PORT=$(free_port)
  rm -rf "$FLB_DIR"/acceptor "$FLB_DIR"/initiator
  (cd "$here/fixlua_pair" && exec ${3:-$pin} "$fixlua" run acceptor.lua >/dev/null 2>"$FLB_DIR/acceptor.err") &
  local acc=$!
  sleep ${4:-0.5}
  (cd "$here/fixlua_pair" && exec $pin "$fixlua" run initiator.lua 2>"$FLB_DIR/initiator.err") ||
    echo "initiator failed: $(tail -2 "$FLB_DIR/initiator.err")"
  kill -INT $acc 2>/dev/null || true
  wait $acc 2>/dev/null || true
}

run_pair pingpong "$orders"
run_pair pipeline $((orders * 10))

# Instructions per order on the acceptor: the difference between two runs cancels start-up.
if command -v valgrind >/dev/null; then
  ir() {
    run_pair pipeline "$1" "valgrind --tool=callgrind --callgrind-out-file=$FLB_DIR/cg.out" 3 >/dev/null
    grep -E '^(summary|totals):' "$FLB_DIR/cg.out" | head -1 | awk '{print $2}'
  }
  a=$(ir 5000); b=$(ir 25000)
  echo "fixlua acceptor under callgrind: $(( (b - a) / 20000 )) instructions per order (NOS in, ER out, Lua script)"
  # The same exchange with a C hook that sends the same report, its body encoded beforehand
  # (bench/engine): what the engine itself costs, without Lua or building the report. Its
  # acceptor is the forked child: the output file that is not the parent's.
  floor_ir() {
    rm -f "$FLB_DIR"/engine.*
    $pin valgrind --tool=callgrind --callgrind-out-file="$FLB_DIR/engine.%p" \
      "$build/bench/engine" 1 "$1" engines >/dev/null 2>&1 &
    local parent=$!
    wait $parent || true
    for f in "$FLB_DIR"/engine.*; do
      [ "$f" = "$FLB_DIR/engine.$parent" ] ||
        grep -E '^(summary|totals):' "$f" | head -1 | awk '{print $2}'
    done
  }
  a=$(floor_ir 5000); b=$(floor_ir 25000)
  echo "engine acceptor under callgrind: $(( (b - a) / 20000 )) instructions per order (NOS in, the same ER prebuilt by a C hook)"
fi
