import { useQueryClient } from '@tanstack/react-query';
import { createContext, type ReactNode, useCallback, useContext, useEffect, useMemo, useState } from 'react';
import { ApiError, api, setCsrfToken, whenUnauthorized } from './api/client.js';
import type { SessionInfo, User } from './api/types.js';

interface Auth {
  user: User | undefined;
  /** True until the first GET /api/auth/session has answered. */
  checking: boolean;
  signIn: (body: { email: string; password: string } | { api_key: string }) => Promise<void>;
  signOut: () => Promise<void>;
}

const AuthContext = createContext<Auth | undefined>(undefined);

export function AuthProvider({ children }: { children: ReactNode }) {
  const [user, setUser] = useState<User>();
  const [checking, setChecking] = useState(true);
  const qc = useQueryClient();

  const adopt = useCallback((s: SessionInfo | undefined) => {
    setCsrfToken(s?.csrf_token);
    setUser(s?.user);
  }, []);

  useEffect(() => {
    let live = true;
    api
      .get<SessionInfo>('/auth/session')
      .then((s) => live && adopt(s))
      .catch(() => live && adopt(undefined))
      .finally(() => live && setChecking(false));
    return () => {
      live = false;
    };
  }, [adopt]);

  useEffect(() => {
    // A 401 from any request: the session expired or was ended elsewhere.
    whenUnauthorized(() => {
      setCsrfToken(undefined);
      setUser(undefined);
    });
    return () => whenUnauthorized(undefined);
  }, []);

  const value = useMemo<Auth>(
    () => ({
      user,
      checking,
      signIn: async (body) => {
        adopt(await api.post<SessionInfo>('/auth/session', body));
      },
      signOut: async () => {
        try {
          await api.del('/auth/session');
        } catch (e) {
          // Already gone on the server is what signing out wanted anyway.
          if (!(e instanceof ApiError && e.status === 401)) throw e;
        }
        adopt(undefined);
        qc.clear();
      },
    }),
    [user, checking, adopt, qc],
  );
  return <AuthContext.Provider value={value}>{children}</AuthContext.Provider>;
}

export function useAuth(): Auth {
  const a = useContext(AuthContext);
  if (!a) throw new Error('useAuth outside AuthProvider');
  return a;
}
