#!/bin/sh
# The Debian packages of the libraries the given ELF files link directly
# (their NEEDED entries), comma-separated: the library part of the
# package's Depends, as dpkg-shlibdeps would find it without a debian/ dir.
# libcurl4 and libarchive13 are named in control.in: crio dlopens them for
# pulls (images/pull_libs.c), so they are no NEEDED entry.
set -eu
for elf in "$@"; do
  objdump -p "$elf" | awk '/NEEDED/ {print $2}'
done | sort -u | while read -r soname; do
  path=$(ldconfig -p | awk -v s="$soname" '$1 == s && /x86-64|aarch64|64bit/ {print $NF; exit}')
  [ -n "$path" ] || path=$(ldconfig -p | awk -v s="$soname" '$1 == s {print $NF; exit}')
  [ -n "$path" ] || continue
  real=$(readlink -f "$path")
  pkg=$(dpkg -S "$real" 2>/dev/null || dpkg -S "$path" 2>/dev/null || true)
  [ -n "$pkg" ] && echo "${pkg%%:*}"
done | sort -u | paste -sd, - | sed 's/,/, /g'
