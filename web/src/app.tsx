import { useEffect, useState, type ComponentType } from "react";
import { loadSession, messageOf, toSignIn, type Session } from "./api.ts";
import { Layout } from "./components/layout.tsx";
import { Loading } from "./components/common.tsx";
import { useLocation } from "./router.tsx";
import { routeOf, type PageModule } from "./routes.tsx";
import type { PageProps } from "./page-props.ts";
import SignIn from "./pages/sign-in.tsx";
import NotFound from "./pages/not-found.tsx";
import { SessionContext } from "./session.tsx";

export function App() {
  const location = useLocation();
  const [session, setSession] = useState<Session | undefined>(undefined);
  const [state, setState] = useState<"loading" | "ready" | "failed">("loading");
  const [failure, setFailure] = useState("");
  const signingIn = location.path === "/sign-in";

  useEffect(() => {
    if (session) return;
    let live = true;
    // The page's code loads while the session is checked, not after.
    void routeOf(location.path)?.route.page.load().catch(() => undefined);
    loadSession().then(
      (s) => {
        if (!live) return;
        setSession(s);
        setState("ready");
        if (!s && !signingIn) toSignIn();
      },
      (error: unknown) => {
        if (!live) return;
        setFailure(messageOf(error));
        setState("failed");
      },
    );
    return () => {
      live = false;
    };
  }, [session, signingIn]);

  if (state === "failed") return <main className="centered"><p role="alert">Paved cannot be reached: {failure}</p></main>;
  if (state === "loading") return <main className="centered"><Loading /></main>;
  if (signingIn || !session) {
    return (
      <SessionContext.Provider value={{ session, setSession }}>
        <SignIn onSignedIn={setSession} />
      </SessionContext.Provider>
    );
  }
  const match = routeOf(location.path);
  return (
    <SessionContext.Provider value={{ session, setSession }}>
      <Layout section={match?.route.section ?? ""}>
        {match ? <PageHost key={location.path} page={match.route.page} params={match.params} /> : <NotFound />}
      </Layout>
    </SessionContext.Provider>
  );
}

/** Renders a page once its code is loaded (at once when it already is), and says so if it cannot load. */
function PageHost({ page, params }: { page: PageModule; params: Record<string, string> }) {
  const [Page, setPage] = useState<ComponentType<PageProps> | undefined>(() => page.loaded);
  const [failed, setFailed] = useState("");
  useEffect(() => {
    if (Page) return;
    let live = true;
    page.load().then(
      (loaded) => live && setPage(() => loaded),
      (error: unknown) => live && setFailed(messageOf(error)),
    );
    return () => {
      live = false;
    };
  }, [page, Page]);
  if (failed) return <p role="alert">This page could not load ({failed}); reload to try again.</p>;
  return Page ? <Page params={params} /> : <Loading />;
}
