// Dataset connectors (issue 10, item 2): where dataset versions come from besides uploads: local
// folders under admin-configured roots, a PostgreSQL query snapshotted into Parquet, an S3 prefix.
// Specs name team secrets, never hold credentials; hosts and roots are the admin's to allow.
import { ConnectorRegistry } from "./registry.ts";
import { LocalConnector, type LocalRoot } from "./local-connector.ts";
import { PostgresConnector } from "./postgres-connector.ts";
import { S3Connector } from "./s3-connector.ts";

export type { Connector, ConnectorContext, ConnectorLimits, SecretReader, SnapshotFile, SnapshotResult, SourceDescription } from "./connector.ts";
export { ConnectorRegistry } from "./registry.ts";
export { LocalConnector, LocalSpec, type LocalRoot } from "./local-connector.ts";
export { PostgresConnector, PostgresSpec } from "./postgres-connector.ts";
export { S3Connector, S3Spec } from "./s3-connector.ts";
export { assertSingleSelect } from "./select-check.ts";
export { runSnapshot } from "./run-snapshot.ts";

/** datasets.connectors of the server's config. */
export interface ConnectorSettings {
  localRoots: readonly LocalRoot[];
  allowedHosts: readonly string[];
  postgres: { statementTimeoutSeconds: number; batchRows: number };
}

/** The registry of every built-in connector, as the config allows them. */
export function createConnectorRegistry(settings: ConnectorSettings): ConnectorRegistry {
  return new ConnectorRegistry([
    new LocalConnector(settings.localRoots),
    new PostgresConnector({ allowedHosts: settings.allowedHosts, ...settings.postgres }),
    new S3Connector({ allowedHosts: settings.allowedHosts }),
  ]);
}
export { describeSource, snapshotIntoDataset, snapshotRoutes, SnapshotBody, type SnapshotRoutesDeps } from "./snapshot-routes.ts";
export { snapshotStep, SnapshotStepBody } from "./snapshot-step.ts";
