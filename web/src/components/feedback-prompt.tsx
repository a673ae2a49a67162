// The satisfaction prompt after milestones (issue 12): once a person reaches their first run, first
// registered model or first production deployment, the UI asks how it went. "Not now" hides it in
// this browser; sending feedback answers it for good (the server stops naming the milestone).
import { useEffect, useState, type FormEvent } from "react";
import { api, messageOf } from "../api.ts";
import { useLocation } from "../router.tsx";

const LABELS: Record<string, string> = {
  "first-run": "your first tracked run",
  "first-registered-model": "your first registered model",
  "first-production-deployment": "your first production deployment",
};
const DISMISSED = "paved.feedback.dismissed";

export function FeedbackPrompt() {
  const [milestone, setMilestone] = useState<string | null>(null);
  const [score, setScore] = useState(0);
  const [comment, setComment] = useState("");
  const [state, setState] = useState<"asking" | "sending" | "thanks">("asking");
  const [error, setError] = useState("");
  // Asked again on each page: a milestone reached a moment ago (a deploy) shows on the next one.
  const { path } = useLocation();
  useEffect(() => {
    if (state !== "asking" || milestone) return;
    let live = true;
    api.feedbackPrompt().then(
      (p) => {
        if (live && p.milestone && window.localStorage.getItem(`${DISMISSED}.${p.milestone}`) === null) setMilestone(p.milestone);
      },
      // Not everyone may be asked (a service account): no prompt then.
      () => undefined,
    );
    return () => {
      live = false;
    };
  }, [path, state, milestone]);
  if (!milestone) return null;
  if (state === "thanks") {
    return (
      <aside className="feedback-prompt" aria-label="Feedback">
        <p role="status">Thank you — your feedback goes to the platform team.</p>
      </aside>
    );
  }
  const send = async (event: FormEvent) => {
    event.preventDefault();
    setState("sending");
    setError("");
    try {
      await api.sendFeedback({ score, context: milestone, ...(comment.trim() ? { comment: comment.trim() } : {}) });
      setState("thanks");
    } catch (err) {
      setError(messageOf(err));
      setState("asking");
    }
  };
  const later = () => {
    window.localStorage.setItem(`${DISMISSED}.${milestone}`, String(Date.now()));
    setMilestone(null);
  };
  return (
    <aside className="feedback-prompt" aria-label="Feedback">
      <form onSubmit={(e) => void send(e)}>
        <fieldset>
          <legend>You reached {LABELS[milestone] ?? milestone}. How was getting there?</legend>
          <div className="scores">
            {[1, 2, 3, 4, 5].map((n) => (
              <label key={n}>
                <input type="radio" name="score" value={n} checked={score === n} onChange={() => setScore(n)} />
                {n}
              </label>
            ))}
            <span className="hint">1 = very unhappy, 5 = very happy</span>
          </div>
          <label htmlFor="feedback-comment">What went well or badly? (optional)</label>
          <textarea id="feedback-comment" rows={2} maxLength={2000} value={comment} onChange={(e) => setComment(e.target.value)} />
        </fieldset>
        {error ? <p className="error-notice" role="alert">{error}</p> : null}
        <div className="dialog-actions">
          <button type="button" onClick={later}>
            Not now
          </button>
          <button type="submit" className="primary" disabled={score === 0 || state === "sending"}>
            Send feedback
          </button>
        </div>
      </form>
    </aside>
  );
}
