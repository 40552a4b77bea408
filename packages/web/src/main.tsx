import { QueryClient, QueryClientProvider } from '@tanstack/react-query';
import { lazy, StrictMode, Suspense } from 'react';
import { createRoot } from 'react-dom/client';
import { createBrowserRouter, Navigate, RouterProvider } from 'react-router';
import { ApiError } from './api/client.js';
import { firstPageQuery, sessionsQuery } from './api/listings.js';
import { AuthProvider } from './auth.js';
import { Layout } from './components/Layout.js';
import { Home } from './pages/Home.js';
import { JobPage } from './pages/Job.js';
import { NotFound } from './pages/NotFound.js';
import { ProjectPage } from './pages/Project.js';
import { ProjectJobs } from './pages/ProjectJobs.js';
import { ProjectSessions } from './pages/ProjectSessions.js';
import './styles.css';

// Pages a visit may never open load as their own chunks: the first page stays small.
const GearsPage = lazy(() => import('./pages/Gears.js').then((m) => ({ default: m.GearsPage })));
const ProjectRules = lazy(() => import('./pages/ProjectRules.js').then((m) => ({ default: m.ProjectRules })));
const ProjectInfo = lazy(() => import('./pages/ProjectInfo.js').then((m) => ({ default: m.ProjectInfo })));
const ProjectPermissions = lazy(() => import('./pages/ProjectPermissions.js').then((m) => ({ default: m.ProjectPermissions })));
const ContainerPage = lazy(() => import('./pages/Container.js').then((m) => ({ default: m.ContainerPage })));
const JobsPage = lazy(() => import('./pages/Jobs.js').then((m) => ({ default: m.JobsPage })));
const ProjectAnalyses = lazy(() => import('./pages/ProjectAnalyses.js').then((m) => ({ default: m.ProjectAnalyses })));
const ProjectFiles = lazy(() => import('./pages/ProjectFiles.js').then((m) => ({ default: m.ProjectFiles })));
const ProjectViews = lazy(() => import('./pages/ProjectViews.js').then((m) => ({ default: m.ProjectViews })));
const later = (el: React.ReactNode) => <Suspense fallback={<div className="loading" aria-busy="true" />}>{el}</Suspense>;

const queryClient = new QueryClient({
  defaultOptions: {
    queries: {
      // Live events keep what is shown current; refetching on every focus would only add load.
      staleTime: 30_000,
      refetchOnWindowFocus: false,
      // A 4xx will not heal by asking again; a dropped connection might.
      retry: (n, e) => !(e instanceof ApiError && e.status >= 400 && e.status < 500) && n < 3,
    },
  },
});

const admin = () => import('./pages/Admin.js');

const router = createBrowserRouter([
  {
    element: <Layout />,
    children: [
      { index: true, element: <Home /> },
      {
        path: 'projects/:projectId',
        element: <ProjectPage />,
        children: [
          { index: true, element: <Navigate to="sessions" replace /> },
          { path: 'sessions', element: <ProjectSessions /> },
          { path: 'jobs', element: <ProjectJobs /> },
          { path: 'analyses', element: later(<ProjectAnalyses />) },
          { path: 'files', element: later(<ProjectFiles />) },
          { path: 'views', element: later(<ProjectViews />) },
          { path: 'rules', element: later(<ProjectRules />) },
          { path: 'info', element: later(<ProjectInfo />) },
          { path: 'permissions', element: later(<ProjectPermissions />) },
        ],
      },
      { path: 'jobs', element: later(<JobsPage />) },
      { path: 'jobs/:jobId', element: <JobPage /> },
      {
        // Few users open the admin pages: their code is a chunk of its own, fetched when they do.
        path: 'admin',
        lazy: async () => ({ Component: (await admin()).AdminPage }),
        children: [
          { index: true, element: <Navigate to="users" replace /> },
          { path: 'users', lazy: async () => ({ Component: (await admin()).AdminUsers }) },
          { path: 'engines', lazy: async () => ({ Component: (await admin()).AdminEngines }) },
          { path: 'roles', lazy: async () => ({ Component: (await admin()).AdminRoles }) },
        ],
      },
      { path: 'subjects/:id', element: later(<ContainerPage type="subject" key="subject" />) },
      { path: 'sessions/:id', element: later(<ContainerPage type="session" key="session" />) },
      { path: 'acquisitions/:id', element: later(<ContainerPage type="acquisition" key="acquisition" />) },
      { path: 'analyses/:id', element: later(<ContainerPage type="analysis" key="analysis" />) },
      { path: 'gears', element: later(<GearsPage />) },
      { path: 'gears/:gearId', element: later(<GearsPage />) },
      { path: '*', element: <NotFound /> },
    ],
  },
]);

// A cold load of a project's Sessions tab asks for the listing at once, beside the session check,
// instead of after it: the largest answer the first screen waits for starts ~0.3 s sooner. Signed
// out, it is refused (401) and forgotten; the sign-in page shows as it would anyway.
// It asks for the first page the table shows (the whole listing follows from the tab).
const sessionsPage = /^\/projects\/([0-9a-f]{24})\/sessions\/?$/.exec(window.location.pathname);
if (sessionsPage) {
  const url = new URLSearchParams(window.location.search);
  const id = sessionsPage[1]!;
  const first = firstPageQuery(id, url.get('sort') ?? 'subject', url.get('dir') === 'desc', url.get('q') ?? '');
  void (first ? queryClient.prefetchQuery(first) : queryClient.prefetchQuery(sessionsQuery(id)));
}

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <QueryClientProvider client={queryClient}>
      <AuthProvider>
        <RouterProvider router={router} />
      </AuthProvider>
    </QueryClientProvider>
  </StrictMode>,
);
