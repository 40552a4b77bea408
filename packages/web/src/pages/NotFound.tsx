import { Link } from 'react-router';

export function NotFound() {
  return (
    <section className="page">
      <h1>Page not found</h1>
      <p className="muted">
        Nothing lives at this address. <Link to="/">Back to projects</Link>
      </p>
    </section>
  );
}
