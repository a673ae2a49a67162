import { invalidInput } from "../../core/index.ts";
import { parseTemplate, referencesIn, type Reference } from "./references.ts";
import { MAX_FAN_OUT, MAX_INSTANCES, STEP_COMMON_KEYS, type ParameterValue, type PipelineSpec, type StepSpec } from "./schema.ts";
import type { StepRegistry } from "./steps.ts";

/** A step as the controller runs it: its kind and body split out, every dependency (declared and implied by references) listed. */
export interface PlannedStep {
  name: string;
  kind: string;
  body: unknown;
  dependsOn: string[];
  retries: number;
  timeoutSeconds: number | undefined;
  /** A literal list, or the name of the list parameter it fans out over. */
  forEach: { items: ParameterValue[] } | { param: string } | undefined;
  cache: boolean;
}

/** One instance of a step in a run (a fanned-out step has one per item). */
export interface StepInstance {
  key: string;
  step: PlannedStep;
  item?: ParameterValue;
  hasItem: boolean;
}

/**
 * Checks a pipeline and returns its steps with their dependencies: each step has exactly one
 * known kind whose schema its body meets, names and `dependsOn` point at real steps, every
 * reference names a known parameter, step and output (a reference is also a dependency), `item`
 * is used only under forEach, and the steps form no cycle (refused with its path, a → b → a).
 */
export function planPipeline(spec: PipelineSpec, kinds: StepRegistry): PlannedStep[] {
  const names = new Set<string>();
  for (const step of spec.spec.steps) {
    if (names.has(step.name)) throw invalidInput(`step name '${step.name}' is used twice; give each step its own name`);
    names.add(step.name);
  }
  const known = [...names];
  const params = spec.spec.parameters;
  const planned = spec.spec.steps.map((step, index) => planStep(step, index, kinds, params));
  const byName = new Map(planned.map((p) => [p.name, p]));
  for (const p of planned) {
    const where = `step '${p.name}'`;
    const deps = new Set<string>();
    for (const dep of p.dependsOn) {
      if (!names.has(dep)) throw invalidInput(`${where} depends on step '${dep}', which this pipeline does not have; its steps: ${known.join(", ")}`, { known });
      deps.add(dep);
    }
    for (const { ref, where: field } of referencesIn(p.body, `${where}: ${p.kind}`)) {
      if (ref.kind === "item" && !p.forEach) throw invalidInput(`${field}: \${{ item }} is only set in a step with forEach; add forEach: [...] or use a parameter`);
      if (ref.kind === "param" && !(ref.name in params)) throw unknownParam(field, ref.name, params);
      if (ref.kind === "step") {
        const upstream = byName.get(ref.step);
        if (!upstream) throw invalidInput(`${field} refers to step '${ref.step}', which this pipeline does not have; its steps: ${known.join(", ")}`, { known });
        const outputs = kinds.get(upstream.kind).outputs(upstream.body);
        if (outputs && !outputs.includes(ref.output)) {
          throw invalidInput(`${field} refers to output '${ref.output}' of step '${ref.step}' (a ${upstream.kind} step), which has none by that name; its outputs: ${outputs.join(", ") || "(none)"}`, { known: outputs });
        }
        deps.add(ref.step);
      }
    }
    p.dependsOn = [...deps];
  }
  const cycle = findCycle(planned);
  if (cycle) throw invalidInput(`the steps form a cycle: ${cycle.join(" → ")} (each waits for the next); a step cannot (even through others) wait for itself: remove one of these dependencies`, { cycle });
  return planned;
}

function unknownParam(where: string, name: string, params: Record<string, unknown>): Error {
  const known = Object.keys(params);
  return invalidInput(`${where} refers to parameter '${name}', which the pipeline does not declare; declare it under spec.parameters (known: ${known.join(", ") || "(none)"})`, { known });
}

function planStep(step: StepSpec, index: number, kinds: StepRegistry, params: Record<string, ParameterValue>): PlannedStep {
  const where = `step '${step.name}'`;
  const kindKeys = Object.keys(step).filter((k) => !(STEP_COMMON_KEYS as readonly string[]).includes(k));
  if (kindKeys.length !== 1) {
    throw invalidInput(
      `${where} (steps[${index}]) needs exactly one kind key, ${kindKeys.length === 0 ? "and has none" : `and has ${kindKeys.join(", ")}`}; known kinds: ${kinds.names().join(", ")}`,
      { known: kinds.names() },
    );
  }
  const kindName = kindKeys[0]!;
  if (!kinds.has(kindName)) throw invalidInput(`${where} has kind '${kindName}', which is not known here; known kinds: ${kinds.names().join(", ")}`, { known: kinds.names() });
  const kind = kinds.get(kindName);
  const body = (step as Record<string, unknown>)[kindName];
  checkBody(kind.schema, body, `${where}: ${kindName}`);
  let forEach: PlannedStep["forEach"];
  if (Array.isArray(step.forEach)) forEach = { items: step.forEach };
  else if (typeof step.forEach === "string") {
    const parts = parseTemplate(step.forEach, `${where}: forEach`);
    const ref: Reference | undefined = parts.length === 1 && "ref" in parts[0]! ? parts[0].ref : undefined;
    if (!ref || ref.kind !== "param") throw invalidInput(`${where}: forEach is a list, or one list parameter as \${{ params.<name> }}`);
    if (!(ref.name in params)) throw unknownParam(`${where}: forEach`, ref.name, params);
    if (!Array.isArray(params[ref.name])) throw invalidInput(`${where}: forEach names parameter '${ref.name}', whose default is not a list; give it a list default, e.g. ${ref.name}: [0.1, 0.01]`);
    forEach = { param: ref.name };
  }
  return { name: step.name, kind: kindName, body, dependsOn: [...step.dependsOn], retries: step.retries, timeoutSeconds: step.timeoutSeconds, forEach, cache: step.cache };
}

/**
 * The body against its kind's schema, with each reference replaced by a placeholder first; a
 * complaint about a field that holds a reference waits for the resolved value, when the step starts.
 */
function checkBody(schema: import("zod").ZodType, body: unknown, where: string): void {
  const refPaths = new Set<string>();
  const placeholder = (value: unknown, path: string[]): unknown => {
    if (typeof value === "string") {
      const parts = parseTemplate(value, `${where}${path.length ? "." + path.join(".") : ""}`);
      if (parts.some((p) => "ref" in p)) {
        refPaths.add(path.join("."));
        return "ref";
      }
      return value;
    }
    if (Array.isArray(value)) return value.map((v, i) => placeholder(v, [...path, String(i)]));
    if (value !== null && typeof value === "object") return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, placeholder(v, [...path, k])]));
    return value;
  };
  const result = schema.safeParse(placeholder(body, []));
  if (result.success) return;
  const issues = result.error.issues.filter((i) => !refPaths.has(i.path.map(String).join(".")));
  if (issues.length === 0) return;
  const text = issues.slice(0, 5).map((i) => `${i.path.length ? i.path.join(".") + ": " : ""}${i.message}`).join("; ");
  throw invalidInput(`${where}: ${text}`, { issues: issues.slice(0, 20).map((i) => ({ path: i.path.map(String), message: i.message })) });
}

/** A cycle among the steps as the path that closes it (a, b, c, a), or undefined. */
export function findCycle(steps: readonly { name: string; dependsOn: readonly string[] }[]): string[] | undefined {
  const deps = new Map(steps.map((s) => [s.name, s.dependsOn]));
  const state = new Map<string, 1 | 2>();
  const stack: string[] = [];
  // Iterative depth-first search: a 2,000-step chain stays off the call stack.
  for (const root of steps) {
    if (state.has(root.name)) continue;
    const frames: { name: string; next: number }[] = [{ name: root.name, next: 0 }];
    state.set(root.name, 1);
    stack.push(root.name);
    while (frames.length > 0) {
      const frame = frames[frames.length - 1]!;
      const list = deps.get(frame.name) ?? [];
      if (frame.next >= list.length) {
        state.set(frame.name, 2);
        stack.pop();
        frames.pop();
        continue;
      }
      const dep = list[frame.next++]!;
      const seen = state.get(dep);
      if (seen === 1) {
        // `dep` is on the stack: the cycle runs from it to here and back (each step waits for the next).
        return [...stack.slice(stack.indexOf(dep)), dep];
      }
      if (seen === undefined && deps.has(dep)) {
        state.set(dep, 1);
        stack.push(dep);
        frames.push({ name: dep, next: 0 });
      }
    }
  }
  return undefined;
}

/**
 * A run's parameters: the pipeline's defaults, overridden by what the run was given (an unknown
 * name is refused with the known ones). A list parameter given as text is read as a JSON list.
 */
export function runParameters(declared: Record<string, ParameterValue>, given: Record<string, ParameterValue>): Record<string, ParameterValue> {
  const out: Record<string, ParameterValue> = { ...declared };
  for (const [name, value] of Object.entries(given)) {
    if (!(name in declared)) throw unknownParam(`parameter --param ${name}`, name, declared);
    let v = value;
    if (Array.isArray(declared[name]) && typeof v === "string") {
      try {
        v = JSON.parse(v) as ParameterValue;
      } catch {
        // reported below
      }
      if (!Array.isArray(v)) throw invalidInput(`parameter '${name}' is a list; give it as JSON, e.g. --param ${name}='[0.1, 0.01]'`);
    }
    if (Array.isArray(v) && v.length > MAX_FAN_OUT) throw invalidInput(`parameter '${name}' has ${v.length} values; at most ${MAX_FAN_OUT}`);
    out[name] = v;
  }
  return out;
}

/** The instances of a run: one per step, one per item for a fanned-out step (`train[0]`, `train[1]`, …). */
export function expandSteps(plan: PlannedStep[], params: Record<string, ParameterValue>): StepInstance[] {
  const out: StepInstance[] = [];
  for (const step of plan) {
    if (!step.forEach) {
      out.push({ key: step.name, step, hasItem: false });
      continue;
    }
    const items = "items" in step.forEach ? step.forEach.items : params[step.forEach.param];
    if (!Array.isArray(items) || items.length === 0) {
      throw invalidInput(`step '${step.name}' fans out over parameter '${"param" in step.forEach ? step.forEach.param : ""}', which is ${JSON.stringify(items)} for this run; give it a list of 1 to ${MAX_FAN_OUT} values`);
    }
    items.forEach((item, i) => out.push({ key: `${step.name}[${i}]`, step, item, hasItem: true }));
    if (out.length > MAX_INSTANCES) break;
  }
  if (out.length > MAX_INSTANCES) throw invalidInput(`this run would hold more than ${MAX_INSTANCES} step instances after fan-out; fan out over fewer items`);
  return out;
}
