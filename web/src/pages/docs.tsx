// The user documentation in the UI: the same markdown as docs/ and `paved docs`, from
// GET /api/v1/docs, searchable across every topic (server-side, plain words). /docs lists the
// topics, /docs/<topic> shows one (its "#anchor" scrolls to a section), ?q= holds the search.
import { useEffect, useState, type FormEvent } from "react";
import { api } from "../api.ts";
import { Empty, ErrorNotice, Loading, PageHeader } from "../components/common.tsx";
import { Markdown, headingsOf, slugify } from "../components/markdown.tsx";
import { useApi } from "../components/use-api.ts";
import { Link, navigate, seg, useLocation, withQuery } from "../router.tsx";
import type { PageProps } from "../page-props.ts";
import "./data.css";

export default function DocsPage({ params }: PageProps) {
  const topic = params.topic;
  const location = useLocation();
  const q = location.query.get("q") ?? "";
  const topics = useApi(() => api.listDocs(), []);
  return (
    <>
      <PageHeader title={topic ? (topics.data?.find((t) => t.topic === topic)?.title ?? topic) : "Documentation"} help="ui" />
      <div className="docs-layout">
        <nav aria-label="Documentation topics">
          <SearchBox q={q} />
          <ErrorNotice error={topics.error} />
          {topics.data ? (
            <ul>
              {topics.data.map((t) => (
                <li key={t.topic}>
                  <Link to={`/docs/${seg(t.topic)}`} aria-current={t.topic === topic && !q ? "page" : undefined}>
                    {t.title}
                  </Link>
                </li>
              ))}
            </ul>
          ) : topics.loading ? (
            <Loading what="Loading topics" />
          ) : null}
        </nav>
        <div>{q ? <SearchResults q={q} /> : topic ? <Topic topic={topic} /> : <Index topics={topics.data} />}</div>
      </div>
    </>
  );
}

function SearchBox({ q }: { q: string }) {
  const [text, setText] = useState(q);
  useEffect(() => setText(q), [q]);
  const submit = (event: FormEvent) => {
    event.preventDefault();
    navigate(withQuery({ q: text.trim() || undefined }));
  };
  return (
    <form role="search" className="docs-search" onSubmit={submit}>
      <label htmlFor="docs-q">Search the documentation</label>
      <input id="docs-q" type="search" value={text} maxLength={200} placeholder="e.g. canary rollback" onChange={(e) => setText(e.target.value)} />
      <button type="submit">Search</button>
    </form>
  );
}

function SearchResults({ q }: { q: string }) {
  const { data, error, loading } = useApi(() => api.searchDocs(q), [q]);
  if (error) return <ErrorNotice error={error} />;
  if (!data) return loading ? <Loading what="Searching" /> : null;
  return (
    <section aria-labelledby="results-heading">
      <h2 id="results-heading">
        {data.length} {data.length === 1 ? "topic" : "topics"} mention “{q}”
      </h2>
      {data.length === 0 ? <Empty>No topic holds every one of these words; try fewer or other words.</Empty> : null}
      <ul className="search-results">
        {data.map((hit) => (
          <li key={hit.topic}>
            <Link to={`/docs/${seg(hit.topic)}`}>{hit.title}</Link> <span className="hint">({hit.score} matches)</span>
            {hit.matches.map((m, i) => (
              <p key={i} className="snippet">
                {m.heading ? (
                  <>
                    <Link to={`/docs/${seg(hit.topic)}#${slugify(m.heading)}`}>{m.heading}</Link>
                    {": "}
                  </>
                ) : null}
                {m.snippet}
              </p>
            ))}
          </li>
        ))}
      </ul>
    </section>
  );
}

function Index({ topics }: { topics: { topic: string; title: string }[] | undefined }) {
  return (
    <section aria-labelledby="index-heading">
      <h2 id="index-heading">Topics</h2>
      <p className="hint">
        The same pages as <code>paved docs</code> in a terminal. Every page of the UI has a <strong>?</strong> that opens its topic here.
      </p>
      {topics ? (
        <ul>
          {topics.map((t) => (
            <li key={t.topic}>
              <Link to={`/docs/${seg(t.topic)}`}>{t.title}</Link> <code>paved docs {t.topic}</code>
            </li>
          ))}
        </ul>
      ) : null}
    </section>
  );
}

function Topic({ topic }: { topic: string }) {
  const { data, error, loading } = useApi(() => api.getDoc(topic), [topic]);
  // The page's title is the document's: its own "# " line is not repeated.
  const body = data ? data.markdown.replace(/^# .*\n/, "") : "";
  useEffect(() => {
    const hash = window.location.hash.slice(1);
    if (!data || !hash) return;
    let id = hash;
    try {
      id = decodeURIComponent(hash);
    } catch {
      // keep it as it is
    }
    document.getElementById(id)?.scrollIntoView();
  }, [data]);
  if (error) return <ErrorNotice error={error} />;
  if (!data) return loading ? <Loading what="Loading the page" /> : null;
  const contents = headingsOf(body).filter((h) => h.level === 2);
  return (
    <article aria-label={data.title}>
      {contents.length > 3 ? (
        <details className="panel">
          <summary>On this page</summary>
          <ul>
            {contents.map((h) => (
              <li key={h.id}>
                <a href={`#${h.id}`}>{h.text}</a>
              </li>
            ))}
          </ul>
        </details>
      ) : null}
      <Markdown source={body} />
      <p className="hint">
        In a terminal: <code>paved docs {data.topic}</code>
      </p>
    </article>
  );
}
