/**
 * mqtt.js's `connect()` for a plain `mqtt://host:port` broker, without what
 * its first call loads: it requires the builders of every transport it knows
 * (WebSocket: `ws`; SOCKS proxies: `socks`, `ip-address`, `smart-buffer`;
 * TLS), ~4 MB of RSS on a device that speaks plain TCP to a local broker
 * (issue #11: one wearer's RSS). For such a URL this builds the same client
 * (`new MqttClient(streamBuilder, options)`, the TCP stream mqtt.js's own tcp
 * builder makes); any other URL, or anything connect() would treat
 * specially, goes to connect() itself, unchanged.
 *
 * What sends a URL to connect(): another scheme (mqtts, ws, wss...), a login
 * or a query in the URL (connect() takes credentials and a clientId from
 * them), a client certificate (connect() upgrades mqtt:// to TLS when `cert`
 * and `key` are set), a socket path, a SOCKS proxy (MQTTJS_SOCKS_PROXY or
 * `socksProxy`), `servers` (a list of brokers), `clean: false` (connect()
 * checks it has a clientId), or options that override the URL's parts
 * (protocol, host, port, path).
 */
import { createConnection } from "node:net";
import { connect as mqttConnect, MqttClient, type IClientOptions } from "mqtt";

export interface TcpBroker {
  readonly host: string;
  readonly port: number;
}

/** Pure: the broker's address when `url` needs nothing of connect() beyond a TCP stream (see the file comment); otherwise undefined. */
export function plainTcpBroker(url: string, options: IClientOptions, env: Readonly<Record<string, string | undefined>>): TcpBroker | undefined {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return undefined; // connect() reports it as it always has
  }
  if (u.protocol !== "mqtt:" && u.protocol !== "tcp:") return undefined;
  if (u.username !== "" || u.password !== "" || u.search !== "" || u.hash !== "") return undefined;
  if (u.pathname !== "" && u.pathname !== "/") return undefined;
  if (u.hostname === "") return undefined;
  if ((options.cert && options.key) || options.servers || options.unixSocket || options.clean === false) return undefined;
  // Options that override the URL's own parts in connect() (its options win over the URL).
  if (options.protocol !== undefined || options.host !== undefined || options.hostname !== undefined || options.port !== undefined || options.path !== undefined) return undefined;
  if (options.forceNativeWebSocket) return undefined;
  if (options.socksProxy !== undefined || env["MQTTJS_SOCKS_PROXY"] !== undefined) return undefined;
  // WHATWG URL keeps an IPv6 host's brackets; the socket wants the bare address (as url.parse, which connect() uses, gives it).
  const host = u.hostname.startsWith("[") && u.hostname.endsWith("]") ? u.hostname.slice(1, -1) : u.hostname;
  return { host, port: u.port === "" ? 1883 : Number(u.port) };
}

/** mqtt.js's `connect(url, options)`, with the plain-TCP shortcut above. */
export function connectBroker(url: string, options: IClientOptions): MqttClient {
  const broker = plainTcpBroker(url, options, process.env);
  if (!broker) return mqttConnect(url, options);
  // The options connect() would have handed the client for this URL (it logs protocol, host and port; the rest is ours).
  const opts: IClientOptions = { ...options, protocol: "mqtt", host: broker.host, hostname: broker.host, port: broker.port, defaultProtocol: "mqtt" };
  const client = new MqttClient(() => createConnection({ port: broker.port, host: broker.host }), opts);
  client.on("error", () => {}); // as connect() does: an 'error' with no other listener must not throw
  return client;
}
