/**
 * deploy/install.sh in its --root mode: the files land where the unit and the
 * docs say, system commands (apt, useradd, systemctl, udevadm) are only
 * printed, an existing config survives, and 32-bit ARM is refused with the
 * reason. `--no-npm` keeps it offline and fast: npm ci/build are printed.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync, statSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { parseConfig } from "../../edge/runtime/config.js";

const REPO = path.resolve(import.meta.dirname, "../..");
const INSTALL = path.join(REPO, "deploy/install.sh");

const roots: string[] = [];
afterEach(async () => {
  await Promise.all(roots.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});

async function tempRoot(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "gait-install-"));
  roots.push(dir);
  return dir;
}

function install(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("bash", [INSTALL, ...args], {
    encoding: "utf8",
    env: { ...process.env, GAIT_INSTALL_ARCH: "aarch64", GAIT_INSTALL_USERLAND: "arm64", ...env },
  });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

const mode = (file: string) => (statSync(file).mode & 0o777).toString(8);
const read = (file: string) => readFileSync(file, "utf8");

describe("deploy/install.sh --root", () => {
  it("lays out app, config, unit, udev rule, logrotate and state dirs, and only prints system commands", async () => {
    const root = await tempRoot();
    const r = install(["--root", root, "--no-npm"]);
    expect(r.stderr).toBe("");
    expect(r.status).toBe(0);

    expect(read(path.join(root, "etc/systemd/system/gait-edge.service"))).toBe(read(path.join(REPO, "deploy/systemd/gait-edge.service")));
    expect(read(path.join(root, "etc/udev/rules.d/99-gait-imu.rules"))).toBe(read(path.join(REPO, "deploy/udev/99-gait-imu.rules")));
    expect(read(path.join(root, "etc/logrotate.d/gait-edge"))).toBe(read(path.join(REPO, "deploy/logrotate/gait-edge")));

    const config = path.join(root, "etc/gait-edge/gait-edge.json");
    expect(read(config)).toBe(read(path.join(REPO, "deploy/config/gait-edge.json")));
    expect(mode(config)).toBe("640");
    // The config the service starts with is one the runtime accepts.
    expect(() => parseConfig(JSON.parse(read(config)), config)).not.toThrow();
    expect(mode(path.join(root, "var/lib/gait-edge"))).toBe("750");
    expect(mode(path.join(root, "var/log/gait-edge"))).toBe("750");

    const app = path.join(root, "opt/gait-edge");
    for (const f of ["package.json", "package-lock.json", "edge/cli.ts", "models/reduced-femur-calcn-lstm/manifest.json", "docs/deployment.md"]) {
      expect(existsSync(path.join(app, f)), f).toBe(true);
    }
    expect(existsSync(path.join(app, "node_modules"))).toBe(false);
    // The no-install-scripts policy travels with the app: npm ci on the device reads it.
    expect(read(path.join(app, ".npmrc"))).toBe(read(path.join(REPO, ".npmrc")));
    expect(existsSync(path.join(root, "opt/gait-edge.new"))).toBe(false);

    expect(r.stdout).toContain("would run: useradd --system --user-group");
    expect(r.stdout).toContain("would run: systemctl daemon-reload");
    expect(r.stdout).toContain("would run: systemctl enable gait-edge.service");
    expect(r.stdout).toContain("would run: udevadm control --reload");
    expect(r.stdout).toContain("skipped (--no-npm): ONNXRUNTIME_NODE_INSTALL=skip npm ci");
    // Node is a download too: --no-npm stays offline and names the step it skipped.
    expect(r.stdout).toContain(`skipped (--no-npm): deploy/install-node.sh --prefix ${root}/opt/gait-node --arch arm64`);
    expect(existsSync(path.join(root, "opt/gait-node"))).toBe(false);
    // Without --with-ble: no BLE drop-in, so the unit's empty capability sets stand.
    expect(existsSync(path.join(root, "etc/systemd/system/gait-edge.service.d/ble.conf"))).toBe(false);
    expect(r.stdout).not.toContain("bluez");
    // A fresh config is not started blind.
    expect(r.stdout).not.toContain("systemctl restart gait-edge");
  });

  it("never overwrites an existing config, keeps the previous release and restarts on upgrade", async () => {
    const root = await tempRoot();
    expect(install(["--root", root, "--no-npm"]).status).toBe(0);
    const config = path.join(root, "etc/gait-edge/gait-edge.json");
    await writeFile(config, '{"edited": "by the operator"}\n');
    const r = install(["--root", root, "--no-npm"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain("keeping the existing config");
    expect(read(config)).toBe('{"edited": "by the operator"}\n');
    expect(existsSync(path.join(root, "opt/gait-edge.prev/package.json"))).toBe(true);
    expect(r.stdout).toContain("would run: systemctl restart gait-edge.service");
  });

  it("installs the broker config and ACL with --with-mosquitto, without overwriting them", async () => {
    const root = await tempRoot();
    const r = install(["--root", root, "--no-npm", "--with-mosquitto"]);
    expect(r.status).toBe(0);
    expect(read(path.join(root, "etc/mosquitto/conf.d/gait.conf"))).toBe(read(path.join(REPO, "deploy/mosquitto/mosquitto.conf")));
    expect(read(path.join(root, "etc/mosquitto/gait.acl"))).toBe(read(path.join(REPO, "deploy/mosquitto/acl")));
    expect(r.stdout).toContain("would run: env DEBIAN_FRONTEND=noninteractive apt-get install -y mosquitto");
    expect(r.stdout).toContain("make-credentials.sh");
    await writeFile(path.join(root, "etc/mosquitto/gait.acl"), "user ops\n");
    expect(install(["--root", root, "--no-npm", "--with-mosquitto"]).status).toBe(0);
    expect(read(path.join(root, "etc/mosquitto/gait.acl"))).toBe("user ops\n");
  });

  it("installs the BLE drop-in only with --with-ble, and removes it on an install without", async () => {
    const root = await tempRoot();
    const dropin = path.join(root, "etc/systemd/system/gait-edge.service.d/ble.conf");
    const r = install(["--root", root, "--no-npm", "--with-ble"]);
    expect(r.status).toBe(0);
    expect(read(dropin)).toBe(read(path.join(REPO, "deploy/systemd/gait-edge.service.d/ble.conf")));
    expect(read(dropin)).toMatch(/^AmbientCapabilities=CAP_NET_RAW CAP_NET_ADMIN$/m);
    expect(r.stdout).toContain("apt-get install -y bluez");
    // Prebuilt HCI binaries: no compiler or headers any more.
    expect(r.stdout).not.toMatch(/build-essential|libbluetooth-dev/);

    const again = install(["--root", root, "--no-npm"]);
    expect(again.status).toBe(0);
    expect(existsSync(dropin)).toBe(false);
    expect(again.stdout).toContain("removed /etc/systemd/system/gait-edge.service.d/ble.conf (no --with-ble this time)");
  });

  it("refuses the old --node modes, saying what replaced them", () => {
    for (const mode of ["auto", "distro", "nodesource"]) {
      const r = install(["--dry-run", "--node", mode]);
      expect(r.status).not.toBe(0);
      expect(r.stderr).toContain(`--node ${mode} is gone: gait-edge now runs its own pinned Node 24 from /opt/gait-node`);
    }
    expect(install(["--dry-run", "--node", "latest"]).stderr).toContain("--node must be pinned or skip, got 'latest'");
  });

  it("changes nothing with --dry-run", async () => {
    const root = await tempRoot();
    const r = install(["--root", root, "--dry-run"]);
    expect(r.status).toBe(0);
    expect(readdirSync(root)).toEqual([]);
    expect(r.stdout).toContain("would: install -m 0640");
    expect(r.stdout).toContain("ONNXRUNTIME_NODE_INSTALL=skip npm ci");
    const pinned = /^NODE_VERSION=(\S+)$/m.exec(read(path.join(REPO, "deploy/install-node.sh")))?.[1];
    expect(r.stdout).toContain(`would install them into ${root}/opt/gait-node/${pinned}`);
  });

  it.each(["armv7l", "armv6l"])("refuses %s, saying onnxruntime-node has no 32-bit ARM binaries", async (arch) => {
    const root = await tempRoot();
    const r = install(["--root", root, "--no-npm"], { GAIT_INSTALL_ARCH: arch });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`architecture ${arch} (32-bit ARM) is not supported`);
    expect(r.stderr).toContain("onnxruntime-node ships no 32-bit ARM binaries");
    expect(readdirSync(root)).toEqual([]);
  });

  it("refuses a 64-bit kernel under a 32-bit userland", async () => {
    const root = await tempRoot();
    const r = install(["--root", root, "--no-npm"], { GAIT_INSTALL_USERLAND: "armhf" });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain("userland is armhf (32-bit)");
  });

  it("rejects unknown options and --root /", async () => {
    expect(install(["--frobnicate"]).stderr).toContain("unknown option '--frobnicate'");
    expect(install(["--root", "/", "--dry-run"]).stderr).toContain("--root / is the real system");
  });
});
