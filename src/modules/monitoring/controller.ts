import { ReconcileLoop, type Logger } from "../../core/index.ts";
import type { SampleSet } from "../serving/index.ts";
import type { AlertService } from "./alerts.ts";
import type { MonitorService } from "./monitors.ts";

/**
 * Every interval: takes what serving sampled since the last pass (this process's serving, or every
 * data-plane process's through the fleet) into the monitors' windows, closes the windows whose
 * time is up (each closed window fires or resolves its model alert rules), evaluates the
 * infrastructure rules, and delivers what receivers have yet to hear. On the leader only.
 */
export class MonitoringController {
  private readonly loop: ReconcileLoop;

  constructor(
    private readonly deps: {
      monitors: MonitorService;
      alerts: AlertService;
      drainSamples: () => SampleSet[];
      /** Tells serving which versions to sample (the monitored ones). */
      setMonitored: (keys: readonly string[]) => void;
      logger: Logger;
      intervalMs: number;
    },
  ) {
    deps.monitors.onWindow = (closed) => deps.alerts.onWindow(closed, (id, n) => deps.monitors.recent(id, n));
    this.loop = new ReconcileLoop(() => this.pass(), {
      intervalMs: deps.intervalMs,
      onError: (error) => deps.logger.warn({ reason: error.message }, "monitoring pass failed"),
    });
  }

  start(): void {
    this.deps.monitors.beginWatching();
    this.loop.start();
  }

  async stop(): Promise<void> {
    await this.loop.stop();
    await this.deps.monitors.stop();
  }

  /** Runs a pass now (or right after the one in progress). */
  kick(): void {
    this.loop.kick();
  }

  private async pass(): Promise<void> {
    const samples = this.deps.drainSamples();
    const { rows, keys, sampled } = await this.deps.monitors.monitors();
    this.deps.setMonitored(sampled);
    this.deps.monitors.absorb(samples, keys);
    await this.deps.monitors.closeDue(rows);
    await this.deps.alerts.evaluateInfra();
    await this.deps.alerts.deliver();
  }
}
