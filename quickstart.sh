#!/bin/sh
# The quick start on a bare Debian 12 machine, where only git and ca-certificates are sure to
# be there: installs make when it is missing, then hands over to the Makefile, which installs
# the rest (compiler, libraries, test servers), builds and runs.
#
#   ./quickstart.sh run     json-tcp-lb on :9000 with two demo sinks (TARGET=host:port,... for
#                           your own receivers; PORT= and ARGS="-flag value" are passed along)
#   ./quickstart.sh test    every test (ctest)
#
# Any other arguments go to make unchanged: ./quickstart.sh build, ./quickstart.sh bench.
set -eu
cd "$(dirname "$0")"

if ! command -v make >/dev/null 2>&1; then
  if [ "$(id -u)" -eq 0 ]; then
    sudo=""
  elif command -v sudo >/dev/null 2>&1; then
    sudo="sudo"
  else
    echo "quickstart.sh: make is missing; run this as root, or install make" >&2
    exit 1
  fi
  echo "quickstart.sh: installing make" >&2
  $sudo apt-get update -qq
  $sudo env DEBIAN_FRONTEND=noninteractive \
    apt-get install -y -qq --no-install-recommends make </dev/null
fi

[ "$#" -gt 0 ] || set -- run
exec make "$@"
