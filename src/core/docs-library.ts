import { readFile, readdir } from "node:fs/promises";
import { notFound } from "./errors.ts";

// The user documentation (docs/*.md) as topics: what `paved docs` prints and GET /api/v1/docs
// serves, so the terminal and the web UI read the same pages. A topic is a name from the listing,
// never a path: a request that names anything else is NOT_FOUND before any file is opened. Search
// is a plain case-insensitive substring match (linear in the text; no pattern from the user runs).

/** docs/ of this checkout or package: src/core/ (or dist/core/) → ../../docs/ */
export const DOCS_DIR = new URL("../../docs/", import.meta.url);

/** Longest search a caller may ask for, in characters; most words it is split into. */
export const MAX_DOCS_QUERY = 200;
const MAX_QUERY_WORDS = 8;
/** Most matching lines returned per topic. */
const MAX_MATCHES_PER_TOPIC = 5;
const SNIPPET_CHARS = 240;

export interface DocTopic {
  /** The page's name, e.g. `jobs` (docs/jobs.md): what `paved docs <topic>` and /docs/<topic> take. */
  topic: string;
  /** Its first `# ` heading, or the topic when it has none. */
  title: string;
}

export interface DocMatch {
  /** The heading of the section the line is in (its text, without `#`); null before the first heading. */
  heading: string | null;
  /** The matching line, cut to a few hundred characters around the first hit. */
  snippet: string;
}

export interface DocSearchHit extends DocTopic {
  /** How many times the words occur in the page (more first). */
  score: number;
  matches: DocMatch[];
}

/**
 * The documentation pages in a folder (docs/ by default), read when asked so that an edited page
 * shows at once.
 * @example
 * const docs = new DocsLibrary();
 * const { markdown } = await docs.read("jobs");
 */
export class DocsLibrary {
  constructor(private readonly dir: URL = DOCS_DIR) {}

  /** Every topic, by name. An installation without docs/ has none. */
  async topics(): Promise<DocTopic[]> {
    const names = await this.names();
    return Promise.all(names.map(async (topic) => ({ topic, title: titleOf(await this.text(topic), topic) })));
  }

  /** One topic's markdown; NOT_FOUND (naming the known topics) for a name not in the listing. */
  async read(topic: string): Promise<DocTopic & { markdown: string }> {
    const names = await this.names();
    const name = topic.replace(/\.md$/, "");
    if (!names.includes(name)) {
      throw notFound(`no documentation topic '${topic}'; known topics: ${names.join(", ") || "(none)"} (see \`paved docs\`)`, { knownTopics: names });
    }
    const markdown = await this.text(name);
    return { topic: name, title: titleOf(markdown, name), markdown };
  }

  /** The topics holding every word of `query` (case-insensitive), most occurrences first, with the lines that match. */
  async search(query: string): Promise<DocSearchHit[]> {
    const words = [...new Set(query.slice(0, MAX_DOCS_QUERY).toLowerCase().split(/\s+/).filter(Boolean))].slice(0, MAX_QUERY_WORDS);
    if (words.length === 0) return [];
    const hits: DocSearchHit[] = [];
    for (const topic of await this.names()) {
      const markdown = await this.text(topic);
      const lower = markdown.toLowerCase();
      if (!words.every((w) => lower.includes(w))) continue;
      let score = 0;
      for (const w of words) score += occurrences(lower, w);
      hits.push({ topic, title: titleOf(markdown, topic), score, matches: matchingLines(markdown, words) });
    }
    return hits.sort((a, b) => b.score - a.score || a.topic.localeCompare(b.topic));
  }

  private async names(): Promise<string[]> {
    try {
      const entries = await readdir(this.dir, { withFileTypes: true });
      return entries
        .filter((e) => e.isFile() && /^[a-z0-9][a-z0-9._-]*\.md$/.test(e.name))
        .map((e) => e.name.slice(0, -3))
        .sort();
    } catch {
      return [];
    }
  }

  // Only ever called with a name from names(): the file name is the listing's, not the caller's.
  private text(name: string): Promise<string> {
    return readFile(new URL(`${name}.md`, this.dir), "utf8");
  }
}

function titleOf(markdown: string, fallback: string): string {
  const line = /^# +(.+)$/m.exec(markdown);
  return line ? line[1]!.trim() : fallback;
}

function occurrences(text: string, word: string): number {
  let count = 0;
  for (let at = text.indexOf(word); at !== -1; at = text.indexOf(word, at + word.length)) count++;
  return count;
}

function matchingLines(markdown: string, words: string[]): DocMatch[] {
  const matches: DocMatch[] = [];
  let heading: string | null = null;
  let fenced = false;
  for (const line of markdown.split("\n")) {
    if (/^(```|~~~)/.test(line)) fenced = !fenced;
    const h = fenced ? null : /^#{1,6} +(.+?)#*\s*$/.exec(line);
    if (h) heading = h[1]!.trim();
    const lower = line.toLowerCase();
    const at = Math.min(...words.map((w) => lower.indexOf(w)).filter((i) => i !== -1));
    if (!Number.isFinite(at)) continue;
    const start = Math.max(0, at - SNIPPET_CHARS / 3);
    const snippet = (start > 0 ? "…" : "") + line.slice(start, start + SNIPPET_CHARS).trim() + (start + SNIPPET_CHARS < line.length ? "…" : "");
    matches.push({ heading, snippet });
    if (matches.length >= MAX_MATCHES_PER_TOPIC) break;
  }
  return matches;
}
