import { describe, expect, it } from "vitest";
import { samplesCsv } from "./samples-csv.ts";

describe("a window's sampled rows as CSV", () => {
  it("writes the features in the model's order, then the prediction, with missing values empty", async () => {
    const csv = await samplesCsv({ width: 2, count: 2, values: new Float32Array([1.5, Number.NaN, -2, 3]), scores: new Float32Array([0.25, Number.NaN]) }, ["age", 'income, "net"']);
    expect(csv.toString()).toBe('age,"income, ""net""",prediction\n1.5,,0.25\n-2,3,\n');
    // A model wider than the names it was evaluated with: the rest are input_<i>.
    expect((await samplesCsv({ width: 2, count: 0, values: new Float32Array(0), scores: new Float32Array(0) }, ["age"])).toString()).toBe("age,input_1,prediction\n");
  });

  it("lets the event loop run while it writes the widest window (4,000 rows of 1,024 features)", async () => {
    const width = 1024;
    const count = 4000;
    const values = new Float32Array(width * count).fill(0.5);
    let turns = 0;
    let writing = true;
    // Counts the event loop's turns that run while the file is written.
    const tick = () => {
      if (!writing) return;
      turns++;
      setImmediate(tick);
    };
    setImmediate(tick);
    const csv = await samplesCsv({ width, count, values, scores: new Float32Array(count).fill(0.75) }, []);
    writing = false;
    expect(csv.toString().split("\n")).toHaveLength(count + 2);
    expect(turns).toBeGreaterThan(10);
  });
});
