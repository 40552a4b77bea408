import type { Kysely } from 'kysely';
import type { Database, GearRulesTable } from '../db/schema.js';

/** A project's gear rules (`/projects/{id}/rules`), stored one row each. */

export async function getProjectRule(db: Kysely<Database>, projectId: string, ruleId: string): Promise<GearRulesTable | undefined> {
  return db.selectFrom('gear_rules').selectAll().where('id', '=', ruleId).where('project_id', '=', projectId).executeTakeFirst();
}

/** A project's rules, oldest first. */
export async function projectRules(db: Kysely<Database>, projectId: string): Promise<GearRulesTable[]> {
  return db.selectFrom('gear_rules').selectAll().where('project_id', '=', projectId).orderBy('created').orderBy('id').execute();
}

export async function insertRule(db: Kysely<Database>, row: GearRulesTable): Promise<void> {
  await db.insertInto('gear_rules').values(row).execute();
}

export async function replaceRule(db: Kysely<Database>, row: GearRulesTable): Promise<void> {
  await db.updateTable('gear_rules').set(row).where('id', '=', row.id).execute();
}

export async function deleteRule(db: Kysely<Database>, id: string): Promise<void> {
  await db.deleteFrom('gear_rules').where('id', '=', id).execute();
}
