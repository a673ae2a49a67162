import { createContext, useContext } from "react";
import type { Session } from "./api.ts";

export const SessionContext = createContext<{ session: Session | undefined; setSession: (s: Session | undefined) => void }>({ session: undefined, setSession: () => {} });

/** The signed-in user (who, which teams, admin or not); only on signed-in pages. */
export function useSession(): Session {
  const { session } = useContext(SessionContext);
  if (!session) throw new Error("useSession outside a signed-in page");
  return session;
}

export function useSetSession(): (s: Session | undefined) => void {
  return useContext(SessionContext).setSession;
}
