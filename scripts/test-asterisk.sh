#!/usr/bin/env bash
# The Asterisk integration suite (test/asterisk): tollgate against a real
# Asterisk 22 that the tests start, with SIPp as phone, carrier and
# password guesser on loopback.
#
#   scripts/test-asterisk.sh
#
# Asterisk is not packaged for Debian 12, so it is built (about 4 minutes
# on 2 cores) from the sources and build script in TOLLGATE_ASTERISK_SRC
# (default ../shared/thirdparty/asterisk, beside the clone) into
# TOLLGATE_ASTERISK (default /var/cache/tollgate-asterisk). A prefix that
# already holds sbin/asterisk is reused, so later runs on the same machine
# skip the build; delete it to rebuild. Needs root or sudo for apt-get the
# first time.
set -euo pipefail
cd "$(dirname "$0")/.."
src=${TOLLGATE_ASTERISK_SRC:-../shared/thirdparty/asterisk}
prefix=${TOLLGATE_ASTERISK:-/var/cache/tollgate-asterisk}
SUDO=""
[ "$(id -u)" = 0 ] || SUDO=sudo

need=(sip-tester)
if [ ! -x "$prefix/sbin/asterisk" ]; then
	if [ ! -f "$src/build.sh" ]; then
		echo "test-asterisk: no Asterisk at $prefix and no sources at $src" >&2
		echo "  set TOLLGATE_ASTERISK_SRC to the folder with build.sh and dl/, or TOLLGATE_ASTERISK to an installed prefix" >&2
		exit 1
	fi
	need+=(build-essential pkg-config libedit-dev uuid-dev libjansson-dev libxml2-dev libsqlite3-dev libssl-dev libcurl4-openssl-dev bzip2 patch)
fi
missing=()
for p in "${need[@]}"; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
	echo "== installing ${missing[*]}"
	$SUDO apt-get -o DPkg::Lock::Timeout=300 update -qq >/dev/null
	DEBIAN_FRONTEND=noninteractive $SUDO apt-get -o DPkg::Lock::Timeout=300 install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ ! -x "$prefix/sbin/asterisk" ]; then
	src=$(cd "$src" && pwd)
	$SUDO mkdir -p "$(dirname "$prefix")"
	# one build at a time per prefix (parallel CI runs on one machine)
	lock="$prefix.lock"
	$SUDO touch "$lock"
	$SUDO chmod 666 "$lock" 2>/dev/null || true
	exec 9>"$lock"
	flock 9
	if [ ! -x "$prefix/sbin/asterisk" ]; then
		echo "== building Asterisk into $prefix (log: $prefix.build.log)"
		t0=$(date +%s)
		$SUDO mkdir -p "$prefix"
		$SUDO chown "$(id -u):$(id -g)" "$prefix"
		if ! bash "$src/build.sh" "$prefix" >"$prefix.build.log" 2>&1; then
			tail -40 "$prefix.build.log"
			rm -rf "$prefix" # no half-built prefix is reused
			exit 1
		fi
		rm -rf "$prefix/.build"
		echo "   built in $(($(date +%s) - t0)) s"
	fi
	exec 9>&-
fi
echo "== Asterisk: $("$prefix/sbin/asterisk" -V)"

echo "== go vet / staticcheck (asterisk suite)"
go vet -tags asterisk ./test/asterisk
export PATH="$PATH:$(go env GOPATH)/bin"
if command -v staticcheck >/dev/null; then staticcheck -tags asterisk ./test/asterisk; fi

echo "== go test -tags asterisk ./test/asterisk"
TOLLGATE_ASTERISK=$prefix go test -race -count=1 -timeout 10m -tags asterisk -v ./test/asterisk
