/**
 * The heartbeat of a controller: runs `pass` every `intervalMs` and at once when kicked, never two
 * at a time (a kick during a pass runs one more right after it). A failed pass is reported and the
 * next tick tries again.
 */
export class ReconcileLoop {
  private timer: NodeJS.Timeout | undefined;
  private current: Promise<void> | undefined;
  private again = false;
  private active = false;

  constructor(
    private readonly pass: () => Promise<void>,
    private readonly options: { intervalMs: number; onError(error: Error): void },
  ) {}

  /** True between start and stop: a pass checks it to end early when the server stops. */
  get running(): boolean {
    return this.active;
  }

  start(): void {
    this.active = true;
    this.timer = setInterval(() => this.kick(), this.options.intervalMs);
    this.kick();
  }

  /** Stops ticking and waits for the pass in progress. */
  async stop(): Promise<void> {
    this.active = false;
    if (this.timer) clearInterval(this.timer);
    await this.current;
  }

  /** Runs a pass now, or right after the one in progress. */
  kick(): void {
    if (!this.active) return;
    if (this.current) {
      this.again = true;
      return;
    }
    this.current = this.pass()
      .catch((error: unknown) => this.options.onError(error as Error))
      .finally(() => {
        this.current = undefined;
        if (this.again) {
          this.again = false;
          this.kick();
        }
      });
  }
}
