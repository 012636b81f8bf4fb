import { describe, expect, it } from "vitest";
import { commandReplySchema as deviceReplySchema } from "../../edge/commands/types.js";
import { pageConfigSchema, resolveBrokerUrl } from "../../edge/dashboard/pageConfig.js";
import { commandReplySchema, dashboardTopics, jointColumns, JOINTS, parseDeviceMessage } from "../../web/dashboard/lib/messages.js";

const topics = dashboardTopics("lab/gait", "pi-01");
const angles = {
  seq: 7,
  model: { name: "m", version: "1.0.0" },
  joints: [...JOINTS],
  units: "deg",
  t: [1000, 1010],
  angles: [
    [1, 2, 3, 4, 5],
    [1.5, 2, 3, 4, null],
  ],
  sensorTimeUs: [0, 10_000],
  wearer: "w1",
};

describe("parseDeviceMessage", () => {
  it("routes each topic of the device to its typed message", () => {
    expect(topics.otaState).toBe("lab/gait/pi-01/ota/state");
    const a = parseDeviceMessage(topics, topics.angles, JSON.stringify(angles));
    expect(a).toMatchObject({ ok: true, message: { kind: "angles", payload: { seq: 7, wearer: "w1" } } });
    const s = parseDeviceMessage(topics, topics.status, JSON.stringify({ state: "degraded", reason: "femur_r silent", since: 5 }));
    expect(s).toMatchObject({ ok: true, message: { kind: "status", payload: { state: "degraded" } } });
    const o = parseDeviceMessage(
      topics,
      topics.otaState,
      JSON.stringify({ state: "downloading", progress: 0.4, installed_version: "1.0.0", offered_version: "1.0.1", reason: null, code: null, transfer_id: "ab", since: 1 }),
    );
    expect(o).toMatchObject({ ok: true, message: { kind: "otaState", payload: { progress: 0.4 } } });
    const g = parseDeviceMessage(topics, topics.gaitMetrics, JSON.stringify({ wearer: "default", placement: "calcn_r", startUs: 0, endUs: 1, strideTimeS: 1.1, cadenceSpm: 109 }));
    expect(g).toMatchObject({ ok: true, message: { kind: "gaitMetrics" } });
  });

  it("refuses malformed payloads with the reason, and ignores topics it does not read", () => {
    expect(parseDeviceMessage(topics, topics.angles, "{nope")).toMatchObject({ ok: false, kind: "angles", error: expect.stringMatching(/invalid JSON/) });
    const short = { ...angles, t: [1000] };
    expect(parseDeviceMessage(topics, topics.angles, JSON.stringify(short))).toMatchObject({ ok: false, error: expect.stringMatching(/t and angles differ/) });
    const ragged = { ...angles, angles: [[1, 2], [1, 2, 3, 4, 5]] };
    expect(parseDeviceMessage(topics, topics.angles, JSON.stringify(ragged))).toMatchObject({ ok: false, error: expect.stringMatching(/does not match joints/) });
    expect(parseDeviceMessage(topics, topics.status, JSON.stringify({ state: "sleeping", since: 1 }))).toMatchObject({ ok: false, error: expect.stringMatching(/^lab\/gait\/pi-01\/status: state/) });
    expect(parseDeviceMessage(topics, "lab/gait/pi-02/angles", JSON.stringify(angles))).toMatchObject({ ok: false, kind: undefined });
  });
});

describe("the page's command reply schema", () => {
  it("agrees with the device's commandReplySchema on every sample", () => {
    const samples: unknown[] = [
      { id: "a-1", status: "ok", data: { x: 1 } },
      { id: 3, status: "error", error: "calibration rejected: moving" },
      { id: null, status: "error", error: "invalid JSON" },
      { id: "a-1", status: "ok" },
      { id: "a-1", status: "maybe" },
      { status: "ok" },
      { id: "a-1", status: "ok", extra: true },
      { id: "x".repeat(129), status: "ok" },
      { id: "a-1", status: "error", error: 5 },
      "ok",
    ];
    for (const s of samples) expect([s, commandReplySchema.safeParse(s).success]).toEqual([s, deviceReplySchema.safeParse(s).success]);
  });
});

describe("jointColumns", () => {
  it("finds each plotted joint by name, whatever order the model outputs them in", () => {
    expect(jointColumns(["knee_flexion_r", "hip_flexion_r", "ankle_dorsiflexion_r"])).toEqual([1, undefined, undefined, 0, 2]);
  });
});

describe("page config", () => {
  it("resolves a path against the page's address, as ws or wss", () => {
    expect(resolveBrokerUrl("/mqtt", "http://pi-01.local:8080/")).toBe("ws://pi-01.local:8080/mqtt");
    expect(resolveBrokerUrl("/mqtt", "https://pi-01.example:8443/x")).toBe("wss://pi-01.example:8443/mqtt");
    expect(resolveBrokerUrl("wss://broker:9001", "http://pi/")).toBe("wss://broker:9001/");
    expect(() => resolveBrokerUrl("mqtt://broker:1883", "http://pi/")).toThrow(/ws:\/\/ or wss:\/\//);
  });

  it("needs a device and a prefix", () => {
    expect(pageConfigSchema.safeParse({ prefix: "gait", deviceId: "sim", brokerWsUrl: null }).success).toBe(true);
    expect(pageConfigSchema.safeParse({ prefix: "gait", deviceId: "", brokerWsUrl: "/mqtt" }).success).toBe(false);
  });
});
