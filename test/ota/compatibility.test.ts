import { readFile } from "node:fs/promises";
import { describe, expect, it } from "vitest";
import { parseManifest, type Manifest } from "../../edge/contract/manifest.js";
import { compareSemver, contractDifferences } from "../../edge/ota/compatibility.js";
import { commandRefusal, canTransition, type CommandContext } from "../../edge/ota/stateMachine.js";
import { MODEL } from "./helpers.js";

// The edits reach deep into a parsed manifest on purpose (that is what the tests vary), so its JSON is untyped here.
// eslint-disable-next-line @typescript-eslint/no-explicit-any
type RawManifest = Record<string, any>;

async function manifest(edit: (m: RawManifest) => void = () => undefined): Promise<Manifest> {
  const raw = JSON.parse(await readFile(MODEL, "utf8")) as RawManifest;
  edit(raw);
  return parseManifest(raw);
}

describe("contract compatibility", () => {
  it("accepts a new network with the same feature pipeline (normalization may differ)", async () => {
    const running = await manifest();
    const offered = await manifest((m) => {
      m.version = "1.1.0";
      m.normalization.mean[0] = 1;
      m.architecture = { type: "cnn", conv_channels: [64, 64], kernel: 5 };
    });
    expect(contractDifferences(running, offered)).toEqual([]);
  });

  it("names each field that would make the pipeline's features wrong", async () => {
    const running = await manifest();
    const window40 = await manifest((m) => {
      m.window = 40;
      m.stride = 20;
      m.tensors.input.shape = ["batch", 40, 18];
      m.tensors.output.shape = ["batch", 40, 5];
    });
    const diffs = contractDifferences(running, window40);
    expect(diffs.some((d) => /^window: the running model has 50, the offered one 40/.test(d))).toBe(true);
    expect(diffs.some((d) => d.startsWith("stride"))).toBe(true);
    expect(diffs.some((d) => d.startsWith("tensors.input"))).toBe(true);
    const renamed = await manifest((m) => (m.tensors.input.name = "x"));
    expect(contractDifferences(running, renamed)).toEqual([expect.stringMatching(/^tensors.input/)]);
    const beta = await manifest((m) => (m.ahrs.beta = 0.2));
    expect(contractDifferences(running, beta)).toEqual([expect.stringMatching(/^ahrs/)]);
    const ref = await manifest((m) => (m.euler.reference.femur_r = [1, 0, 0, 0]));
    expect(contractDifferences(running, ref)).toEqual([expect.stringMatching(/^euler.reference/)]);
    const joints = await manifest((m) => (m.joints[0].name = "hip_flexion_l"));
    expect(contractDifferences(running, joints)).toEqual([expect.stringMatching(/^joints/)]);
  });
});

describe("semantic versions", () => {
  it("orders versions as semver does", () => {
    expect(compareSemver("1.0.1", "1.0.0")).toBe(1);
    expect(compareSemver("0.9.0", "1.0.0")).toBe(-1);
    expect(compareSemver("1.10.0", "1.9.9")).toBe(1);
    expect(compareSemver("1.0.0-rc.1", "1.0.0")).toBe(-1);
    expect(compareSemver("1.0.0-rc.2", "1.0.0-rc.10")).toBe(-1);
    expect(compareSemver("1.0.0-alpha", "1.0.0-1")).toBe(1);
    expect(compareSemver("1.0.0+build.5", "1.0.0")).toBe(0);
    expect(() => compareSemver("one", "1.0.0")).toThrow(/not a semantic version/);
  });
});

describe("OTA state machine", () => {
  const ctx = (over: Partial<CommandContext>): CommandContext => ({ state: "idle", hasOffer: false, onProbation: false, hasPrevious: false, ...over });

  it("allows the documented path and forbids skipping verification", () => {
    expect(canTransition("idle", "available")).toBe(true);
    expect(canTransition("available", "downloading")).toBe(true);
    expect(canTransition("downloading", "verifying")).toBe(true);
    expect(canTransition("verifying", "installing")).toBe(true);
    expect(canTransition("installing", "idle")).toBe(true);
    expect(canTransition("installing", "rolled_back")).toBe(true);
    expect(canTransition("downloading", "installing")).toBe(false);
    expect(canTransition("available", "installing")).toBe(false);
    expect(canTransition("verifying", "idle")).toBe(false);
  });

  it("gates commands by state", () => {
    expect(commandRefusal("accept", ctx({}))).toMatch(/nothing to accept/);
    expect(commandRefusal("accept", ctx({ state: "available", hasOffer: true }))).toBeUndefined();
    expect(commandRefusal("accept", ctx({ state: "downloading", hasOffer: true }))).toMatch(/already in progress/);
    expect(commandRefusal("postpone", ctx({ state: "downloading", hasOffer: true }))).toBeUndefined();
    expect(commandRefusal("postpone", ctx({ state: "idle" }))).toMatch(/nothing to postpone/);
    expect(commandRefusal("rollback", ctx({}))).toMatch(/no previous model/);
    expect(commandRefusal("rollback", ctx({ hasPrevious: true }))).toBeUndefined();
    expect(commandRefusal("rollback", ctx({ state: "installing", onProbation: true }))).toBeUndefined();
    expect(commandRefusal("rollback", ctx({ state: "verifying", hasPrevious: true }))).toMatch(/in progress/);
    expect(commandRefusal("check", ctx({ state: "verifying" }))).toBeUndefined();
  });
});
