// Small pieces every page uses: its header (with the "?" to its documentation), loading and error
// states, and a confirmation before anything that changes production.
import { useEffect, useRef, useState, type ReactNode } from "react";
import { messageOf } from "../api.ts";
import { Link } from "../router.tsx";

/** A page's title, its documentation topic (docs/<topic>.md) behind "?", and its actions. */
export function PageHeader({ title, help, children }: { title: ReactNode; help?: string; children?: ReactNode }) {
  useEffect(() => {
    if (typeof title === "string") document.title = `${title} · Paved`;
  }, [title]);
  return (
    <header className="page-header">
      <h1>{title}</h1>
      <div className="page-actions">
        {children}
        {help ? (
          <Link to={`/docs/${help}`} className="help-link" aria-label={`Help: ${help}`} title={`Documentation: ${help}`}>
            ?
          </Link>
        ) : null}
      </div>
    </header>
  );
}

export function Loading({ what = "Loading" }: { what?: string }) {
  return (
    <p className="loading" role="status" aria-live="polite">
      {what}…
    </p>
  );
}

/** An error as the server said it: code and message (which says how to fix it). */
export function ErrorNotice({ error, title }: { error: unknown; title?: string }) {
  if (!error) return null;
  return (
    <div className="error-notice" role="alert">
      {title ? <strong>{title}: </strong> : null}
      {messageOf(error)}
    </div>
  );
}

/** What a list shows when it is empty: what would fill it, and how. */
export function Empty({ children }: { children: ReactNode }) {
  return <p className="empty">{children}</p>;
}

/**
 * A button that asks before it acts (promote, roll back, cancel, delete): a modal dialog naming
 * what will happen; the action's error, if any, shows in the dialog.
 */
export function ConfirmButton({ label, question, onConfirm, danger = false, disabled = false }: { label: string; question: ReactNode; onConfirm: () => Promise<unknown>; danger?: boolean; disabled?: boolean }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<unknown>(undefined);
  const confirm = async () => {
    setBusy(true);
    setError(undefined);
    try {
      await onConfirm();
      dialog.current?.close();
    } catch (err) {
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  return (
    <>
      <button type="button" className={danger ? "danger" : undefined} disabled={disabled} onClick={() => dialog.current?.showModal()}>
        {label}
      </button>
      <dialog ref={dialog} className="confirm" aria-label={label}>
        <p>{question}</p>
        <ErrorNotice error={error} />
        <div className="dialog-actions">
          <button type="button" onClick={() => dialog.current?.close()} disabled={busy}>
            Cancel
          </button>
          <button type="button" className={danger ? "danger" : "primary"} onClick={() => void confirm()} disabled={busy}>
            {busy ? "Working…" : label}
          </button>
        </div>
      </dialog>
    </>
  );
}

/** A timestamp (ms since the epoch) as local date and time, with the ISO form as its tooltip. */
export function Time({ ms }: { ms: number | null | undefined }) {
  if (ms === null || ms === undefined) return <span>—</span>;
  const date = new Date(ms);
  return (
    <time dateTime={date.toISOString()} title={date.toISOString()}>
      {date.toLocaleString()}
    </time>
  );
}

/** A state (job phase, deployment status…) as a coloured badge; the text is the state itself. */
export function StateBadge({ state }: { state: string }) {
  return <span className={`badge state-${state.toLowerCase().replace(/[^a-z]+/g, "-")}`}>{state}</span>;
}

/** A resource's events, newest first (a job's, a workspace's): time, type and message. */
export function EventsSection({ id, events }: { id: string; events: readonly { time: number; type: string; message: string | null }[] }) {
  return (
    <section aria-labelledby={id}>
      <h2 id={id}>Events</h2>
      {events.length === 0 ? (
        <Empty>No events yet.</Empty>
      ) : (
        <table className="events-table">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Event</th>
              <th scope="col">Message</th>
            </tr>
          </thead>
          <tbody>
            {[...events].reverse().map((e, i) => (
              <tr key={`${e.time}-${i}`}>
                <td>
                  <Time ms={e.time} />
                </td>
                <td>{e.type}</td>
                <td>{e.message}</td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
