# The mobile library's build settings and packaging checks, shared by scripts/build-android.sh (the
# app's libraries, run by Gradle) and scripts/test-arm64.sh (the ARM64 proof in the test command), so
# the library the tests prove is built exactly as the one the app ships. Source it; it defines:
#
#   MOBILE_FEATURES        the core's features of the mobile library
#   MOBILE_PROFILE         its Cargo profile
#   MOBILE_MAX_STRIPPED_BYTES  the size guard (below)
#   check_mobile_lib SO    the packaging rules, failing on the first one broken:
#                            - it needs no OpenSSL library (libcrypto / libssl): SQLCipher's crypto is
#                              linked in, as a phone has no system OpenSSL (readelf -d);
#                            - every LOAD segment is aligned to 16 KB pages or more, which Android 15+
#                              devices with 16 KB pages need to load it (readelf -l);
#                            - it exports only the UniFFI surface (uniffi_*, ffi_roadside_core_* and the
#                              UNIFFI_META_* metadata the binding generator reads):
#                              nothing of the statically linked SQLCipher, OpenSSL or ring is callable
#                              from outside (readelf --dyn-syms).
#   stripped_size SO STRIP prints the size in bytes of SO stripped of its symbol table by STRIP, as an
#                          app carries it (the Android Gradle plugin strips native libraries the same way)

MOBILE_FEATURES=mobile
MOBILE_PROFILE=release-mobile
# The most a mobile library may weigh stripped before a build fails: a guard against growth, set
# above the libraries as they are with OpenSSL linked in (ARM64 11.3 MiB, x86-64 12.4 MiB,
# BENCHMARKS.md). The target of 8 MiB per ABI is not met; BENCHMARKS.md says where the size goes.
MOBILE_MAX_STRIPPED_BYTES=$((14 << 20))

check_mobile_lib() {
  local so="$1"
  [ -f "$so" ] || { echo "check_mobile_lib: $so does not exist" >&2; return 1; }

  local needed
  needed="$(readelf -d "$so" | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p')"
  if printf '%s\n' "$needed" | grep -E '^lib(crypto|ssl)\.so' >/dev/null; then
    echo "FAIL $so needs an OpenSSL library: $(printf '%s ' $needed)" >&2
    return 1
  fi

  # LOAD lines of `readelf -lW`: Type Offset VirtAddr PhysAddr FileSiz MemSiz Flg Align (Flg may be
  # two words, so the alignment is the last field).
  local aligns bad
  aligns="$(readelf -lW "$so" | awk '$1 == "LOAD" { print $NF }')"
  [ -n "$aligns" ] || { echo "FAIL $so has no LOAD segment" >&2; return 1; }
  bad="$(printf '%s\n' "$aligns" | while read -r a; do [ $((a)) -ge 16384 ] || echo "$a"; done)"
  if [ -n "$bad" ]; then
    echo "FAIL $so has LOAD segments aligned below 16 KB: $(printf '%s ' $bad)" >&2
    return 1
  fi

  # Defined global or weak symbols of the dynamic symbol table (Ndx is not UND).
  local exported others
  exported="$(readelf -W --dyn-syms "$so" |
    awk '$1 ~ /^[0-9]+:$/ && ($5 == "GLOBAL" || $5 == "WEAK") && $7 != "UND" { sub(/@.*/, "", $8); print $8 }')"
  others="$(printf '%s\n' "$exported" | grep -Ev '^(uniffi_|ffi_roadside_core_|UNIFFI_META_)' || true)"
  if [ -n "$others" ]; then
    echo "FAIL $so exports symbols outside the UniFFI surface:" >&2
    printf '  %s\n' $others | head -20 >&2
    return 1
  fi
  echo "   ok $so: needs $(printf '%s ' $needed)| LOAD aligned $(printf '%s\n' "$aligns" | sort -u | tr '\n' ' ')| exports $(printf '%s\n' "$exported" | grep -c .) UniFFI symbols only"
}

stripped_size() {
  local so="$1" strip="$2" tmp
  tmp="$(mktemp)"
  "$strip" --strip-all -o "$tmp" "$so"
  stat -c %s "$tmp"
  rm -f "$tmp"
}
