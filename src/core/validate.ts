import type { z } from "zod";
import { invalidInput } from "./errors.ts";

/** Parses `input` with `schema` or throws INVALID_INPUT naming each bad field and how to fix it. */
export function parseInput<S extends z.ZodType>(schema: S, input: unknown, what: string): z.output<S> {
  const result = schema.safeParse(input);
  if (result.success) return result.data;
  const problems = result.error.issues.map((issue) => {
    const path = issue.path.length ? issue.path.join(".") : "(root)";
    return { path, message: issue.message };
  });
  const summary = problems
    .slice(0, 5)
    .map((p) => `${p.path}: ${p.message}`)
    .join("; ");
  return throwInvalid(`invalid ${what}: ${summary}`, problems);
}

function throwInvalid(message: string, problems: { path: string; message: string }[]): never {
  throw invalidInput(message, { problems });
}

/**
 * Confines a relative path: rejects absolute paths, `..` segments, backslashes, NUL and empty
 * segments. Returns the normalised path with `/` separators.
 */
export function confinePath(path: string, what = "path"): string {
  if (typeof path !== "string" || path.length === 0 || path.length > 1024) {
    throw invalidInput(`${what} must be a non-empty relative path of at most 1024 characters`);
  }
  if (path.includes("\0") || path.includes("\\")) {
    throw invalidInput(`${what} '${path}' contains a NUL or backslash; use '/' separated relative paths`);
  }
  if (path.startsWith("/")) {
    throw invalidInput(`${what} '${path}' is absolute; give a path relative to the run's artifact root`);
  }
  const segments = path.split("/").filter((s) => s !== "" && s !== ".");
  if (segments.some((s) => s === "..")) {
    throw invalidInput(`${what} '${path}' contains '..'; paths must stay inside the run's artifact root`);
  }
  if (segments.length === 0) throw invalidInput(`${what} '${path}' names no file`);
  return segments.join("/");
}
