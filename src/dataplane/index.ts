// The data plane: processes that serve models apart from the control plane (`paved up`), so a
// restart or crash of the control plane never stops a prediction. The control plane's fleet pushes
// each process its desired state (versions by model digest, traffic splits) and adds up what they
// observe (rollout windows, loaded versions, metrics); the supervisor starts, adopts and restarts
// the processes of one machine; the relay answers /v2 on the API's port through them. A process
// (`paved dataplane run`) keeps its last state on its own disk and serves it alone.
export { DataPlaneFleet, type DataPlaneMember, type DataPlaneFleetOptions } from "./fleet.ts";
export { DataPlaneSupervisor, stopDataPlanes, type SupervisorOptions } from "./supervisor.ts";
export { oipRelay } from "./relay.ts";
export { startDataPlane, type DataPlane, type DataPlaneOptions } from "./server.ts";
export { INTERNAL_PREFIX } from "./protocol.ts";
