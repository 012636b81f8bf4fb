/**
 * mqtt config checks that stop a device from starting in a state that cannot
 * work or is unsafe (issue #13). A refusal is a ConfigError from parseConfig,
 * which the CLI turns into exit status 78 (EX_CONFIG: systemd does not loop on it).
 */
import { describe, expect, it } from "vitest";
import { mqttConfigSchema } from "../../edge/mqtt/config.js";
import { ConfigError, parseConfig } from "../../edge/runtime/config.js";

const sources = [{ kind: "simulator" }];

function refusal(mqtt: Record<string, unknown>): string {
  try {
    parseConfig({ sources, mqtt });
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error("config was accepted");
}

describe("mqtt credentials", () => {
  it("refuses a username whose password came out empty (an unset GAIT_MQTT_PASSWORD in a template), naming the field", () => {
    const inUrl = refusal({ url: "mqtt://pi-01:@broker.lan:1883" });
    expect(inUrl).toMatch(/mqtt\.url: .*username "pi-01" but an empty password/);
    expect(refusal({ url: "mqtt://broker.lan:1883", username: "pi-01", password: "" })).toMatch(/mqtt\.password: .*empty/);
    expect(refusal({ url: "mqtt://broker.lan:1883", username: "pi-01" })).toMatch(/mqtt\.password: .*username "pi-01" but no password/);
  });

  it("never echoes a password in the message", () => {
    const message = refusal({ url: "mqtt://pi-01:s3cret@broker.lan:1883", username: "pi-01", password: "" });
    expect(message).not.toContain("s3cret");
  });

  it("accepts a username with a password, in the url or the field, and a client certificate without one", () => {
    expect(mqttConfigSchema.safeParse({ url: "mqtt://pi-01:pw@broker.lan" }).success).toBe(true);
    expect(mqttConfigSchema.safeParse({ url: "mqtt://pi-01@broker.lan", password: "pw" }).success).toBe(true);
    expect(mqttConfigSchema.safeParse({ url: "mqtt://broker.lan", username: "pi-01", password: "pw" }).success).toBe(true);
    expect(mqttConfigSchema.safeParse({ url: "mqtts://broker.lan", username: "pi-01", certFile: "/c.pem", keyFile: "/k.pem" }).success).toBe(true);
    expect(mqttConfigSchema.safeParse({ url: "mqtt://broker.lan" }).success).toBe(true);
  });
});
