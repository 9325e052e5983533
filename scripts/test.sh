#!/usr/bin/env bash
# The whole test suite, exactly as CI runs it (.ci/run calls this).
# It installs what the tests need and nothing else: moto, an S3-compatible
# server the storage tests start themselves on a free 127.0.0.1 port,
# numpy and scipy for the CLV reference and jsonschema for the config
# schema, in a virtualenv under ~/.cache/advocacy (reused across runs);
# checkov for the Kubernetes manifests, in a virtualenv of its own; the
# CDNOW sample data the CLV tests check the models against; and Debian's
# Chromium with playwright-core for the report page.
set -euo pipefail
cd "$(dirname "$0")/.."

cache="${ADVOCACY_CACHE:-$HOME/.cache/advocacy}"
# One shared build directory outside the clone, so CI reuses earlier builds.
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-$cache/target}"
# With Ballista built in, as the container image has it (tests/cluster.rs).
test_command=(cargo test --locked --features ballista)
# The build starts first and the installs below go on beside it: they wait
# on the network, it on the CPU (on a fresh machine this saves the two
# minutes the installs take). The tests wait for both.
"${test_command[@]}" --no-run &
build=$!
trap '[ -z "$build" ] || kill "$build" 2>/dev/null || true' EXIT

venv="$cache/venv"
if [ ! -x "$venv/bin/moto_server" ]; then
    echo "installing moto (S3 test server) into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]>=5.1,<6'
fi
export ADVOCACY_MOTO_SERVER="$venv/bin/moto_server"
# numpy and scipy compute the CLV back-test's reference independently
# (tests/reference/clv_backtest.py).
if ! "$venv/bin/python" -c 'import numpy, scipy' 2>/dev/null; then
    echo "installing numpy and scipy (CLV reference) into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'numpy>=1.26,<3' 'scipy>=1.11,<2'
fi
# jsonschema checks the config's JSON Schema (advocacy config-schema) as an
# editor would (tests/cli/contract.rs).
if ! "$venv/bin/python" -c 'import jsonschema' 2>/dev/null; then
    echo "installing jsonschema (config schema check) into $venv" >&2
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'jsonschema>=4.17,<5'
fi
export ADVOCACY_PYTHON="$venv/bin/python"
# checkov lints the rendered Kubernetes manifests (tests/deploy.rs), in a
# virtualenv of its own: its pinned dependencies would fight moto's.
checkov_venv="$cache/checkov-venv"
if [ ! -x "$checkov_venv/bin/checkov" ]; then
    echo "installing checkov (manifest lint) into $checkov_venv" >&2
    python3 -m venv "$checkov_venv"
    "$checkov_venv/bin/pip" install --quiet --disable-pip-version-check 'checkov>=3.2,<4'
fi
export ADVOCACY_CHECKOV="$checkov_venv/bin/checkov"

# The CDNOW sample (Fader, Hardie & Lee 2005) that the CLV models' unit tests
# (src/functions/clv/) hold them to ships inside the lifetimes wheel on PyPI: downloaded
# once into the cache (checked against its hash), never committed.
cdnow_dir="$cache/lifetimes-0.11.3"
cdnow="$cdnow_dir/lifetimes/datasets/cdnow_customers_summary_with_transactions.csv"
if [ ! -f "$cdnow" ]; then
    echo "downloading the CDNOW sample (lifetimes 0.11.3 wheel) into $cdnow_dir" >&2
    wheel="$cdnow_dir/Lifetimes-0.11.3-py3-none-any.whl"
    "$venv/bin/pip" download --quiet --disable-pip-version-check --no-deps \
        lifetimes==0.11.3 -d "$cdnow_dir"
    echo "261e3dc89977c2b60767ca6728aaa29d429de0c814635070a749c36555895da8  $wheel" \
        | sha256sum --check --quiet
    python3 -m zipfile -e "$wheel" "$cdnow_dir"
fi
export ADVOCACY_CDNOW_SUMMARY="$cdnow"

# The report page test (tests/page.rs) opens reports/index.html in Debian's
# Chromium, driven by playwright-core at the version tests/browser's lock
# file pins (it downloads no browser of its own), installed under the cache.
if [ ! -x /usr/bin/chromium ]; then
    echo "installing Debian's chromium (report page test)" >&2
    sudo=""
    [ "$(id -u)" = 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq chromium >/dev/null
fi
browser="$cache/browser"
if ! cmp -s tests/browser/package-lock.json "$browser/package-lock.json" \
    || [ ! -d "$browser/node_modules/playwright-core" ]; then
    echo "installing playwright-core into $browser" >&2
    mkdir -p "$browser"
    cp tests/browser/package.json tests/browser/package-lock.json "$browser/"
    (cd "$browser" && npm ci --no-audit --no-fund --loglevel=error)
fi
export ADVOCACY_BROWSER_MODULES="$browser/node_modules"

wait "$build"
build=""
# Every suite runs here, the slow ones too (tests/main.rs).
export ADVOCACY_SLOW_TESTS=1
"${test_command[@]}"
