#!/usr/bin/env bash
# Builds the Debian package of mandat from a built binary, with dpkg-deb (no cargo-deb needed):
#   /usr/bin/mandat, the systemd units in /lib/systemd/system (not enabled), the README and the
#   deployment guide in /usr/share/doc/mandat, and a postinst that creates the system users the units
#   run as (mandat, mandat-worker). Depends are what dpkg-shlibdeps finds the binary linked against
#   (libavcodec, libswscale, libturbojpeg, ...). The models are not in the package: fetch them once
#   with `mandat models fetch` into /var/cache/mandat (see docs/deployment.md).
# Usage: scripts/deb.sh [BINARY] [OUTDIR]   (defaults: target/release/mandat, target/debian)
set -euo pipefail
umask 022
REPO="$(cd "$(dirname "$0")/.." && pwd)"
# Arguments are taken relative to where the script is called from.
BIN="$(realpath "${1:-$REPO/target/release/mandat}")"
OUT="$(mkdir -p "${2:-$REPO/target/debian}" && realpath "${2:-$REPO/target/debian}")"
cd "$REPO"
[ -x "$BIN" ] || { echo "deb: no binary at $BIN: build it first (cargo build --release -p mandat)" >&2; exit 1; }
VERSION="$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)"
ARCH="$(dpkg --print-architecture)"
STAGE="$(mktemp -d)"
trap 'rm -rf "$STAGE"' EXIT
ROOT="$STAGE/mandat_${VERSION}_${ARCH}"

install -D -m 0755 "$BIN" "$ROOT/usr/bin/mandat"
strip --strip-debug "$ROOT/usr/bin/mandat" 2>/dev/null || true
for unit in packaging/systemd/*.service; do
  install -D -m 0644 "$unit" "$ROOT/lib/systemd/system/$(basename "$unit")"
done
install -D -m 0644 README.md "$ROOT/usr/share/doc/mandat/README.md"
install -D -m 0644 docs/deployment.md "$ROOT/usr/share/doc/mandat/deployment.md"
cat > "$ROOT/usr/share/doc/mandat/copyright" <<EOF
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: mandat
License: EUPL-1.2
Comment: Linked at run time against Debian's FFmpeg libraries (libavcodec, libswscale), whose
 Debian build is GPL-2+; EUPL-1.2 lists the GPL as a compatible licence. OpenH264 (BSD-2-Clause)
 is compiled in. The face models are not part of this package.
EOF

# Shared-library dependencies, as Debian's own packages compute them.
mkdir -p "$STAGE/shlibs/debian"
printf 'Source: mandat\n\nPackage: mandat\nArchitecture: any\n' > "$STAGE/shlibs/debian/control"
DEPENDS="$(cd "$STAGE/shlibs" && dpkg-shlibdeps -O "$ROOT/usr/bin/mandat" 2>"$STAGE/shlibdeps.err" | sed -n 's/^shlibs:Depends=//p' || true)"
if [ -z "$DEPENDS" ]; then
  echo "deb: dpkg-shlibdeps found no dependencies (is dpkg-dev installed?):" >&2
  cat "$STAGE/shlibdeps.err" >&2
  exit 1
fi

mkdir -p "$ROOT/DEBIAN"
cat > "$ROOT/DEBIAN/control" <<EOF
Package: mandat
Version: $VERSION
Architecture: $ARCH
Maintainer: mandat developers <mandat@localhost>
Depends: $DEPENDS, adduser
Recommends: postgresql-client
Section: net
Priority: optional
Installed-Size: $(du -sk "$ROOT/usr" "$ROOT/lib" | awk '{s+=$1} END {print s}')
Description: lawful, permit-scoped live facial recognition (Lag 2026:806)
 mandat analyses only the cameras an active permit covers, for the persons the permit names, with
 two officers verifying every hit, a tamper-evident audit log and nothing kept about anyone else.
 Control replicas (mandat control) hold the keys; keyless workers (mandat worker) decode and match.
EOF
cat > "$ROOT/DEBIAN/postinst" <<'EOF'
#!/bin/sh
# The users the units run as; the services are left for the operator to configure and enable
# (docs/deployment.md): no key, database or certificate exists yet.
set -e
if [ "$1" = configure ]; then
  getent passwd mandat >/dev/null || adduser --system --group --home /var/lib/mandat mandat
  getent passwd mandat-worker >/dev/null || adduser --system --group --no-create-home mandat-worker
  install -d -m 0755 /etc/mandat /var/cache/mandat
  install -d -m 0700 -o mandat -g mandat /etc/mandat/keys
  install -d -m 0700 -o mandat-worker -g mandat-worker /etc/mandat-worker
  if command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
  fi
fi
EOF
cat > "$ROOT/DEBIAN/prerm" <<'EOF'
#!/bin/sh
# Running services stop before their binary goes; keys, data and users stay (they are the police's).
set -e
if [ "$1" = remove ] && command -v systemctl >/dev/null && [ -d /run/systemd/system ]; then
  systemctl stop mandat-control.service mandat-worker.service || true
fi
EOF
chmod 0755 "$ROOT/DEBIAN/postinst" "$ROOT/DEBIAN/prerm"
dpkg-deb --root-owner-group -Zxz --build "$ROOT" "$OUT/mandat_${VERSION}_${ARCH}.deb" >/dev/null
echo "$OUT/mandat_${VERSION}_${ARCH}.deb"
