// A pipeline run's steps as a graph drawn in SVG by React: layered left to right by topological
// depth (a step sits one column right of the deepest step it waits for), edges as curves, and each
// step's state as a colour and as text (colour is never the only sign). A step fanned out into many
// instances is drawn as one node counting its instances by state, so a 1,000-way fan-out stays legible.

/** One node: a step (or a step's fan-out), its state, and the steps it waits for. */
export interface DagNode {
  id: string;
  label: string;
  /** pending, running, succeeded, failed, skipped, cached, cancelled (anything else is drawn neutral). */
  state: string;
  /** A second line: the kind, or counts of a fan-out's instances by state. */
  detail?: string;
  dependsOn: string[];
}

const NODE_W = 176;
const NODE_H = 50;
const GAP_X = 64;
const GAP_Y = 18;
const PAD = 12;

/** Columns by longest path from a root; a dependency that names no node (or a cycle) is ignored. */
export function layers(nodes: DagNode[]): DagNode[][] {
  const byId = new Map(nodes.map((n) => [n.id, n]));
  const depth = new Map<string, number>();
  const visiting = new Set<string>();
  const depthOf = (n: DagNode): number => {
    const known = depth.get(n.id);
    if (known !== undefined) return known;
    if (visiting.has(n.id)) return 0;
    visiting.add(n.id);
    let d = 0;
    for (const dep of n.dependsOn) {
      const up = byId.get(dep);
      if (up) d = Math.max(d, depthOf(up) + 1);
    }
    visiting.delete(n.id);
    depth.set(n.id, d);
    return d;
  };
  const columns: DagNode[][] = [];
  for (const n of nodes) (columns[depthOf(n)] ??= []).push(n);
  // One pass of the barycentre heuristic: each column ordered by the mean row of what it waits for, to cut crossings.
  const row = new Map<string, number>();
  columns.forEach((column, c) => {
    if (c > 0) {
      const centre = (n: DagNode) => {
        const rows = n.dependsOn.map((d) => row.get(d)).filter((r): r is number => r !== undefined);
        return rows.length ? rows.reduce((a, b) => a + b, 0) / rows.length : 0;
      };
      column.sort((a, b) => centre(a) - centre(b));
    }
    column.forEach((n, r) => row.set(n.id, r));
  });
  return columns.filter(Boolean);
}

function stateClass(state: string): string {
  return `dag-node state-${state.toLowerCase().replace(/[^a-z]+/g, "-")}`;
}

function clip(text: string, max: number): string {
  return text.length > max ? `${text.slice(0, max - 1)}…` : text;
}

/**
 * The graph. `selected` is highlighted; clicking a node calls `onSelect` (the same choice is offered
 * as links in the steps table beside it, for keyboards and screen readers).
 */
export function Dag({ nodes, selected, onSelect, label }: { nodes: DagNode[]; selected?: string; onSelect?: (id: string) => void; label: string }) {
  const columns = layers(nodes);
  const tallest = Math.max(1, ...columns.map((c) => c.length));
  const width = PAD * 2 + columns.length * NODE_W + Math.max(0, columns.length - 1) * GAP_X;
  const height = PAD * 2 + tallest * NODE_H + (tallest - 1) * GAP_Y;
  const at = new Map<string, { x: number; y: number }>();
  columns.forEach((column, c) => {
    const offset = ((tallest - column.length) * (NODE_H + GAP_Y)) / 2;
    column.forEach((n, r) => at.set(n.id, { x: PAD + c * (NODE_W + GAP_X), y: PAD + offset + r * (NODE_H + GAP_Y) }));
  });
  const edges: { from: string; to: string; d: string; done: boolean }[] = [];
  const stateOf = new Map(nodes.map((n) => [n.id, n.state]));
  for (const n of nodes) {
    const to = at.get(n.id)!;
    for (const dep of n.dependsOn) {
      const from = at.get(dep);
      if (!from) continue;
      const x1 = from.x + NODE_W;
      const y1 = from.y + NODE_H / 2;
      const x2 = to.x;
      const y2 = to.y + NODE_H / 2;
      const mid = (x1 + x2) / 2;
      const upstream = stateOf.get(dep);
      edges.push({ from: dep, to: n.id, d: `M${x1},${y1} C${mid},${y1} ${mid},${y2} ${x2 - 6},${y2}`, done: upstream === "succeeded" || upstream === "cached" });
    }
  }
  return (
    <div className="dag-scroll">
      <svg className="dag" width={width} height={height} viewBox={`0 0 ${width} ${height}`} role="img" aria-label={label}>
        <title>{label}</title>
        <defs>
          <marker id="dag-arrow" viewBox="0 0 10 10" refX="4" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse">
            <path d="M0,0 L10,5 L0,10 z" className="dag-arrow" />
          </marker>
        </defs>
        {edges.map((e) => (
          <path key={`${e.from}->${e.to}`} d={e.d} className={e.done ? "dag-edge done" : "dag-edge"} markerEnd="url(#dag-arrow)" />
        ))}
        {nodes.map((n) => {
          const p = at.get(n.id)!;
          return (
            <g key={n.id} transform={`translate(${p.x},${p.y})`} className={`${stateClass(n.state)}${n.id === selected ? " selected" : ""}`} onClick={onSelect ? () => onSelect(n.id) : undefined} data-step={n.id}>
              <rect width={NODE_W} height={NODE_H} rx={6} />
              <rect width={6} height={NODE_H} rx={2} className="dag-stripe" />
              <text x={14} y={20} className="dag-label">
                {clip(n.label, 22)}
              </text>
              <text x={14} y={38} className="dag-state">
                {clip(n.detail ? `${n.state} · ${n.detail}` : n.state, 28)}
              </text>
            </g>
          );
        })}
      </svg>
    </div>
  );
}

/**
 * A pipeline's steps with everything each waits for: its `dependsOn` and the steps its body refers
 * to (`${{ steps.train.outputs.x }}` is a dependency too, as the server plans it). From the
 * pipeline's spec when it has one, else from its steps list.
 */
export function pipelineDependencies(pipeline: { steps: { name: string; dependsOn: string[] }[]; spec?: unknown }): Map<string, string[]> {
  const deps = new Map(pipeline.steps.map((s) => [s.name, new Set(s.dependsOn)]));
  const steps = (pipeline.spec as { spec?: { steps?: Record<string, unknown>[] } } | undefined)?.spec?.steps ?? [];
  const names = new Set(deps.keys());
  for (const step of steps) {
    const name = typeof step.name === "string" ? step.name : undefined;
    if (!name || !deps.has(name)) continue;
    const text = JSON.stringify(step);
    for (let at = text.indexOf("${{"); at !== -1; at = text.indexOf("${{", at + 3)) {
      const end = text.indexOf("}}", at);
      if (end === -1) break;
      const ref = /^\s*steps\.([A-Za-z][A-Za-z0-9_-]*)\./.exec(text.slice(at + 3, end));
      if (ref && names.has(ref[1]!) && ref[1] !== name) deps.get(name)!.add(ref[1]!);
    }
  }
  return new Map([...deps].map(([k, v]) => [k, [...v]]));
}

/**
 * A run's step instances as graph nodes: one per step, or per instance of a small fan-out (at most
 * `maxInstances`); a larger fan-out is one node counting its instances by state.
 */
export function runNodes(steps: { key: string; step: string; kind: string; phase: string }[], deps: Map<string, string[]>, maxInstances = 8): DagNode[] {
  const byStep = new Map<string, typeof steps>();
  for (const s of steps) {
    const list = byStep.get(s.step) ?? [];
    list.push(s);
    byStep.set(s.step, list);
  }
  // What a step's node(s) are called, so that edges can point at every instance of a small fan-out.
  const idsOf = new Map<string, string[]>();
  for (const [step, list] of byStep) idsOf.set(step, list.length > maxInstances ? [step] : list.map((s) => s.key));
  const nodes: DagNode[] = [];
  for (const [step, list] of byStep) {
    const dependsOn = (deps.get(step) ?? []).flatMap((d) => idsOf.get(d) ?? []);
    if (list.length > maxInstances) {
      const counts = new Map<string, number>();
      for (const s of list) counts.set(s.phase, (counts.get(s.phase) ?? 0) + 1);
      // The state that most needs attention wins: a failed instance, then one still going.
      const state = ["failed", "running", "pending", "cancelled", "succeeded", "cached"].find((p) => counts.has(p)) ?? list[0]!.phase;
      const detail = [...counts].map(([p, n]) => `${n} ${p}`).join(", ");
      nodes.push({ id: step, label: `${step} ×${list.length}`, state, detail, dependsOn });
    } else {
      for (const s of list) nodes.push({ id: s.key, label: s.key, state: s.phase, detail: s.kind, dependsOn });
    }
  }
  return nodes;
}
