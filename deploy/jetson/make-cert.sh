#!/usr/bin/env bash
# Make a self-signed TLS certificate for the clinic box, valid for its hostname and IP
# addresses. Install the .crt on each tablet once (Settings > Security > Install certificate)
# so the browser trusts it and allows the microphone.
#   usage: make-cert.sh OUT_DIR [EXTRA_NAME_OR_IP ...]
set -euo pipefail
out=${1:?usage: make-cert.sh OUT_DIR [EXTRA_NAME_OR_IP ...]}
shift
mkdir -p "$out"
names="DNS:localhost,DNS:$(hostname),IP:127.0.0.1"
for ip in $(hostname -I 2>/dev/null || true); do names="$names,IP:$ip"; done
for extra in "$@"; do
    if [[ $extra =~ ^[0-9.]+$ ]]; then names="$names,IP:$extra"; else names="$names,DNS:$extra"; fi
done
openssl req -x509 -newkey rsa:2048 -sha256 -nodes -days 825 \
    -keyout "$out/ildscreen.key" -out "$out/ildscreen.crt" \
    -subj "/CN=ildscreen $(hostname)" -addext "subjectAltName=$names" 2>/dev/null
chmod 600 "$out/ildscreen.key"
echo "certificate: $out/ildscreen.crt ($names)"
