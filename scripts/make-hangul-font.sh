#!/usr/bin/env bash
# Makes assets/AscendHangulSans.ttf, the font the charts embed: NanumGothic (SIL Open Font
# License 1.1, from Debian's fonts-nanum) cut to the characters charts print — Latin, Hangul
# syllables and jamo, punctuation, arrows, the won sign and the block elements of sparklines —
# without hinting, and renamed, as the licence asks of a modified font (its Reserved Font Names
# belong to the original). Needs apt-get (Debian) and pip (fonttools); run it only to remake
# the font.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$work" && apt-get download fonts-nanum >/dev/null)
dpkg-deb -x "$work"/fonts-nanum_*_all.deb "$work/pkg"
python3 -m pip install --quiet fonttools
pyftsubset "$work/pkg/usr/share/fonts/truetype/nanum/NanumGothic.ttf" \
    --unicodes="U+0020-007E,U+00A0-00FF,U+2010-2027,U+2030-205E,U+20A9,U+2190-2193,U+2581-2588,U+3000-303F,U+3131-318E,U+AC00-D7A3,U+FF01-FF5E" \
    --no-hinting --desubroutinize --output-file="$work/subset.ttf" 2>/dev/null
python3 - "$work/subset.ttf" assets/AscendHangulSans.ttf <<'PY'
import sys
from fontTools.ttLib import TTFont
font = TTFont(sys.argv[1])
names = {1: "Ascend Hangul Sans", 2: "Regular", 3: "Ascend Hangul Sans Regular",
         4: "Ascend Hangul Sans", 6: "AscendHangulSans-Regular", 16: "Ascend Hangul Sans",
         17: "Regular"}
table = font["name"]
for rec in list(table.names):
    if rec.nameID in names or rec.nameID in (16, 17):
        table.removeNames(nameID=rec.nameID)
for nid, text in names.items():
    table.setName(text, nid, 3, 1, 0x409)
    table.setName(text, nid, 1, 0, 0)
font.save(sys.argv[2])
PY
cp "$work/pkg/usr/share/doc/fonts-nanum/copyright" assets/AscendHangulSans.LICENSE
echo "wrote assets/AscendHangulSans.ttf ($(stat -c %s assets/AscendHangulSans.ttf) bytes)" >&2
