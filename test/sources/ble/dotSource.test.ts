import { afterEach, describe, expect, it, vi } from "vitest";
import { existsSync, readdirSync } from "node:fs";
// This import succeeding on a machine where importing noble throws (no adapter)
// is itself the check that dotSource.ts loads noble lazily.
import { DotSource, dotSourceSchema, type DotSourceConfig } from "../../../edge/sources/ble/dotSource.js";
import { memoryLogger } from "../../../edge/log.js";
import type { ImuSample, SourceIssue } from "../../../edge/sources/types.js";
import { FakeNoble, FakePeripheral, customMode5Frame } from "./fakeNoble.js";

const THIGH = "D4:22:CD:00:A6:83";
const FOOT = "D4:22:CD:00:A5:66";

function setup(overrides: Partial<DotSourceConfig> = {}, noble = new FakeNoble()) {
  const config = dotSourceSchema.parse({
    sensors: [{ address: THIGH, name: "femur_r" }, { address: FOOT }],
    reconnectMs: 5,
    maxReconnectMs: 20,
    connectTimeoutMs: 500,
    // These tests are about GATT and decoding: device time as sent (host alignment: clockAlign.test.ts, below).
    clockAlignment: "device",
    ...overrides,
  });
  // noble reports addresses in lower case.
  const thigh = new FakePeripheral(THIGH.toLowerCase());
  const foot = new FakePeripheral(FOOT.toLowerCase());
  const stranger = new FakePeripheral("aa:bb:cc:dd:ee:ff");
  noble.inRange.push(stranger, thigh, foot);
  const samples: ImuSample[] = [];
  const issues: SourceIssue[] = [];
  const logger = memoryLogger();
  const source = new DotSource(config, { loadNoble: async () => noble, logger });
  const handlers = { onSample: (s: ImuSample) => samples.push(s), onIssue: (i: SourceIssue) => issues.push(i) };
  return { source, handlers, noble, thigh, foot, stranger, samples, issues, logger };
}

const streaming = (p: FakePeripheral) => p.control.writes.some((w) => w.equals(Buffer.from([1, 1, 26])));

let running: DotSource | undefined;
afterEach(async () => {
  await running?.stop();
  running = undefined;
});

describe("DotSource with a fake noble", () => {
  it("connects to the configured DOTs only and starts Custom mode 5 streaming", async () => {
    const t = setup();
    running = t.source;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh) && streaming(t.foot)).toBe(true));

    expect(t.stranger.connects).toBe(0);
    expect(t.source.kind).toBe("ble-dot");
    // Spec order: output rate before start, notifications enabled before the start write.
    expect(t.thigh.journal).toEqual([
      "connect",
      `write 1002 ${"10" + "00".repeat(23) + "3c00" + "00".repeat(6)}`,
      "subscribe 2002",
      "write 2001 01011a",
    ]);
    expect(t.noble.scanning).toBe(false); // everything found: no need to keep scanning
  });

  it("emits samples in contract units with the configured name or the address as sensorId", async () => {
    const t = setup();
    running = t.source;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh) && streaming(t.foot)).toBe(true));

    t.thigh.payload.notify(
      customMode5Frame({ timestampUs: 1_000, quat: [0, 1, 0, 0], acc: [-9.5, 0.5, 1], gyroDeg: [180, -45, 0] }),
    );
    t.foot.payload.notify(customMode5Frame({ timestampUs: 2_000, acc: [0, 0, 9.81], gyroDeg: [0, 0, 0] }));

    expect(t.samples).toHaveLength(2);
    const [thigh, foot] = t.samples;
    expect(thigh?.sensorId).toBe("femur_r");
    expect(thigh?.tUs).toBe(1_000);
    expect(thigh?.quat).toEqual([0, 1, 0, 0]);
    expect(thigh?.acc[0]).toBeCloseTo(-9.5, 5);
    expect(thigh?.gyro[0]).toBeCloseTo(Math.PI, 6);
    expect(thigh?.gyro[1]).toBeCloseTo(-Math.PI / 4, 6);
    expect(foot?.sensorId).toBe(FOOT);
    expect(t.source.stats().samples).toBe(2);
  });

  it("counts a malformed notification as bad_frame and keeps streaming", async () => {
    const t = setup();
    running = t.source;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh)).toBe(true));

    expect(() => t.thigh.payload.notify(Buffer.from([1, 2, 3]))).not.toThrow();
    t.thigh.payload.notify(customMode5Frame({ timestampUs: 5, acc: [0, 0, 9.81], gyroDeg: [0, 0, 0] }));

    expect(t.issues).toEqual([
      { kind: "bad_frame", sensorId: "femur_r", message: expect.stringContaining("length 3 bytes") },
    ]);
    expect(t.source.stats().issues).toEqual({ bad_frame: 1 });
    expect(t.samples).toHaveLength(1);
  });

  it("reports a lost sensor and reconnects automatically, streaming again", async () => {
    const t = setup();
    running = t.source;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh) && streaming(t.foot)).toBe(true));
    t.thigh.payload.notify(customMode5Frame({ timestampUs: 4_294_960_000, acc: [0, 0, 9.81], gyroDeg: [0, 0, 0] }));

    t.thigh.dropLink();
    expect(t.issues.map((i) => i.kind)).toEqual(["disconnected", "reconnecting"]);
    expect(t.issues[0]?.sensorId).toBe("femur_r");

    await vi.waitFor(() => expect(t.issues.map((i) => i.kind)).toContain("reconnected"));
    expect(t.thigh.connects).toBe(2);
    expect(t.thigh.control.writes.filter((w) => w.equals(Buffer.from([1, 1, 26])))).toHaveLength(2);
    expect(t.foot.connects).toBe(1); // the other sensor was left alone

    // The device clock wrapped while we were away; tUs keeps increasing.
    t.thigh.payload.notify(customMode5Frame({ timestampUs: 40_000, acc: [0, 0, 9.81], gyroDeg: [0, 0, 0] }));
    expect(t.samples.map((s) => s.tUs)).toEqual([4_294_960_000, 2 ** 32 + 40_000]);
  });

  it("retries a failed connection with backoff", async () => {
    const t = setup();
    running = t.source;
    t.thigh.failConnects = 2;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh)).toBe(true));

    expect(t.thigh.connects).toBe(3);
    const retries = t.issues.filter((i) => i.kind === "reconnecting").map((i) => i.message);
    expect(retries).toEqual([
      "femur_r: reconnecting in 5 ms (attempt 1)",
      "femur_r: reconnecting in 10 ms (attempt 2)",
    ]);
    expect(t.issues.filter((i) => i.kind === "io_error")[0]?.message).toContain("Command Disallowed");
    expect(streaming(t.foot)).toBe(true);
  });

  it("stop() writes stop-streaming, unsubscribes, disconnects and does not reconnect", async () => {
    const t = setup();
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh) && streaming(t.foot)).toBe(true));

    await t.source.stop();

    for (const p of [t.thigh, t.foot]) {
      expect(p.journal.slice(-3)).toEqual(["write 2001 01001a", "unsubscribe 2002", "disconnect"]);
      expect(p.connected).toBe(false);
    }
    await new Promise((r) => setTimeout(r, 30));
    expect(t.thigh.connects).toBe(1);
    expect(t.issues.filter((i) => i.kind === "disconnected")).toEqual([]);
    expect(t.noble.listenerCount("discover")).toBe(0);
  });

  it("reports no_valid_data when connected DOTs send nothing, and valid_data when they start", async () => {
    const t = setup({ noDataTimeoutMs: 100 });
    running = t.source;
    await t.source.start(t.handlers);
    await vi.waitFor(() => expect(streaming(t.thigh) && streaming(t.foot)).toBe(true));
    await vi.waitFor(() => expect(t.issues.map((i) => i.kind)).toContain("no_valid_data"));
    expect(t.issues.find((i) => i.kind === "no_valid_data")?.message).toMatch(/^ble-dot: no notifications for \d+(\.\d)? s$/);
    t.foot.payload.notify(customMode5Frame({ timestampUs: 5, acc: [0, 0, 9.81], gyroDeg: [0, 0, 0] }));
    expect(t.issues.map((i) => i.kind)).toEqual(["no_valid_data", "valid_data"]);
    expect(t.samples).toHaveLength(1);
  });

  it("waits for the adapter to power on", async () => {
    const noble = new FakeNoble("poweredOff");
    const t = setup({}, noble);
    running = t.source;
    const started = t.source.start(t.handlers);
    setTimeout(() => noble.setState("poweredOn"), 5);
    await started;
    await vi.waitFor(() => expect(streaming(t.thigh)).toBe(true));
  });

  it("fails start() clearly when the adapter never powers on", async () => {
    const t = setup({ poweredOnTimeoutMs: 10 }, new FakeNoble("unauthorized"));
    await expect(t.source.start(t.handlers)).rejects.toThrow(/adapter is "unauthorized", not poweredOn/);
  });

  it("turns a noble that cannot load into a clear error", async () => {
    const config = dotSourceSchema.parse({ sensors: [{ address: THIGH }] });
    const source = new DotSource(config, {
      loadNoble: async () => {
        throw new Error("EAFNOSUPPORT, Address family not supported by protocol");
      },
      logger: memoryLogger(),
    });
    await expect(source.start({ onSample: () => {}, onIssue: () => {} })).rejects.toThrow(
      "Bluetooth LE source unavailable: EAFNOSUPPORT, Address family not supported by protocol. " +
        "Install @stoprocent/noble and check the adapter (hciconfig)",
    );
  });

  it("rejects a config that lists the same DOT twice", () => {
    const r = dotSourceSchema.safeParse({ sensors: [{ address: THIGH }, { address: THIGH.toLowerCase() }] });
    expect(r.success).toBe(false);
  });
});

// The real loader (@stoprocent/noble). Unlike @abandonware/noble it imports on
// any Linux, adapter or not; without a usable adapter its HCI bindings report a
// state other than poweredOn, and start() must fail saying so (or, where the
// package is missing, that the source is unavailable). Only without an adapter:
// on a machine with Bluetooth this would really scan.
const hasAdapter = existsSync("/sys/class/bluetooth") && readdirSync("/sys/class/bluetooth").some((d) => d.startsWith("hci"));
describe.skipIf(hasAdapter)(`DotSource default noble loader${hasAdapter ? " (SKIPPED: this machine has a Bluetooth adapter)" : ""}`, () => {
  it("reports why the adapter or noble is unavailable", async () => {
    const config = dotSourceSchema.parse({ sensors: [{ address: THIGH }], poweredOnTimeoutMs: 500 });
    const source = new DotSource(config, { logger: memoryLogger() });
    await expect(source.start({ onSample: () => {}, onIssue: () => {} })).rejects.toThrow(
      /^(Bluetooth LE adapter is "\w+", not poweredOn, after 500 ms\. Check the adapter \(hciconfig, rfkill\)|Bluetooth LE source unavailable: .+)$/,
    );
  });
});
