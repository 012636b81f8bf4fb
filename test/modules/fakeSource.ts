/** An ImuSource the test drives by hand: samples, issues and the end arrive when the test says. */
import type { ImuSample, ImuSource, SourceHandlers, SourceIssue, SourceStats } from "../../edge/sources/types.js";

export class FakeSource implements ImuSource {
  readonly kind = "fake";
  private handlers: SourceHandlers | undefined;
  stopped = false;

  async start(handlers: SourceHandlers): Promise<void> {
    this.handlers = handlers;
  }
  async stop(): Promise<void> {
    this.stopped = true;
  }
  stats(): SourceStats {
    return { samples: 0, issues: {} };
  }
  sample(s: ImuSample): void {
    this.handlers!.onSample(s);
  }
  issue(i: SourceIssue): void {
    this.handlers!.onIssue(i);
  }
  end(): void {
    this.handlers!.onEnd?.();
  }
}
