import { ReconcileLoop, type Logger } from "../../core/index.ts";
import type { TriggerService } from "./service.ts";

/** Runs triggers on the leader: due schedules, new dataset versions, recorded pushes, every interval and at once after a delivery. */
export class TriggerController {
  private readonly loop: ReconcileLoop;

  constructor(service: TriggerService, options: { intervalMs: number; logger: Logger }) {
    this.loop = new ReconcileLoop(() => service.pass(), { intervalMs: options.intervalMs, onError: (error) => options.logger.error({ err: error }, "trigger pass failed; the next one tries again") });
    service.kick = () => this.loop.kick();
  }

  start(): void {
    this.loop.start();
  }

  stop(): Promise<void> {
    return this.loop.stop();
  }
}
