import type { User } from '@sprocket/sdk';

/** "Firstname Lastname", else the user id. */
export function displayName(u: Pick<User, 'id'> & { firstname?: string; lastname?: string }): string {
  return [u.firstname, u.lastname].filter(Boolean).join(' ').trim() || u.id;
}
