#!/usr/bin/env bash
# What the tests and the demo need from the system: mosquitto (the real MQTT 5
# broker of the integration tests), socat (pseudo-terminal pairs for serial
# tests), systemd-analyze and strace (unit checks), chromium (the dashboard's
# browser test), Python 3 with venv, and
# Node 24 with npm. Run by .ci/run and by
# `make setup` / `make test`; does nothing where everything is there already.
set -euo pipefail
NODE_MIN_MAJOR=24
NODE_PREFIX=/opt/gait-node
here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v socat >/dev/null 2>&1 || need+=(socat)
# Wanted, not required: the unit's checks (test/deploy/systemFiles.test.ts)
# use systemd-analyze verify, and strace to hold the syscalls Node and
# onnxruntime make against the unit's SystemCallFilter. Installed where we are
# root (CI); elsewhere those tests skip, saying so in their names.
want=()
command -v systemd-analyze >/dev/null 2>&1 || want+=(systemd)
command -v strace >/dev/null 2>&1 || want+=(strace)
# Debian's Chromium for the dashboard's browser test (test/dashboard), driven by
# playwright-core; playwright's own browser download cannot work offline.
[ -x /usr/bin/chromium ] || want+=(chromium)
command -v python3 >/dev/null 2>&1 || need+=(python3)
python3 -c 'import ensurepip' >/dev/null 2>&1 || need+=(python3-venv)  # Debian splits venv's pip out
# Node comes from deploy/install-node.sh, not apt (Debian 12's nodejs is 18); it
# fetches the pinned tarballs with the machine's own npm (`npm pack`), so a
# machine with no npm at all gets Debian's first (it only bootstraps).
command -v npm >/dev/null 2>&1 || need+=(npm)
if [ ${#want[@]} -gt 0 ] && [ "$(id -u)" -ne 0 ]; then
  echo "note: without ${want[*]} the systemd unit checks skip (sudo apt-get install -y ${want[*]} to run them)" >&2
  want=()
fi
need+=("${want[@]}")
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "missing Debian packages: ${need[*]}; run: sudo apt-get install -y ${need[*]}" >&2
    exit 1
  fi
  echo "installing Debian packages: ${need[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null
  # The Debian package starts a system broker on 1883; the project starts its own.
  (systemctl disable --now mosquitto >/dev/null 2>&1 || service mosquitto stop >/dev/null 2>&1 || true)
fi

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }
if [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
  found="$(command -v node >/dev/null 2>&1 && echo "$(command -v node) $(node --version)" || echo "no node")"
  if [ "$(id -u)" -ne 0 ]; then
    echo "Node.js $NODE_MIN_MAJOR or newer is needed (found: $found); install the pinned one with: sudo bash $here/../install-node.sh --link /usr/local/bin (see docs/deployment.md)" >&2
    exit 1
  fi
  echo "Node.js $NODE_MIN_MAJOR needed (found: $found): installing the pinned Node into $NODE_PREFIX, linked into /usr/local/bin"
  bash "$here/../install-node.sh" --prefix "$NODE_PREFIX" --link /usr/local/bin
  hash -r
  # /usr/local/bin must come before the old node's folder for every later step
  # (make, npm's `#!/usr/bin/env node` tools): say so instead of testing with Node 20.
  if [ "$(node_major)" -lt "$NODE_MIN_MAJOR" ]; then
    echo "installed Node $NODE_MIN_MAJOR in /usr/local/bin, but PATH finds $(command -v node) ($(node --version)) first: put /usr/local/bin before $(dirname "$(command -v node)") in PATH" >&2
    exit 1
  fi
fi
# npm must run on that Node too: its engine checks, allowScripts and the
# native-module resolution all follow the node that runs it.
npm_node="$(npm version --json 2>/dev/null | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{try{console.log(JSON.parse(s).node||"")}catch{console.log("")}})')"
if [ "${npm_node%%.*}" -lt "$NODE_MIN_MAJOR" ] 2>/dev/null || [ -z "$npm_node" ]; then
  echo "npm ($(command -v npm || echo missing)) runs on Node ${npm_node:-?}, not $NODE_MIN_MAJOR+: run npm from the same folder as node ($(command -v node)), e.g. sudo bash $here/../install-node.sh --link /usr/local/bin" >&2
  exit 1
fi
