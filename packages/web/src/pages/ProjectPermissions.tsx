import type { Role } from '@sprocket/sdk/browser';
import { useMutation, useQuery, useQueryClient } from '@tanstack/react-query';
import { useId, useState } from 'react';
import { useParams } from 'react-router';
import { api } from '../api/client.js';
import { Empty, ErrorNote, Loading } from '../components/common.js';

interface Member {
  _id: string;
  role_ids: string[];
}
type RoleDoc = Omit<Role, 'id'> & { _id: string };

/** Members of the project and their roles: add, change, remove. */
export function ProjectPermissions() {
  const { projectId = '' } = useParams();
  const qc = useQueryClient();
  const members = useQuery({
    queryKey: ['project', projectId, 'permissions'],
    queryFn: ({ signal }) => api.get<Member[]>(`/projects/${projectId}/permissions`, undefined, signal),
  });
  const roles = useQuery({ queryKey: ['roles'], queryFn: ({ signal }) => api.get<RoleDoc[]>('/roles', undefined, signal) });
  const refresh = () => void qc.invalidateQueries({ queryKey: ['project', projectId, 'permissions'] });
  const change = useMutation({
    mutationFn: ({ uid, role }: { uid: string; role: string }) =>
      api.put(`/projects/${projectId}/permissions/${encodeURIComponent(uid)}`, { role_ids: [role] }),
    onSettled: refresh,
  });
  const remove = useMutation({
    mutationFn: (uid: string) => api.del(`/projects/${projectId}/permissions/${encodeURIComponent(uid)}`),
    onSettled: refresh,
  });
  const formId = useId();
  const [email, setEmail] = useState('');
  const [role, setRole] = useState('');
  const add = useMutation({
    mutationFn: () => api.post(`/projects/${projectId}/permissions`, { _id: email.trim(), role_ids: [role] }),
    onSuccess: () => setEmail(''),
    onSettled: refresh,
  });
  const roleLabel = (id: string) => roles.data?.find((r) => r._id === id)?.label ?? id;
  const err = change.error ?? remove.error ?? add.error;
  return (
    <section aria-label="Permissions" className="tab-body">
      {(members.isPending || roles.isPending) && <Loading />}
      {members.error && <ErrorNote error={members.error} retry={() => void members.refetch()} />}
      {roles.error && <ErrorNote error={roles.error} retry={() => void roles.refetch()} />}
      {err && <ErrorNote error={err} />}
      {members.data?.length === 0 && <Empty>Nobody has a role on this project itself; group permissions still apply.</Empty>}
      {!!members.data?.length && (
        <table className="table" aria-label="Members">
          <thead>
            <tr>
              <th scope="col">User</th>
              <th scope="col">Role</th>
              <th scope="col">
                <span className="sr-only">Actions</span>
              </th>
            </tr>
          </thead>
          <tbody>
            {members.data.map((m) => (
              <tr key={m._id} data-member={m._id}>
                <td>{m._id}</td>
                <td>
                  {m.role_ids.length === 1 && roles.data ? (
                    <select
                      aria-label={`Role of ${m._id}`}
                      value={m.role_ids[0]}
                      onChange={(e) => change.mutate({ uid: m._id, role: e.target.value })}
                    >
                      {roles.data.map((r) => (
                        <option key={r._id} value={r._id}>
                          {r.label}
                        </option>
                      ))}
                    </select>
                  ) : (
                    m.role_ids.map(roleLabel).join(', ')
                  )}
                </td>
                <td>
                  <button
                    type="button"
                    className="btn btn-small btn-ghost"
                    onClick={() => window.confirm(`Remove ${m._id} from this project?`) && remove.mutate(m._id)}
                  >
                    Remove
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form
        className="card inline-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (email.trim() && role) add.mutate();
        }}
      >
        <label className="field">
          User (email)
          <input type="email" value={email} onChange={(e) => setEmail(e.target.value)} />
        </label>
        <div className="field">
          <label htmlFor={`${formId}-role`}>Role</label>
          <select id={`${formId}-role`} value={role} onChange={(e) => setRole(e.target.value)}>
            <option value="">Choose a role…</option>
            {roles.data?.map((r) => (
              <option key={r._id} value={r._id}>
                {r.label}
              </option>
            ))}
          </select>
        </div>
        <button type="submit" className="btn btn-primary" disabled={!email.trim() || !role || add.isPending}>
          Add member
        </button>
      </form>
    </section>
  );
}
