import { invalidInput } from "../../core/index.ts";
import type { JobSpec } from "../compute/index.ts";
import { MAX_TRIALS, type AshaSettings, type ParameterSpace, type SweepSpec, type TrialParams, type TrialTemplate } from "./schema.ts";

/** Parameter names in a fixed order (sorted), so a trial's parameters never depend on key order. */
export function parameterNames(parameters: Record<string, ParameterSpace>): string[] {
  return Object.keys(parameters).sort();
}

/** The values a parameter takes on a grid; a continuous distribution has none (INVALID_INPUT with the fix). */
function gridAxis(name: string, p: ParameterSpace): (string | number | boolean)[] {
  if (p.values) return p.values;
  if (p.distribution === "int") {
    const count = p.max! - p.min! + 1;
    if (count > MAX_TRIALS) throw invalidInput(`parameters.${name}: int from ${p.min} to ${p.max} is ${count} grid points, over ${MAX_TRIALS}; narrow it or use method: random`, { field: `parameters.${name}` });
    return Array.from({ length: count }, (_, i) => p.min! + i);
  }
  throw invalidInput(`parameters.${name}: a ${p.distribution} distribution has no grid; give values: [...] for method grid, or use method: random`, { field: `parameters.${name}`, methods: ["random", "asha"] });
}

/** How many combinations the grid has; INVALID_INPUT past MAX_TRIALS, naming the sizes. */
export function gridSize(parameters: Record<string, ParameterSpace>): number {
  let size = 1;
  const sizes: Record<string, number> = {};
  for (const name of parameterNames(parameters)) {
    const n = gridAxis(name, parameters[name]!).length;
    sizes[name] = n;
    size *= n;
  }
  if (size > MAX_TRIALS) {
    const product = Object.entries(sizes).map(([k, n]) => `${k}: ${n}`).join(" x ");
    throw invalidInput(`the grid has ${size} combinations (${product}), over the ${MAX_TRIALS} trials a sweep may run; give fewer values, or use method: random with maxTrials`, { gridSize: size, max: MAX_TRIALS });
  }
  return size;
}

/** The grid's n-th combination (0-based), the first parameter (sorted by name) varying slowest. */
export function gridPoint(parameters: Record<string, ParameterSpace>, n: number): TrialParams {
  const names = parameterNames(parameters);
  const axes = names.map((name) => gridAxis(name, parameters[name]!));
  const out: TrialParams = {};
  let rest = n;
  for (let i = names.length - 1; i >= 0; i--) {
    const axis = axes[i]!;
    out[names[i]!] = axis[rest % axis.length]!;
    rest = Math.floor(rest / axis.length);
  }
  return Object.fromEntries(names.map((k) => [k, out[k]!]));
}

/** mulberry32: a small seeded generator; sampling needs reproducibility, not cryptography. */
function generator(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Trial n's sampled parameters (0-based): a function of the seed and n only, so a restart samples the same ones. */
export function samplePoint(parameters: Record<string, ParameterSpace>, seed: number, n: number): TrialParams {
  const next = generator((Math.imul(seed ^ 0x5bd1e995, 0x9e3779b1) + Math.imul(n + 1, 0x85ebca6b)) >>> 0);
  // Warm the generator: neighbouring seeds start far apart.
  for (let i = 0; i < 4; i++) next();
  const out: TrialParams = {};
  for (const name of parameterNames(parameters)) {
    const p = parameters[name]!;
    const u = next();
    if (p.values) out[name] = p.values[Math.min(p.values.length - 1, Math.floor(u * p.values.length))]!;
    else if (p.distribution === "int") out[name] = Math.min(p.max!, p.min! + Math.floor(u * (p.max! - p.min! + 1)));
    else if (p.distribution === "log-uniform") out[name] = round(Math.exp(Math.log(p.min!) + u * (Math.log(p.max!) - Math.log(p.min!))));
    else out[name] = round(p.min! + u * (p.max! - p.min!));
  }
  return out;
}

/** 10 significant digits: what `--lr=…` and the run's params show, and the same value the job gets. */
function round(x: number): number {
  return Number(x.toPrecision(10));
}

/** Trial n's parameters (0-based) for the sweep's method. */
export function trialParams(spec: SweepSpec, seed: number, n: number): TrialParams {
  return spec.method === "grid" ? gridPoint(spec.parameters, n) : samplePoint(spec.parameters, seed, n);
}

/** How many trials the sweep runs: grid, its size (or maxTrials if fewer); others, maxTrials. */
export function trialsTarget(spec: SweepSpec): number {
  if (spec.method === "grid") return Math.min(gridSize(spec.parameters), spec.maxTrials ?? MAX_TRIALS);
  return spec.maxTrials!;
}

const PLACEHOLDER = /\$\{params\.([^}]*)\}/g;

/** Every `${params.NAME}` in the template names a parameter; INVALID_INPUT naming the unknown one otherwise. */
export function checkPlaceholders(template: TrialTemplate, names: readonly string[]): void {
  const texts = [...template.command.map((a, i) => ({ where: `trial.command[${i}]`, text: a })), ...Object.entries(template.env).map(([k, v]) => ({ where: `trial.env.${k}`, text: v }))];
  for (const { where, text } of texts) {
    for (const m of text.matchAll(PLACEHOLDER)) {
      if (!names.includes(m[1]!)) {
        throw invalidInput(`${where}: \${params.${m[1]}} names no parameter; the sweep's parameters are ${names.join(", ")}`, { field: where, parameters: names });
      }
    }
  }
}

/** `${params.NAME}` replaced by the value, as text (no shell ever sees it). */
function substitute(text: string, params: TrialParams): string {
  return text.replace(PLACEHOLDER, (whole, name: string) => (name in params ? String(params[name]) : whole));
}

/** The job a trial runs: the template with its parameters substituted and added to its hyperparameters. */
export function trialJobSpec(template: TrialTemplate, sweep: { name: string; team: string; experiment: string }, index: number, params: TrialParams): JobSpec {
  return {
    ...template,
    name: `${sweep.name}-${index}`,
    team: sweep.team,
    experiment: sweep.experiment,
    command: template.command.map((a) => substitute(a, params)),
    env: Object.fromEntries(Object.entries(template.env).map(([k, v]) => [k, substitute(v, params)])),
    hyperparameters: { ...template.hyperparameters, ...params },
  };
}

/** ASHA's rungs: the steps minResource x reductionFactor^k below maxResource. */
export function rungResources(asha: AshaSettings): number[] {
  const out: number[] = [];
  for (let r = asha.minResource; r < asha.maxResource; r *= asha.reductionFactor) out.push(r);
  return out;
}

/** numpy's default (linear) percentile, p from 0 to 100. */
export function percentile(values: readonly number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  const pos = (p / 100) * (sorted.length - 1);
  const lo = Math.floor(pos);
  const hi = Math.ceil(pos);
  return sorted[lo]! + (sorted[hi]! - sorted[lo]!) * (pos - lo);
}

/**
 * Asynchronous successive halving's stopping rule (as Ray Tune's ASHAScheduler): a trial reaching a
 * rung goes on when its value is among the best 1/reductionFactor of the values the trials before it
 * recorded at that rung; the first trial at a rung always goes on. Returns the cutoff and whether it
 * is stopped.
 */
export function ashaJudge(earlier: readonly number[], value: number, goal: "minimize" | "maximize", reductionFactor: number): { stop: boolean; cutoff: number | null } {
  const finite = earlier.filter((v) => Number.isFinite(v));
  if (!Number.isFinite(value)) return { stop: finite.length > 0, cutoff: null };
  if (finite.length === 0) return { stop: false, cutoff: null };
  const sign = goal === "maximize" ? 1 : -1;
  const cutoff = sign * percentile(finite.map((v) => sign * v), (1 - 1 / reductionFactor) * 100);
  return { stop: sign * value < sign * cutoff, cutoff };
}

/** Whether `a` is a better objective value than `b`. */
export function better(a: number, b: number, goal: "minimize" | "maximize"): boolean {
  if (!Number.isFinite(b)) return Number.isFinite(a);
  if (!Number.isFinite(a)) return false;
  return goal === "minimize" ? a < b : a > b;
}
