#!/usr/bin/env bash
# Makes MQTT credentials for a gait-edge broker (docs/deployment.md#mqtt-broker):
#   - password file entries (mosquitto_passwd) for devices and operator accounts;
#   - a SELF-SIGNED CA and a server certificate signed by it;
#   - optionally client certificates (mutual TLS, CN = username).
#
# FOR TESTING AND LABS. A self-signed CA is only as safe as ca.key: in
# production use your organisation's CA (or Let's Encrypt for the server
# certificate, see /usr/share/doc/mosquitto/README-letsencrypt.md) and keep
# the CA key off the broker. Existing files are never overwritten, so running
# it again only adds what is missing (new users are appended to `passwd`).
#
# usage: make-credentials.sh --out DIR [--host NAME]... [--user NAME[:PASSWORD]]...
#                            [--client NAME]... [--days N]
#   --out DIR     where to write ca.crt ca.key server.crt server.key passwd passwords.txt
#   --host NAME   DNS name or IP address clients use to reach the broker (repeatable;
#                 localhost and 127.0.0.1 are always included)
#   --user NAME[:PASSWORD]
#                 an MQTT account; a device's NAME is its deviceId. Without
#                 PASSWORD a random one is made and written to DIR/passwords.txt (0600)
#   --client NAME a client certificate DIR/clients/NAME.{crt,key} for mutual TLS
#   --days N      certificate lifetime (default 825)
#
# Install on the broker (Debian layout of deploy/mosquitto/mosquitto.conf):
#   install -m 0640 -o root -g mosquitto DIR/passwd /etc/mosquitto/gait.passwd
#   install -d /etc/mosquitto/certs
#   install -m 0644 DIR/ca.crt DIR/server.crt /etc/mosquitto/certs/
#   install -m 0640 -o root -g mosquitto DIR/server.key /etc/mosquitto/certs/
set -euo pipefail

die() { echo "make-credentials: $*" >&2; exit 1; }
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }

out=""
days=825
hosts=()
users=()
clients=()
while [ $# -gt 0 ]; do
  case "$1" in
    --out) out="${2:?--out needs a directory}"; shift 2 ;;
    --host) hosts+=("${2:?--host needs a name}"); shift 2 ;;
    --user) users+=("${2:?--user needs NAME[:PASSWORD]}"); shift 2 ;;
    --client) clients+=("${2:?--client needs a name}"); shift 2 ;;
    --days) days="${2:?--days needs a number}"; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) die "unknown argument '$1' (see --help)" ;;
  esac
done
[ -n "$out" ] || die "--out DIR is required (see --help)"
[[ "$days" =~ ^[0-9]+$ ]] || die "--days must be a number of days, got '$days'"
command -v openssl >/dev/null 2>&1 || die "openssl not found (apt-get install openssl)"
if [ ${#users[@]} -gt 0 ] && ! command -v mosquitto_passwd >/dev/null 2>&1; then
  die "mosquitto_passwd not found (it comes with the mosquitto package: apt-get install mosquitto)"
fi

# A username becomes a topic level through the ACL's %u: it must be exactly one
# level, and "fleet" is the level the fleet offers live under.
check_username() {
  local name="$1"
  [ -n "$name" ] || die "empty username"
  case "$name" in
    */*|*+*|*#*|*:*|*" "*) die "username '$name' must be one MQTT topic level: no '/', '+', '#', ':' or spaces" ;;
    fleet) die "username 'fleet' is reserved: gait/fleet/... holds the fleet-wide OTA offers" ;;
  esac
}

# Refuse bad names before writing anything.
for entry in "${users[@]+"${users[@]}"}"; do check_username "${entry%%:*}"; done
for c in "${clients[@]+"${clients[@]}"}"; do check_username "$c"; done

mkdir -p "$out"
# Keys and password lists are private; certificates are made readable below.
umask 077

# ---- CA and server certificate ----
if [ -e "$out/ca.crt" ]; then
  echo "keeping existing CA $out/ca.crt"
else
  openssl req -x509 -newkey rsa:2048 -nodes -sha256 -days "$days" \
    -subj "/CN=gait-edge test CA" \
    -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" \
    -keyout "$out/ca.key" -out "$out/ca.crt" 2>/dev/null
  chmod 0644 "$out/ca.crt"
  echo "made self-signed CA $out/ca.crt (key $out/ca.key: keep it off the broker)"
fi

sign() { # sign <name> <csr> <crt> <extfile>
  openssl x509 -req -in "$2" -CA "$out/ca.crt" -CAkey "$out/ca.key" -CAcreateserial \
    -days "$days" -sha256 -extfile "$4" -out "$3" 2>/dev/null
}

if [ -e "$out/server.crt" ]; then
  echo "keeping existing server certificate $out/server.crt"
else
  san="DNS:localhost,IP:127.0.0.1"
  for h in "${hosts[@]+"${hosts[@]}"}"; do
    if [[ "$h" =~ ^[0-9.]+$ || "$h" == *:* ]]; then san="$san,IP:$h"; else san="$san,DNS:$h"; fi
  done
  cn="${hosts[0]:-localhost}"
  ext="$out/.server.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature,keyEncipherment\nextendedKeyUsage=serverAuth\nsubjectAltName=%s\n' "$san" >"$ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$cn" -keyout "$out/server.key" -out "$out/.server.csr" 2>/dev/null
  sign server "$out/.server.csr" "$out/server.crt" "$ext"
  chmod 0644 "$out/server.crt"
  rm -f "$out/.server.csr" "$ext"
  echo "made server certificate $out/server.crt for $san"
fi

# ---- client certificates (mutual TLS) ----
for c in "${clients[@]+"${clients[@]}"}"; do
  mkdir -p "$out/clients"
  if [ -e "$out/clients/$c.crt" ]; then echo "keeping existing client certificate $out/clients/$c.crt"; continue; fi
  ext="$out/.client.ext"
  printf 'basicConstraints=CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=clientAuth\n' >"$ext"
  openssl req -newkey rsa:2048 -nodes -subj "/CN=$c" -keyout "$out/clients/$c.key" -out "$out/.client.csr" 2>/dev/null
  sign "$c" "$out/.client.csr" "$out/clients/$c.crt" "$ext"
  chmod 0644 "$out/clients/$c.crt"
  rm -f "$out/.client.csr" "$ext"
  echo "made client certificate $out/clients/$c.crt (CN=$c)"
done

# ---- password file ----
for entry in "${users[@]+"${users[@]}"}"; do
  name="${entry%%:*}"
  password=""
  [ "$name" != "$entry" ] && password="${entry#*:}"
  if [ -f "$out/passwd" ] && grep -q "^$name:" "$out/passwd"; then
    echo "keeping existing account '$name' in $out/passwd"
    continue
  fi
  if [ -z "$password" ]; then
    password="$(openssl rand -base64 18 | tr -d '/+=\n')"
    printf '%s:%s\n' "$name" "$password" >>"$out/passwords.txt"
    echo "account '$name': random password written to $out/passwords.txt"
  else
    echo "account '$name': password as given"
  fi
  # -c only for the first entry: it would truncate the file.
  if [ -f "$out/passwd" ]; then
    mosquitto_passwd -b "$out/passwd" "$name" "$password"
  else
    mosquitto_passwd -c -b "$out/passwd" "$name" "$password"
  fi
done
