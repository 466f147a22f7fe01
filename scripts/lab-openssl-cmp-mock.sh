#!/usr/bin/env bash
# `mtsim lab` against an outside CA: OpenSSL's CMP mock server.
#
# The mock (`openssl cmp -port`) answers every request with the one
# certificate it was started with (-rsp_cert), and binds every interface.
# So this script:
#   1. makes a CA, R1's and R2's keys, and their certificates with openssl
#      (R1: CN=r1.lab.example,O=mtsim lab, DNS:r1.lab.example;
#       R2: CN=r2.lab.example,O=mtsim lab, IP:<R2's address>);
#   2. creates a network namespace with only lo;
#   3. starts one mock server per router in it, each answering with that
#      router's certificate and the CA certificate (caPubs), protected with
#      a shared secret (PBM);
#   4. runs `mtsim lab` in it with those keys, addresses and URLs;
#   5. stops the mocks and deletes the namespace (also on failure or ^C).
#
# Usage (as root: network namespaces):
#   scripts/lab-openssl-cmp-mock.sh [more mtsim lab options, e.g. --json]
# Exits with the lab's status (0: every step passed or was skipped for a
# reason given).
#
# Environment (all optional):
#   MTSIM    the mtsim binary (default: target/debug/mtsim, built first with
#            `cargo build -p mtsim` when cargo is on the PATH, outside the
#            namespace, which has no network; under sudo, cargo usually is
#            not: build it as yourself first)
#   WORKDIR  where the CA, keys, certificates and mock logs go (default: a
#            temporary directory, removed afterwards)
#   NS       the namespace's name (default: mtsim-lab-<pid>)
#   A1, A2   R1's and R2's addresses (default: 127.0.10.1, 127.0.10.2)
#   PORT1, PORT2  the mocks' ports (default: 18081, 18082)
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/.." && pwd)
NS=${NS:-mtsim-lab-$$}
A1=${A1:-127.0.10.1}
A2=${A2:-127.0.10.2}
PORT1=${PORT1:-18081}
PORT2=${PORT2:-18082}
REF=3078
SECRET=lab-outside-secret
CA_DN="CN=mtsim lab outside CA,O=Example"

say() { echo "lab-openssl-cmp-mock: $*" >&2; }
die() {
    say "$*"
    exit 2
}

[ "$(id -u)" = 0 ] || die "needs root (ip netns); run it with sudo"
command -v openssl >/dev/null || die "openssl is not installed: apt-get install openssl"
command -v ip >/dev/null || die "ip is not installed: apt-get install iproute2"

if [ -z "${MTSIM:-}" ]; then
    MTSIM=${CARGO_TARGET_DIR:-$ROOT/target}/debug/mtsim
    if command -v cargo >/dev/null; then
        say "building mtsim (cargo build -p mtsim)"
        (cd "$ROOT" && cargo build -q -p mtsim)
    fi
fi
[ -x "$MTSIM" ] || die "no mtsim at $MTSIM: build it first (cargo build -p mtsim) or set MTSIM"

if [ -n "${WORKDIR:-}" ]; then
    W=$WORKDIR
    mkdir -p "$W"
    KEEP_W=1
else
    W=$(mktemp -d)
    KEEP_W=
fi
PIDS=()
NS_MADE=

cleanup() {
    local rc=$?
    for p in "${PIDS[@]}"; do
        kill "$p" 2>/dev/null || true
        wait "$p" 2>/dev/null || true
    done
    if [ -n "$NS_MADE" ]; then
        ip netns del "$NS" 2>/dev/null || true
    fi
    if [ -z "$KEEP_W" ]; then
        rm -rf "$W"
    fi
    exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

cd "$W"
mkdir -p keys

# 1. The CA, the routers' keys and their certificates. What the lab's IKE
# gateways check: R1's identity is the FQDN r1.lab.example, R2's its
# address A2. The certificates also carry what the lab puts in its
# requests (each router's name and address).
say "making the CA, keys and certificates in $W"
q() { # openssl, its chatter kept for when it fails
    "$@" >openssl.log 2>&1 || { cat openssl.log >&2; return 1; }
}
q openssl req -x509 -newkey rsa:2048 -nodes -days 30 -subj "/CN=mtsim lab outside CA/O=Example" \
    -keyout ca.key -out ca.crt -addext "basicConstraints=critical,CA:TRUE" \
    -addext "keyUsage=critical,keyCertSign,cRLSign"
for r in r1 r2; do
    q openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "keys/$r.key"
    q openssl req -new -key "keys/$r.key" -subj "/CN=$r.lab.example/O=mtsim lab" -out "$r.csr"
done
ext='basicConstraints=critical,CA:FALSE
keyUsage=critical,digitalSignature,keyEncipherment
subjectKeyIdentifier=hash
authorityKeyIdentifier=keyid'
printf '%s\nsubjectAltName=DNS:r1.lab.example,IP:%s\n' "$ext" "$A1" >r1.ext
printf '%s\nsubjectAltName=DNS:r2.lab.example,IP:%s\n' "$ext" "$A2" >r2.ext
q openssl x509 -req -in r1.csr -CA ca.crt -CAkey ca.key -set_serial 0x1001 -days 30 -extfile r1.ext -out r1.crt
q openssl x509 -req -in r2.csr -CA ca.crt -CAkey ca.key -set_serial 0x2002 -days 30 -extfile r2.ext -out r2.crt

# 2. The namespace: the mocks bind every interface.
ip netns add "$NS"
NS_MADE=1
ip -n "$NS" link set lo up

# 3. One mock per router. `ip netns exec` execs timeout, which forwards
# SIGTERM to openssl: $! is the process to stop.
mock() { # PORT CERT LOG
    ip netns exec "$NS" timeout 900 openssl cmp -port "$1" \
        -srv_ref "$REF" -srv_secret "pass:$SECRET" \
        -rsp_cert "$2" -rsp_capubs ca.crt >"$3" 2>&1 &
    PIDS+=($!)
}
mock "$PORT1" r1.crt r1.mock.log
mock "$PORT2" r2.crt r2.mock.log
for log in r1.mock.log r2.mock.log; do
    for _ in $(seq 100); do
        grep -q ACCEPT "$log" 2>/dev/null && break
        sleep 0.1
    done
    grep -q ACCEPT "$log" || die "the mock server did not start: $(cat "$log")"
done
say "mock CMP servers on ports $PORT1 (R1) and $PORT2 (R2) in namespace $NS"

# 4. The lab.
say "running mtsim lab in $NS"
ip netns exec "$NS" "$MTSIM" lab --keys "$W/keys" --addresses "$A1,$A2" \
    --cmp-url "http://127.0.0.1:$PORT1/pkix/" --r2-cmp-url "http://127.0.0.1:$PORT2/pkix/" \
    --cmp-reference "$REF" --cmp-secret "$SECRET" --ca-dn "$CA_DN" "$@"
