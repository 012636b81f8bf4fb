/** SwappableModel with fake models: swap at a window boundary, labels, probation. */
import { describe, expect, it } from "vitest";
import type { LoadedContract } from "../../edge/contract/manifest.js";
import { findBadAngle, ImplausibleOutputError, SwappableModel, type ModelEntry, type ProbationVerdict } from "../../edge/ota/swappableModel.js";

const JOINTS = ["a", "b"];

function contract(version: string): LoadedContract {
  return {
    manifest: { name: "m", version } as LoadedContract["manifest"],
    manifestPath: `/m/${version}/manifest.json`,
    dir: `/m/${version}`,
    modelPath: `/m/${version}/model.onnx`,
    variantPaths: {},
    goldenPath: null,
    featureCount: 1,
    pipeline: { joints: JOINTS } as unknown as LoadedContract["pipeline"],
  };
}

/** Answers every window with `value`; `gate` holds a run until released. */
function fakeModel(version: string, value: () => number): ModelEntry & { runs: number; stopped: boolean; hold?: Promise<void> } {
  const entry = {
    contract: contract(version),
    runs: 0,
    stopped: false,
    hold: undefined as Promise<void> | undefined,
    model: {
      run: async () => {
        entry.runs += 1;
        if (entry.hold) await entry.hold;
        return Float32Array.from([value(), value()]);
      },
      stop: async () => void (entry.stopped = true),
    },
  };
  return entry;
}

const W = new Float32Array(1);

describe("SwappableModel", () => {
  it("the next window runs on the swapped-in model; a window in flight finishes and is labelled with its own model", async () => {
    const v1 = fakeModel("1.0.0", () => 1);
    const v2 = fakeModel("1.0.1", () => 2);
    const holder = new SwappableModel(v1);
    const lane = holder.lane();
    expect(lane.contract.manifest.version).toBe("1.0.0");
    let release!: () => void;
    v1.hold = new Promise((r) => (release = r));
    const inFlight = lane.model.run(W);
    holder.swap(v2);
    release();
    expect(Array.from(await inFlight)).toEqual([1, 1]);
    expect(lane.contract.manifest.version).toBe("1.0.0"); // the result that just arrived came from 1.0.0
    expect(Array.from(await lane.model.run(W))).toEqual([2, 2]);
    expect(lane.contract.manifest.version).toBe("1.0.1");
    expect(holder.contract.manifest.version).toBe("1.0.1");
  });

  it("retire waits for the runs in flight before stopping the old session", async () => {
    const v1 = fakeModel("1.0.0", () => 1);
    const holder = new SwappableModel(v1);
    let release!: () => void;
    v1.hold = new Promise((r) => (release = r));
    const running = holder.lane().model.run(W);
    holder.swap(fakeModel("1.0.1", () => 2));
    const retired = holder.retire(v1);
    await new Promise((r) => setTimeout(r, 10));
    expect(v1.stopped).toBe(false);
    release();
    await running;
    await retired;
    expect(v1.stopped).toBe(true);
  });

  it("passes probation after N sane windows", async () => {
    const holder = new SwappableModel(fakeModel("1.0.0", () => 1));
    const verdicts: ProbationVerdict[] = [];
    holder.swap(fakeModel("1.0.1", () => 2), { windows: 3, maxAbsAngleDeg: 360, onVerdict: (v) => verdicts.push(v) });
    const lane = holder.lane();
    for (let i = 0; i < 3; i++) await lane.model.run(W);
    expect(verdicts).toEqual([expect.objectContaining({ passed: true })]);
    expect(holder.onProbation).toBe(false);
  });

  for (const [what, bad] of [["NaN", Number.NaN], ["an angle beyond 360 deg", 1234]] as const) {
    it(`rolls back on ${what} during probation and answers that window from the old model`, async () => {
      const v1 = fakeModel("1.0.0", () => 1);
      let n = 0;
      const v2 = fakeModel("1.0.1", () => (++n > 2 ? bad : 2)); // first window fine, the second bad
      const holder = new SwappableModel(v1);
      const verdicts: ProbationVerdict[] = [];
      holder.swap(v2, { windows: 5, maxAbsAngleDeg: 360, onVerdict: (v) => verdicts.push(v) });
      const lane = holder.lane();
      expect(Array.from(await lane.model.run(W))).toEqual([2, 2]);
      expect(Array.from(await lane.model.run(W))).toEqual([1, 1]);
      expect(lane.contract.manifest.version).toBe("1.0.0");
      expect(verdicts).toEqual([expect.objectContaining({ passed: false, reason: expect.stringMatching(Number.isNaN(bad) ? /NaN/ : /1234\.0 deg/) })]);
      expect(holder.contract.manifest.version).toBe("1.0.0");
      expect(Array.from(await lane.model.run(W))).toEqual([1, 1]);
    });
  }

  it("a result still arriving from a condemned model is computed again on the current one", async () => {
    const v1 = fakeModel("1.0.0", () => 1);
    const v2 = fakeModel("1.0.1", () => 2);
    const holder = new SwappableModel(v1);
    holder.swap(v2, { windows: 5, maxAbsAngleDeg: 360, onVerdict: () => undefined });
    let release!: () => void;
    v2.hold = new Promise((r) => (release = r));
    const lane = holder.lane();
    const inFlight = lane.model.run(W);
    holder.failProbation("requested by command");
    release();
    expect(Array.from(await inFlight)).toEqual([1, 1]);
    expect(lane.contract.manifest.version).toBe("1.0.0");
  });

  // Issue #13: the guard held only during probation; a model that went bad later published NaN.
  for (const [what, bad] of [["NaN", Number.NaN], ["infinity", Number.POSITIVE_INFINITY], ["an angle beyond the limit", 1234]] as const) {
    it(`drops and counts ${what} on a model that is not on probation`, async () => {
      let value: number = 1;
      const holder = new SwappableModel(fakeModel("1.0.0", () => value));
      const lane = holder.lane();
      expect(Array.from(await lane.model.run(W))).toEqual([1, 1]);
      value = bad;
      await expect(lane.model.run(W)).rejects.toThrow(ImplausibleOutputError);
      await expect(lane.model.run(W)).rejects.toThrow(/model m 1\.0\.0 output dropped: a = /);
      expect(holder.stats().implausibleDropped).toBe(2);
      value = 3;
      expect(Array.from(await lane.model.run(W))).toEqual([3, 3]);
      expect(holder.stats().implausibleDropped).toBe(2);
    });
  }

  it("the limit is a setting of the holder", async () => {
    const holder = new SwappableModel(fakeModel("1.0.0", () => 200), { maxAbsAngleDeg: 180 });
    await expect(holder.lane().model.run(W)).rejects.toThrow(/200\.0 deg \(beyond ±180\)/);
  });

  it("findBadAngle names the joint and row", () => {
    expect(findBadAngle(Float32Array.from([1, 2, 3, Number.NaN]), JOINTS, 360)).toBe("b = NaN at row 1");
    expect(findBadAngle(Float32Array.from([1, -400]), JOINTS, 360)).toMatch(/^b = -400\.0 deg/);
    expect(findBadAngle(Float32Array.from([1, -359]), JOINTS, 360)).toBeUndefined();
  });
});
