#!/bin/sh
# build-web.sh: copy the screen page (web/src) and ECharts from npm
# (web/node_modules, installed by scripts/install-browser.sh or npm ci)
# into build/web, the report daemon's static_dir. Quiet when up to date.
set -eu
cd "$(dirname "$0")/.."
out=build/web
echarts=web/node_modules/echarts/dist/echarts.min.js
if [ ! -f "$echarts" ]; then
    (cd web && npm ci --no-audit --no-fund --silent) || {
        echo "build-web: web/node_modules is missing and npm ci failed" >&2; exit 1; }
fi
mkdir -p "$out"
for f in web/src/*; do
    cmp -s "$f" "$out/$(basename "$f")" 2>/dev/null || cp "$f" "$out/"
done
cmp -s "$echarts" "$out/echarts.min.js" 2>/dev/null || cp "$echarts" "$out/echarts.min.js"
