import { SITE_ROLES, type SiteRole } from '@sprocket/types/permissions';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { type FormEvent, useState } from 'react';
import { NavLink, Outlet } from 'react-router';
import { api, messageOf } from '../api/client.js';
import type { JobListing } from '../api/types.js';
import { useAuth } from '../auth.js';
import { Empty, ErrorNote, formatTime, InlineError, Loading } from '../components/common.js';
import { moveAlongRow } from '../components/keys.js';

/** The site admin's pages: users and their keys, engines, roles. Others see why they cannot. */
export function AdminPage() {
  const { user } = useAuth();
  if (!user?.roles?.includes('site_admin')) {
    return (
      <div className="page">
        <h1>Administration</h1>
        <Empty>Only site admins manage users, engines and roles.</Empty>
      </div>
    );
  }
  return (
    <div className="page">
      <div className="page-head">
        <h1>Administration</h1>
      </div>
      <nav className="tabs" aria-label="Administration" onKeyDown={(e) => moveAlongRow(e)}>
        <NavLink to="users">Users</NavLink>
        <NavLink to="engines">Engines</NavLink>
        <NavLink to="roles">Roles</NavLink>
      </nav>
      <Outlet />
    </div>
  );
}

interface UserDoc {
  _id: string;
  email: string;
  firstname?: string | null;
  lastname?: string | null;
  roles: SiteRole[];
  disabled: boolean;
  created: string;
}

interface KeyDoc {
  _id: string;
  label?: string | null;
  type: string;
  created: string;
  last_used?: string | null;
  revoked: boolean;
}

/** One mutation's error, shown beside the control that caused it. */
function useAction<T>(fn: (arg: T) => Promise<unknown>, invalidate: unknown[][]) {
  const qc = useQueryClient();
  const [error, setError] = useState<string>();
  const m = useMutation({
    mutationFn: fn,
    onMutate: () => setError(undefined),
    onSuccess: () => Promise.all(invalidate.map((queryKey) => qc.invalidateQueries({ queryKey }))),
    onError: (e) => setError(messageOf(e)),
  });
  return { ...m, error };
}

function NewUser() {
  const [form, setForm] = useState({ email: '', firstname: '', lastname: '', role: 'user' as SiteRole });
  const create = useAction(
    () =>
      api.post('/users', {
        _id: form.email.trim(),
        email: form.email.trim(),
        firstname: form.firstname.trim() || undefined,
        lastname: form.lastname.trim() || undefined,
        roles: [form.role],
      }),
    [['admin', 'users']],
  );
  const submit = (e: FormEvent) => {
    e.preventDefault();
    create.mutate(undefined, { onSuccess: () => setForm({ email: '', firstname: '', lastname: '', role: 'user' }) });
  };
  return (
    <form className="card inline-form" onSubmit={submit} aria-label="New user">
      <h2>New user</h2>
      <label className="select">
        <span>Email</span>
        <input type="email" required maxLength={256} value={form.email} onChange={(e) => setForm({ ...form, email: e.target.value })} />
      </label>
      <label className="select">
        <span>First name</span>
        <input type="text" maxLength={64} value={form.firstname} onChange={(e) => setForm({ ...form, firstname: e.target.value })} />
      </label>
      <label className="select">
        <span>Last name</span>
        <input type="text" maxLength={64} value={form.lastname} onChange={(e) => setForm({ ...form, lastname: e.target.value })} />
      </label>
      <label className="select">
        <span>Site role</span>
        <select value={form.role} onChange={(e) => setForm({ ...form, role: e.target.value as SiteRole })}>
          {SITE_ROLES.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
      </label>
      <button type="submit" className="btn btn-primary" disabled={create.isPending}>
        Create
      </button>
      <InlineError error={create.error} />
    </form>
  );
}

/** A secret shown once, right after it was made: the server keeps only its hash. */
function SecretOnce({ label, secret, onDone }: { label: string; secret: string; onDone: () => void }) {
  return (
    <div className="banner banner-ok secret" role="status">
      <span>
        {label}: <code data-testid="new-secret">{secret}</code>. Copy it now; it is not shown again.
      </span>
      <button type="button" className="btn btn-small" onClick={() => void navigator.clipboard?.writeText(secret)}>
        Copy
      </button>
      <button type="button" className="btn btn-small btn-ghost" onClick={onDone}>
        Done
      </button>
    </div>
  );
}

function UserKeys({ uid }: { uid: string }) {
  const keys = useQuery({ queryKey: ['admin', 'keys', uid], queryFn: () => api.get<KeyDoc[]>(`/users/${encodeURIComponent(uid)}/keys`) });
  const [secret, setSecret] = useState<string>();
  const [label, setLabel] = useState('');
  const issue = useAction(async () => {
    const r = await api.post<{ key: string }>(`/users/${encodeURIComponent(uid)}/key`, label.trim() ? { label: label.trim() } : {});
    setSecret(r.key);
    setLabel('');
  }, [['admin', 'keys', uid]]);
  const revoke = useAction((kid: string) => api.del(`/users/${encodeURIComponent(uid)}/keys/${kid}`), [['admin', 'keys', uid]]);
  return (
    <fieldset className="subpanel">
      <legend className="sr-only">API keys of {uid}</legend>
      {secret && <SecretOnce label={`New API key for ${uid}`} secret={secret} onDone={() => setSecret(undefined)} />}
      {keys.isPending && <Loading />}
      {keys.error && <ErrorNote error={keys.error} retry={() => void keys.refetch()} />}
      {keys.data && keys.data.length === 0 && <p className="muted">No API keys.</p>}
      {keys.data && keys.data.length > 0 && (
        <table className="table compact">
          <thead>
            <tr>
              <th scope="col">Key</th>
              <th scope="col">Label</th>
              <th scope="col">Created</th>
              <th scope="col">Last used</th>
              <th scope="col">State</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {keys.data.map((k) => (
              <tr key={k._id} data-key={k._id}>
                <td className="mono">…{k._id.slice(-6)}</td>
                <td>{k.label ?? '—'}</td>
                <td className="nowrap">{formatTime(k.created)}</td>
                <td className="nowrap">{formatTime(k.last_used)}</td>
                <td>{k.revoked ? 'revoked' : 'active'}</td>
                <td>
                  {!k.revoked && (
                    <button
                      type="button"
                      className="btn btn-small btn-danger"
                      disabled={revoke.isPending}
                      onClick={() => revoke.mutate(k._id)}
                      aria-label={`Revoke key …${k._id.slice(-6)} of ${uid}`}
                    >
                      Revoke
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <div className="actions">
        <label className="select">
          <span>Label</span>
          <input type="text" maxLength={128} value={label} onChange={(e) => setLabel(e.target.value)} placeholder="optional" />
        </label>
        <button type="button" className="btn btn-small" disabled={issue.isPending} onClick={() => issue.mutate(undefined)}>
          Issue a key
        </button>
        <InlineError error={issue.error ?? revoke.error} />
      </div>
    </fieldset>
  );
}

function SetPassword({ uid, onDone }: { uid: string; onDone: () => void }) {
  const [password, setPassword] = useState('');
  const save = useAction(() => api.put(`/users/${encodeURIComponent(uid)}/password`, { password }), []);
  return (
    <form
      className="actions"
      onSubmit={(e) => {
        e.preventDefault();
        save.mutate(undefined, { onSuccess: onDone });
      }}
    >
      <label className="select">
        <span>New password for {uid}</span>
        <input type="password" autoComplete="new-password" required value={password} onChange={(e) => setPassword(e.target.value)} />
      </label>
      <button type="submit" className="btn btn-small btn-primary" disabled={save.isPending}>
        Set password
      </button>
      <button type="button" className="btn btn-small btn-ghost" onClick={onDone}>
        Cancel
      </button>
      <InlineError error={save.error} />
    </form>
  );
}

function UserRow({ u, self }: { u: UserDoc; self: boolean }) {
  const [open, setOpen] = useState<'keys' | 'password'>();
  const update = useAction(
    (patch: Partial<Pick<UserDoc, 'disabled' | 'roles'>>) => api.put(`/users/${encodeURIComponent(u._id)}`, patch),
    [
      ['admin', 'users'],
      ['admin', 'keys', u._id],
    ],
  );
  const name = [u.firstname, u.lastname].filter(Boolean).join(' ');
  return (
    <>
      <tr data-user={u._id} className={u.disabled ? 'disabled' : undefined}>
        <td>
          <span className="strong">{u._id}</span>
          {name && <span className="muted"> {name}</span>}
        </td>
        <td>
          <select
            aria-label={`Site role of ${u._id}`}
            value={u.roles.includes('site_admin') ? 'site_admin' : u.roles.includes('developer') ? 'developer' : 'user'}
            disabled={self || update.isPending}
            onChange={(e) => update.mutate({ roles: [e.target.value as SiteRole] })}
          >
            {SITE_ROLES.map((r) => (
              <option key={r} value={r}>
                {r}
              </option>
            ))}
          </select>
        </td>
        <td>{u.disabled ? 'disabled' : 'active'}</td>
        <td className="nowrap">{formatTime(u.created)}</td>
        <td className="nowrap">
          <span className="actions">
            <button
              type="button"
              className="btn btn-small"
              aria-expanded={open === 'keys'}
              onClick={() => setOpen(open === 'keys' ? undefined : 'keys')}
            >
              Keys
            </button>
            <button type="button" className="btn btn-small" onClick={() => setOpen(open === 'password' ? undefined : 'password')}>
              Password
            </button>
            {!self && (
              <button
                type="button"
                className={`btn btn-small ${u.disabled ? '' : 'btn-danger'}`}
                disabled={update.isPending}
                onClick={() => update.mutate({ disabled: !u.disabled })}
                aria-label={`${u.disabled ? 'Enable' : 'Disable'} ${u._id}`}
              >
                {u.disabled ? 'Enable' : 'Disable'}
              </button>
            )}
            <InlineError error={update.error} />
          </span>
        </td>
      </tr>
      {open && (
        <tr className="detail-row">
          <td colSpan={5}>{open === 'keys' ? <UserKeys uid={u._id} /> : <SetPassword uid={u._id} onDone={() => setOpen(undefined)} />}</td>
        </tr>
      )}
    </>
  );
}

/** Users: create, change the site role, disable (which revokes every key) or enable, set a password, issue and revoke keys. */
export function AdminUsers() {
  const { user } = useAuth();
  const users = useQuery({ queryKey: ['admin', 'users'], queryFn: () => api.get<UserDoc[]>('/users', { sort: '_id' }) });
  return (
    <section className="tab-body" aria-label="Users">
      <NewUser />
      {users.isPending && <Loading />}
      {users.error && <ErrorNote error={users.error} retry={() => void users.refetch()} />}
      {users.data && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">User</th>
                <th scope="col">Site role</th>
                <th scope="col">State</th>
                <th scope="col">Created</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {users.data.map((u) => (
                <UserRow key={u._id} u={u} self={u._id === user?._id} />
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

interface DeviceDoc {
  _id: string;
  name: string;
  type: string;
  disabled: boolean;
  last_seen?: string | null;
  created: string;
}

/** Engines: registered devices, when each last asked for work, what each runs now; register one (its key shown once) or disable one. */
export function AdminEngines() {
  const devices = useQuery({ queryKey: ['admin', 'devices'], queryFn: () => api.get<DeviceDoc[]>('/devices'), refetchInterval: 15_000 });
  const running = useQuery({
    queryKey: ['jobs', 'running', 'engines'],
    queryFn: () => api.get<JobListing>('/jobs', { states: 'running', limit: 1000, include: 'containers' }),
  });
  const [name, setName] = useState('');
  const [secret, setSecret] = useState<{ name: string; key: string }>();
  const register = useAction(async () => {
    const r = await api.post<{ key: string }>('/devices', { name: name.trim() });
    setSecret({ name: name.trim(), key: r.key });
    setName('');
  }, [['admin', 'devices']]);
  const disable = useAction((id: string) => api.del(`/devices/${id}`), [['admin', 'devices']]);
  const runs = (d: DeviceDoc) => (running.data?.jobs ?? []).filter((j) => (j as { claimed_by?: string | null }).claimed_by === d.name);
  return (
    <section className="tab-body" aria-label="Engines">
      <form
        className="card inline-form"
        aria-label="Register an engine"
        onSubmit={(e) => {
          e.preventDefault();
          register.mutate(undefined);
        }}
      >
        <h2>Register an engine</h2>
        <label className="select">
          <span>Name</span>
          <input type="text" required maxLength={128} value={name} onChange={(e) => setName(e.target.value)} />
        </label>
        <button type="submit" className="btn btn-primary" disabled={register.isPending}>
          Register
        </button>
        <InlineError error={register.error} />
      </form>
      {secret && (
        <SecretOnce
          label={`Engine key for ${secret.name} (start it with SPROCKET_API_KEY set to this)`}
          secret={secret.key}
          onDone={() => setSecret(undefined)}
        />
      )}
      {devices.isPending && <Loading />}
      {devices.error && <ErrorNote error={devices.error} retry={() => void devices.refetch()} />}
      {devices.data && devices.data.length === 0 && <Empty>No engines are registered.</Empty>}
      {devices.data && devices.data.length > 0 && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Engine</th>
                <th scope="col">State</th>
                <th scope="col">Last seen</th>
                <th scope="col">Running now</th>
                <th scope="col">Registered</th>
                <th scope="col">
                  <span className="sr-only">Actions</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {devices.data.map((d) => {
                const now = runs(d);
                return (
                  <tr key={d._id} data-device={d._id}>
                    <td>
                      <span className="strong">{d.name}</span> <span className="muted mono">{d._id}</span>
                    </td>
                    <td>{d.disabled ? 'disabled' : 'enabled'}</td>
                    <td className="nowrap">{formatTime(d.last_seen)}</td>
                    <td>{now.length ? now.map((j) => j.gear_info.name ?? j.id).join(', ') : '—'}</td>
                    <td className="nowrap">{formatTime(d.created)}</td>
                    <td>
                      {!d.disabled && (
                        <button
                          type="button"
                          className="btn btn-small btn-danger"
                          disabled={disable.isPending}
                          onClick={() => disable.mutate(d._id)}
                          aria-label={`Disable engine ${d.name}`}
                        >
                          Disable
                        </button>
                      )}
                    </td>
                  </tr>
                );
              })}
            </tbody>
          </table>
          <InlineError error={disable.error} />
        </div>
      )}
    </section>
  );
}

interface RoleDoc {
  _id: string;
  label: string;
  actions: string[];
  default_flywheel_role?: string | null;
  in_use: boolean;
}

/** Roles: every role with the actions it grants; custom roles can be created and deleted (built-in ones are fixed). */
export function AdminRoles() {
  const roles = useQuery({ queryKey: ['admin', 'roles'], queryFn: () => api.get<RoleDoc[]>('/roles') });
  const actions = useQuery({ queryKey: ['admin', 'actions'], queryFn: () => api.get<string[]>('/roles/actions') });
  const [label, setLabel] = useState('');
  const [chosen, setChosen] = useState<Set<string>>(new Set());
  const create = useAction(() => api.post('/roles', { label: label.trim(), actions: [...chosen] }), [['admin', 'roles']]);
  const remove = useAction((rid: string) => api.del(`/roles/${rid}`), [['admin', 'roles']]);
  return (
    <section className="tab-body" aria-label="Roles">
      {roles.isPending && <Loading />}
      {roles.error && <ErrorNote error={roles.error} retry={() => void roles.refetch()} />}
      {roles.data && (
        <div className="table-wrap">
          <table className="table">
            <thead>
              <tr>
                <th scope="col">Role</th>
                <th scope="col">Actions granted</th>
                <th scope="col">
                  <span className="sr-only">Delete</span>
                </th>
              </tr>
            </thead>
            <tbody>
              {roles.data.map((r) => (
                <tr key={r._id} data-role={r.label}>
                  <td className="strong">
                    {r.label}
                    {r.default_flywheel_role && <span className="muted"> built-in</span>}
                  </td>
                  <td className="wrap">{r.actions.join(', ')}</td>
                  <td>
                    {!r.default_flywheel_role && (
                      <button
                        type="button"
                        className="btn btn-small btn-danger"
                        disabled={remove.isPending || r.in_use}
                        title={r.in_use ? 'Assigned on a project or collection' : undefined}
                        onClick={() => remove.mutate(r._id)}
                      >
                        Delete
                      </button>
                    )}
                  </td>
                </tr>
              ))}
            </tbody>
          </table>
          <InlineError error={remove.error} />
        </div>
      )}
      <form
        className="card"
        aria-label="New role"
        onSubmit={(e) => {
          e.preventDefault();
          create.mutate(undefined, {
            onSuccess: () => {
              setLabel('');
              setChosen(new Set());
            },
          });
        }}
      >
        <h2>New role</h2>
        <label className="select">
          <span>Name</span>
          <input type="text" required maxLength={64} value={label} onChange={(e) => setLabel(e.target.value)} />
        </label>
        <fieldset className="action-grid">
          <legend>Actions</legend>
          {(actions.data ?? []).map((a) => (
            <label key={a} className="check">
              <input
                type="checkbox"
                checked={chosen.has(a)}
                onChange={() =>
                  setChosen((s) => {
                    const n = new Set(s);
                    if (n.has(a)) n.delete(a);
                    else n.add(a);
                    return n;
                  })
                }
              />
              {a}
            </label>
          ))}
        </fieldset>
        <button type="submit" className="btn btn-primary" disabled={create.isPending}>
          Create role
        </button>
        <InlineError error={create.error} />
      </form>
    </section>
  );
}
