import type { ReactNode } from "react";
import { signOut } from "../api.ts";
import { useSession, useSetSession } from "../session.tsx";
import { Link, navigate } from "../router.tsx";
import { ROUTES } from "../routes.tsx";
import { FeedbackPrompt } from "./feedback-prompt.tsx";

/** The frame of every signed-in page: navigation, who is signed in, and the page itself. */
export function Layout({ section, children }: { section: string; children: ReactNode }) {
  const session = useSession();
  const setSession = useSetSession();
  // Admin pages for those who may use them (the server decides anyway).
  const teamAdmin = session.platformAdmin || session.teams.some((t) => t.role === "admin");
  const nav = ROUTES.filter((r) => r.nav && (r.section !== "admin" || teamAdmin) && (r.section !== "adoption" || session.platformAdmin));
  const leave = async () => {
    await signOut().catch(() => undefined);
    setSession(undefined);
    navigate("/sign-in");
  };
  return (
    <div className="shell">
      <a className="skip-link" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          Paved
        </Link>
        <nav aria-label="Main">
          <ul>
            {nav.map((r) => (
              <li key={r.path}>
                <Link to={r.path} aria-current={r.section === section ? "page" : undefined}>
                  {r.nav}
                </Link>
              </li>
            ))}
          </ul>
        </nav>
        <div className="who">
          <span title={session.teams.map((t) => `${t.team}: ${t.role}`).join(", ")}>
            {session.name}
            {session.platformAdmin ? " (admin)" : ""}
          </span>
          <button type="button" onClick={() => void leave()}>
            Sign out
          </button>
        </div>
      </header>
      <main id="main">{children}</main>
      <FeedbackPrompt />
    </div>
  );
}
