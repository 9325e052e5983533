#!/usr/bin/env bash
# The report page's rendering dependency (issue 14): what plotters adds to
# a cold release build, against the sizes of the JavaScript chart libraries
# that could be vendored inline instead, and the page the bundled run
# publishes. Needs npm (for the libraries' published files) and farm-bench.
#   bash bench/page.sh
set -euo pipefail
cd "$(dirname "$0")/.."
cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
target="$cache/bench-page-target"

echo "== cold release build: plotters (svg, lines, points, error bars) vs none"
farm-bench -n 3 --warmup 0 --timeout 900 \
    --vs "sh -c 'cargo clean -q --manifest-path bench/page/Cargo.toml --target-dir $target && cargo build -q --release --manifest-path bench/page/Cargo.toml --target-dir $target'" \
    -- sh -c "cargo clean -q --manifest-path bench/page/Cargo.toml --target-dir $target && cargo build -q --release --features charts --manifest-path bench/page/Cargo.toml --target-dir $target"
cargo build -q --release --features charts --manifest-path bench/page/Cargo.toml --target-dir "$target"
"$target/release/page-bench"

echo "== JavaScript chart libraries, as published on npm (bytes, and gzipped)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$work" && npm pack --silent uplot@1.6.32 chart.js@4.6.1 echarts@6.1.0 >/dev/null)
for pair in "uplot-1.6.32.tgz package/dist/uPlot.iife.min.js" \
            "chart.js-4.6.1.tgz package/dist/chart.umd.min.js" \
            "echarts-6.1.0.tgz package/dist/echarts.min.js"; do
    set -- $pair
    tar xzf "$work/$1" -C "$work" "$2"
    printf '%-18s %9d bytes  %8d gzipped\n' "$1" "$(wc -c <"$work/$2")" "$(gzip -c "$work/$2" | wc -c)"
    rm -rf "$work/package"
done

echo "== the bundled run's page (release build, run date 2025-06-30)"
cargo build -q --release
sed -e "s#^warehouse: ../warehouse#warehouse: $work/warehouse#" \
    -e "s#^landing: ../testdata#landing: $PWD/testdata#" \
    -e "s#^queries: ../queries#queries: $PWD/queries#" config/advocacy.yaml >"$work/config.yaml"
"${CARGO_TARGET_DIR:-target}/release/advocacy" run --config "$work/config.yaml" --date 2025-06-30 2>/dev/null \
    | grep -E '^(phase|page) ' || true
python3 - "$work/warehouse/reports/index.html" <<'PY'
import gzip, re, sys
html = open(sys.argv[1], encoding="utf-8").read()
svgs = re.findall(r"<svg.*?</svg>", html, re.S)
print(f"index.html {len(html)} bytes, {len(gzip.compress(html.encode()))} gzipped; "
      f"{len(svgs)} SVG charts, {sum(map(len, svgs))} bytes, largest {max(map(len, svgs))}")
PY
