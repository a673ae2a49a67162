import { describeProblems, invalidInput, validate } from "../../../core/index.ts";
import type { Connector } from "./connector.ts";

/** Connectors by kind; asked for an unknown kind, it names the known ones. */
export class ConnectorRegistry {
  private readonly byKind = new Map<string, Connector>();

  constructor(connectors: readonly Connector[]) {
    for (const c of connectors) this.byKind.set(c.kind, c);
  }

  kinds(): string[] {
    return [...this.byKind.keys()].sort();
  }

  get(kind: string): Connector {
    const connector = this.byKind.get(kind);
    if (!connector) throw invalidInput(`connector kind '${kind}' does not exist; use one of: ${this.kinds().join(", ")}`, { kinds: this.kinds() });
    return connector;
  }

  /** A spec checked against its kind's schema: the connector and the parsed spec, or INVALID_INPUT naming every problem. */
  parse(spec: unknown): { connector: Connector; spec: { kind: string } } {
    const kind = spec !== null && typeof spec === "object" && !Array.isArray(spec) ? (spec as { kind?: unknown }).kind : undefined;
    if (typeof kind !== "string") throw invalidInput(`a connector spec is a mapping with a kind; use one of: ${this.kinds().join(", ")}`, { kinds: this.kinds() });
    const connector = this.get(kind);
    const result = validate(connector.spec, spec);
    if (!result.success) throw invalidInput(`invalid ${kind} connector spec: ${describeProblems(result.problems)}; see docs/datasets.md#connectors`, { problems: result.problems });
    return { connector, spec: result.data };
  }
}
