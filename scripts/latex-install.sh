#!/usr/bin/env bash
# pdflatex + booktabs for the LaTeX report test (tests/it/report.rs), from
# Debian's texlive-latex-recommended (17 packages without recommends, ~40 s).
# Exit 0 when pdflatex is there afterwards; 1 when it cannot be installed here
# (not root, no apt-get), and the test then skips loudly.
set -u
command -v pdflatex >/dev/null && exit 0
[ "$(id -u)" = 0 ] && command -v apt-get >/dev/null || exit 1
echo "==> installing pdflatex + booktabs (texlive-latex-recommended) for the LaTeX report test" >&2
export DEBIAN_FRONTEND=noninteractive
pkg="texlive-latex-recommended"
apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null 2>&1 ||
  { apt-get update -qq >/dev/null && apt-get install -y -qq --no-install-recommends "$pkg" >/dev/null; } || exit 1
command -v pdflatex >/dev/null
