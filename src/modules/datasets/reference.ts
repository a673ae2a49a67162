import { confinePath, invalidInput } from "../../core/index.ts";
import { ALIAS_NAME, DATASET_NAME, LATEST } from "./schema.ts";

/** A parsed `datasets:/<name>@<version|alias>[/<path>]`. */
export interface DatasetRef {
  name: string;
  /** A version number, an alias, or `latest` (also what a ref without `@` names). */
  version: number | string;
  /** One file of the version, when the ref names one. */
  path?: string;
}

const PREFIX = "datasets:/";
const MAX_REF_LENGTH = 2048;

/**
 * Parses a dataset reference: `datasets:/churn@3`, `datasets:/churn@prod`, `datasets:/churn`
 * (the latest version), `datasets:/churn@3/train.csv` (one file of it). Throws INVALID_INPUT
 * naming the expected shape.
 * @example parseDatasetRef("datasets:/churn@prod/part-0.parquet") // { name: "churn", version: "prod", path: "part-0.parquet" }
 */
export function parseDatasetRef(ref: string): DatasetRef {
  const shape = "write it as datasets:/<name>@<version|alias>, optionally followed by /<path> of one file (e.g. datasets:/churn@3 or datasets:/churn@prod/train.csv)";
  if (typeof ref !== "string" || ref.length > MAX_REF_LENGTH) throw invalidInput(`a dataset reference is at most ${MAX_REF_LENGTH} characters; ${shape}`);
  if (!ref.startsWith(PREFIX)) throw invalidInput(`'${ref.slice(0, 100)}' is not a dataset reference; ${shape}`);
  const rest = ref.slice(PREFIX.length);
  const slash = rest.indexOf("/");
  const head = slash === -1 ? rest : rest.slice(0, slash);
  const tail = slash === -1 ? undefined : rest.slice(slash + 1);
  const at = head.indexOf("@");
  const name = at === -1 ? head : head.slice(0, at);
  const version = at === -1 ? LATEST : head.slice(at + 1);
  if (!DATASET_NAME.test(name)) throw invalidInput(`'${name.slice(0, 130)}' in '${ref.slice(0, 200)}' is not a dataset name (lower-case letters, digits, '.', '_', '-'); ${shape}`);
  const parsed: DatasetRef = { name, version: parseVersionRef(version) };
  if (tail !== undefined && tail !== "") parsed.path = confinePath(tail, "the file path in a dataset reference");
  return parsed;
}

/** A version given as text: a positive integer becomes a number; an alias or `latest` stays text. */
export function parseVersionRef(version: string | number): number | string {
  if (typeof version === "number") {
    if (Number.isInteger(version) && version >= 1) return version;
    throw invalidInput(`dataset version ${version} is not a version number; versions are 1, 2, 3, …`);
  }
  if (/^[0-9]{1,9}$/.test(version) && Number(version) >= 1) return Number(version);
  if (version === LATEST || ALIAS_NAME.test(version)) return version;
  throw invalidInput(`'${version.slice(0, 70)}' is neither a version number (1, 2, 3, …), an alias nor latest; list them with \`paved datasets versions <name>\``);
}

/** `datasets:/<name>@<version>`, the ref of one version. */
export function formatDatasetRef(name: string, version: number, path?: string): string {
  return `${PREFIX}${name}@${version}${path ? `/${path}` : ""}`;
}
