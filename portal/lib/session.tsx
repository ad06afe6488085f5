"use client";

import { usePathname, useRouter } from "next/navigation";
import { createContext, useCallback, useContext, useEffect, useMemo } from "react";
import useSWR, { useSWRConfig } from "swr";

import { DATA_CHANGED, SESSION_ENDED, type Schemas, api, unwrap } from "./api/client";
import type { ApiError } from "./api/errors";

export type Me = Schemas["MeResponse"];
export type Action = "read" | "use" | "configure" | "manage";

type Session = {
  me: Me;
  role: string | null;
  /** What the API would allow: hide or disable the rest (the API still refuses it). */
  can: (resource: string, action: Action) => boolean;
  switchTenant: (slug: string) => Promise<void>;
  logout: () => Promise<void>;
  /** Fetches /auth/me/ again (the signed-in user, tenant, role and permissions); not a token renewal. */
  reloadMe: () => Promise<unknown>;
};

const SessionContext = createContext<Session | null>(null);

export function useSession(): Session {
  const session = useContext(SessionContext);
  if (!session) throw new Error("useSession outside <SessionProvider>");
  return session;
}

export function loginUrl(next: string) {
  return `/login?next=${encodeURIComponent(next)}`;
}

export function SessionProvider({ children, fallback }: { children: React.ReactNode; fallback: React.ReactNode }) {
  const router = useRouter();
  const pathname = usePathname();
  const { data: me, error, mutate } = useSWR<Me, ApiError>("session:me", () => unwrap(api.GET("/api/v1/auth/me/")), {
    revalidateOnFocus: true,
    shouldRetryOnError: (err: ApiError) => err.status !== 401,
  });

  useEffect(() => {
    const ended = () => router.replace(loginUrl(pathname || "/dashboard"));
    window.addEventListener(SESSION_ENDED, ended);
    return () => window.removeEventListener(SESSION_ENDED, ended);
  }, [router, pathname]);

  useEffect(() => {
    if (error?.status === 401) router.replace(loginUrl(pathname || "/dashboard"));
  }, [error, router, pathname]);

  // After any write, every list and detail the portal holds is fetched again when shown, wherever the write was
  // made: a page reached again (back, or a link) never shows what was true before it.
  const { mutate: revalidate } = useSWRConfig();
  useEffect(() => {
    const changed = () => void revalidate(() => true);
    window.addEventListener(DATA_CHANGED, changed);
    return () => window.removeEventListener(DATA_CHANGED, changed);
  }, [revalidate]);

  const switchTenant = useCallback(
    async (slug: string) => {
      await unwrap(api.POST("/api/v1/auth/switch-tenant/", { body: { tenant: slug } }));
      window.location.assign("/dashboard");
    },
    [],
  );
  const logout = useCallback(async () => {
    await fetch("/api/v1/auth/logout/", { method: "POST" }).catch(() => undefined);
    window.location.assign("/login");
  }, []);

  const value = useMemo<Session | null>(() => {
    if (!me) return null;
    const permissions = (me.permissions ?? {}) as Record<string, string[]>;
    return {
      me,
      role: me.tenant?.role ?? null,
      can: (resource, action) => Boolean(permissions[resource]?.includes(action)),
      switchTenant,
      logout,
      reloadMe: () => mutate(),
    };
  }, [me, switchTenant, logout, mutate]);

  if (!value) {
    if (error && error.status !== 401) {
      return (
        <div className="center-page" role="alert">
          <h1>We could not load your session</h1>
          <p>{error.message}</p>
          <button className="btn" onClick={() => mutate()}>
            Try again
          </button>
        </div>
      );
    }
    return <>{fallback}</>;
  }
  return <SessionContext.Provider value={value}>{children}</SessionContext.Provider>;
}
