#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Writes the King James Bible as plain text, one verse per line without its reference,
# from the installed Debian packages bible-kjv (the `bible` program) and
# bible-kjv-text (its compressed text, /usr/lib/bible.data). The KJV text is in the
# public domain (see /usr/share/doc/bible-kjv-text/copyright).
#   usage: extract_text.sh OUT.txt        prints the packages' versions and the text's sha256
set -eu
[ $# -eq 1 ] || { echo "usage: $0 OUT.txt" >&2; exit 2; }
for p in bible-kjv bible-kjv-text; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || {
        echo "$0: package $p is not installed (apt-get install bible-kjv)" >&2; exit 1; }
done
# -f turns pretty-printing off: one line per verse, "Ge1:1 In the beginning ...".
# The range Gen1:1-Rev22:21 is the whole book (bible(1), "Verse References").
bible -f "Gen1:1-Rev22:21" | sed 's/^[^ ]* //' > "$1.tmp"
n=$(wc -l < "$1.tmp")
[ "$n" -eq 31102 ] || { echo "$0: expected 31102 verses, got $n" >&2; exit 1; }
mv "$1.tmp" "$1"
echo "text: $(dpkg-query -W -f='${Package} ${Version}' bible-kjv), $(dpkg-query -W -f='${Package} ${Version}' bible-kjv-text); $n verses; sha256 $(sha256sum < "$1" | cut -d' ' -f1)"
