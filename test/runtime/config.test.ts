import { mkdtemp, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { ConfigError, loadConfig, parseConfig } from "../../edge/runtime/config.js";
import { routeSensor } from "../../edge/runtime/runtime.js";

describe("runtime config", () => {
  it("fills defaults from one schema", () => {
    const c = parseConfig({ sources: [{ kind: "simulator" }] });
    expect(c.model).toBe("models/reduced-femur-calcn-lstm/manifest.json");
    expect(c.mqtt.prefix).toBe("gait");
    expect(c.mqtt.anglesQos).toBe(0);
    expect(c.pipeline.staleAfterMs).toBe(500);
    expect(c.sources[0]!.kind).toBe("simulator");
  });

  it("names every problem with its path", () => {
    expect(() => parseConfig({ sources: [{ kind: "carrier-pigeon" }], sensors: { "serial:3": "elbow" } })).toThrowError(
      /sources\.0\.kind[\s\S]*sensors\.serial:3: expected a placement/,
    );
    expect(() => parseConfig({ sources: [] })).toThrowError(/sources: at least one source is needed/);
  });

  it("reports unreadable and non-JSON files with their name", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "cfg-"));
    const bad = path.join(dir, "bad.json");
    await writeFile(bad, "{ not json");
    await expect(loadConfig(bad)).rejects.toThrowError(new RegExp(`${bad}: not valid JSON`));
    await expect(loadConfig(path.join(dir, "missing.json"))).rejects.toBeInstanceOf(ConfigError);
  });
});

describe("sensor routing", () => {
  it("maps ids to wearer and placement", () => {
    expect(routeSensor("femur_r", {})).toEqual({ wearer: "default", placement: "femur_r" });
    expect(routeSensor("w3:calcn_r", {})).toEqual({ wearer: "w3", placement: "calcn_r" });
    expect(routeSensor("serial:3", { "serial:3": "femur_r" })).toEqual({ wearer: "default", placement: "femur_r" });
    expect(routeSensor("D4:22:CD:00:12:34", { "D4:22:CD:00:12:34": "alice:calcn_r" })).toEqual({ wearer: "alice", placement: "calcn_r" });
    expect(routeSensor("serial:9", {})).toBeUndefined();
  });
});

describe("dashboard and the embedded broker", () => {
  it("refuses a dashboard on the LAN that would bridge an embedded broker without logins", () => {
    expect(() => parseConfig({ sources: [{ kind: "simulator" }], dashboard: { host: "0.0.0.0" } })).toThrow(
      /dashboard\.host: .*bridge the LAN into the embedded MQTT broker with no authentication/,
    );
    // Loopback, or an external broker (the page then talks to that broker directly), is fine.
    expect(() => parseConfig({ sources: [{ kind: "simulator" }], dashboard: { host: "127.0.0.1" } })).not.toThrow();
    expect(() => parseConfig({ sources: [{ kind: "simulator" }], mqtt: { url: "mqtt://broker:1883" }, dashboard: { host: "0.0.0.0" } })).not.toThrow();
  });
});
