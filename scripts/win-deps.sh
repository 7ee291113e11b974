#!/usr/bin/env bash
# win-deps.sh: prepares, on Debian 12 (bookworm) x86_64, everything the Windows cross build and
# its Wine test run need:
#
#   1. the packages: gcc-mingw-w64-x86-64 and wine64, and cmake, make, bzip2 and patch when
#      missing (--no-install-recommends; root, apt-get);
#   2. a Wine prefix, booted with its stdio on /dev/null (see "Wine pitfalls" below);
#   3. APR 1.7.2 and CUnit 2.1-3 cross-built as static libraries from Debian's source packages
#      (apt-get source through a private deb-src list: the system's apt sources are untouched),
#      with APR's mingw fixes, into $PP_WIN_DEPS/{include,lib}.
#
# Idempotent: a re-run checks and returns in a second or two; it rebuilds the libraries only
# when this script changed (a stamp holds its checksum) or a library is missing.
#
# Environment (all optional):
#   PP_WIN_DEPS  the prefix, default /opt/procpool-win-deps; the Wine prefix is $PP_WIN_DEPS/wine
#   WINEPREFIX   a Wine prefix to use instead of $PP_WIN_DEPS/wine
#   PP_JOBS      parallel compile jobs, default 2
#
# Afterwards: cmake -DCMAKE_TOOLCHAIN_FILE=cmake/toolchain-mingw-w64-x86_64.cmake
#   -DPP_WIN_DEPS=$PP_WIN_DEPS ...; or just scripts/win-test.sh, which does it all.
#
# Wine pitfalls this script and win-test.sh respect:
# - wineserver (and Wine's services) inherit the stdout/stderr of the process that starts
#   them: if that is a pipe (ctest, | tee, CI), its reader waits for EOF until the server
#   exits, or for ever with `wineserver -p`. So the server is started here first, with stdio
#   on /dev/null, and stopped (-k) on exit.
# - bookworm's wine64 puts nothing on PATH: the loader is /usr/lib/wine/wine64.
# - WINEDEBUG=-all silences fixme/err chatter; WINEDLLOVERRIDES=mscoree,mshtml= keeps Wine from
#   offering to install Mono and Gecko.
set -euo pipefail

HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/.." && pwd)
PP_WIN_DEPS=${PP_WIN_DEPS:-/opt/procpool-win-deps}
export WINEPREFIX=${WINEPREFIX:-$PP_WIN_DEPS/wine}
export WINEDEBUG=-all
export WINEDLLOVERRIDES="mscoree,mshtml="
export DEBIAN_FRONTEND=noninteractive
JOBS=${PP_JOBS:-2}
WINE=/usr/lib/wine/wine64
WINESERVER=/usr/lib/wine/wineserver64
TOOLCHAIN=$ROOT/cmake/toolchain-mingw-w64-x86_64.cmake
APR_V=1.7.2
CUNIT_DIR=cunit-2.1-3-dfsg
WORK=$PP_WIN_DEPS/work

T0=$(date +%s.%N)
TL=$T0
lap() {
    local t
    t=$(date +%s.%N)
    awk -v n="$1" -v a="$TL" -v b="$t" -v z="$T0" \
        'BEGIN { printf "[win-deps] %-32s %6.1f s  (total %6.1f s)\n", n, b - a, b - z }'
    TL=$t
}
die() { echo "[win-deps] error: $*" >&2; exit 1; }

# ---- 1. packages ---------------------------------------------------------------------------
need=()
command -v x86_64-w64-mingw32-gcc >/dev/null || need+=(gcc-mingw-w64-x86-64)
[ -x "$WINE" ] || need+=(wine64)
# Every other command this script and win-test.sh run, beyond what a minimal Debian 12 has
# (coreutils, tar, gzip, mawk, sed, grep, apt with debian-archive-keyring):
# cmake and ctest; a build tool for CMake's default generator (Unix Makefiles: make; ninja is
# used instead when it is there); bzip2 for APR's tarball; patch for APR's fixes.
command -v cmake >/dev/null || need+=(cmake)
command -v ninja >/dev/null || command -v make >/dev/null || need+=(make)
command -v bzip2 >/dev/null || need+=(bzip2)
command -v patch >/dev/null || need+=(patch)
command -v awk >/dev/null || need+=(mawk)
if [ ${#need[@]} -gt 0 ]; then
    [ "$(id -u)" = 0 ] || die "needs root to install: ${need[*]}"
    apt-get update -qq
    apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
lap "packages (${need[*]:-present})"

# ---- 2. up to date? ---------------------------------------------------------------------------
mkdir -p "$PP_WIN_DEPS/include/CUnit" "$PP_WIN_DEPS/lib" "$WORK" "$WINEPREFIX"
STAMP=$PP_WIN_DEPS/.stamp
WANT=$(cat "$HERE/win-deps.sh" "$TOOLCHAIN" | sha256sum | cut -d' ' -f1)
libs_ok=false
if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$WANT" ] && [ -f "$PP_WIN_DEPS/lib/libapr-1.a" ] &&
   [ -f "$PP_WIN_DEPS/lib/libcunit.a" ] && [ -f "$PP_WIN_DEPS/include/apr.h" ]; then
    libs_ok=true
fi
if $libs_ok && [ -f "$WINEPREFIX/.pp-booted" ]; then
    lap "APR, CUnit, Wine prefix up to date"
    echo "[win-deps] ready: PP_WIN_DEPS=$PP_WIN_DEPS WINEPREFIX=$WINEPREFIX"
    exit 0
fi

# ---- 3. Wine: a server with stdio detached, then boot the prefix (in the background) ----------
# Booting starts Wine's services (services.exe, winedevice.exe, ...), which live as long as
# the server: started by the first program run under a build tool (APR's gen_test_char),
# they would inherit its output pipe and the build tool would wait for EOF for ever. So
# wineboot runs first, detached, even when the prefix exists (then it takes a second or two).
stop_wine() { "$WINESERVER" -k >/dev/null 2>&1 || true; }
stop_wine
trap stop_wine EXIT
"$WINESERVER" -p </dev/null >/dev/null 2>&1
boot=(wineboot)
[ -f "$WINEPREFIX/.pp-booted" ] || boot=(wineboot --init)
( "$WINE" "${boot[@]}" </dev/null >"$WORK/wineboot.log" 2>&1 &&
  touch "$WINEPREFIX/.pp-booted" ) &
WINEBOOT_PID=$!
wait_boot() {
    if [ -n "$WINEBOOT_PID" ]; then
        wait "$WINEBOOT_PID" || { cat "$WORK/wineboot.log"; die "wineboot failed"; }
        WINEBOOT_PID=
    fi
}
if $libs_ok; then
    wait_boot
    lap "Wine prefix (APR, CUnit up to date)"
    echo "[win-deps] ready: PP_WIN_DEPS=$PP_WIN_DEPS WINEPREFIX=$WINEPREFIX"
    exit 0
fi
rm -f "$STAMP"

# ---- 4. source packages (a private deb-src list; the system's sources are not touched) ------
SRC=$WORK/src
mkdir -p "$WORK/apt/lists/partial" "$SRC"
cat >"$WORK/apt/src.sources" <<'EOF'
Types: deb-src
URIs: http://deb.debian.org/debian
Suites: bookworm
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg
EOF
APTSRC=(-o Dir::Etc::SourceList="$WORK/apt/src.sources" -o Dir::Etc::SourceParts=/dev/null
        -o Dir::State::Lists="$WORK/apt/lists" -o Dir::Cache="$WORK/apt/cache")
if [ ! -f "$SRC/apr_$APR_V.orig.tar.bz2" ] || [ ! -f "$SRC/cunit_2.1-3-dfsg.orig.tar.gz" ]; then
    apt-get "${APTSRC[@]}" update -qq
    ( cd "$SRC" && apt-get "${APTSRC[@]}" source --download-only -qq apr cunit 2>/dev/null )
fi
[ -f "$SRC/apr_$APR_V.orig.tar.bz2" ] || die "Debian's apr source is not $APR_V any more"
[ -f "$SRC/cunit_2.1-3-dfsg.orig.tar.gz" ] || die "Debian's cunit source is not 2.1-3"
# Debian's own patches touch only Unix code, docs and CUnit's curses UI: the upstream
# tarballs are what the Windows build needs.
rm -rf "$SRC/apr-$APR_V" "$SRC/$CUNIT_DIR"
tar -C "$SRC" -xjf "$SRC/apr_$APR_V.orig.tar.bz2"
tar -C "$SRC" -xzf "$SRC/cunit_2.1-3-dfsg.orig.tar.gz"
lap "apt-get source apr cunit"

# ---- 5. CUnit (8 files: compiled directly, no build system needed) ---------------------------
CU=$SRC/$CUNIT_DIR/CUnit
rm -rf "$PP_WIN_DEPS/include/CUnit" "$WORK/build-cunit"
mkdir -p "$PP_WIN_DEPS/include/CUnit" "$WORK/build-cunit"
cp "$CU"/Headers/*.h "$PP_WIN_DEPS/include/CUnit/"
# The CUnit.h in the tarball is stale (2.1-2, without const casts): generate it as configure
# would from CUnit.h.in.
sed -e 's/@VERSION@/2.1/' -e 's/@RELEASE@/3/' "$CU/Headers/CUnit.h.in" \
    >"$PP_WIN_DEPS/include/CUnit/CUnit.h"
for f in "$CU"/Sources/Framework/*.c "$CU/Sources/Basic/Basic.c" \
         "$CU/Sources/Automated/Automated.c" "$CU/Sources/Console/Console.c"; do
    # -Wno-format: CUnit passes size_t for %*s widths (harmless on x64: 8-byte varargs).
    x86_64-w64-mingw32-gcc -O2 -Wno-format -I"$PP_WIN_DEPS/include/CUnit" \
        -I"$PP_WIN_DEPS/include" -c "$f" -o "$WORK/build-cunit/$(basename "$f" .c).o"
done
rm -f "$PP_WIN_DEPS/lib/libcunit.a"
x86_64-w64-mingw32-ar rcs "$PP_WIN_DEPS/lib/libcunit.a" "$WORK"/build-cunit/*.o
lap "CUnit static library"

# ---- 6. APR: three source fixes for mingw, then the static library --------------------------
# (a) gen_test_char.exe runs at build time: naming the target in COMMAND (not
#     $<TARGET_FILE:...>) makes CMake prepend CMAKE_CROSSCOMPILING_EMULATOR (wine64);
# (b) an MSVC-only token paste (##,) in the .rc version macro breaks windres;
# (c) "ShellAPI.h": the file system is case-sensitive.
( cd "$SRC/apr-$APR_V" && patch -p1 --quiet --forward ) <<'EOF'
--- a/CMakeLists.txt
+++ b/CMakeLists.txt
@@ -55,7 +55,7 @@
 ADD_CUSTOM_COMMAND(
   COMMENT "Generating character tables, apr_escape_test_char.h, for current locale"
   DEPENDS gen_test_char
-  COMMAND $<TARGET_FILE:gen_test_char> > ${PROJECT_BINARY_DIR}/apr_escape_test_char.h
+  COMMAND gen_test_char > ${PROJECT_BINARY_DIR}/apr_escape_test_char.h
   OUTPUT ${PROJECT_BINARY_DIR}/apr_escape_test_char.h
 )
 ADD_CUSTOM_TARGET(
--- a/include/apr_version.h
+++ b/include/apr_version.h
@@ -114,9 +114,9 @@
 
 /** An alternative formatted string of APR's version */
 /* macro for Win32 .rc files using numeric csv representation */
-#define APR_VERSION_STRING_CSV APR_MAJOR_VERSION ##, \
-                             ##APR_MINOR_VERSION ##, \
-                             ##APR_PATCH_VERSION
+#define APR_VERSION_STRING_CSV APR_MAJOR_VERSION, \
+                             APR_MINOR_VERSION, \
+                             APR_PATCH_VERSION
 
 
 #ifndef APR_VERSION_ONLY
--- a/misc/win32/apr_app.c
+++ b/misc/win32/apr_app.c
@@ -36,7 +36,7 @@
  */
 
 #include "apr_general.h"
-#include "ShellAPI.h"
+#include <shellapi.h>
 #include "wchar.h"
 #include "apr_arch_file_io.h"
 #include "assert.h"
EOF
wait_boot # gen_test_char runs under Wine: the prefix and its services must be up
lap "patch APR (+ wait for wineboot)"
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
rm -rf "$WORK/build-apr"
# Flags: COM_NO_WINDOWS_H: apr_private.h's __wtypes_h__ trick breaks mingw's ole2.h.
# USE_ATOMICS_GENERIC: include/arch/unix is on APR's include path, and its apr_arch_atomic.h
#   would ask for apr__atomic_generic64_init, which no win32 file defines (the win32
#   Interlocked* atomics are still the ones used).
# APR_HAVE_IPV6=OFF: ON needs iphlpapi.h / IF_NAMESIZE fixes for mingw.
# -Wno-error=...: gcc 14 and later make start.c's char *** -> const char * const ** an error.
cmake "${gen[@]}" -S "$SRC/apr-$APR_V" -B "$WORK/build-apr" -Wno-dev \
    -DCMAKE_TOOLCHAIN_FILE="$TOOLCHAIN" -DPP_WIN_DEPS="$PP_WIN_DEPS" -DCMAKE_BUILD_TYPE=Release \
    -DCMAKE_C_FLAGS="-DCOM_NO_WINDOWS_H -DUSE_ATOMICS_GENERIC -w -Wno-error=incompatible-pointer-types -Wno-error=int-conversion" \
    -DAPR_HAVE_IPV6=OFF >"$WORK/build-apr.log" 2>&1 ||
    { tail -30 "$WORK/build-apr.log"; die "APR configure failed"; }
timeout 1200 cmake --build "$WORK/build-apr" --target apr-1 -j "$JOBS" >>"$WORK/build-apr.log" 2>&1 ||
    { tail -30 "$WORK/build-apr.log"; die "APR build failed"; }
cp "$WORK/build-apr/libapr-1.a" "$PP_WIN_DEPS/lib/"
# Every include/apr_*.h: APR's own install list forgets apr_encode.h.
cp "$SRC/apr-$APR_V"/include/apr_*.h "$WORK/build-apr/apr.h" "$PP_WIN_DEPS/include/"
lap "APR static library"

echo "$WANT" >"$STAMP"
echo "[win-deps] ready: PP_WIN_DEPS=$PP_WIN_DEPS WINEPREFIX=$WINEPREFIX"
