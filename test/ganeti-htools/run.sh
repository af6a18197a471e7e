#!/usr/bin/env bash
# Runs Ganeti's own htools shelltests (copied from Ganeti's source tree, see COPYING) against the htools of
# `corral` (its hbal, hspace, ... aliases, from dist/: build first) or of `ganeti` (Debian's ganeti-htools),
# with the data files Ganeti's test/hs/offline-test.sh prepares. Needs shelltestrunner.
#   test/ganeti-htools/run.sh corral|ganeti [shelltest options] [test files]
# With no test file, all of shelltests/ run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
which=${1:?say corral or ganeti}; shift
files=()
options=()
for arg in "$@"; do
  if [[ $arg == *.test ]]; then files+=("$(cd "$(dirname "$arg")" && pwd)/$(basename "$arg")"); else options+=("$arg"); fi
done
work=$(mktemp -d); export T=$(mktemp -d)
trap 'rm -rf "$work" "$T"' EXIT
mkdir -p "$work/test/hs" "$work/test/data"
cp -r "$here/data" "$work/test/data/htools"
tools=(hbal hspace hroller hail hcheck hinfo hsqueeze hscan)
for tool in "${tools[@]}"; do
  case $which in
    corral) ln -s "$root/dist/src/cli/main.js" "$work/test/hs/$tool" ;;
    ganeti) if [[ $tool == hail ]]; then ln -s /usr/lib/ganeti/iallocators/hail "$work/test/hs/hail";
            else ln -s "/usr/bin/$tool" "$work/test/hs/$tool"; fi ;;
    *) echo "say corral or ganeti, not $which" >&2; exit 2 ;;
  esac
done
# Corral's entry point needs Node 22, which the checkout pins.
export PATH="$root/node_modules/.bin:$PATH"
cd "$work"
export TESTDATA_DIR=./test/data/htools PYTHON=python3
# The data offline-test.sh builds before it runs the shelltests, built by the tools under test.
./test/hs/hspace --simu p,4,8T,64g,16 -S "$T/simu-onegroup" --disk-template drbd -l 8 -v -v -v >/dev/null 2>&1 || true
./test/hs/hspace --simu p,4,8T,64g,16 --simu p,4,8T,64g,16 -S "$T/simu-twogroups" --disk-template drbd -l 8 >/dev/null 2>&1 || true
./test/hs/hspace --simu u,4,8T,64g,16 --simu p,4,8T,64g,16 -S "$T/simu-rebal-orig" --disk-template drbd -l 8 >/dev/null 2>&1 || true
for suffix in standard tiered; do
  if [[ -f "$T/simu-rebal-orig.$suffix" ]]; then
    sed -re 's/^(node-.*|fake-uuid-)-02(|.*)/\1-01\2/' <"$T/simu-rebal-orig.$suffix" >"$T/simu-rebal-merged.$suffix"
  fi
done
export BACKEND_BAL_STD="-t$T/simu-rebal-merged.standard" BACKEND_BAL_TIER="-t$T/simu-rebal-merged.tiered"
export BACKEND_DYNU="-t $T/simu-onegroup.standard" BACKEND_EXCL="-t $T/simu-onegroup.standard"
for mode in primary-only secondary-only all; do
  sed -e 's/"evac_mode": "all"/"evac_mode": "'$mode'"/' -e 's/"spindles": [0-9]\+,//' \
    <"$TESTDATA_DIR/hail-node-evac.json" >"$T/hail-node-evac.json.$mode"
done
for base in hail-alloc-drbd hail-alloc-invalid-twodisks hail-alloc-twodisks hail-change-group hail-node-evac \
  hail-reloc-drbd hail-alloc-spindles; do
  sed -e 's/"exclusive_storage": false/"exclusive_storage": true/' \
    <"$TESTDATA_DIR/$base.json" >"$T/$base.json.excl-stor"
  sed -e 's/"exclusive_storage": false/"exclusive_storage": true/' -e 's/"spindles": [0-9]\+,//' \
    <"$TESTDATA_DIR/$base.json" >"$T/$base.json.fail-excl-stor"
done
mkdir -p "$T/hscan"
export RAPI_URL="file://$TESTDATA_DIR/rapi"
./test/hs/hscan -d "$T/hscan/" -p -v -v "$RAPI_URL" >/dev/null 2>&1 || true
RAPI_TXT="$(ls "$T"/hscan/*.data | head -n1)"
./test/hs/hinfo -p --print-instances -m "$RAPI_URL" >"$T/hscan/direct.hinfo" 2>&1 || true
./test/hs/hinfo -p --print-instances -t "$RAPI_TXT" >"$T/hscan/fromtext.hinfo" 2>&1 || true
((${#files[@]} > 0)) || files=("$here"/shelltests/*.test)
shelltest "${options[@]}" "${files[@]}"
