#!/bin/sh
# A tiny figlet: prints its arguments (or $FIGLET_GREETING, else "hello") as 5-row block letters.
# Pure POSIX sh + awk, so it runs on busybox; the font is font.txt next to this script.
here=${0%/*}
# awk is an applet of busybox: some minimal images link only a few applets, so fall back to
# calling it through busybox itself.
if command -v awk >/dev/null 2>&1; then awk=awk; else awk="busybox awk"; fi
text="${*:-${FIGLET_GREETING:-hello}}"
printf '%s\n' "$text" | $awk -v fontfile="$here/font.txt" '
BEGIN {
    FS = "\t"
    while ((getline line < fontfile) > 0) {
        if (line ~ /^#/ || line == "") continue
        split(line, parts, "\t")
        key = parts[1] == "SPACE" ? " " : parts[1]
        glyph[key] = parts[2]
    }
}
{
    text = toupper($0)
    for (row = 1; row <= 5; row++) {
        out = ""
        for (i = 1; i <= length(text); i++) {
            c = substr(text, i, 1)
            g = (c in glyph) ? glyph[c] : glyph["?"]
            split(g, rows, "|")
            cell = rows[row]
            gsub(/\./, " ", cell)
            out = out cell " "
        }
        sub(/ +$/, "", out)
        print out
    }
}'
