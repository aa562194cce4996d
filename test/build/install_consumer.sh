#!/bin/bash
# install_consumer.sh BUILD_DIR SOURCE_FILE - install the build into a
# temporary destdir, then build a program outside the tree with nothing
# but `pkg-config --cflags --libs libdlibos` (shared) and the static
# variant, and run both (--help: the runtime's parser, no NIC).
# Proves: the public header is installed, libdlibos.pc is right, the
# shared and static libraries link and run.
set -eu
build=$(cd "$1" && pwd)
src=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
dest=$(mktemp -d /tmp/dlibos-install.XXXXXX)
trap 'rm -rf "$dest"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

meson install -C "$build" --no-rebuild --quiet --destdir "$dest" >/dev/null ||
	fail "meson install --destdir failed"
opt() {
	meson introspect "$build" --buildoptions |
		python3 -c 'import json,sys; print([o["value"] for o in json.load(sys.stdin) if o["name"]==sys.argv[1]][0])' "$1"
}
prefix=$(opt prefix)
# A sanitizer build's library needs its runtime first in the program: a
# consumer of it is built with the same -fsanitize (as a user would).
san=()
[ "$(opt b_sanitize)" = none ] || san=("-fsanitize=$(opt b_sanitize)")
hdr=$(find "$dest" -path '*/include/dlibos/dlibos.h' | head -n 1)
[ -n "$hdr" ] || fail "include/dlibos/dlibos.h is not installed"
pc=$(find "$dest" -name libdlibos.pc | head -n 1)
[ -n "$pc" ] || fail "libdlibos.pc is not installed"
echo "ok: installed $hdr and $pc"
# The installed .pc names the real prefix: point this copy at the destdir,
# as if the prefix were the temporary directory.
sed -i "s|^prefix=.*|prefix=$dest$prefix|" "$pc"
export PKG_CONFIG_PATH=$(dirname "$pc")
pcflags=()
cflags=$(pkg-config "${pcflags[@]}" --cflags libdlibos)
libs=$(pkg-config "${pcflags[@]}" --libs libdlibos)
libdir=$(pkg-config "${pcflags[@]}" --variable=libdir libdlibos)
[ -f "$libdir/libdlibos.a" ] || fail "libdlibos.a is not installed in $libdir"

cc "${san[@]}" -Wall -Wextra -Werror -o "$dest/hello" "$src" $cflags $libs || fail "shared build"
LD_LIBRARY_PATH=$libdir "$dest/hello" --help >"$dest/help.txt" 2>&1 ||
	fail "the shared program's --help failed: $(cat "$dest/help.txt")"
grep -q -- "--ip" "$dest/help.txt" || fail "no runtime usage from the shared program"
grep -q "says hello" "$dest/help.txt" || fail "no application summary in the usage"
LD_LIBRARY_PATH=$libdir ldd "$dest/hello" | grep -q "$libdir/libdlibos.so" ||
	fail "the shared program does not use the installed libdlibos.so"
echo "ok: built with 'pkg-config --cflags --libs libdlibos' and ran (shared)"

# Static libdlibos (DPDK stays shared: Debian ships no static libsystemd,
# which a static DPDK needs): the archive, then what it needs.
cc "${san[@]}" -Wall -Wextra -Werror -o "$dest/hello-static" "$src" $cflags \
	$(pkg-config "${pcflags[@]}" --libs-only-L libdlibos) -Wl,-Bstatic -ldlibos -Wl,-Bdynamic \
	$(pkg-config --libs $(pkg-config --print-requires-private libdlibos | cut -d' ' -f1)) \
	-lm -pthread || fail "static build"
"$dest/hello-static" --help >"$dest/help2.txt" 2>&1 || fail "the static program's --help failed"
grep -q -- "--ip" "$dest/help2.txt" || fail "no runtime usage from the static program"
ldd "$dest/hello-static" | grep -q libdlibos && fail "the static program still needs libdlibos.so"
echo "ok: built against libdlibos.a (-Wl,-Bstatic -ldlibos) and ran"
echo "PASS: the installed library builds and runs programs outside the tree"
