// A small markdown renderer for the documentation (docs/*.md) and for descriptions users write:
// headings with anchors, paragraphs, lists, block quotes, code blocks, inline code, emphasis, links
// and tables, rendered to React elements (text is always text; nothing goes through innerHTML). A
// link becomes one only when its target is http(s), a relative path or an #anchor; a link to another
// documentation page (`jobs.md#logs`) opens it in the UI. Parsing scans each line once, with no
// pattern that can backtrack.
import { Fragment, type ReactNode } from "react";
import { Link } from "../router.tsx";

/** A heading's anchor as GitHub makes it: lower case, punctuation dropped, spaces to '-'. */
export function slugify(text: string): string {
  return text
    .toLowerCase()
    .trim()
    .replace(/[^\p{L}\p{N}\s_-]/gu, "")
    .replace(/\s/g, "-");
}

/** A heading's text without its inline markup (what its anchor is made from). */
export function plainText(markdown: string): string {
  return markdown.replace(/`([^`]*)`/g, "$1").replace(/\[([^\]]*)\]\([^)]*\)/g, "$1").replace(/[*_]/g, "");
}

/**
 * Where a link may go, or undefined when it must stay text: `internal` is a path in this app (a
 * documentation page for `x.md`), `external` an http(s) URL, `anchor` a heading on this page.
 */
export function linkTarget(href: string, docsBase = "/docs/"): { kind: "internal" | "external" | "anchor"; to: string } | undefined {
  const url = href.trim();
  if (/^https?:\/\//i.test(url)) return { kind: "external", to: url };
  if (url.startsWith("#")) return { kind: "anchor", to: `#${slugify(decodeSafe(url.slice(1)))}` };
  // A scheme (javascript:, data:, vbscript:, file: …) or a protocol-relative URL never becomes a link.
  if (/^[a-z][a-z0-9+.-]*:/i.test(url) || url.startsWith("//") || url.startsWith("\\")) return undefined;
  const doc = /^(?:\.\/)?([a-z0-9][a-z0-9._-]*)\.md(#.*)?$/i.exec(url);
  if (doc) return { kind: "internal", to: `${docsBase}${encodeURIComponent(doc[1]!)}${doc[2] ? `#${slugify(decodeSafe(doc[2].slice(1)))}` : ""}` };
  if (url.startsWith("/")) return { kind: "internal", to: url };
  // Other relative paths name files of the repository (../examples/…), which the UI does not serve.
  return undefined;
}

function decodeSafe(text: string): string {
  try {
    return decodeURIComponent(text);
  } catch {
    return text;
  }
}

// ── inline ──

/** Inline markdown as React nodes: `code`, **strong**, *em* / _em_, [links](…), <https://autolinks>. */
export function Inline({ text }: { text: string }) {
  return <>{inline(text, "i")}</>;
}

function inline(text: string, key: string): ReactNode[] {
  const out: ReactNode[] = [];
  let plain = "";
  const flush = () => {
    if (plain) out.push(plain);
    plain = "";
  };
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    const k = `${key}.${i}`;
    if (c === "\\" && i + 1 < text.length && /[\\`*_[\]()#+\-.!<>|]/.test(text[i + 1]!)) {
      plain += text[i + 1];
      i += 2;
      continue;
    }
    if (c === "`") {
      let ticks = 1;
      while (text[i + ticks] === "`") ticks++;
      const fence = "`".repeat(ticks);
      const end = text.indexOf(fence, i + ticks);
      if (end !== -1) {
        flush();
        out.push(<code key={k}>{text.slice(i + ticks, end).replace(/^ (.*) $/, "$1")}</code>);
        i = end + ticks;
        continue;
      }
      plain += fence;
      i += ticks;
      continue;
    }
    if (c === "!" && text[i + 1] === "[") {
      // An image: its alt text (the UI shows no images from documents).
      const link = linkAt(text, i + 1);
      if (link) {
        flush();
        out.push(
          <span key={k} className="md-image-alt">
            [{link.label}]
          </span>,
        );
        i = link.end;
        continue;
      }
    }
    if (c === "[") {
      const link = linkAt(text, i);
      if (link) {
        flush();
        out.push(<MdLink key={k} href={link.href} label={inline(link.label, k)} />);
        i = link.end;
        continue;
      }
    }
    if (c === "<") {
      const end = text.indexOf(">", i);
      const inside = end === -1 ? "" : text.slice(i + 1, end);
      if (/^https?:\/\/[^\s<>]+$/i.test(inside)) {
        flush();
        out.push(<MdLink key={k} href={inside} label={[inside]} />);
        i = end + 1;
        continue;
      }
    }
    if (c === "*" || c === "_") {
      const double = text[i + 1] === c;
      const marker = double ? c + c : c;
      // Emphasis opens before a non-space and, for '_', not inside a word (snake_case stays text).
      const opens = text[i + marker.length] !== undefined && text[i + marker.length] !== " " && !(c === "_" && /[\p{L}\p{N}]/u.test(text[i - 1] ?? ""));
      if (opens) {
        const end = closingMarker(text, marker, i + marker.length);
        if (end !== -1) {
          flush();
          const body = inline(text.slice(i + marker.length, end), k);
          out.push(double ? <strong key={k}>{body}</strong> : <em key={k}>{body}</em>);
          i = end + marker.length;
          continue;
        }
      }
      plain += marker;
      i += marker.length;
      continue;
    }
    plain += c;
    i++;
  }
  flush();
  return out;
}

function closingMarker(text: string, marker: string, from: number): number {
  for (let at = text.indexOf(marker, from); at !== -1; at = text.indexOf(marker, at + 1)) {
    if (text[at - 1] === " " || text[at - 1] === "\\") continue;
    if (marker.length === 1 && text[at + 1] === marker) {
      at++;
      continue;
    }
    if (marker[0] === "_" && /[\p{L}\p{N}]/u.test(text[at + marker.length] ?? "")) continue;
    return at;
  }
  return -1;
}

/** `[label](href)` starting at `start` (the '['), with nested brackets in the label; undefined when it is not one. */
function linkAt(text: string, start: number): { label: string; href: string; end: number } | undefined {
  let depth = 0;
  let close = -1;
  for (let j = start; j < text.length; j++) {
    const ch = text[j];
    if (ch === "\\") {
      j++;
      continue;
    }
    if (ch === "[") depth++;
    else if (ch === "]" && --depth === 0) {
      close = j;
      break;
    }
  }
  if (close === -1 || text[close + 1] !== "(") return undefined;
  // The URL ends at the ")" that balances its "(" (a URL may hold parentheses: wiki links, alert(1)).
  let end = -1;
  let parens = 0;
  for (let j = close + 2; j < text.length; j++) {
    const ch = text[j];
    if (ch === "\\") j++;
    else if (ch === "(") parens++;
    else if (ch === ")" && parens-- === 0) {
      end = j;
      break;
    }
  }
  if (end === -1) return undefined;
  // A title after the URL ("…" or '…') is dropped.
  const href = text.slice(close + 2, end).trim().split(/\s+/)[0] ?? "";
  return { label: text.slice(start + 1, close), href, end: end + 1 };
}

function MdLink({ href, label }: { href: string; label: ReactNode[] }) {
  const target = linkTarget(href);
  if (!target) {
    return (
      <span className="md-unlinked" title={href}>
        {label}
      </span>
    );
  }
  if (target.kind === "external") {
    return (
      <a href={target.to} rel="noopener noreferrer nofollow" target="_blank">
        {label}
      </a>
    );
  }
  if (target.kind === "anchor") return <a href={target.to}>{label}</a>;
  return <Link to={target.to}>{label}</Link>;
}

// ── blocks ──

type Block =
  | { kind: "heading"; level: number; text: string; id: string }
  | { kind: "paragraph"; text: string }
  | { kind: "code"; lang: string; text: string }
  | { kind: "rule" }
  | { kind: "quote"; blocks: Block[] }
  | { kind: "list"; ordered: boolean; start: number; items: Block[][] }
  | { kind: "table"; align: ("left" | "center" | "right" | undefined)[]; head: string[]; rows: string[][] };

const FENCE = /^ {0,3}(`{3,}|~{3,})\s*([\w+-]*)/;
const HEADING = /^ {0,3}(#{1,6})[ \t]+(.*?)[ \t]*#*[ \t]*$/;
const RULE = /^ {0,3}([-*_])( *\1){2,} *$/;
const ITEM = /^( *)([-*+]|\d{1,9}[.)])( +|$)(.*)$/;
const TABLE_RULE = /^ *\|? *:?-+:? *(\| *:?-+:? *)*\|? *$/;

function indentOf(line: string): number {
  let n = 0;
  while (line[n] === " ") n++;
  return n;
}

function isBlank(line: string): boolean {
  return line.trim() === "";
}

function startsBlock(line: string, next: string | undefined): boolean {
  return FENCE.test(line) || HEADING.test(line) || RULE.test(line) || /^ {0,3}>/.test(line) || ITEM.test(line) || (line.includes("|") && next !== undefined && TABLE_RULE.test(next) && next.includes("-"));
}

function cells(line: string): string[] {
  let text = line.trim();
  if (text.startsWith("|")) text = text.slice(1);
  if (text.endsWith("|") && !text.endsWith("\\|")) text = text.slice(0, -1);
  const out: string[] = [];
  let cell = "";
  let inCode = false;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (ch === "\\" && text[i + 1] === "|") {
      cell += "|";
      i++;
    } else if (ch === "`") {
      inCode = !inCode;
      cell += ch;
    } else if (ch === "|" && !inCode) {
      out.push(cell.trim());
      cell = "";
    } else cell += ch;
  }
  out.push(cell.trim());
  return out;
}

/** Parses markdown into blocks; `ids` makes heading anchors unique across the document. */
function parseBlocks(lines: string[], ids: Map<string, number>): Block[] {
  const blocks: Block[] = [];
  let i = 0;
  while (i < lines.length) {
    const line = lines[i]!;
    if (isBlank(line)) {
      i++;
      continue;
    }
    const fence = FENCE.exec(line);
    if (fence) {
      const marker = fence[1]!;
      const indent = indentOf(line);
      const body: string[] = [];
      i++;
      const closes = (l: string) => {
        const t = l.trim();
        return t.length >= marker.length && [...t].every((ch) => ch === marker[0]);
      };
      while (i < lines.length && !closes(lines[i]!)) {
        const l = lines[i]!;
        body.push(l.slice(Math.min(indent, indentOf(l))));
        i++;
      }
      i++;
      blocks.push({ kind: "code", lang: fence[2] ?? "", text: body.join("\n") });
      continue;
    }
    const heading = HEADING.exec(line);
    if (heading) {
      const text = heading[2]!;
      const base = slugify(plainText(text)) || "section";
      const seen = ids.get(base) ?? 0;
      ids.set(base, seen + 1);
      blocks.push({ kind: "heading", level: heading[1]!.length, text, id: seen ? `${base}-${seen}` : base });
      i++;
      continue;
    }
    if (RULE.test(line)) {
      blocks.push({ kind: "rule" });
      i++;
      continue;
    }
    if (/^ {0,3}>/.test(line)) {
      const body: string[] = [];
      while (i < lines.length && !isBlank(lines[i]!) && (/^ {0,3}>/.test(lines[i]!) || !startsBlock(lines[i]!, lines[i + 1]))) {
        body.push(lines[i]!.replace(/^ {0,3}> ?/, ""));
        i++;
      }
      blocks.push({ kind: "quote", blocks: parseBlocks(body, ids) });
      continue;
    }
    const next = lines[i + 1];
    if (line.includes("|") && next !== undefined && TABLE_RULE.test(next) && next.includes("-")) {
      const head = cells(line);
      const align = cells(next).map((c) => (c.startsWith(":") && c.endsWith(":") ? "center" : c.endsWith(":") ? "right" : c.startsWith(":") ? "left" : undefined));
      const rows: string[][] = [];
      i += 2;
      while (i < lines.length && !isBlank(lines[i]!) && lines[i]!.includes("|")) {
        rows.push(cells(lines[i]!));
        i++;
      }
      blocks.push({ kind: "table", align, head, rows });
      continue;
    }
    const item = ITEM.exec(line);
    if (item) {
      const base = item[1]!.length;
      const ordered = /\d/.test(item[2]!);
      const items: string[][] = [];
      while (i < lines.length) {
        const l = lines[i]!;
        const m = ITEM.exec(l);
        if (m && m[1]!.length === base && /\d/.test(m[2]!) === ordered) {
          // The item's own lines, de-indented to where its text starts.
          const width = base + m[2]!.length + Math.max(1, m[3]!.length);
          items.push([m[4]!]);
          i++;
          while (i < lines.length) {
            const cont = lines[i]!;
            if (isBlank(cont)) {
              // A blank line ends the list unless more of this item or another item follows.
              const after = lines.slice(i + 1).find((x) => !isBlank(x));
              if (after === undefined || (indentOf(after) <= base && !(ITEM.exec(after)?.[1]!.length === base))) break;
              items[items.length - 1]!.push("");
              i++;
              continue;
            }
            if (indentOf(cont) > base) {
              items[items.length - 1]!.push(cont.slice(Math.min(width, indentOf(cont))));
              i++;
              continue;
            }
            // A lazy continuation line of the item's paragraph.
            if (!startsBlock(cont, lines[i + 1]) && !isBlank(items[items.length - 1]!.at(-1) ?? "")) {
              items[items.length - 1]!.push(cont.trim());
              i++;
              continue;
            }
            break;
          }
          continue;
        }
        break;
      }
      blocks.push({ kind: "list", ordered, start: ordered ? Number.parseInt(item[2]!, 10) : 1, items: items.map((lns) => parseBlocks(lns, ids)) });
      continue;
    }
    const para: string[] = [];
    while (i < lines.length && !isBlank(lines[i]!) && (para.length === 0 || !startsBlock(lines[i]!, lines[i + 1]))) {
      para.push(lines[i]!.trim());
      i++;
    }
    blocks.push({ kind: "paragraph", text: para.join("\n") });
  }
  return blocks;
}

function renderBlocks(blocks: Block[], key: string, tight = false): ReactNode[] {
  return blocks.map((block, n) => {
    const k = `${key}.${n}`;
    switch (block.kind) {
      case "heading": {
        const H = `h${Math.max(2, block.level)}` as "h2";
        return (
          <H key={k} id={block.id} className="md-heading">
            <Inline text={block.text} />{" "}
            <a href={`#${block.id}`} className="md-anchor" aria-label={`Link to this section: ${plainText(block.text)}`}>
              #
            </a>
          </H>
        );
      }
      case "paragraph":
        return tight ? <Fragment key={k}>{inline(block.text, k)}</Fragment> : <p key={k}>{inline(block.text, k)}</p>;
      case "code":
        return (
          <pre key={k} className="md-code" tabIndex={0} data-lang={block.lang || undefined}>
            <code>{block.text}</code>
          </pre>
        );
      case "rule":
        return <hr key={k} />;
      case "quote":
        return <blockquote key={k}>{renderBlocks(block.blocks, k)}</blockquote>;
      case "list": {
        const items = block.items.map((item, m) => <li key={m}>{renderBlocks(item, `${k}.${m}`, item.length === 1)}</li>);
        return block.ordered ? (
          <ol key={k} start={block.start === 1 ? undefined : block.start}>
            {items}
          </ol>
        ) : (
          <ul key={k}>{items}</ul>
        );
      }
      case "table":
        return (
          <div key={k} className="md-table" tabIndex={0} role="region" aria-label="table">
            <table>
              <thead>
                <tr>
                  {block.head.map((h, c) => (
                    <th key={c} scope="col" className={block.align[c] ? `align-${block.align[c]}` : undefined}>
                      <Inline text={h} />
                    </th>
                  ))}
                </tr>
              </thead>
              <tbody>
                {block.rows.map((row, r) => (
                  <tr key={r}>
                    {block.head.map((_, c) => (
                      <td key={c} className={block.align[c] ? `align-${block.align[c]}` : undefined}>
                        <Inline text={row[c] ?? ""} />
                      </td>
                    ))}
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        );
    }
  });
}

/** Markdown as React elements. A `# ` heading is shown as an `h2` (the page's own title is its `h1`). */
export function Markdown({ source, className }: { source: string; className?: string }) {
  const blocks = parseBlocks(source.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n"), new Map());
  return <div className={className ? `markdown ${className}` : "markdown"}>{renderBlocks(blocks, "b")}</div>;
}

/** The headings of a markdown document with their anchors (a table of contents). */
export function headingsOf(source: string): { level: number; text: string; id: string }[] {
  const blocks = parseBlocks(source.replace(/\r\n?/g, "\n").replace(/\t/g, "    ").split("\n"), new Map());
  const out: { level: number; text: string; id: string }[] = [];
  const walk = (list: Block[]) => {
    for (const b of list) {
      if (b.kind === "heading") out.push({ level: b.level, text: plainText(b.text), id: b.id });
      else if (b.kind === "quote") walk(b.blocks);
      else if (b.kind === "list") b.items.forEach(walk);
    }
  };
  walk(blocks);
  return out;
}
