import { describe, expect, it } from "vitest";
import { DesiredState } from "./protocol.ts";

describe("the data plane's desired state", () => {
  it("drops fields a process does not know instead of refusing the state (a newer control plane adopting an older process)", () => {
    const state = DesiredState.parse({ revision: 3, models: [], splits: [], replicaRoom: {}, someLaterField: { x: 1 } });
    expect(state).toEqual({ revision: 3, models: [], splits: [], replicaRoom: {}, monitored: [] });
  });

  it("takes the monitored versions, and none when absent (a control plane from before monitors)", () => {
    expect(DesiredState.parse({ revision: 1, models: [], splits: [], monitored: ["production/churn/3"] }).monitored).toEqual(["production/churn/3"]);
    expect(DesiredState.parse({ revision: 1, models: [], splits: [] }).monitored).toEqual([]);
  });
});
