#!/usr/bin/env bash
# Makes sure GLUE SST-2 (train.tsv, dev.tsv) is in the folder given (default ../shared/data/sst2).
# Here it is provided; elsewhere it is downloaded from the GLUE mirror where there is internet.
set -euo pipefail
dest=${1:-../shared/data/sst2}
[ -f "$dest/train.tsv" ] && [ -f "$dest/dev.tsv" ] && exit 0
echo "SST-2 not found in $dest: downloading GLUE SST-2 ..."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
python3 - "$tmp" <<'PY'
import sys, urllib.request, zipfile
url = "https://dl.fbaipublicfiles.com/glue/data/SST-2.zip"
path = sys.argv[1] + "/SST-2.zip"
urllib.request.urlretrieve(url, path)
zipfile.ZipFile(path).extractall(sys.argv[1])
PY
mkdir -p "$dest"
cp "$tmp/SST-2/train.tsv" "$tmp/SST-2/dev.tsv" "$dest/"
