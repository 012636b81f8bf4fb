/**
 * The dashboard page: reads /config.json, connects to the device's broker over
 * WebSocket, and keeps each panel up to date. The map:
 *
 *   /config.json -> DeviceConnection (connection.ts, mqtt.js)
 *     message -> parseDeviceMessage (lib/messages.ts, zod)
 *       angles       -> AngleHistory (lib/angleHistory.ts) -> AnglePlots (plots.ts, uPlot)
 *                                                          -> legPose (lib/stickFigure.ts) -> StickView
 *       status, model, ota/state, gait metrics -> their panels (text from lib/format.ts)
 *       command/response -> CommandTracker (lib/commands.ts) -> the commands log
 *
 * Drawing happens once per animation frame, never per message.
 */
import { pageConfigSchema, resolveBrokerUrl, type PageConfig } from "../../edge/dashboard/pageConfig.js";
import { AngleHistory } from "./lib/angleHistory.js";
import { CommandTracker, describeOutcome, type CommandOutcome } from "./lib/commands.js";
import { describeMetrics, describeOta, describeStatus, flattenStatus, formatDeg } from "./lib/format.js";
import { dashboardTopics, jointColumns, JOINTS, parseDeviceMessage, type AnglesPayload, type DashboardTopics, type StatusPayload } from "./lib/messages.js";
import { isFiniteAngles, legPose } from "./lib/stickFigure.js";
import { DeviceConnection, type ConnectionState, type Credentials } from "./connection.js";
import { AnglePlots } from "./plots.js";
import { StickView } from "./stickView.js";

const HISTORY_MS = 10_000;
/** The device waits `durationS` (2 s by default) before it answers a calibrate. */
const COMMAND_TIMEOUT_MS: Record<string, number> = { calibrate: 15_000 };
const DEFAULT_COMMAND_TIMEOUT_MS = 5_000;
const STATUS_POLL_MS = 5_000;
const MAX_LOG_LINES = 30;
const MAX_WEARERS_LISTED = 64;

function el<T extends HTMLElement = HTMLElement>(id: string): T {
  const found = document.getElementById(id);
  if (!found) throw new Error(`dashboard page lacks #${id}`);
  return found as T;
}

function setText(id: string, text: string): void {
  const e = el(id);
  if (e.textContent !== text) e.textContent = text;
}

/** Prepend one line to a capped log list; a repeat of the newest line only counts up. */
function logLine(list: HTMLElement, text: string, status?: string): void {
  const top = list.firstElementChild as HTMLElement | null;
  if (top && top.dataset.text === text) {
    const n = Number(top.dataset.count ?? "1") + 1;
    top.dataset.count = String(n);
    top.textContent = `${new Date().toLocaleTimeString()}  ${text} (x${n})`;
    return;
  }
  const li = document.createElement("li");
  li.dataset.text = text;
  if (status) li.dataset.status = status;
  li.textContent = `${new Date().toLocaleTimeString()}  ${text}`;
  list.prepend(li);
  while (list.children.length > MAX_LOG_LINES) list.lastElementChild?.remove();
}

function fillTable(table: HTMLTableElement, rows: ReadonlyArray<{ name: string; value: string }>): void {
  table.replaceChildren(
    ...rows.map(({ name, value }) => {
      const tr = document.createElement("tr");
      const a = document.createElement("td");
      const b = document.createElement("td");
      a.textContent = name;
      b.textContent = value;
      tr.append(a, b);
      return tr;
    }),
  );
}

class Dashboard {
  private readonly topics: DashboardTopics;
  private readonly history = new AngleHistory(JOINTS.length, HISTORY_MS);
  private readonly plots: AnglePlots;
  private readonly stick = new StickView(document);
  private readonly commands = new CommandTracker(Math.random().toString(36).slice(2, 8));
  private connection: DeviceConnection | undefined;
  private readonly wearers = new Set<string>();
  private wearer: string | undefined;
  private status: StatusPayload | undefined;
  private statusPolling = true;
  private drawnVersion = -1;
  private readonly scratch: (number | undefined)[] = new Array<number | undefined>(JOINTS.length);

  constructor(config: PageConfig) {
    this.topics = dashboardTopics(config.prefix, config.deviceId);
    setText("device-id", config.deviceId);
    document.title = `${config.deviceId} - gait-edge`;
    this.plots = new AnglePlots(el("plots"), this.history);
    this.buildReadout();
    el<HTMLSelectElement>("wearer").addEventListener("change", (e) => this.selectWearer((e.target as HTMLSelectElement).value));
    el("cmd-calibrate").addEventListener("click", () => this.send("calibrate"));
    el("cmd-heading-reset").addEventListener("click", () => this.send("heading_reset"));
    el("cmd-record-start").addEventListener("click", () => this.send("record_start"));
    el("cmd-record-stop").addEventListener("click", () => this.send("record_stop"));
    el("cmd-get-status").addEventListener("click", () => {
      this.statusPolling = true;
      this.send("get_status");
    });

    if (!config.brokerWsUrl) {
      this.showConnection("error", "no broker WebSocket configured on the device (dashboard brokerWsUrl)");
      return;
    }
    const url = resolveBrokerUrl(config.brokerWsUrl, location.href);
    this.connection = this.newConnection(url);
    this.setUpLogin(url);
    this.connection.connect();

    setInterval(() => this.expireCommands(), 500);
    setInterval(() => this.pollStatus(), STATUS_POLL_MS);
    const frame = (): void => {
      this.draw();
      requestAnimationFrame(frame);
    };
    requestAnimationFrame(frame);
  }

  // ------------------------------------------------------------ connection

  private newConnection(url: string): DeviceConnection {
    return new DeviceConnection(url, this.topics, {
      state: (state, detail) => this.showConnection(state, detail),
      message: (topic, payload) => this.onMessage(topic, payload),
      subscriptionRefused: (topic) => this.problem(`the broker refused a subscription to ${topic} (this account may not read it)`),
    });
  }

  private setUpLogin(url: string): void {
    const form = el<HTMLFormElement>("login");
    el<HTMLInputElement>("login-url").value = url;
    el("show-login").addEventListener("click", () => {
      setText("login-reason", "");
      form.hidden = !form.hidden;
    });
    form.addEventListener("submit", (e) => {
      e.preventDefault();
      const credentials: Credentials = {
        username: el<HTMLInputElement>("login-user").value,
        password: el<HTMLInputElement>("login-password").value,
      };
      // The password lives in this page's memory only: not in storage, not in the URL.
      el<HTMLInputElement>("login-password").value = "";
      form.hidden = true;
      const typed = el<HTMLInputElement>("login-url").value.trim();
      const connection = typed && typed !== url ? this.reconnectTo(typed) : this.connection;
      connection?.connect(credentials);
    });
  }

  /** The user typed another broker URL into the form. */
  private reconnectTo(typed: string): DeviceConnection | undefined {
    let url: string;
    try {
      url = resolveBrokerUrl(typed, location.href);
    } catch (err) {
      this.problem((err as Error).message);
      return undefined;
    }
    this.connection?.close();
    this.connection = this.newConnection(url);
    return this.connection;
  }

  private showConnection(state: ConnectionState, detail?: string): void {
    const badge = el("connection");
    badge.dataset.state = state;
    badge.textContent = state;
    badge.title = detail ?? "";
    if (state === "refused") {
      setText("login-reason", `The broker refused the connection (${detail ?? "not authorized"}): enter an account.`);
      el("login").hidden = false;
    }
    if (state === "error" && detail) this.problem(`connection: ${detail}`);
    if (state === "connected") this.send("get_status");
  }

  // ------------------------------------------------------------ messages

  private onMessage(topic: string, payload: string): void {
    // An empty retained payload is the broker clearing the topic, not a message.
    if (payload === "") return;
    const parsed = parseDeviceMessage(this.topics, topic, payload);
    if (!parsed.ok) {
      if (parsed.kind) this.problem(parsed.error);
      return;
    }
    const m = parsed.message;
    switch (m.kind) {
      case "angles":
        return this.onAngles(m.payload);
      case "status":
        this.status = m.payload;
        this.showStatus();
        return;
      case "model":
        setText("model", `model: ${m.payload.name} ${m.payload.version}`);
        el("model").title = m.payload.sha256 ? `sha256 ${m.payload.sha256}` : "";
        return;
      case "otaState": {
        const ota = describeOta(m.payload);
        setText("ota-headline", ota.headline);
        setText("ota-detail", ota.detail);
        const bar = el<HTMLProgressElement>("ota-progress");
        bar.hidden = ota.progress === undefined;
        bar.value = ota.progress ?? 0;
        return;
      }
      case "gaitMetrics":
        el("metrics-none").hidden = true;
        fillTable(el<HTMLTableElement>("metrics"), describeMetrics(m.payload));
        return;
      case "commandReply": {
        const outcome = this.commands.settle(m.payload, Date.now());
        if (outcome) this.onOutcome(outcome);
        return;
      }
    }
  }

  private onAngles(msg: AnglesPayload): void {
    const wearer = msg.wearer ?? "";
    if (!this.wearers.has(wearer) && this.wearers.size < MAX_WEARERS_LISTED) {
      this.wearers.add(wearer);
      const option = document.createElement("option");
      option.value = wearer;
      option.textContent = wearer || "(single)";
      el<HTMLSelectElement>("wearer").append(option);
    }
    // Only the wearer on screen is kept: a load test's 400 wearers must not fill the page's memory.
    this.wearer ??= wearer;
    if (wearer !== this.wearer) return;
    const columns = jointColumns(msg.joints);
    for (let i = 0; i < msg.t.length; i++) {
      const row = msg.angles[i]!;
      for (let k = 0; k < columns.length; k++) {
        const c = columns[k];
        this.scratch[k] = c === undefined ? undefined : (row[c] ?? undefined);
      }
      this.history.push(msg.t[i]!, this.scratch);
    }
  }

  private selectWearer(wearer: string): void {
    this.wearer = wearer;
    this.history.clear();
  }

  private showStatus(): void {
    const s = this.status;
    if (!s) return;
    const badge = el("device-status");
    badge.dataset.state = s.state;
    badge.textContent = describeStatus(s, Date.now());
  }

  private problem(text: string): void {
    el("problems-none").hidden = true;
    logLine(el("problems"), text, "error");
  }

  // ------------------------------------------------------------ commands

  private send(command: string): void {
    const connection = this.connection;
    if (!connection?.connected) {
      logLine(el("command-log"), `${command}: not connected`, "error");
      return;
    }
    if (this.commands.isPending(command)) return; // one at a time: a double click must not calibrate twice
    const timeout = COMMAND_TIMEOUT_MS[command] ?? DEFAULT_COMMAND_TIMEOUT_MS;
    const request = this.commands.request(command, undefined, Date.now(), timeout);
    connection.publishJson(this.topics.command, request);
    if (command !== "get_status") logLine(el("command-log"), `${command}: sent, waiting for the reply`);
  }

  private onOutcome(o: CommandOutcome): void {
    if (o.command === "get_status") {
      if (o.kind === "timeout") this.statusPolling = false; // asked again only on "Refresh status"
      if (o.kind === "reply" && o.reply.status === "ok") {
        setText("status-age", `(get_status, ${new Date().toLocaleTimeString()})`);
        fillTable(
          el<HTMLTableElement>("status-table"),
          flattenStatus(o.reply.data).map(({ path, value }) => ({ name: path, value })),
        );
        return;
      }
    }
    const status = o.kind === "timeout" ? "error" : o.reply.status;
    logLine(el("command-log"), describeOutcome(o), status);
  }

  private expireCommands(): void {
    for (const o of this.commands.expire(Date.now())) this.onOutcome(o);
    this.showStatus(); // the "since" age moves on
  }

  private pollStatus(): void {
    if (this.statusPolling && this.connection?.connected && !document.hidden) this.send("get_status");
  }

  // ------------------------------------------------------------ drawing

  private buildReadout(): void {
    fillTable(
      el<HTMLTableElement>("readout"),
      JOINTS.map((j) => ({ name: j.replace(/_r$/, "").replace("_", " "), value: "--" })),
    );
    [...el<HTMLTableElement>("readout").rows].forEach((row, k) => row.cells[1]!.setAttribute("id", `value-${JOINTS[k]}`));
  }

  private draw(): void {
    this.plots.draw();
    if (this.history.version === this.drawnVersion) return;
    this.drawnVersion = this.history.version;
    const latest = this.history.latest();
    JOINTS.forEach((j, k) => setText(`value-${j}`, formatDeg(latest?.[k])));
    if (!latest) return;
    const angles = { hipFlexionDeg: latest[0]!, kneeFlexionDeg: latest[3]!, ankleDorsiflexionDeg: latest[4]! };
    if (isFiniteAngles(angles)) this.stick.draw(legPose(angles));
  }
}

async function main(): Promise<void> {
  const response = await fetch("config.json", { cache: "no-store" });
  if (!response.ok) throw new Error(`config.json: HTTP ${response.status}`);
  const parsed = pageConfigSchema.safeParse(await response.json());
  if (!parsed.success) throw new Error(`config.json is not a dashboard config: ${parsed.error.message}`);
  new Dashboard(parsed.data);
}

main().catch((err: Error) => {
  const badge = document.getElementById("connection");
  if (badge) {
    badge.dataset.state = "error";
    badge.textContent = `error: ${err.message}`;
  }
  console.error(err);
});
