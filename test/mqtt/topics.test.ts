import { describe, expect, it } from "vitest";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { safeUrl } from "../../edge/mqtt/connection.js";
import { topicsFor } from "../../edge/mqtt/topics.js";

describe("topicsFor", () => {
  it("puts every topic under <prefix>/<deviceId>", () => {
    expect(topicsFor("lab/gait", "pi-7")).toEqual({
      angles: "lab/gait/pi-7/angles",
      status: "lab/gait/pi-7/status",
      model: "lab/gait/pi-7/model",
      command: "lab/gait/pi-7/command",
      "command/response": "lab/gait/pi-7/command/response",
      "gait/event": "lab/gait/pi-7/gait/event",
      "gait/stride": "lab/gait/pi-7/gait/stride",
      "angles/sample": "lab/gait/pi-7/angles/sample",
    });
  });

  it("rejects wildcards and extra levels, naming the bad value", () => {
    expect(() => topicsFor("gait", "pi/7")).toThrow(/invalid MQTT device id "pi\/7"/);
    expect(() => topicsFor("gait/#", "pi")).toThrow(/invalid MQTT topic prefix "gait\/#"/);
    expect(() => topicsFor("/gait", "pi")).toThrow(/prefix/);
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
