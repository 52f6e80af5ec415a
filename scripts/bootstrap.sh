#!/bin/sh
# bootstrap.sh: install the Debian packages gridcall builds and tests with.
# Idempotent and quiet when everything is there.
set -eu
PACKAGES="build-essential pkg-config libczmq-dev libzmq3-dev libprotobuf-c-dev
protobuf-c-compiler protobuf-compiler libhiredis-dev libmicrohttpd-dev libjansson-dev libxml2-dev libsodium-dev
libcurl4-openssl-dev libssl-dev libcmocka-dev redis-server redis-tools python3-zmq python3-protobuf
python3-pytest python3-yaml"
# make fuzz: clang and its libFuzzer runtime (libclang_rt.fuzzer, in
# libclang-rt-14-dev on Debian 12, which libclang-rt-dev pulls in)
PACKAGES="$PACKAGES clang libclang-rt-dev"
# make chaos (bootstrap.sh chaos): hosts as network namespaces, cuts and
# delay (iproute2, iptables), a daemon host's clock stepped (libfaketime)
[ "${1:-}" = chaos ] && PACKAGES="$PACKAGES iproute2 iptables libfaketime"
# the screen's page is built with npm (ECharts from web/package-lock.json)
command -v npm >/dev/null 2>&1 || PACKAGES="$PACKAGES nodejs npm"
missing=""
for p in $PACKAGES; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "bootstrap: installing$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO=sudo
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
# Debian starts its own redis-server on 6379; gridcall runs a private one.
