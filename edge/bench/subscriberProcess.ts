/**
 * The bench's MQTT subscriber, in a process of its own (edge/bench/windowed.ts
 * forks it), so that receiving and parsing thousands of angles messages a
 * second is not charged to the device's event loop, as it would be by a
 * subscriber inside the bench process (13% of the main thread at 100 wearers).
 *
 * Argv: broker URL, topic. Each message's receipt time is taken as an
 * absolute high-resolution time (`performance.timeOrigin + performance.now()`,
 * comparable across processes on one machine) and sent to the parent in
 * batches every 100 ms as `{ received: [[key, tMs], ...] }`; the message
 * `"stop"` flushes and exits. `{ ready: true }` says the subscription is up.
 */
import { connectAsync } from "mqtt";

interface Keyed {
  readonly wearer?: unknown;
  readonly seq?: unknown;
}

const [url, topic] = process.argv.slice(2);
if (!url || !topic || !process.send) {
  process.stderr.write("usage: forked by the bench with <broker url> <topic>\n");
  process.exit(2);
}
const send = (msg: object): void => {
  process.send!(msg);
};
const client = await connectAsync(url, { protocolVersion: 5, clientId: `bench-sub-${process.pid}` });
let batch: Array<[string, number]> = [];
client.on("message", (_topic, payload) => {
  const t = performance.timeOrigin + performance.now();
  const m = JSON.parse(payload.toString()) as Keyed;
  batch.push([`${String(m.wearer)}#${String(m.seq)}`, t]);
});
const flush = (): void => {
  if (!batch.length) return;
  send({ received: batch });
  batch = [];
};
const timer = setInterval(flush, 100);
process.on("message", (msg) => {
  if (msg !== "stop") return;
  clearInterval(timer);
  flush();
  void client.endAsync().finally(() => process.exit(0));
});
await client.subscribeAsync(topic, { qos: 0 });
send({ ready: true });
