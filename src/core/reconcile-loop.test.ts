import { describe, expect, it } from "vitest";
import { ReconcileLoop } from "./reconcile-loop.ts";

describe("reconcile loop", () => {
  it("never overlaps passes, folds kicks during a pass into one more, reports failures and keeps going", async () => {
    let active = 0;
    let most = 0;
    let passes = 0;
    let release: () => void = () => undefined;
    const errors: string[] = [];
    const loop = new ReconcileLoop(
      async () => {
        passes++;
        active++;
        most = Math.max(most, active);
        await new Promise<void>((resolve) => (release = resolve));
        active--;
        if (passes === 2) throw new Error("boom");
      },
      { intervalMs: 60_000, onError: (e) => errors.push(e.message) },
    );
    loop.kick();
    expect(passes).toBe(0); // not started: kicks do nothing
    loop.start();
    expect(passes).toBe(1);
    loop.kick();
    loop.kick();
    loop.kick();
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(passes).toBe(2);
    release();
    await new Promise((r) => setTimeout(r, 10));
    expect(errors).toEqual(["boom"]);
    loop.kick();
    expect(passes).toBe(3);
    const stopped = loop.stop();
    release();
    await stopped;
    expect(loop.running).toBe(false);
    loop.kick();
    expect(passes).toBe(3);
    expect(most).toBe(1);
  });
});
