import { useEffect, useRef, useState } from 'react';
import { Link, NavLink, Outlet, useLocation } from 'react-router';
import { messageOf } from '../api/client.js';
import { useLiveEvents } from '../api/live.js';
import { useAuth } from '../auth.js';
import { SignIn } from '../pages/SignIn.js';

/** The frame of every signed-in page: top bar, live-connection indicator, user menu. */
export function Layout() {
  const { user, checking, signOut } = useAuth();
  const live = useLiveEvents(!!user);
  const [error, setError] = useState<string>();
  const main = useFocusAfterNavigation();
  if (checking) return <div className="splash" aria-busy="true" />;
  if (!user) return <SignIn />;
  const name = [user.firstname, user.lastname].filter(Boolean).join(' ') || user.email;
  return (
    <div className="app">
      <a className="skip" href="#main">
        Skip to content
      </a>
      <header className="topbar">
        <Link to="/" className="brand">
          <span className="brand-mark" aria-hidden="true" />
          Sprocket
        </Link>
        <nav aria-label="Main">
          <NavLink to="/" end>
            Projects
          </NavLink>
          <NavLink to="/jobs">Jobs</NavLink>
          <NavLink to="/gears">Gears</NavLink>
          {user.roles?.includes('site_admin') && <NavLink to="/admin">Admin</NavLink>}
        </nav>
        <div className="topbar-right">
          <span className={`live live-${live}`} title={live === 'live' ? 'Updates arrive live' : 'Reconnecting to live updates…'}>
            <span className="dot" aria-hidden="true" />
            {live === 'live' ? 'Live' : live === 'offline' ? 'Offline' : 'Connecting'}
          </span>
          <span className="user" title={user.email}>
            {name}
          </span>
          <button
            type="button"
            className="btn btn-ghost"
            onClick={() => {
              setError(undefined);
              signOut().catch((e) => setError(messageOf(e)));
            }}
          >
            Sign out
          </button>
        </div>
      </header>
      {error && (
        <div className="banner banner-error" role="alert">
          {error}
        </div>
      )}
      <main id="main" className="main" ref={main} tabIndex={-1}>
        <Outlet />
      </main>
    </div>
  );
}

/**
 * A link followed from a page is gone with that page, and the browser drops focus to <body>: the
 * next Tab would start from wherever the removed link used to sit, a different place each time.
 * After a navigation that lost focus, focus goes to the start of the new page's content, as a
 * screen-reader or keyboard user expects. Focus that survived (a project tab) stays where it is.
 */
function useFocusAfterNavigation() {
  const { pathname } = useLocation();
  const main = useRef<HTMLElement>(null);
  const shown = useRef(pathname);
  useEffect(() => {
    if (shown.current === pathname) return; // the first page, as loaded: focus is the browser's
    shown.current = pathname;
    const active = document.activeElement;
    if (!active || active === document.body || !active.isConnected) main.current?.focus({ preventScroll: true });
  }, [pathname]);
  return main;
}
