/**
 * The CLI as a user meets it: spawned (`tsx edge/cli.ts ...`), judged by exit
 * code and what it prints. 0 ok, 64 usage, 78 config/input error, 1 failure.
 */
import { mkdtemp, readFile, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { parseCalibrationFile } from "../../edge/runtime/calibrationFile.js";
import { EXIT, exitCodeFor } from "../../edge/runtime/exitCodes.js";
import { cli, type CliRun as Run } from "../helpers/cli.js";

const noStack = (r: Run): void => expect(r.stderr).not.toMatch(/\n\s+at /);

describe("gait-edge CLI", { timeout: 60_000 }, () => {
  it("--help lists every command and exits 0", async () => {
    const r = await cli("--help");
    expect(r.code).toBe(EXIT.ok);
    for (const c of ["run", "replay", "demo", "calibrate", "bench", "reliability", "keygen", "bundle", "ota-publish", "export"]) expect(r.stdout).toContain(`  ${c}`);
  });

  it("every command answers --help", async () => {
    const r = await cli("replay", "--help");
    expect(r.code).toBe(EXIT.ok);
    expect(r.stdout).toMatch(/Usage: gait-edge replay \[options\] <file>/);
  });

  it("no command, an unknown command or a mistyped option: the usage and 64, no stack", async () => {
    const none = await cli();
    expect(none.code).toBe(EXIT.usage);
    expect(none.stderr).toMatch(/Usage: gait-edge/);
    const unknown = await cli("frobnicate");
    expect(unknown.code).toBe(EXIT.usage);
    expect(unknown.stderr).toMatch(/unknown command 'frobnicate'/);
    const typo = await cli("replay", "x.csv", "--sped", "2");
    expect(typo.code).toBe(EXIT.usage);
    expect(typo.stderr).toMatch(/unknown option '--sped'[\s\S]*Did you mean --speed\?[\s\S]*Usage: gait-edge replay/);
    const badValue = await cli("replay", "x.csv", "--speed", "fast");
    expect(badValue.code).toBe(EXIT.usage);
    expect(badValue.stderr).toMatch(/--speed <x>' argument 'fast' is invalid/);
    const noTarget = await cli("ota-publish", "--bundle", "b", "--broker", "mqtt://127.0.0.1:1");
    expect(noTarget.code).toBe(EXIT.usage);
    expect(noTarget.stderr).toMatch(/needs one of --device <id> or --fleet <id>[\s\S]*Usage: gait-edge ota-publish/);
    const badCheck = await cli("reliability", "fuzzz");
    expect(badCheck.code).toBe(EXIT.usage);
    expect(badCheck.stderr).toMatch(/'fuzzz' is invalid for argument 'check'\. Allowed choices are fuzz, outage, ota, ota-crash, soak, hostile, all/);
    for (const r of [none, unknown, typo, badValue, noTarget, badCheck]) noStack(r);
  });

  it("a missing replay file is a config error: 78 and its name, no stack", async () => {
    const r = await cli("replay", "no/such/trial.csv");
    expect(r.code).toBe(EXIT.config);
    expect(r.stderr).toMatch(/no\/such\/trial\.csv: cannot read it \(ENOENT\)/);
    noStack(r);
  });

  it("replay --calibration saves the mounting calibrations found from the walking (how data/ab06/calibration.json is made)", async () => {
    const file = path.join(await mkdtemp(path.join(tmpdir(), "cli-")), "calibration.json");
    const r = await cli("replay", "data/ab06/levelground_ccw_normal_04_01_imu.csv.gz", "--speed", "0", "--walk-s", "10", "--calibration", file, "--log-level", "warn");
    expect(r.code, r.stderr).toBe(EXIT.ok);
    const { mountings } = parseCalibrationFile(await readFile(file, "utf8"), file);
    expect(mountings.map((m) => m.placement).sort()).toEqual(["calcn_r", "femur_r"]);
  });

  it("a misspelled config field: 78 with its path and a did-you-mean", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cli-"));
    const file = path.join(dir, "c.json");
    await writeFile(file, JSON.stringify({ sources: [{ kind: "simulator" }], pipeline: { staleAfterMS: 100 } }));
    const r = await cli("run", "--config", file);
    expect(r.code).toBe(EXIT.config);
    expect(r.stderr).toContain(`${file} is invalid:\n  pipeline.staleAfterMS: unknown field (did you mean "staleAfterMs"?)`);
    noStack(r);
  });

  it("a missing OTA public key file: 78 naming the entry (systemd does not restart)", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cli-"));
    const file = path.join(dir, "c.json");
    const config = {
      sources: [{ kind: "simulator" }],
      mqtt: { embedded: { host: "127.0.0.1", port: 0 } },
      ota: { dir: path.join(dir, "models"), publicKeys: [path.join(dir, "missing.pem")] },
    };
    await writeFile(file, JSON.stringify(config));
    const r = await cli("run", "--config", file);
    expect(r.code).toBe(EXIT.config);
    expect(r.stderr).toMatch(/ota\.publicKeys\[0\]: cannot read .*missing\.pem \(ENOENT\)/);
    noStack(r);
  });
});

describe("exit code of an error", () => {
  const named = (name: string): Error => Object.assign(new Error("x"), { name });
  it("config-like errors by name, including the sources' SourceConfigError, are 78", () => {
    expect(exitCodeFor(named("ConfigError"))).toBe(78);
    expect(exitCodeFor(named("SourceConfigError"))).toBe(78);
    expect(exitCodeFor(named("ContractError"))).toBe(78);
  });
  it("anything else is a runtime failure, 1", () => {
    expect(exitCodeFor(new Error("boom"))).toBe(1);
    expect(exitCodeFor("a string")).toBe(1);
  });
});
