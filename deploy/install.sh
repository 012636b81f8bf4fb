#!/usr/bin/env bash
# Installs gait-edge as a systemd service on Raspberry Pi OS 64-bit (Debian
# bookworm arm64) or a Jetson (Ubuntu 20.04/22.04 arm64). docs/deployment.md
# walks through it. Run from a checkout of the repository:
#
#   sudo deploy/install.sh                    install or upgrade, enable the service
#   deploy/install.sh --dry-run               print every step, change nothing
#   deploy/install.sh --root /tmp/img --no-npm
#                                             lay the files out under /tmp/img (tests,
#                                             image builds); system commands (apt,
#                                             useradd, systemctl, udevadm) are printed
# options:
#   --root DIR        install under DIR instead of /; needs no root rights
#   --dry-run         print what would be done, change nothing
#   --node MODE       pinned (default): the Node 24 + npm the project tests with,
#                     from the npm registry into /opt/gait-node (deploy/install-node.sh;
#                     the unit runs /opt/gait-node/bin/node); skip: leave
#                     /opt/gait-node alone (an offline image that has it already)
#   --no-apt          install no Debian packages at all
#   --with-ble        BLE sensors: bluez, and the unit drop-in that grants the BLE
#                     capabilities and AF_BLUETOOTH (gait-edge.service.d/ble.conf);
#                     an install without it removes that drop-in
#   --with-mosquitto  also install mosquitto with deploy/mosquitto/{mosquitto.conf,acl}
#   --skip-build      use the dist/ already built in the checkout (`npm run build`)
#                     and install production dependencies only
#   --no-npm          copy the app without installing dependencies or building
#   --no-enable       do not enable or (re)start the service
#   --config FILE     first config to put in /etc/gait-edge/gait-edge.json
#                     (default deploy/config/gait-edge.json; an existing config is
#                     never overwritten)
# environment:
#   GAIT_NODE_TARBALLS     offline Node/npm tarballs for install-node.sh (still sha512-checked)
#   GAIT_INSTALL_ARCH      pretend `uname -m` says this (tests)
#   GAIT_INSTALL_USERLAND  pretend `dpkg --print-architecture` says this (tests)
set -euo pipefail

APP_DIR=/opt/gait-edge
CONF_DIR=/etc/gait-edge
CONF_FILE=$CONF_DIR/gait-edge.json
STATE_DIR=/var/lib/gait-edge
LOG_DIR=/var/log/gait-edge
UNIT_FILE=/etc/systemd/system/gait-edge.service
BLE_DROPIN=/etc/systemd/system/gait-edge.service.d/ble.conf
NODE_PREFIX=/opt/gait-node
UDEV_FILE=/etc/udev/rules.d/99-gait-imu.rules
LOGROTATE_FILE=/etc/logrotate.d/gait-edge
SERVICE_USER=gait-edge

SOURCE="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ROOT=""
DRY_RUN=0
NODE_MODE=pinned
APT=1
WITH_BLE=0
WITH_MOSQUITTO=0
SKIP_BUILD=0
NO_NPM=0
ENABLE=1
CONFIG_SOURCE="$SOURCE/deploy/config/gait-edge.json"

die() { echo "install: error: $*" >&2; exit 1; }
say() { echo "==> $*"; }
note() { echo "    $*"; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
  case "$1" in
    --root) ROOT="${2:?--root needs a directory}"; shift 2 ;;
    --root=*) ROOT="${1#--root=}"; shift ;;
    --dry-run) DRY_RUN=1; shift ;;
    --node) NODE_MODE="${2:?--node needs pinned|skip}"; shift 2 ;;
    --node=*) NODE_MODE="${1#--node=}"; shift ;;
    --no-apt) APT=0; shift ;;
    --with-ble) WITH_BLE=1; shift ;;
    --with-mosquitto) WITH_MOSQUITTO=1; shift ;;
    --skip-build) SKIP_BUILD=1; shift ;;
    --no-npm) NO_NPM=1; shift ;;
    --no-enable) ENABLE=0; shift ;;
    --config) CONFIG_SOURCE="${2:?--config needs a file}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$NODE_MODE" in
  pinned|skip) ;;
  # Earlier installers took these; say what replaced them instead of "unknown".
  auto|distro|nodesource) die "--node $NODE_MODE is gone: gait-edge now runs its own pinned Node 24 from /opt/gait-node (--node pinned, the default; no distro or NodeSource Node is used)" ;;
  *) die "--node must be pinned or skip, got '$NODE_MODE'" ;;
esac

if [ -n "$ROOT" ]; then
  mkdir -p "$ROOT" 2>/dev/null || [ "$DRY_RUN" = 1 ] || die "cannot create --root $ROOT"
  [ -d "$ROOT" ] && ROOT="$(cd "$ROOT" && pwd)"
  [ "$ROOT" != "/" ] || die "--root / is the real system: leave --root out (and run as root)"
fi
# System commands act on the machine itself: only in a real install.
SYSTEM=1
{ [ -n "$ROOT" ] || [ "$DRY_RUN" = 1 ]; } && SYSTEM=0

# ---- how each kind of step runs in each mode ----
show() { printf '%q ' "$@" | sed 's/ $//'; }
# A change to files under $ROOT.
fs() {
  if [ "$DRY_RUN" = 1 ]; then note "would: $(show "$@")"; else "$@"; fi
}
# A command that changes the running system (apt, users, systemd, udev).
sys() {
  if [ "$SYSTEM" = 1 ]; then "$@"; else note "would run: $(show "$@")"; fi
}

# ---- 1. platform ----
say "checking the platform"
arch="${GAIT_INSTALL_ARCH:-$(uname -m)}"
case "$arch" in
  aarch64|arm64) note "architecture $arch: supported"; node_arch=arm64 ;;
  x86_64|amd64) note "architecture $arch: fine for development; the devices are arm64"; node_arch=x64 ;;
  armv7l|armv6l|armhf|armel|arm)
    die "architecture $arch (32-bit ARM) is not supported: onnxruntime-node ships no 32-bit ARM binaries, so the model cannot run. Install Raspberry Pi OS (64-bit) or another arm64 system (uname -m must say aarch64)." ;;
  *) die "architecture $arch is not supported: gait-edge runs on arm64 (aarch64) devices, and on x86_64 for development" ;;
esac
# A 64-bit kernel under a 32-bit userland (Raspberry Pi OS 32-bit on a Pi 4)
# reports aarch64 too, but npm would fetch armhf binaries that do not exist.
userland="${GAIT_INSTALL_USERLAND:-$(dpkg --print-architecture 2>/dev/null || echo unknown)}"
case "$userland" in
  armhf|armel) die "the kernel is 64-bit but the userland is $userland (32-bit): onnxruntime-node ships no 32-bit ARM binaries. Install Raspberry Pi OS (64-bit)." ;;
esac
if [ -r /etc/os-release ]; then
  # shellcheck disable=SC1091
  os="$(. /etc/os-release && echo "${PRETTY_NAME:-$ID}")"
  note "system: $os"
fi
if [ -e /etc/nv_tegra_release ]; then
  note "Jetson detected: inference runs on the CPU (onnxruntime-node from npm has no CUDA/TensorRT provider for arm64)"
fi
if [ "$SYSTEM" = 1 ] && [ "$(id -u)" -ne 0 ]; then
  die "run as root (sudo $0), or try --dry-run / --root DIR first"
fi
[ -f "$SOURCE/package.json" ] && [ -d "$SOURCE/edge" ] || die "$SOURCE does not look like a gait-edge checkout (no package.json or edge/)"
[ -f "$CONFIG_SOURCE" ] || die "config $CONFIG_SOURCE not found"
if [ "$SKIP_BUILD" = 1 ] && [ ! -f "$SOURCE/dist/edge/cli.js" ]; then
  die "--skip-build needs a built checkout: run 'npm ci && npm run build' in $SOURCE first (dist/edge/cli.js is missing)"
fi
[ -n "$ROOT" ] && note "installing under $ROOT"
[ "$DRY_RUN" = 1 ] && note "dry run: nothing will be changed"

# ---- 2. Debian packages and Node ----
packages=()
# bluez: the adapter tools (hciconfig, btmgmt). No compiler: @stoprocent/noble
# ships prebuilt HCI socket binaries for linux-arm64/x64.
[ "$WITH_BLE" = 1 ] && packages+=(bluez)
[ "$WITH_MOSQUITTO" = 1 ] && packages+=(mosquitto mosquitto-clients)
# install-node.sh fetches the pinned tarballs with `npm pack`: Debian's npm bootstraps it.
[ "$NODE_MODE" = pinned ] && [ "$SYSTEM" = 1 ] && ! command -v npm >/dev/null 2>&1 && packages+=(npm)
if [ "$APT" = 1 ] && [ ${#packages[@]} -gt 0 ]; then
  say "Debian packages: ${packages[*]}"
  sys apt-get update
  sys env DEBIAN_FRONTEND=noninteractive apt-get install -y "${packages[@]}"
fi

say "Node 24 in $NODE_PREFIX (--node $NODE_MODE)"
node_args=(--prefix "$ROOT$NODE_PREFIX" --arch "$node_arch")
if [ "$NODE_MODE" = skip ]; then
  note "left alone (--node skip): the unit runs $NODE_PREFIX/bin/node, which must be Node >= 24"
elif [ "$DRY_RUN" = 1 ]; then
  bash "$SOURCE/deploy/install-node.sh" "${node_args[@]}" --dry-run
elif [ "$NO_NPM" = 1 ]; then
  # --no-npm is the offline, download-free layout (tests, images assembled later).
  note "skipped (--no-npm): deploy/install-node.sh ${node_args[*]}"
else
  bash "$SOURCE/deploy/install-node.sh" "${node_args[@]}" || die "installing Node into $ROOT$NODE_PREFIX failed (the running install is untouched)"
fi
if [ "$SYSTEM" = 1 ] && [ ! -x "$NODE_PREFIX/bin/node" ]; then
  note "warning: $NODE_PREFIX/bin/node does not exist; the unit's ExecStart needs it: run without --node skip, or add a drop-in (systemctl edit gait-edge) with your node path"
fi
# npm ci/build below run on that Node and its npm (npm 11, which honours the
# project's .npmrc policy), not on whatever older node is first on PATH. Under
# --root the target's Node may be another architecture: the host's runs npm.
npm_path="$PATH"
[ "$SYSTEM" = 1 ] && [ -x "$NODE_PREFIX/bin/node" ] && npm_path="$NODE_PREFIX/bin:$PATH"

# ---- 3. service user ----
say "service user $SERVICE_USER"
if [ "$SYSTEM" = 1 ] && getent passwd "$SERVICE_USER" >/dev/null; then
  note "exists already"
else
  # Static system user: it owns $STATE_DIR across upgrades. Serial access comes
  # from the unit's SupplementaryGroups=dialout, not from a group membership here.
  sys useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
    --shell /usr/sbin/nologin -c "gait-edge runtime" "$SERVICE_USER"
fi

# ---- 4. the app in /opt/gait-edge ----
say "app in $ROOT$APP_DIR"
app="$ROOT$APP_DIR"
staging="$app.new"
fs rm -rf "$staging"
fs mkdir -p "$staging"
# .npmrc: the no-install-scripts policy (see that file), needed by npm ci below;
# web: the dashboard page, bundled by `npm run build` (edge/dashboard/build.ts).
for item in package.json package-lock.json .npmrc tsconfig.json edge web models docs deploy README.md CHANGELOG.md; do
  [ -e "$SOURCE/$item" ] && fs cp -R "$SOURCE/$item" "$staging/"
done
[ "$SKIP_BUILD" = 1 ] && fs cp -R "$SOURCE/dist" "$staging/"
# ONNXRUNTIME_NODE_INSTALL=skip: onnxruntime-node's postinstall would download
# CUDA providers on linux-x64 (nothing on arm64); the CPU binaries are in the package.
npm_steps=()
if [ "$SKIP_BUILD" = 1 ]; then
  npm_steps+=("npm ci --omit=dev --no-audit --no-fund")
else
  # The build needs TypeScript (a dev dependency): install all, build, then prune.
  npm_steps+=("npm ci --no-audit --no-fund" "npm run build" "npm prune --omit=dev --no-audit --no-fund")
fi
for step in "${npm_steps[@]}"; do
  if [ "$DRY_RUN" = 1 ]; then
    note "would run in $staging: ONNXRUNTIME_NODE_INSTALL=skip $step"
  elif [ "$NO_NPM" = 1 ]; then
    note "skipped (--no-npm): ONNXRUNTIME_NODE_INSTALL=skip $step"
  else
    note "$step"
    # shellcheck disable=SC2086
    (cd "$staging" && PATH="$npm_path" ONNXRUNTIME_NODE_INSTALL=skip $step) || die "'$step' failed in $staging (the running install is untouched)"
  fi
done
# Swap in one move; keep the previous release for a manual rollback.
if [ -e "$app" ] || [ "$DRY_RUN" = 1 ]; then
  fs rm -rf "$app.prev"
  [ -e "$app" ] && fs mv "$app" "$app.prev"
fi
fs mv "$staging" "$app"
[ -e "$app.prev" ] && note "previous release kept in $app.prev"

# ---- 5. config, state and log directories ----
say "config $ROOT$CONF_FILE"
fs mkdir -p "$ROOT$CONF_DIR"
fs chmod 0755 "$ROOT$CONF_DIR"
config_existed=0
if [ -e "$ROOT$CONF_FILE" ]; then
  config_existed=1
  note "keeping the existing config (never overwritten); the shipped examples are in $APP_DIR/deploy/config/"
else
  # 0640 root:gait-edge: it may hold the MQTT password; the service reads it, cannot change it.
  fs install -m 0640 "$CONFIG_SOURCE" "$ROOT$CONF_FILE"
  sys chown "root:$SERVICE_USER" "$CONF_FILE"
  note "installed from $CONFIG_SOURCE: edit mqtt.deviceId, the broker and the sources"
fi
for dir in "$STATE_DIR" "$LOG_DIR"; do
  fs mkdir -p "$ROOT$dir"
  fs chmod 0750 "$ROOT$dir"
  sys chown "$SERVICE_USER:$SERVICE_USER" "$dir"
done

# ---- 6. systemd unit, udev rule, logrotate ----
say "systemd unit, udev rule, logrotate"
for pair in "deploy/systemd/gait-edge.service:$UNIT_FILE" "deploy/udev/99-gait-imu.rules:$UDEV_FILE" "deploy/logrotate/gait-edge:$LOGROTATE_FILE"; do
  src="$SOURCE/${pair%%:*}"
  dest="$ROOT${pair#*:}"
  fs mkdir -p "$(dirname "$dest")"
  fs install -m 0644 "$src" "$dest"
  note "${pair#*:}"
done
# The BLE drop-in follows --with-ble on every run: an install without it takes
# the capabilities away again (the unit itself grants none).
ble_dropin="$ROOT$BLE_DROPIN"
if [ "$WITH_BLE" = 1 ]; then
  fs mkdir -p "$(dirname "$ble_dropin")"
  fs install -m 0644 "$SOURCE/deploy/systemd/gait-edge.service.d/ble.conf" "$ble_dropin"
  note "$BLE_DROPIN (BLE: CAP_NET_RAW, CAP_NET_ADMIN, AF_BLUETOOTH)"
elif [ -e "$ble_dropin" ]; then
  fs rm -f "$ble_dropin"
  note "removed $BLE_DROPIN (no --with-ble this time): BLE sources lose their capabilities; rerun with --with-ble to keep them"
fi
sys udevadm control --reload
sys udevadm trigger --subsystem-match=tty --action=add

# ---- 7. mosquitto (optional) ----
if [ "$WITH_MOSQUITTO" = 1 ]; then
  say "mosquitto"
  fs mkdir -p "$ROOT/etc/mosquitto/conf.d" "$ROOT/etc/mosquitto/certs"
  for pair in "deploy/mosquitto/mosquitto.conf:/etc/mosquitto/conf.d/gait.conf" "deploy/mosquitto/acl:/etc/mosquitto/gait.acl"; do
    dest="$ROOT${pair#*:}"
    if [ -e "$dest" ]; then
      note "keeping existing ${pair#*:}"
    else
      fs install -m 0644 "$SOURCE/${pair%%:*}" "$dest"
      note "${pair#*:}"
    fi
  done
  if [ -e "$ROOT/etc/mosquitto/gait.passwd" ] && [ -e "$ROOT/etc/mosquitto/certs/server.crt" ]; then
    sys systemctl restart mosquitto
  else
    note "mosquitto needs credentials before it can start with this config:"
    note "  $APP_DIR/deploy/mosquitto/make-credentials.sh --out ~/gait-credentials --host \$(hostname) --user <deviceId> --user ops"
    note "  then install them as that script's header says, and: systemctl restart mosquitto"
  fi
fi

# ---- 8. enable ----
say "service"
sys systemctl daemon-reload
if [ "$ENABLE" = 1 ]; then
  sys systemctl enable gait-edge.service
  if [ "$config_existed" = 1 ]; then
    sys systemctl restart gait-edge.service
  else
    note "fresh config: edit $CONF_FILE, then: sudo systemctl start gait-edge && journalctl -fu gait-edge"
  fi
else
  note "not enabled (--no-enable): sudo systemctl enable --now gait-edge"
fi
say "done"
