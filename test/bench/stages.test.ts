import { describe, expect, it } from "vitest";
import { sharesOf, stageOf } from "../../edge/bench/stages.js";

const frame = (id: number, url: string, functionName = "f", children: number[] = []) => ({ id, callFrame: { url, functionName }, children });

describe("bench stages", () => {
  it("names the stage of the hot path's files, and none for frames that belong to no stage", () => {
    expect(stageOf("file:///x/node_modules/onnxruntime-node/dist/backend.js", "")).toBe("inference");
    expect(stageOf("file:///x/edge/fusion/ahrsFilter.ts", "update")).toBe("ahrs_features");
    expect(stageOf("file:///x/node_modules/ahrs/src/Madgwick.js", "")).toBe("ahrs_features");
    expect(stageOf("file:///x/edge/runtime/pipeline.ts", "")).toBe("pipeline");
    expect(stageOf("file:///x/edge/inference/batcher.ts", "")).toBe("pipeline");
    expect(stageOf("file:///x/edge/modules/mounting.ts", "")).toBe("mounting");
    expect(stageOf("file:///x/node_modules/mqtt-packet/writeToStream.js", "")).toBe("mqtt");
    expect(stageOf("", "(garbage collector)")).toBe("gc");
    expect(stageOf("node:internal/streams/writable", "write")).toBeUndefined();
    expect(stageOf("file:///x/edge/core/bus.ts", "emit")).toBeUndefined();
  });

  it("charges each sample to the nearest stage up its stack, and 'other' when there is none", () => {
    // root -> publish (mqtt) -> writev (node internal); root -> bus (none); root -> idle
    const profile = {
      nodes: [
        frame(1, "", "(root)", [2, 4, 5]),
        frame(2, "file:///x/edge/mqtt/connection.ts", "publishLive", [3]),
        frame(3, "node:net", "writev"),
        frame(4, "file:///x/edge/core/bus.ts", "emit"),
        frame(5, "", "(idle)"),
      ],
      samples: [3, 3, 4, 5],
      timeDeltas: [1000, 1000, 1000, 1000],
    };
    const s = sharesOf(profile);
    expect(s.mqtt).toBe(0.5);
    expect(s.other).toBe(0.25);
    expect(s.idle).toBe(0.25);
    expect(s.inference).toBe(0);
  });
});
