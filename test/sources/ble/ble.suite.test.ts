/** The source contract for Movella DOTs, at the noble interface (the fake noble of fakeNoble.ts). */
import { expect, vi } from "vitest";
import { memoryLogger } from "../../../edge/log.js";
import { DotSource, dotSourceSchema } from "../../../edge/sources/ble/dotSource.js";
import { sourceSuite, type SuiteVariant } from "../sourceSuite.js";
import { FakeNoble, FakePeripheral, customMode5Frame } from "./fakeNoble.js";

const THIGH = "D4:22:CD:00:A6:83";
const FOOT = "D4:22:CD:00:A5:66";
// Two DOTs at 60 Hz (16 667 µs), 10 notifications each, interleaved. Their clocks are 6 s
// apart (each counts from its own power-on); the host receives each pair at once, so the
// source puts both on the host clock (clockAlign.ts): the pairs come out with equal tUs.
const HOST_US = 3_000_000;
const DEVICE_US = { femur_r: 1_000_000, calcn_r: 7_000_000 } as const;
const expected = Array.from({ length: 10 }, (_, k) => [
  ["femur_r", HOST_US + k * 16_667],
  ["calcn_r", HOST_US + k * 16_667],
] as const).flat();

const streaming = (p: FakePeripheral): boolean => p.control.writes.some((w) => w.equals(Buffer.from([1, 1, 26])));

sourceSuite({
  name: "ble-dot (fake noble)",
  expected,
  finite: false,
  badInput: { kind: "bad_frame", count: 3 },
  canBeSilent: true,
  create: async (variant: SuiteVariant, { noDataTimeoutMs }) => {
    const noble = new FakeNoble();
    const thigh = new FakePeripheral(THIGH.toLowerCase());
    const foot = new FakePeripheral(FOOT.toLowerCase());
    noble.inRange.push(thigh, foot);
    let hostUs = 0;
    const source = new DotSource(
      dotSourceSchema.parse({
        sensors: [
          { address: THIGH, name: "femur_r" },
          { address: FOOT, name: "calcn_r" },
        ],
        reconnectMs: 5,
        connectTimeoutMs: 500,
        noDataTimeoutMs,
      }),
      { loadNoble: async () => noble, logger: memoryLogger(), hostClockUs: () => hostUs },
    );
    let fed = false;
    return {
      source,
      feed: async () => {
        // A DOT streams once connected; after stop() nothing is subscribed, so notify() is a no-op.
        if (!fed) await vi.waitFor(() => expect(streaming(thigh) && streaming(foot)).toBe(true), { timeout: 5000, interval: 5 });
        fed = true;
        expected.forEach(([id, t], i) => {
          const dot = id === "femur_r" ? thigh : foot;
          hostUs = t;
          const timestampUs = t - HOST_US + DEVICE_US[id];
          dot.payload.notify(customMode5Frame({ timestampUs, acc: [0, 0, 9.81], gyroDeg: [1, 0, 0] }));
          if (variant === "bad" && i % 7 === 3) dot.payload.notify(Buffer.from([1, 2, 3]));
        });
      },
      close: async () => undefined,
    };
  },
});
