import { invalidInput } from "../../core/index.ts";

// MLflow's registry limits and naming rules, so names valid there are valid here.
export const LIMITS = { keyLength: 250, tagValueLength: 5000, descriptionLength: 65535, nameLength: 256 } as const;

const MODEL_NAME = /^[A-Za-z0-9_][\w.\- ]*$/;
const ALIAS = /^[\w-]+$/;

export function checkModelName(name: string): string {
  if (typeof name !== "string" || !name.trim()) throw invalidInput("model name must not be empty; give a name such as 'churn-classifier'");
  if (name.length > LIMITS.nameLength || !MODEL_NAME.test(name)) {
    throw invalidInput(
      `model name '${name.slice(0, 60)}' is not valid; use at most ${LIMITS.nameLength} letters, digits, '_', '-', '.' and spaces, starting with a letter, digit or '_'`,
    );
  }
  return name;
}

/** MLflow's alias rules: letters, digits, '_' and '-'; not 'latest' and not 'v<number>' (they name versions). */
export function checkAlias(alias: string): string {
  if (typeof alias !== "string" || !ALIAS.test(alias) || alias.length > 255) {
    throw invalidInput(`alias '${alias}' is not valid; use up to 255 letters, digits, '_' and '-', e.g. 'champion'`);
  }
  if (alias.toLowerCase() === "latest") throw invalidInput("alias 'latest' is reserved (it means the newest version); choose another, e.g. 'champion'");
  if (/^v\d+$/i.test(alias)) throw invalidInput(`alias '${alias}' looks like a version reference (v<number>); choose another, e.g. 'champion'`);
  return alias;
}

export function checkTag(key: string, value: string): void {
  if (typeof key !== "string" || !key.trim()) throw invalidInput("tag key must not be empty");
  if (key.length > LIMITS.keyLength) throw invalidInput(`tag key '${key.slice(0, 40)}…' is longer than ${LIMITS.keyLength} characters; shorten it`);
  if (typeof value !== "string") throw invalidInput(`tag '${key}' value must be a string`);
  if (value.length > LIMITS.tagValueLength) throw invalidInput(`tag '${key}' value is ${value.length} characters; the limit is ${LIMITS.tagValueLength}`);
}

export function checkDescription(description: string | undefined | null): string | null {
  if (description === undefined || description === null || description === "") return null;
  if (description.length > LIMITS.descriptionLength) throw invalidInput(`description is longer than ${LIMITS.descriptionLength} characters; shorten it`);
  return description;
}

/** A version number given as a string or number. */
export function parseVersion(version: string | number): number {
  const text = String(version).trim();
  if (!/^[1-9]\d{0,8}$/.test(text)) throw invalidInput(`version '${version}' is not a version number; versions are 1, 2, 3, …`);
  return Number(text);
}
