import { readFileSync, readdirSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { parse } from "yaml";
import { notFound } from "../../core/index.ts";
import type { TemplateView } from "./schema.ts";

/** The folder of the templates shipped with Paved (pipeline specs users scaffold from). */
export const BUILT_IN_TEMPLATES_DIR = fileURLToPath(new URL("./templates/", import.meta.url));

/**
 * The catalog's templates: YAML specs shipped in templates/ (the golden-path pipeline), read once.
 * Each is a spec as `paved apply -f` takes it; its leading comment is its documentation.
 */
export class TemplateCatalog {
  private readonly templates: TemplateView[];

  constructor(dir = BUILT_IN_TEMPLATES_DIR) {
    this.templates = readdirSync(dir)
      .filter((f) => f.endsWith(".yaml"))
      .sort()
      .map((file) => {
        const yaml = readFileSync(join(dir, file), "utf8");
        const spec = parse(yaml) as { kind?: string; metadata?: { name?: string; description?: string }; spec?: { parameters?: Record<string, unknown> } };
        return {
          name: spec.metadata?.name ?? file.replace(/\.yaml$/, ""),
          kind: spec.kind ?? "Pipeline",
          description: spec.metadata?.description ?? "",
          parameters: spec.spec?.parameters ?? {},
          yaml,
        };
      });
  }

  list(): TemplateView[] {
    return this.templates;
  }

  get(name: string): TemplateView {
    const found = this.templates.find((t) => t.name === name);
    if (!found) throw notFound(`template '${name}' does not exist; templates: ${this.templates.map((t) => t.name).join(", ")} (see \`paved templates ls\`)`);
    return found;
  }
}
