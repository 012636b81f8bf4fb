/** The typed publisher: each topic suffix takes only its payload type (TopicPayloads) and its delivery. */
import { describe, expect, it } from "vitest";
import { DevicePublisher, type PublishingConnection } from "../../edge/mqtt/devicePublisher.js";
import { topicsFor, type AnglesMessage, type StatusMessage } from "../../edge/mqtt/topics.js";

function fake() {
  const calls: unknown[][] = [];
  const connection: PublishingConnection = {
    topics: topicsFor("gait", "dev"),
    publishLive: (...args) => void calls.push(["live", ...args]),
    publishRetained: async (...args) => void calls.push(["retained", ...args]),
  };
  return { calls, device: new DevicePublisher(connection, { anglesQos: 1, anglesQueueLimit: 7 }) };
}

const angles: AnglesMessage = { seq: 1, model: { name: "m", version: "1" }, joints: ["knee"], units: "deg", t: [1], angles: [[2]] };
const status: StatusMessage = { state: "degraded", reason: "foot silent", since: 5 };

describe("DevicePublisher", () => {
  it("sends angles as live data with the configured QoS and queue limit", () => {
    const { calls, device } = fake();
    device.publish("angles", angles);
    expect(calls).toEqual([["live", "gait/dev/angles", JSON.stringify(angles), 1, 7]]);
  });

  it("sends gait events and strides live at QoS 0 whatever the angles' QoS (only worth something now)", () => {
    const { calls, device } = fake();
    const event = { type: "heel_strike" as const, wearer: "default", placement: "calcn_r" as const, tUs: 1, detectedUs: 2 };
    device.publish("gait/event", event);
    device.publish("gait/stride", { wearer: "default", placement: "calcn_r", startUs: 0, endUs: 1, strideTimeS: 1, cadenceSpm: 120 });
    expect(calls.map((c) => [c[1], c[3]])).toEqual([["gait/dev/gait/event", 0], ["gait/dev/gait/stride", 0]]);
    expect(JSON.parse(calls[0]![2] as string)).toEqual(event);
  });

  it("sends status and model retained", async () => {
    const { calls, device } = fake();
    await device.publishRetained("status", status);
    expect(calls).toEqual([["retained", "gait/dev/status", status]]);
  });
});

/**
 * Never called: `tsc -p tsconfig.json` (part of `make test`) fails if any of
 * these compiles, i.e. if the topic map stopped constraining the payloads.
 */
export function wrongPayloadsDoNotCompile(device: DevicePublisher): void {
  // @ts-expect-error a status is not an angles message
  device.publish("angles", status);
  // @ts-expect-error status is retained, not live
  device.publish("status", status);
  // @ts-expect-error model info is not a status
  void device.publishRetained("status", { name: "m", version: "1", joints: [], units: "deg" });
}
