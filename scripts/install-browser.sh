#!/bin/sh
# install-browser.sh: what the screen's build and browser test need —
# Debian's chromium and CJK fonts, node and npm, and the npm packages of
# web/ (ECharts) and tests/browser/ (playwright-core) from their lock
# files. Idempotent and quiet when everything is there. tests/browser pins
# a playwright-core whose engines accept Debian 12's own nodejs (18.x).
set -eu
cd "$(dirname "$0")/.."
PACKAGES="chromium fonts-noto-cjk nodejs npm"
missing=""
for p in $PACKAGES; do
    # nodejs from another source may bundle npm: then npm need not be a package
    if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
    echo "install-browser: installing$missing"
    SUDO=""
    [ "$(id -u)" -eq 0 ] || SUDO=sudo
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    # shellcheck disable=SC2086
    $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi
for d in web tests/browser; do
    # npm ci when node_modules is missing or older than the lock file
    if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules/.package-lock.json" ]; then
        echo "install-browser: npm ci in $d"
        (cd "$d" && npm ci --no-audit --no-fund --silent)
    fi
done
# the node found must be one the pinned playwright-core runs on: say so
# here rather than fail inside the browser test
(cd tests/browser && node -e '
const want = require("playwright-core/package.json").engines.node;
const min = /^>=\s*(\d+)/.exec(want);
const have = Number(process.versions.node.split(".")[0]);
if (min && have < Number(min[1])) {
    console.error("install-browser: node " + process.versions.node + " is too old for playwright-core " +
                  require("playwright-core/package.json").version + " (needs node " + want + ")");
    process.exit(1);
}') || exit 1
