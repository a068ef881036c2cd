#!/usr/bin/env bash
# The static checks CI runs before the tests (.ci/run calls this): ruff's linter, ruff's
# formatter in check mode, and mypy. Exits non-zero when any of them finds something.
#   scripts/lint.sh            uses .venv/bin/ if it exists, else the tools on PATH
set -uo pipefail
cd "$(dirname "$0")/.."
root=$PWD
bin=""
[ -x .venv/bin/ruff ] && bin="$root/.venv/bin/"

status=0
echo "== ruff check"
"${bin}ruff" check . || status=1
echo "== ruff format --check"
"${bin}ruff" format --check . || status=1

# The sources live in checker/, quorum/, ... and install as replicheck.checker, ... through
# [tool.setuptools.package-dir]; mypy cannot follow that mapping (nor an editable
# install's import hook), so it checks a tree of symlinks laid out as the installed
# package, and the paths it prints are mapped back to the real files.
echo "== mypy"
stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
mkdir "$stage/replicheck"
for f in "$root"/replicheck/*.py; do  # __init__, testing, pytest_plugin
  ln -s "$f" "$stage/replicheck/$(basename "$f")"
done
for pkg in checker quorum model record cli engine; do
  ln -s "$root/$pkg" "$stage/replicheck/$pkg"
done
(cd "$stage" && "${bin}mypy" --config-file "$root/pyproject.toml" --cache-dir "$root/.mypy_cache" -p replicheck) \
  | sed -e 's#^replicheck/\(checker\|quorum\|model\|record\|cli\)/#\1/#' -e 's#^replicheck/__init__#replicheck/__init__#'
[ "${PIPESTATUS[0]}" -eq 0 ] || status=1
exit $status
