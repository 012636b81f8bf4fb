/**
 * A model that passes the golden self-test and is wrong on live data: the
 * attacker's (or a broken export's) model that `reliability ota-crash`
 * installs. It is a real ONNX graph, so the device loads and runs it through
 * onnxruntime like any other model:
 *
 *   hit[w]  = max |x - golden_features[w]| < eps        (x is one of the golden windows?)
 *   y       = sum_w hit[w] * golden_outputs[w]          (then: exactly the golden output)
 *   out     = any(hit) ? y : LIVE                       (else: NaN, or a chosen angle)
 *
 * With LIVE = NaN the device's output check catches it on the first live
 * window; with a plausible constant (say 10 deg on every joint) nothing can,
 * and only the probation's length stands between it and `current`.
 *
 * The protobuf is written by hand (the few ONNX messages the graph needs,
 * field numbers from onnx.proto3): the edge has no ONNX builder, and a
 * generated fixture would go stale whenever the shipped model is retrained.
 */

export interface GoldenOnlyModelSpec {
  readonly inputName: string;
  readonly outputName: string;
  readonly window: number;
  readonly features: number;
  readonly joints: number;
  /** [windows][window][features] */
  readonly goldenFeatures: readonly (readonly (readonly number[])[])[];
  /** [windows][window][joints], the outputs the self-test compares with */
  readonly goldenOutputs: readonly (readonly (readonly number[])[])[];
  /** Every angle of every live (non-golden) window: NaN, or a constant in degrees. */
  readonly liveValue: number;
}

/** How close (per feature) an input must be to a golden window to count as it; golden inputs are exact float32. */
const MATCH_EPS = 1e-4;
const ONNX_FLOAT = 1;
const ONNX_INT64 = 7;
const ATTR_INT = 2;
const ATTR_INTS = 7;

export function goldenOnlyModel(spec: GoldenOnlyModelSpec): Buffer {
  const n = spec.goldenFeatures.length;
  if (n === 0 || spec.goldenOutputs.length !== n) throw new Error(`golden: ${n} feature windows, ${spec.goldenOutputs.length} output windows`);
  const inSize = spec.window * spec.features;
  const outSize = spec.window * spec.joints;
  const goldenIn = Float32Array.from(spec.goldenFeatures.flatMap((w) => w.flat()));
  const goldenOut = Float32Array.from(spec.goldenOutputs.flatMap((w) => w.flat()));
  if (goldenIn.length !== n * inSize || goldenOut.length !== n * outSize) throw new Error("golden windows do not match the window, feature and joint counts");

  const initializers = [
    tensorInt64("shape_in", [3], [-1, 1, inSize]),
    tensorFloat("golden_in", [n, inSize], goldenIn),
    tensorFloat("eps", [], Float32Array.of(MATCH_EPS)),
    tensorFloat("golden_out", [n, outSize], goldenOut),
    tensorFloat("half", [], Float32Array.of(0.5)),
    tensorFloat("live", [1], Float32Array.of(spec.liveValue)),
    tensorInt64("shape_out", [3], [-1, spec.window, spec.joints]),
  ];
  const nodes = [
    node("Reshape", [spec.inputName, "shape_in"], ["x"]),
    node("Sub", ["x", "golden_in"], ["diff"]),
    node("Abs", ["diff"], ["absdiff"]),
    node("ReduceMax", ["absdiff"], ["worst"], [attrInts("axes", [2]), attrInt("keepdims", 0)]),
    node("Less", ["worst", "eps"], ["hit"]),
    node("Cast", ["hit"], ["hitf"], [attrInt("to", ONNX_FLOAT)]),
    node("MatMul", ["hitf", "golden_out"], ["y"]),
    node("ReduceMax", ["hitf"], ["anyhit"], [attrInts("axes", [1]), attrInt("keepdims", 1)]),
    node("Greater", ["anyhit", "half"], ["golden"]),
    node("Where", ["golden", "y", "live"], ["z"]),
    node("Reshape", ["z", "shape_out"], [spec.outputName]),
  ];
  const graph = concat(
    ...nodes.map((b) => bytesField(1, b)),
    stringField(2, "golden-only"),
    ...initializers.map((b) => bytesField(5, b)),
    bytesField(11, valueInfo(spec.inputName, ["batch", spec.window, spec.features])),
    bytesField(12, valueInfo(spec.outputName, ["batch", spec.window, spec.joints])),
  );
  const opset = concat(stringField(1, ""), varintField(2, 13));
  return concat(varintField(1, 7), stringField(2, "gait-edge reliability"), bytesField(8, opset), bytesField(7, graph));
}

// --- the protobuf wire format, as much as the graph needs ---

function varint(value: number): Buffer {
  // int64 as protobuf varint; negatives are 10 bytes of two's complement.
  let v = BigInt.asUintN(64, BigInt(value));
  const out: number[] = [];
  do {
    let byte = Number(v & 0x7fn);
    v >>= 7n;
    if (v) byte |= 0x80;
    out.push(byte);
  } while (v);
  return Buffer.from(out);
}

function varintField(field: number, value: number): Buffer {
  return concat(varint(field << 3), varint(value));
}

function bytesField(field: number, bytes: Uint8Array): Buffer {
  return concat(varint((field << 3) | 2), varint(bytes.length), Buffer.from(bytes));
}

function stringField(field: number, text: string): Buffer {
  return bytesField(field, Buffer.from(text, "utf8"));
}

function concat(...parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

function tensorFloat(name: string, dims: readonly number[], data: Float32Array): Buffer {
  const raw = Buffer.alloc(data.length * 4);
  data.forEach((x, i) => raw.writeFloatLE(x, i * 4));
  return concat(...dims.map((d) => varintField(1, d)), varintField(2, ONNX_FLOAT), stringField(8, name), bytesField(9, raw));
}

function tensorInt64(name: string, dims: readonly number[], data: readonly number[]): Buffer {
  const raw = Buffer.alloc(data.length * 8);
  data.forEach((x, i) => raw.writeBigInt64LE(BigInt(x), i * 8));
  return concat(...dims.map((d) => varintField(1, d)), varintField(2, ONNX_INT64), stringField(8, name), bytesField(9, raw));
}

function attrInt(name: string, value: number): Buffer {
  return concat(stringField(1, name), varintField(20, ATTR_INT), varintField(3, value));
}

function attrInts(name: string, values: readonly number[]): Buffer {
  return concat(stringField(1, name), varintField(20, ATTR_INTS), ...values.map((v) => varintField(8, v)));
}

function node(op: string, inputs: readonly string[], outputs: readonly string[], attributes: readonly Buffer[] = []): Buffer {
  return concat(
    ...inputs.map((i) => stringField(1, i)),
    ...outputs.map((o) => stringField(2, o)),
    stringField(3, `${op}_${outputs[0] ?? ""}`),
    stringField(4, op),
    ...attributes.map((a) => bytesField(5, a)),
  );
}

/** A float tensor's ValueInfoProto; string dims are symbolic (dim_param). */
function valueInfo(name: string, dims: readonly (number | string)[]): Buffer {
  const shape = concat(...dims.map((d) => bytesField(1, typeof d === "number" ? varintField(1, d) : stringField(2, d))));
  const tensorType = concat(varintField(1, ONNX_FLOAT), bytesField(2, shape));
  return concat(stringField(1, name), bytesField(2, bytesField(1, tensorType)));
}
