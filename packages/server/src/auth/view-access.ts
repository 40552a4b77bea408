import { getContainer } from '../dao/containers.js';
import type { Db } from '../dao/rows.js';
import { apiError, forbidden, notFound } from '../errors.js';
import type { AccessContext } from './access.js';

/**
 * Who reads and manages saved data views. A view hangs off `site`, a user (their id) or a
 * container: site views are read by everyone and managed by site admins, a user's views are theirs
 * alone (site admins read them too), a container's follow the data_views_* actions on its project.
 */

export async function requireViewManage(db: Db, access: AccessContext, parent: string): Promise<void> {
  if (parent === 'site') {
    if (!access.isAdmin) throw forbidden('only site admins manage site views');
  } else if (parent === access.principal.userId) {
    return;
  } else {
    const c = await getContainer(db, parent);
    if (!c) throw apiError('CONTAINER_NOT_FOUND', { type: 'container', id: parent });
    await access.check(c, 'data_views_manage');
  }
}

export async function requireViewRead(db: Db, access: AccessContext, parent: string): Promise<void> {
  if (parent === 'site') return;
  if (parent === access.principal.userId || access.isAdmin) return;
  const c = await getContainer(db, parent);
  if (!c) throw notFound(`view parent ${parent}`);
  await access.check(c, 'data_views_view');
}
