#!/usr/bin/env bash
# Builds the native media relay addon with AddressSanitizer and
# UndefinedBehaviorSanitizer into a separate build directory
# (native/build-sanitize/, gitignored; native/build/ is left alone) and runs
# the relay fuzz driver (test/fuzz/relay-fuzz.ts) against it.
#
#   bash scripts/native-sanitize.sh [--packets N] [--seed N]
#
# Needs gcc/g++ with libasan and libubsan (Debian: gcc-12, libasan8,
# libubsan1; clang users: libclang-rt-14-dev). Node itself is not built with
# ASan, so the ASan runtime is LD_PRELOADed into node; leak detection is off
# (V8 and Node keep memory until exit by design). Any sanitizer report stops
# the run with a non-zero status; the fuzz driver's own invariants (counters
# finite and non-negative, descriptors back to baseline) apply as well.
set -euo pipefail

root="$(cd "$(dirname "$0")/.." && pwd)"
work="$root/native/build-sanitize"
packets=200000
seed=$(( $(date +%s) % 1000000 ))
while [ $# -gt 0 ]; do
  case "$1" in
    --packets) packets="$2"; shift 2 ;;
    --seed) seed="$2"; shift 2 ;;
    *) echo "usage: $0 [--packets N] [--seed N]" >&2; exit 2 ;;
  esac
done

asan="$(gcc -print-file-name=libasan.so)"
if [ ! -e "$asan" ] || [ "$asan" = "libasan.so" ]; then
  echo "libasan not found (install gcc's libasan, e.g. apt-get install libasan8)" >&2
  exit 1
fi

# A copy of binding.gyp with the sanitizer flags; sources are used in place.
mkdir -p "$work"
ln -sfn "$root/native/src" "$work/src"
node -e '
  const fs = require("fs");
  const [src, dst] = process.argv.slice(1);
  const gyp = JSON.parse(fs.readFileSync(src, "utf8"));
  const t = gyp.targets[0];
  const san = ["-fsanitize=address,undefined", "-fno-sanitize-recover=undefined", "-fno-omit-frame-pointer", "-g"];
  t.cflags_cc = t.cflags_cc.filter((f) => f !== "-O2").concat(["-O1"], san);
  t.cflags = (t.cflags || []).concat(san);
  t.ldflags = (t.ldflags || []).concat(["-fsanitize=address,undefined"]);
  fs.writeFileSync(dst, JSON.stringify(gyp, null, 2));
' "$root/native/binding.gyp" "$work/binding.gyp"

echo "== building the addon with -fsanitize=address,undefined in $work"
(cd "$root" && npx node-gyp rebuild --directory "$work" >"$work/build.log" 2>&1) || { tail -30 "$work/build.log"; exit 1; }
addon="$work/build/Release/media_relay.node"
ldd "$addon" | grep -E "asan|ubsan" || { echo "addon is not linked against the sanitizer runtimes" >&2; exit 1; }

echo "== fuzz: $packets packets, seed $seed, under ASan+UBSan"
export ASAN_OPTIONS="detect_leaks=0:abort_on_error=1:halt_on_error=1:detect_odr_violation=0:allocator_may_return_null=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"
cd "$root"
LD_PRELOAD="$asan" node --import tsx test/fuzz/relay-fuzz.ts --packets "$packets" --seed "$seed" --addon "$addon"
echo "== sanitizer run clean"
