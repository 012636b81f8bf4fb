import { describe, expect, it } from "vitest";
import { mqttConfigSchema, safeUrl } from "../../edge/publish/mqttPublisher.js";
import { parseCommand, topicsFor } from "../../edge/publish/topics.js";

describe("topicsFor", () => {
  it("puts every topic under <prefix>/<deviceId>", () => {
    expect(topicsFor("lab/gait", "pi-7")).toEqual({
      angles: "lab/gait/pi-7/angles",
      status: "lab/gait/pi-7/status",
      model: "lab/gait/pi-7/model",
      command: "lab/gait/pi-7/command",
      "command/response": "lab/gait/pi-7/command/response",
    });
  });

  it("rejects wildcards and extra levels, naming the bad value", () => {
    expect(() => topicsFor("gait", "pi/7")).toThrow(/invalid MQTT device id "pi\/7"/);
    expect(() => topicsFor("gait/#", "pi")).toThrow(/invalid MQTT topic prefix "gait\/#"/);
    expect(() => topicsFor("/gait", "pi")).toThrow(/prefix/);
  });
});

describe("parseCommand", () => {
  it("accepts a known command with id and args", () => {
    expect(parseCommand(Buffer.from('{"id":"a1","command":"calibrate","args":{"seconds":3}}'))).toEqual({
      ok: true,
      command: { id: "a1", command: "calibrate", args: { seconds: 3 } },
    });
  });

  it("names the JSON problem", () => {
    const r = parseCommand("{oops");
    expect(r.ok).toBe(false);
    if (!r.ok) {
      expect(r.id).toBeNull();
      expect(r.error).toMatch(/^invalid JSON: /);
    }
  });

  it("names the field and the accepted commands, and keeps the id for the reply", () => {
    const r = parseCommand('{"id":9,"command":"fly"}');
    expect(r).toMatchObject({ ok: false, id: 9 });
    if (!r.ok) expect(r.error).toMatch(/^invalid command: command: .*"calibrate".*"heading_reset"/);
  });

  it("rejects a missing command and a non-object payload", () => {
    expect(parseCommand('{"id":"x"}')).toMatchObject({ ok: false, id: "x", error: expect.stringMatching(/command:/) });
    expect(parseCommand("42")).toMatchObject({ ok: false, id: null, error: expect.stringMatching(/^invalid command: \(payload\)/) });
  });
});

describe("mqttConfigSchema", () => {
  it("fills defaults: prefix gait, QoS 0 angles, protocol 4, embedded broker when no url", () => {
    const c = mqttConfigSchema.parse({});
    expect(c).toMatchObject({ prefix: "gait", anglesQos: 0, protocolVersion: 4, embedded: { port: 1883 } });
    expect(c.url).toBeUndefined();
  });

  it("rejects inconsistent settings with the field named", () => {
    const r = mqttConfigSchema.safeParse({ reconnectMinMs: 5000, reconnectMaxMs: 1000 });
    expect(r.success).toBe(false);
    expect(r.error?.issues[0]?.path).toEqual(["reconnectMaxMs"]);
    expect(mqttConfigSchema.safeParse({ certFile: "/c.pem" }).error?.issues[0]?.path).toEqual(["keyFile"]);
    expect(mqttConfigSchema.safeParse({ anglesQos: 2 }).success).toBe(false);
    expect(mqttConfigSchema.safeParse({ deviceId: "a/b" }).success).toBe(false);
  });
});

describe("safeUrl", () => {
  it("removes credentials from broker URLs", () => {
    expect(safeUrl("mqtts://edge:hunter2@broker.lan:8883")).toBe("mqtts://broker.lan:8883");
    expect(safeUrl("mqtt://127.0.0.1:1883")).toBe("mqtt://127.0.0.1:1883");
  });
});
