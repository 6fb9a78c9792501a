#!/usr/bin/env bash
# `make run`: the data plane, and with no TARGET two demo sinks that print what they receive.
set -euo pipefail
build=${BUILD:-build}
port=${PORT:-9000}
lb="$build/dataplane/json-tcp-lb"
sink="$build/tests/tools/lb-sink"

if [[ -n "${TARGET:-}" ]]; then
  exec "$lb" -port "$port" -target "$TARGET" "$@"
fi

# The sinks run in their own session so that Ctrl-C reaches only json-tcp-lb, which then
# drains into them; they are stopped once it has exited.
setsid "$sink" -listen 127.0.0.1:9997 -listen 127.0.0.1:9998 -print-lines -report-interval 0 &
sink_pid=$!
trap 'kill "$sink_pid" 2>/dev/null || true; wait "$sink_pid" 2>/dev/null || true' EXIT

cat <<MSG

  Demo: json-tcp-lb on port $port, spreading lines over two sinks (127.0.0.1:9997, :9998).
  The sinks print every line they receive below, prefixed with their port.
  In another terminal, send lines:

    printf '{"n":1}\n{"n":2}\n{"n":3}\n{"n":4}\n' | nc -q1 127.0.0.1 $port
    for i in \$(seq 1 10); do echo "{\"n\":\$i}" | nc -q0 127.0.0.1 $port; done

  Ctrl-C stops everything (json-tcp-lb drains first).

MSG
"$lb" -addr 127.0.0.1 -port "$port" -target 127.0.0.1:9997,127.0.0.1:9998 -connections 2 "$@"
