/**
 * The system files of deploy/: the systemd unit and its BLE drop-in
 * (systemd-analyze verify when the machine has it; the syscall filter against
 * what Node and onnxruntime really call, with strace), the udev rule (udevadm
 * verify when available, always a parser check) and the logrotate config.
 */
import { execFileSync, spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { mkdir, mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";

const ROOT = path.resolve(import.meta.dirname, "../..");
const UNIT = path.join(ROOT, "deploy/systemd/gait-edge.service");
const BLE_DROPIN = path.join(ROOT, "deploy/systemd/gait-edge.service.d/ble.conf");
const NODE = "/opt/gait-node/bin/node";
const UDEV = path.join(ROOT, "deploy/udev/99-gait-imu.rules");
const LOGROTATE = path.join(ROOT, "deploy/logrotate/gait-edge");

function which(binary: string): string | undefined {
  const r = spawnSync("sh", ["-c", `command -v ${binary}`], { encoding: "utf8" });
  return r.status === 0 ? r.stdout.trim() : undefined;
}

/** [section, key, value] of every assignment, in order (repeated keys kept). */
function unitEntries(text: string, file = UNIT): Array<[string, string, string]> {
  const entries: Array<[string, string, string]> = [];
  let section = "";
  for (const raw of text.split("\n")) {
    const line = raw.trim();
    if (!line || line.startsWith("#") || line.startsWith(";")) continue;
    const header = /^\[(\w+)\]$/.exec(line);
    if (header) {
      section = header[1]!;
      continue;
    }
    const eq = line.indexOf("=");
    if (eq < 0) throw new Error(`${file}: not a key=value line: ${line}`);
    entries.push([section, line.slice(0, eq), line.slice(eq + 1)]);
  }
  return entries;
}

/**
 * The value systemd ends up with for a list setting (capabilities, address
 * families) after the unit and its drop-ins, in order: assignments merge, an
 * empty one resets the list. (None of ours uses the "~" deny form for these.)
 */
function effectiveList(entries: Array<[string, string, string]>, key: string): string[] {
  let list: string[] = [];
  for (const [, k, v] of entries) {
    if (k !== key) continue;
    if (v.startsWith("~")) throw new Error(`${key}=~...: not modelled by this test`);
    list = v.trim() === "" ? [] : [...new Set([...list, ...v.trim().split(/\s+/)])];
  }
  return list.sort();
}

describe("deploy/systemd/gait-edge.service", () => {
  const text = readFileSync(UNIT, "utf8");
  const entries = unitEntries(text);
  const get = (key: string) => entries.filter(([, k]) => k === key).map(([, , v]) => v);
  const bleEntries = unitEntries(readFileSync(BLE_DROPIN, "utf8"), BLE_DROPIN);

  const analyze = which("systemd-analyze");
  /** systemd-analyze verify on the unit (and the BLE drop-in beside it, as installed): its stderr. */
  async function verify(withBle: boolean): Promise<{ status: number | null; stderr: string }> {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-unit-"));
    try {
      // verify checks that ExecStart's binary exists: point it at this
      // machine's node when the pinned one is not installed here.
      const unit = existsSync(NODE) ? text : text.replace(NODE, process.execPath);
      const file = path.join(dir, "gait-edge.service");
      await writeFile(file, unit);
      if (withBle) {
        await mkdir(path.join(dir, "gait-edge.service.d"));
        await writeFile(path.join(dir, "gait-edge.service.d/ble.conf"), await readFile(BLE_DROPIN));
      }
      const r = spawnSync(analyze!, ["verify", file], { encoding: "utf8" });
      return { status: r.status, stderr: r.stderr.trim() };
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  }
  const skipNote = analyze ? "" : " (SKIPPED: systemd-analyze not installed; Debian package `systemd`)";
  // It exits 0 on unknown keys and bad values too: those only show on stderr.
  it.skipIf(!analyze)(`passes systemd-analyze verify without a warning${skipNote}`, async () => {
    expect(await verify(false)).toEqual({ status: 0, stderr: "" });
  });
  it.skipIf(!analyze)(`passes systemd-analyze verify with the BLE drop-in, which it reads${skipNote}`, async () => {
    expect(await verify(true)).toEqual({ status: 0, stderr: "" });
    // Proof that verify looks at gait-edge.service.d/ at all: a bad key there is reported.
    const dir = await mkdtemp(path.join(tmpdir(), "gait-unit-"));
    try {
      await writeFile(path.join(dir, "gait-edge.service"), existsSync(NODE) ? text : text.replace(NODE, process.execPath));
      await mkdir(path.join(dir, "gait-edge.service.d"));
      await writeFile(path.join(dir, "gait-edge.service.d/ble.conf"), "[Service]\nNoSuchKey=1\n");
      const r = spawnSync(analyze!, ["verify", path.join(dir, "gait-edge.service")], { encoding: "utf8" });
      expect(r.stderr).toContain("NoSuchKey");
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("runs the built CLI with the installed config as the static gait-edge user", () => {
    const pkg = JSON.parse(readFileSync(path.join(ROOT, "package.json"), "utf8")) as { bin: Record<string, string> };
    // The young generation capped (RSS, issue #11): `make bench` and `make reliability` measure with these same flags.
    expect(get("ExecStart")).toEqual([`${NODE} --max-semi-space-size=4 /opt/gait-edge/${pkg.bin["gait-edge"]} run --config /etc/gait-edge/gait-edge.json`]);
    expect(get("User")).toEqual(["gait-edge"]);
    expect(get("DynamicUser")).toEqual([]);
    expect(get("SupplementaryGroups")).toEqual(["dialout"]);
    expect(get("StateDirectory")).toEqual(["gait-edge"]);
    expect(get("Environment")).toContain("NODE_ENV=production");
  });

  it("restarts on failure with a start limit, and has no watchdog (no sd_notify)", () => {
    expect(get("Restart")).toEqual(["on-failure"]);
    expect(get("RestartSec")).toHaveLength(1);
    expect(get("StartLimitBurst")).toHaveLength(1);
    expect(entries.find(([, k]) => k === "StartLimitIntervalSec")?.[0]).toBe("Unit");
    expect(get("WatchdogSec")).toEqual([]);
    expect(get("Type")).toEqual(["simple"]);
  });

  it("is hardened, keeping W+X memory for V8", () => {
    for (const key of ["NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateMounts", "ProtectKernelTunables", "ProtectKernelModules", "ProtectControlGroups", "LockPersonality", "RestrictNamespaces", "RemoveIPC"]) {
      expect(get(key), key).toEqual(["yes"]);
    }
    expect(get("ProtectSystem")).toEqual(["strict"]);
    expect(get("MemoryDenyWriteExecute")).toEqual(["no"]);
    expect(get("PrivateDevices")).toEqual([]);
    expect(get("DeviceAllow")).toEqual(expect.arrayContaining(["char-ttyUSB rw", "char-ttyACM rw"]));
    expect(get("ReadWritePaths")).toEqual(["/var/lib/gait-edge"]);
    expect(get("SystemCallArchitectures")).toEqual(["native"]);
    expect(get("SystemCallFilter")).toEqual(["@system-service", "~@privileged @resources"]);
    expect(get("SystemCallErrorNumber")).toEqual(["EPERM"]);
    expect(get("ProtectProc")).toEqual(["invisible"]);
    expect(text).toMatch(/#.*JIT/);
  });

  it("grants no capabilities and no Bluetooth sockets without the BLE drop-in", () => {
    // Present and empty: an absent CapabilityBoundingSet= would mean "all".
    expect(get("CapabilityBoundingSet")).toEqual([""]);
    expect(get("AmbientCapabilities")).toEqual([""]);
    expect(effectiveList(entries, "CapabilityBoundingSet")).toEqual([]);
    expect(effectiveList(entries, "AmbientCapabilities")).toEqual([]);
    expect(effectiveList(entries, "RestrictAddressFamilies")).toEqual(["AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]);
  });

  it("grants CAP_NET_RAW, CAP_NET_ADMIN and AF_BLUETOOTH with the BLE drop-in, nothing more", () => {
    expect(bleEntries.every(([section]) => section === "Service")).toBe(true);
    const merged = [...entries, ...bleEntries];
    expect(effectiveList(merged, "CapabilityBoundingSet")).toEqual(["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(effectiveList(merged, "AmbientCapabilities")).toEqual(["CAP_NET_ADMIN", "CAP_NET_RAW"]);
    expect(effectiveList(merged, "RestrictAddressFamilies")).toEqual(["AF_BLUETOOTH", "AF_INET", "AF_INET6", "AF_NETLINK", "AF_UNIX"]);
    expect(new Set(bleEntries.map(([, k]) => k))).toEqual(new Set(["CapabilityBoundingSet", "AmbientCapabilities", "RestrictAddressFamilies"]));
  });

  it("reaches only loopback, link-local and the private LAN ranges", () => {
    expect(get("IPAddressDeny")).toEqual(["any"]);
    expect(effectiveList(entries, "IPAddressAllow")).toEqual(
      ["10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "fc00::/7", "link-local", "localhost"].sort(),
    );
  });

  // What Node 24, libuv, onnxruntime and child processes really call, recorded
  // with strace, against the filter systemd would build (systemd-analyze
  // expands the groups): a Node or onnxruntime upgrade that needs a new
  // syscall fails here instead of on a device, as EPERM in the journal.
  const strace = which("strace");
  const canTrace = analyze !== undefined && strace !== undefined;
  it.skipIf(!canTrace)(
    `allows every syscall the runtime makes (strace)${canTrace ? "" : ` (SKIPPED: needs strace and systemd-analyze; missing: ${[strace ? "" : "strace", analyze ? "" : "systemd-analyze"].filter(Boolean).join(", ")})`}`,
    async () => {
      const groups = new Map<string, Set<string>>();
      const expand = (name: string): Set<string> => {
        const known = groups.get(name);
        if (known) return known;
        const r = spawnSync(analyze!, ["syscall-filter", name], { encoding: "utf8" });
        if (r.status !== 0) throw new Error(`systemd-analyze syscall-filter ${name}: ${r.stderr}`);
        const set = new Set<string>();
        for (const line of r.stdout.split("\n").slice(1)) {
          const t = line.trim();
          if (!t || t.startsWith("#")) continue;
          for (const s of t.startsWith("@") ? expand(t) : [t]) set.add(s);
        }
        groups.set(name, set);
        return set;
      };
      const allowed = new Set<string>();
      for (const value of get("SystemCallFilter")) {
        const deny = value.startsWith("~");
        for (const item of value.replace(/^~/, "").trim().split(/\s+/)) {
          for (const call of item.startsWith("@") ? expand(item) : [item]) {
            if (deny) allowed.delete(call);
            else allowed.add(call);
          }
        }
      }
      expect(allowed.has("read")).toBe(true);
      expect(allowed.has("reboot")).toBe(false);

      const dir = await mkdtemp(path.join(tmpdir(), "gait-strace-"));
      try {
        const log = path.join(dir, "trace");
        const manifest = JSON.parse(readFileSync(path.join(ROOT, "models/reduced-femur-calcn-lstm/manifest.json"), "utf8")) as {
          window: number;
          placements: unknown[];
          channels: unknown[];
        };
        const r = spawnSync(
          strace!,
          ["-f", "-qq", "-o", log, process.execPath, path.join(ROOT, "test/deploy/fixtures/syscallProbe.mjs"),
            path.join(ROOT, "models/reduced-femur-calcn-lstm/model.int8.onnx"), String(manifest.window),
            String(manifest.placements.length * manifest.channels.length)],
          { encoding: "utf8", cwd: ROOT, timeout: 60_000 },
        );
        expect({ status: r.status, stdout: r.stdout.trim() }, r.stderr).toEqual({ status: 0, stdout: "probe ok" });
        const used = new Set<string>();
        for (const line of (await readFile(log, "utf8")).split("\n")) {
          const m = /^\d+\s+(?:<\.\.\. )?([a-z0-9_]+)(?:\(| resumed>)/.exec(line);
          if (m) used.add(m[1]!);
        }
        expect(used.size).toBeGreaterThan(30);
        // sqlite in onnxruntime's telemetry store calls fchown only when euid is 0
        // (this test as root); the service runs as gait-edge.
        const exempt = new Set(process.getuid?.() === 0 ? ["fchown"] : []);
        expect([...used].filter((c) => !allowed.has(c) && !exempt.has(c)).sort()).toEqual([]);
      } finally {
        await rm(dir, { recursive: true, force: true });
      }
    },
  );
});

// ---------------------------------------------------------------- udev

interface UdevToken {
  key: string;
  op: string;
  value: string;
}

/** One rule line -> its KEY op "value" tokens; throws naming the line for anything else. */
function parseUdevLine(line: string, lineNo: number): UdevToken[] {
  const tokens: UdevToken[] = [];
  const token = /^\s*([A-Z_]+(?:\{[^}]+\})?)\s*(==|!=|\+=|-=|:=|=)\s*"([^"]*)"\s*(,|$)/;
  let rest = line;
  while (rest.trim()) {
    const m = token.exec(rest);
    if (!m) throw new Error(`${UDEV}:${lineNo}: cannot parse "${rest.trim()}"`);
    tokens.push({ key: m[1]!, op: m[2]!, value: m[3]! });
    rest = rest.slice(m[0].length);
  }
  return tokens;
}

const MATCH_KEYS = /^(SUBSYSTEM|SUBSYSTEMS|KERNEL|KERNELS|ACTION|DRIVERS|ENV\{[^}]+\}|ATTR\{[^}]+\}|ATTRS\{[^}]+\})$/;
const ASSIGN_KEYS = /^(SYMLINK|GROUP|MODE|OWNER|TAG|ENV\{[^}]+\})$/;

describe("deploy/udev/99-gait-imu.rules", () => {
  const text = readFileSync(UDEV, "utf8");
  const rules = text
    .split("\n")
    .map((line, i) => ({ line, lineNo: i + 1 }))
    .filter(({ line }) => line.trim() && !line.trim().startsWith("#"))
    .map(({ line, lineNo }) => ({ lineNo, tokens: parseUdevLine(line, lineNo) }));

  it("parses: known match keys with ==, known assignments, quoted values", () => {
    expect(rules.length).toBeGreaterThanOrEqual(4);
    for (const { lineNo, tokens } of rules) {
      for (const t of tokens) {
        const isMatch = t.op === "==" || t.op === "!=";
        expect(isMatch ? MATCH_KEYS.test(t.key) : ASSIGN_KEYS.test(t.key), `${UDEV}:${lineNo}: ${t.key}${t.op}`).toBe(true);
        if (/idVendor|idProduct/.test(t.key)) expect(t.value, `${UDEV}:${lineNo}`).toMatch(/^[0-9a-f]{4}$/);
      }
    }
  });

  it("gives every matched tty /dev/gait-imu, group dialout, mode 0660", () => {
    for (const { lineNo, tokens } of rules) {
      const find = (key: string, op: string) => tokens.find((t) => t.key === key && t.op === op)?.value;
      expect(find("SUBSYSTEM", "=="), `line ${lineNo}`).toBe("tty");
      expect(find("SYMLINK", "+="), `line ${lineNo}`).toBe("gait-imu");
      expect(find("GROUP", "="), `line ${lineNo}`).toBe("dialout");
      expect(find("MODE", "="), `line ${lineNo}`).toBe("0660");
    }
  });

  it("matches the CP210x, FTDI and CH340 bridges", () => {
    const ids = rules.map(({ tokens }) => {
      const v = tokens.find((t) => t.key === "ATTRS{idVendor}")?.value;
      const p = tokens.find((t) => t.key === "ATTRS{idProduct}")?.value;
      return `${v}:${p}`;
    });
    expect(ids).toEqual(expect.arrayContaining(["10c4:ea60", "0403:6001", "1a86:7523"]));
  });

  it("rejects a broken line (the parser is not a rubber stamp)", () => {
    expect(() => parseUdevLine('SUBSYSTEM=="tty", ATTRS{idVendor}==10c4', 7)).toThrow(/:7: cannot parse/);
  });

  // `udevadm verify` exists from systemd 254; older udevadm has no such verb.
  const udevadm = which("udevadm");
  const canVerify = udevadm !== undefined && spawnSync(udevadm, ["verify", "--help"]).status === 0;
  it.skipIf(!canVerify)(`passes udevadm verify${canVerify ? "" : " (SKIPPED: no udevadm with a verify verb, systemd >= 254)"}`, () => {
    execFileSync(udevadm!, ["verify", UDEV], { stdio: "pipe" });
  });
});

// ---------------------------------------------------------------- logrotate

describe("deploy/logrotate/gait-edge", () => {
  const text = readFileSync(LOGROTATE, "utf8");
  const body = text.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#"));

  it("rotates /var/log/gait-edge/*.log with known directives only", () => {
    expect(body[0]).toBe("/var/log/gait-edge/*.log {");
    expect(body.at(-1)).toBe("}");
    const known = /^(daily|weekly|rotate \d+|maxsize \d+[kMG]?|missingok|notifempty|compress|delaycompress|copytruncate|su \S+ \S+)$/;
    for (const line of body.slice(1, -1)) expect(line.trim(), line).toMatch(known);
    expect(body.map((l) => l.trim())).toEqual(expect.arrayContaining(["copytruncate", "su gait-edge gait-edge"]));
  });

  const logrotate = which("logrotate");
  it.skipIf(!logrotate)(`is accepted by logrotate --debug${logrotate ? "" : " (SKIPPED: logrotate not installed)"}`, async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "gait-logrotate-"));
    try {
      // The gait-edge user does not exist here: drop `su`, point at a temp dir.
      const conf = text.replace(/^\s*su .*$/m, "").replace("/var/log/gait-edge/", `${dir}/`);
      await writeFile(path.join(dir, "conf"), conf);
      await writeFile(path.join(dir, "gait-edge.log"), "line\n");
      const r = spawnSync(logrotate!, ["--debug", "--state", path.join(dir, "state"), path.join(dir, "conf")], { encoding: "utf8" });
      expect(r.stderr).not.toMatch(/^error:/m);
      expect(r.status).toBe(0);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });
});
