import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { OnnxModel } from "../../edge/inference/onnxModel.js";

const FIXTURE = path.resolve("test/fixtures/inference/identity_like.onnx");
const OPTIONS = { path: FIXTURE, inputName: "imu_features", outputName: "joint_angles", window: 50, features: 18, joints: 5 };

const started: OnnxModel[] = [];
afterEach(async () => {
  for (const m of started.splice(0)) await m.stop();
});

async function start(options = OPTIONS): Promise<OnnxModel> {
  const m = new OnnxModel(options);
  await m.start();
  started.push(m);
  return m;
}

/** Window with value(j, c) = j + c / 100 so every cell is distinct. */
function window(offset = 0): Float32Array {
  const w = new Float32Array(50 * 18);
  for (let j = 0; j < 50; j++) for (let c = 0; c < 18; c++) w[j * 18 + c] = offset + j + c / 100;
  return w;
}

describe("OnnxModel", () => {
  it("loads the model and runs one window: [window][joints] out", async () => {
    const m = await start();
    const x = window();
    const y = await m.run(x);
    expect(y.length).toBe(50 * 5);
    for (const j of [0, 17, 49]) {
      for (let c = 0; c < 4; c++) expect(y[j * 5 + c]).toBeCloseTo(x[j * 18 + c]!, 5);
      expect(y[j * 5 + 4]).toBeCloseTo(x[j * 18 + 4]! + 2 * x[j * 18 + 17]!, 4);
    }
  });

  it("runs a batch of windows", async () => {
    const m = await start();
    const x = new Float32Array(3 * 900);
    x.set(window(0), 0);
    x.set(window(100), 900);
    x.set(window(200), 1800);
    const y = await m.run(x, 3);
    expect(y.length).toBe(3 * 250);
    expect(y[250]).toBeCloseTo(100, 4);
    expect(y[500]).toBeCloseTo(200, 4);
  });

  it("refuses a model whose tensor names differ from the manifest", async () => {
    await expect(start({ ...OPTIONS, inputName: "features" })).rejects.toThrow(
      /input "features" named by the manifest is not in the graph \(graph has \["imu_features"\]\)/,
    );
    await expect(start({ ...OPTIONS, outputName: "angles" })).rejects.toThrow(/output "angles" named by the manifest/);
  });

  it("refuses a model whose static dimensions differ from the manifest", async () => {
    await expect(start({ ...OPTIONS, window: 40 })).rejects.toThrow(/input "imu_features" has shape \["batch",50,18\], the manifest needs \[batch, 40, 18\]/);
    await expect(start({ ...OPTIONS, joints: 4 })).rejects.toThrow(/output "joint_angles" has shape/);
  });

  it("reports a missing or broken model file with its path", async () => {
    await expect(start({ ...OPTIONS, path: path.resolve("test/fixtures/inference/make_fixture.py") })).rejects.toThrow(
      /make_fixture\.py: onnxruntime cannot load the model/,
    );
  });

  it("refuses runs before start and too-short inputs", async () => {
    const m = new OnnxModel(OPTIONS);
    await expect(m.run(window())).rejects.toThrow(/not started/);
    const s = await start();
    await expect(s.run(new Float32Array(10))).rejects.toThrow(/need 900/);
  });
});
