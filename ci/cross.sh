# shellcheck shell=bash
# The toolchains of the two targets the agent ships for, and the checks every binary passes.
# Source this file, then:
#   cross_setup TARGET             install what building for TARGET needs (when absent) and export
#                                  the cargo/cc variables for it
#   cross_runner_setup TARGET      also install and export what runs TARGET's binaries here
#                                  (qemu-aarch64-static for aarch64; nothing on x86_64)
#   cross_check_binary TARGET BIN  the binary is static, for TARGET's machine, and its C code
#                                  (the allocator) was compiled against musl, not glibc
#   cross_rpm_arch TARGET          the RPM architecture of TARGET (x86_64, aarch64)
#
# aarch64 uses Debian's cross compiler (gcc-aarch64-linux-gnu) with Debian's musl headers for
# arm64 (musl-dev:arm64, through dpkg's multiarch): its aarch64-linux-musl-gcc wrapper is the same
# compiler with musl's specs file (-nostdinc, musl's include directory), exactly what musl-gcc is
# for x86_64. The compiler only compiles: cargo links with the target's own musl (Rust's
# self-contained crt objects and libc.a), through aarch64-linux-gnu-gcc, as cc links x86_64.

CROSS_MUSL_HEADERS_aarch64=/usr/include/aarch64-linux-musl

cross_log() { echo "cross: $*" >&2; }

cross_arch() { echo "${1%%-*}"; }

cross_rpm_arch() { cross_arch "$1"; }

# The ELF machine readelf -h names for the target.
cross_elf_machine() {
  case $(cross_arch "$1") in
    x86_64) echo "Advanced Micro Devices X86-64" ;;
    aarch64) echo "AArch64" ;;
    *) cross_log "unknown target $1"; return 1 ;;
  esac
}

cross_apt_install() { # PACKAGE... (the missing ones are installed)
  local missing=() p
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  cross_log "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

cross_setup() {
  local target=$1
  rustup target list --installed | grep -qx "$target" || rustup target add "$target" >&2
  case $target in
    x86_64-unknown-linux-musl)
      # The allocator is C, compiled for musl by musl-gcc.
      if ! command -v musl-gcc >/dev/null 2>&1; then
        if command -v apt-get >/dev/null 2>&1; then
          cross_apt_install musl-tools
        else
          dnf install -y -q musl-gcc >/dev/null
        fi
      fi
      export CC_x86_64_unknown_linux_musl=${CC_x86_64_unknown_linux_musl:-musl-gcc}
      ;;
    aarch64-unknown-linux-musl)
      command -v apt-get >/dev/null 2>&1 || {
        cross_log "the aarch64 build needs Debian's gcc-aarch64-linux-gnu and musl-dev:arm64 (apt)"
        return 1
      }
      if ! dpkg --print-foreign-architectures | grep -qx arm64; then
        cross_log "adding dpkg architecture arm64 (for musl-dev:arm64, musl's aarch64 headers)"
        dpkg --add-architecture arm64
        apt-get update -qq
      fi
      cross_apt_install gcc-aarch64-linux-gnu musl-dev:arm64
      export CC_aarch64_unknown_linux_musl=${CC_aarch64_unknown_linux_musl:-aarch64-linux-musl-gcc}
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_LINKER:-aarch64-linux-gnu-gcc}
      ;;
    *) cross_log "unsupported target $target"; return 1 ;;
  esac
  cross_check_compiler "$target"
}

# The C compiler cargo will use for the target sees musl's headers and not glibc's: glibc's
# headers would give the allocator glibc's struct layouts (pthread_mutex_t is 48 bytes on
# aarch64 glibc, 40 on musl) and glibc-only symbols, linked against musl's libc.a.
cross_check_compiler() {
  local target=$1 var cc macros
  var=CC_${target//-/_}
  cc=${!var}
  macros=$(echo '#include <stdio.h>' | $cc -E -dM -x c - 2>&1) || {
    cross_log "$cc cannot preprocess for $target: $macros"
    return 1
  }
  if grep -q '__GLIBC__' <<<"$macros"; then
    cross_log "$cc compiles $target code against glibc's headers (__GLIBC__ is defined)"
    return 1
  fi
}

cross_runner_setup() {
  local target=$1
  case $target in
    aarch64-unknown-linux-musl)
      cross_apt_install qemu-user-static
      export CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER=${CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER:-qemu-aarch64-static}
      # What the tests start themselves (the agent, their own binary) goes through it too:
      # see tests/common (binfmt_misc may not be there to hand aarch64 binaries to qemu).
      export AOPS_TEST_RUNNER=$CARGO_TARGET_AARCH64_UNKNOWN_LINUX_MUSL_RUNNER
      ;;
  esac
}

cross_check_binary() {
  local target=$1 bin=$2 machine want
  want=$(cross_elf_machine "$target")
  machine=$(LC_ALL=C readelf -h "$bin" | sed -n 's/^ *Machine: *//p')
  if [ "$machine" != "$want" ]; then
    cross_log "$bin is for '$machine', not '$want'"
    return 1
  fi
  # The package declares no library dependencies: no program interpreter, no shared library.
  if LC_ALL=C readelf -lW "$bin" | grep -q 'Requesting program interpreter' \
      || LC_ALL=C readelf -dW "$bin" 2>/dev/null | grep -q '(NEEDED)'; then
    cross_log "$bin is not statically linked:"
    LC_ALL=C readelf -lW "$bin" | grep -i interpreter >&2 || true
    LC_ALL=C readelf -dW "$bin" | grep NEEDED >&2 || true
    return 1
  fi
  cross_check_c_symbols "$target" "$bin"
}

# Every symbol the allocator's C objects take from outside is one that musl (the target's libc.a
# that the binary is linked with) or the compiler's runtime (Rust's compiler-builtins) defines:
# none of glibc's fortify (__*_chk), ISO C (__isoc99_*) or stat (__xstat) entry points, which
# glibc's headers would have referenced.
cross_check_c_symbols() {
  local target=$1 bin=$2 build_dir lib rustlib undefined defined missing
  build_dir=$(dirname "$bin")/build
  lib=$(ls -t "$build_dir"/libmimalloc-sys-*/out/libmimalloc.a 2>/dev/null | head -n 1)
  [ -n "$lib" ] || { cross_log "no libmimalloc.a under $build_dir"; return 1; }
  rustlib=$(rustc --print sysroot)/lib/rustlib/$target/lib
  [ -f "$rustlib/self-contained/libc.a" ] || { cross_log "no $rustlib/self-contained/libc.a"; return 1; }
  undefined=$(LC_ALL=C readelf -sW "$lib" | awk '$7 == "UND" && $8 != "" {print $8}' | sort -u)
  # (readelf says nothing useful about the rlib's metadata member: only its objects count.)
  defined=$( { echo _GLOBAL_OFFSET_TABLE_
    LC_ALL=C readelf -sW "$rustlib/self-contained/libc.a" "$rustlib"/libcompiler_builtins-*.rlib 2>/dev/null \
      | awk '$7 != "UND" && ($5 == "GLOBAL" || $5 == "WEAK") {print $8}'; } | sort -u)
  missing=$(comm -23 <(echo "$undefined") <(echo "$defined"))
  if [ -n "$missing" ]; then
    cross_log "$lib references symbols neither musl nor compiler-builtins defines: $(echo "$missing" | tr '\n' ' ')"
    return 1
  fi
  cross_log "$(basename "$bin") ($target): static, $(cross_elf_machine "$target"), its C objects take $(echo "$undefined" | wc -l) symbols, all from musl or compiler-builtins"
}
