/**
 * One small uPlot chart per joint (their ranges differ: the knee swings 60°,
 * hip rotation a few), all drawn from one AngleHistory. Charts are redrawn at
 * most once per animation frame however fast messages come (100 per second in
 * a per-sample mode), and not at all in a background tab.
 */
import uPlot from "uplot";
import type { AngleHistory } from "./lib/angleHistory.js";
import { JOINTS } from "./lib/messages.js";

const COLORS = ["#0969da", "#8250df", "#bf3989", "#1a7f37", "#bc4c00"];
const LABELS: Record<(typeof JOINTS)[number], string> = {
  hip_flexion_r: "hip flexion",
  hip_adduction_r: "hip adduction",
  hip_rotation_r: "hip rotation (internal +)",
  knee_flexion_r: "knee flexion",
  ankle_dorsiflexion_r: "ankle dorsiflexion",
};
const HEIGHT = 150;

export class AnglePlots {
  private readonly charts: uPlot[] = [];
  private drawnVersion = -1;
  private redraws = 0;

  constructor(
    private readonly container: HTMLElement,
    private readonly history: AngleHistory,
  ) {
    JOINTS.forEach((joint, k) => {
      const cell = document.createElement("div");
      cell.className = "plot";
      cell.dataset.joint = joint;
      container.append(cell);
      const opts: uPlot.Options = {
        title: LABELS[joint],
        width: Math.max(280, cell.clientWidth),
        height: HEIGHT,
        // Live data: no zoom-by-drag, the next frame would undo it.
        cursor: { drag: { x: false, y: false } },
        legend: { show: false },
        scales: { x: { time: true } },
        axes: [{ size: 28 }, { size: 44 }],
        series: [{}, { label: joint, stroke: COLORS[k], width: 1.5, spanGaps: false }],
      };
      this.charts.push(new uPlot(opts, [[], []], cell));
    });
    new ResizeObserver(() => this.resize()).observe(container);
  }

  /** Redraw if anything arrived since the last frame. Called from requestAnimationFrame. */
  draw(): void {
    if (this.history.version === this.drawnVersion) return;
    this.drawnVersion = this.history.version;
    const { t, values } = this.history.columns();
    this.charts.forEach((chart, k) => chart.setData([t, values[k]!]));
    this.redraws++;
    // For people and tests: how much the plots hold, and that they move.
    this.container.dataset.samples = String(t.length);
    this.container.dataset.redraws = String(this.redraws);
  }

  private resize(): void {
    for (const chart of this.charts) {
      const cell = chart.root.parentElement;
      if (cell) chart.setSize({ width: Math.max(280, cell.clientWidth), height: HEIGHT });
    }
  }
}
