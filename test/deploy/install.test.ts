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
    expect(existsSync(path.join(root, "opt/gait-edge.new"))).toBe(false);

    expect(r.stdout).toContain("would run: useradd --system --user-group");
    expect(r.stdout).toContain("would run: systemctl daemon-reload");
    expect(r.stdout).toContain("would run: systemctl enable gait-edge.service");
    expect(r.stdout).toContain("would run: udevadm control --reload");
    expect(r.stdout).toContain("skipped (--no-npm): ONNXRUNTIME_NODE_INSTALL=skip npm ci");
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

  it("changes nothing with --dry-run", async () => {
    const root = await tempRoot();
    const r = install(["--root", root, "--dry-run"]);
    expect(r.status).toBe(0);
    expect(readdirSync(root)).toEqual([]);
    expect(r.stdout).toContain("would: install -m 0640");
    expect(r.stdout).toContain("ONNXRUNTIME_NODE_INSTALL=skip npm ci");
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
