import { Suspense, useEffect, useState } from "react";
import { loadSession, messageOf, toSignIn, type Session } from "./api.ts";
import { Layout } from "./components/layout.tsx";
import { Loading } from "./components/common.tsx";
import { matchPath, useLocation } from "./router.tsx";
import { ROUTES } from "./routes.tsx";
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
  let params: Record<string, string> | undefined;
  const route = ROUTES.find((r) => (params = matchPath(r.path, location.path)) !== undefined);
  const Page = route?.page;
  return (
    <SessionContext.Provider value={{ session, setSession }}>
      <Layout section={route?.section ?? ""}>
        <Suspense fallback={<Loading />}>{Page ? <Page key={location.path} params={params ?? {}} /> : <NotFound />}</Suspense>
      </Layout>
    </SessionContext.Provider>
  );
}
