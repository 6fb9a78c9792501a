# The helm test pod's script (bash in the json-tcp-lb image; no file is written: read-only root).
# Environment: DATA_HOST DATA_PORT SEND_LINE (yes/no) DATA_PLANES_HOST CONTROL_PORT DATA_PLANES
# (how many) CONTROL_PLANE (HOST:PORT or empty) TOKEN_FILE. Every wait is bounded.
set -euo pipefail
ATTEMPTS=${ATTEMPTS:-60}

ctl() { lbctl -token-file "$TOKEN_FILE" -timeout 5s -server "$@"; }
address() { case $1 in *:*) printf '[%s]:%s' "$1" "$2" ;; *) printf '%s:%s' "$1" "$2" ;; esac; }

# Sets ANSWERED (data planes whose control API answered) and RECEIVED (their lines, summed).
survey() {
  ANSWERED=0
  RECEIVED=0
  local ip out n
  for ip in $(getent ahosts "$DATA_PLANES_HOST" | awk '{ print $1 }' | sort -u); do
    if out=$(ctl "$(address "$ip" "$CONTROL_PORT")" status 2>&1); then
      ANSWERED=$((ANSWERED + 1))
      n=$(printf '%s\n' "$out" | sed -n 's/^received \([0-9]*\) lines.*/\1/p')
      RECEIVED=$((RECEIVED + ${n:-0}))
    else
      echo "data plane $ip: $out"
    fi
  done
}

# Runs "$@" once a second until it succeeds, ATTEMPTS times at most.
poll() {
  local i
  for ((i = 1; i <= ATTEMPTS; i++)); do
    "$@" && return 0
    [ "$i" -lt "$ATTEMPTS" ] && sleep 1
  done
  return 1
}

# 1. Every data plane answers on its control API.
all_answer() { survey && [ "$ANSWERED" -ge "$DATA_PLANES" ]; }
if ! poll all_answer; then
  echo "FAIL: $ANSWERED of $DATA_PLANES data planes answered on $DATA_PLANES_HOST:$CONTROL_PORT"
  exit 1
fi
echo "ok: $ANSWERED data planes answer on their control API"

# 2. A line sent through the Service is received by one of them.
if [ "$SEND_LINE" = yes ]; then
  before=$RECEIVED
  line="{\"helm_test\":\"$(date +%s)\",\"pod\":\"$HOSTNAME\"}"
  exec 3<>"/dev/tcp/$DATA_HOST/$DATA_PORT"
  printf '%s\n' "$line" >&3
  exec 3>&-
  received_more() { survey && [ "$RECEIVED" -gt "$before" ]; }
  if ! poll received_more; then
    echo "FAIL: sent $line to $DATA_HOST:$DATA_PORT; the data planes' received lines stayed at $before"
    exit 1
  fi
  echo "ok: a line sent to $DATA_HOST:$DATA_PORT was received ($before -> $RECEIVED lines)"
fi

# 3. The control plane answers and has every data plane on the desired config.
if [ -n "$CONTROL_PLANE" ]; then
  all_synced() {
    out=$(ctl "$CONTROL_PLANE" status 2>&1) || true
    synced=$(printf '%s\n' "$out" | sed -n 's/^total [0-9]* data planes\{0,1\} (\([0-9]*\) synced).*/\1/p')
    [ "${synced:-0}" -ge "$DATA_PLANES" ]
  }
  if ! poll all_synced; then
    echo "FAIL: the control plane $CONTROL_PLANE has ${synced:-no} of $DATA_PLANES data planes synced:"
    echo "$out"
    exit 1
  fi
  echo "ok: the control plane has $synced data planes synced"
fi
echo "PASS"
