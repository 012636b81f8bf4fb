/** Draws a LegPose (lib/stickFigure.ts) into the page's SVG. SVG's y axis points down, the pose's up. */
import type { LegPose, Point } from "./lib/stickFigure.js";

const svgPoint = (p: Point): string => `${p.x.toFixed(4)},${(-p.y).toFixed(4)}`;

export class StickView {
  private readonly leg: SVGPolylineElement;
  private readonly foot: SVGPolygonElement;
  private readonly knee: SVGCircleElement;
  private readonly ankle: SVGCircleElement;

  constructor(root: ParentNode) {
    const get = <T extends Element>(sel: string): T => {
      const el = root.querySelector<T>(sel);
      if (!el) throw new Error(`dashboard page lacks ${sel}`);
      return el;
    };
    this.leg = get("#leg");
    this.foot = get("#foot");
    this.knee = get("#knee-joint");
    this.ankle = get("#ankle-joint");
  }

  draw(pose: LegPose): void {
    this.leg.setAttribute("points", [pose.hip, pose.knee, pose.ankle].map(svgPoint).join(" "));
    this.foot.setAttribute("points", [pose.ankle, pose.heel, pose.toe].map(svgPoint).join(" "));
    for (const [el, p] of [
      [this.knee, pose.knee],
      [this.ankle, pose.ankle],
    ] as const) {
      el.setAttribute("cx", p.x.toFixed(4));
      el.setAttribute("cy", (-p.y).toFixed(4));
    }
  }
}
