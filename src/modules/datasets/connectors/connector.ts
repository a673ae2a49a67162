import type { z } from "zod";

/** Reads a team's secrets by name on the server (the secrets module's reader); values never leave the connector. */
export interface SecretReader {
  read(name: string): Promise<string>;
}

/** Bounds of one snapshot; a source past any of them is refused, never cut short silently. */
export interface ConnectorLimits {
  /** Bytes written to the scratch folder, all files together. */
  maxBytes: number;
  /** Files (objects) written. */
  maxFiles: number;
  /** Rows a query may return. */
  maxRows: number;
}

/** What a connector gets besides its spec. */
export interface ConnectorContext {
  /** The team the snapshot is made for; its secrets are the only ones `secrets` reads. */
  team: string;
  secrets: SecretReader;
  /** An empty folder the connector writes its files into (and may stage work in, removed before it returns). */
  scratchDir: string;
  limits: ConnectorLimits;
  /** Aborted when the snapshot is cancelled or runs past its time. */
  signal: AbortSignal;
}

/**
 * Where a snapshot came from, as lineage shows it: the kind and what was read (a host, database and
 * query digest; a bucket and prefix; a root and path). Never a secret, never a credential value.
 */
export interface SourceDescription {
  kind: string;
  [key: string]: string | number | boolean | null;
}

/** A file a snapshot wrote, relative to the scratch folder ('/'-separated). */
export interface SnapshotFile {
  path: string;
  bytes: number;
}

export interface SnapshotResult {
  files: SnapshotFile[];
  source: SourceDescription;
}

/**
 * A source of dataset versions: a zod spec (names secrets, never holds their values) and one verb.
 * @example registry.get("postgres").snapshot(spec, { team, secrets, scratchDir, limits, signal })
 */
export interface Connector<Spec extends { kind: string } = { kind: string }> {
  readonly kind: string;
  /** The spec's schema: strict (unknown fields, such as a `password`, are refused), with `kind` fixed. */
  readonly spec: z.ZodType<Spec>;
  /** Reads the source into ctx.scratchDir and says what it read. */
  snapshot(spec: Spec, ctx: ConnectorContext): Promise<SnapshotResult>;
}
