import { readFileSync } from "node:fs";
import { describe, expect, it } from "vitest";
import { CsvLineParser, MAX_LINE_LENGTH, csvChecksum, parseCsvLine } from "../../../edge/sources/serial/csvLine.js";
import { runParser } from "./helpers.js";

const parse = (chunks: readonly string[]) =>
  runParser((onIssue) => new CsvLineParser({ onIssue }), chunks.map((c) => Buffer.from(c, "utf8")));
const counters = (p: unknown) => (p as CsvLineParser).counters;

describe("CsvLineParser", () => {
  it("reads samples, skipping comments, blank lines and header lines, with \\r\\n endings", async () => {
    const text = [
      "# board v2, 100 Hz",
      "sensorId,seq,t_us,ax,ay,az,gx,gy,gz",
      "3,0,1000000,0.1,-0.2,9.81,0.01,0.02,-0.03",
      "",
      "3,1,1010000,1e-1,-.5,+9.8,0,0,0,25.5,-3,40",
      "SensorId,seq,t_us,ax,ay,az,gx,gy,gz,mx,my,mz",
      " 4 , 65535 , 4294967295 , 1 , 2 , 3 , 4 , 5 , 6 ",
    ].join("\r\n") + "\r\n";
    const { frames, issues, parser } = await parse([text]);
    expect(issues).toEqual([]);
    expect(frames).toEqual([
      { sensorId: 3, seq: 0, tUs: 1_000_000, acc: [0.1, -0.2, 9.81], gyro: [0.01, 0.02, -0.03] },
      { sensorId: 3, seq: 1, tUs: 1_010_000, acc: [0.1, -0.5, 9.8], gyro: [0, 0, 0], mag: [25.5, -3, 40] },
      { sensorId: 4, seq: 65535, tUs: 4_294_967_295, acc: [1, 2, 3], gyro: [4, 5, 6] },
    ]);
    expect(counters(parser)).toEqual({ lines: 7, samples: 3, badLines: 0 });
  });

  it("joins a line split across chunks, even inside a number", async () => {
    const { frames } = await parse(["3,7,12", "3456,0.", "5,0,9.8,0,0,", "0\n"]);
    expect(frames).toEqual([{ sensorId: 3, seq: 7, tUs: 123456, acc: [0.5, 0, 9.8], gyro: [0, 0, 0] }]);
  });

  it("counts bad lines with their line number and reason, and keeps going", async () => {
    const text = [
      "3,0,1000,0,0,9.8,0,0,0", // 1 good
      "3,1,1010,0,0,9.8,0,0", // 2 eight fields
      "# comment", // 3
      "3,2,1020,0,zero,9.8,0,0,0", // 4 not a number
      "300,3,1030,0,0,9.8,0,0,0", // 5 sensor id out of range
      "3,70000,1040,0,0,9.8,0,0,0", // 6 seq out of range
      "3,-1,1050,0,0,9.8,0,0,0", // 7 negative seq
      "3,8,1060,0,0,9.8,0,0,0", // 8 good
    ].join("\n") + "\n";
    const { frames, issues, parser } = await parse([text]);
    expect(frames.map((f) => f.seq)).toEqual([0, 8]);
    expect(counters(parser)).toEqual({ lines: 8, samples: 2, badLines: 5 });
    expect(issues.every((i) => i.kind === "bad_frame")).toBe(true);
    expect(issues.map((i) => i.message)).toEqual([
      expect.stringMatching(/^serial csv line 2: expected 9 or 12 fields, got 8/),
      expect.stringMatching(/^serial csv line 4: ay "zero" is not a number/),
      expect.stringMatching(/^serial csv line 5: sensorId "300" is not an integer in 0\.\.255/),
      expect.stringMatching(/^serial csv line 6: seq "70000"/),
      expect.stringMatching(/^serial csv line 7: seq "-1"/),
    ]);
  });

  it("reads printf's nan and inf as non-finite numbers for the protocol layer to judge", () => {
    const result = parseCsvLine("1,2,3,nan,-inf,INF,0,0,0");
    expect(result.kind).toBe("sample");
    if (result.kind !== "sample") return;
    expect(result.frame.acc[0]).toBeNaN();
    expect(result.frame.acc[1]).toBe(Number.NEGATIVE_INFINITY);
    expect(result.frame.acc[2]).toBe(Number.POSITIVE_INFINITY);
  });

  it("drops an over-long line (binary data in CSV mode) as one bad line", async () => {
    const junk = "x".repeat(MAX_LINE_LENGTH * 3);
    const { frames, issues, parser } = await parse([junk.slice(0, 300), junk.slice(300), "\n3,1,10,0,0,9.8,0,0,0\n"]);
    expect(frames.map((f) => f.seq)).toEqual([1]);
    expect(counters(parser)).toMatchObject({ lines: 2, badLines: 1 });
    expect(issues[0]?.message).toMatch(/line 1: line longer than 256/);
  });

  it("reads a last line without a newline when the stream ends", async () => {
    const { frames } = await parse(["3,1,10,0,0,9.8,0,0,0"]);
    expect(frames).toHaveLength(1);
  });

  /**
   * Issue #13 (reliability fuzz): CSV has no checksum, so a digit changed in
   * transit was a valid line with a wrong value (41 225 in 10^6 fuzzed lines).
   * The optional `*hh` / `*hhhh` suffix (docs/serial-protocol.md) catches it.
   */
  describe("the optional checksum suffix", () => {
    const fixture = (name: string): Buffer => readFileSync(`test/fixtures/serial/${name}`);
    const values = { acc: [0.1, -0.2, 9.81], gyro: [0.01, 0.02, -0.03] };

    it("reads lines with an NMEA XOR checksum (*hh) from raw board bytes", async () => {
      const { frames, issues } = await runParser((onIssue) => new CsvLineParser({ onIssue }), [fixture("csv-xor.txt")]);
      expect(issues).toEqual([]);
      expect(frames).toEqual([0, 1, 2].map((n) => ({ sensorId: 3, seq: n, tUs: 1_000_000 + n * 10_000, ...values })));
    });

    it("reads lines with a CRC-16 checksum (*hhhh, any case), byte by byte", async () => {
      const bytes = fixture("csv-crc16.txt");
      const chunks = Array.from(bytes, (b) => Buffer.from([b]));
      const { frames, issues } = await runParser((onIssue) => new CsvLineParser({ onIssue }), chunks);
      expect(issues).toEqual([]);
      expect(frames.map((f) => (f as { seq: number }).seq)).toEqual([0, 1, 2]);
    });

    it("computes the suffixes the fixtures carry (the firmware's side)", () => {
      const body = "3,0,1000000,0.1000,-0.2000,9.8100,0.0100,0.0200,-0.0300";
      expect(csvChecksum(body, "xor8")).toBe("31");
      expect(csvChecksum(body, "crc16")).toBe("69DC");
    });

    it("rejects a line whose digit changed in transit, naming both checksums", async () => {
      const damaged = Buffer.from(fixture("csv-crc16.txt").toString("latin1").replace("9.8100", "9.3100"), "latin1");
      const { frames, issues } = await runParser((onIssue) => new CsvLineParser({ onIssue }), [damaged]);
      expect(frames).toHaveLength(2);
      expect(issues).toEqual([
        { kind: "bad_frame", message: expect.stringMatching(/^serial csv line 1: bad checksum: \*69DC sent, the line gives \*[0-9A-F]{4}: "3,0,/) },
      ]);
    });

    it("once a stream has carried a checksum, a line without one is damaged (its suffix cut off)", async () => {
      const text = fixture("csv-xor.txt").toString("latin1").replace("0.0200,-0.0300*31\r\n3,2", "0.0200,-0.0300\r\n3,2");
      const { frames, issues } = await runParser((onIssue) => new CsvLineParser({ onIssue }), [Buffer.from(text, "latin1")]);
      expect(frames.map((f) => (f as { seq: number }).seq)).toEqual([0, 2]);
      expect(issues).toEqual([{ kind: "bad_frame", message: expect.stringMatching(/line 4: no checksum \(\*cs\), while earlier lines carried one/) }]);
    });

    it("stays backward compatible: lines without any checksum are read as before", () => {
      expect(parseCsvLine("3,0,1000000,0.1,-0.2,9.81,0.01,0.02,-0.03")).toMatchObject({ kind: "sample", checksum: "none" });
      expect(parseCsvLine("3,0,1000000,0.1,-0.2,9.81,0.01,0.02,-0.03", { requireChecksum: true })).toMatchObject({ kind: "bad" });
    });

    it("rejects a malformed suffix", () => {
      for (const suffix of ["*", "*3", "*123", "*12345", "*zz"]) {
        expect(parseCsvLine(`3,0,1000000,0.1,-0.2,9.81,0.01,0.02,-0.03${suffix}`)).toEqual({
          kind: "bad",
          reason: expect.stringMatching(/is not \*hh \(XOR\) or \*hhhh \(CRC-16\)/),
        });
      }
    });
  });
});
