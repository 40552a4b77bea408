import { type Static, Type } from '@sinclair/typebox';
import type { FastifyRequest } from 'fastify';
import { accessOf, type ServerContext } from '../context.js';
import { deleteRule, getProjectRule, insertRule, projectRules, replaceRule } from '../dao/gear-rules.js';
import type { ContainersTable, GearRulesTable } from '../dao/rows.js';
import { apiError } from '../errors.js';
import type { Api } from '../http/typed.js';
import { newId, now } from '../ids.js';
import { checkRule, type RuleInput, ruleBody, ruleDoc, ruleInputOf, ruleRow } from '../jobs/rule-checks.js';
import { applyRule, installGearRules, ruleJobCounts } from '../jobs/rules.js';
import { idParams, OBJECT_ID_SCHEMA } from './schemas.js';

const ruleParams = Type.Object({ id: OBJECT_ID_SCHEMA, rid: OBJECT_ID_SCHEMA });
/** The rule schema of jobs/rule-checks.ts, typed as the input it checks (a stored rule's ids are ignored). */
const ruleInputBody = Type.Unsafe<RuleInput & { _id?: string; project_id?: string }>(ruleBody);
type ProjectRequest = FastifyRequest & { params: Static<typeof idParams> };

/** Gear rules of a project (`/projects/{id}/rules`), and the hooks that make them fire. */
export async function ruleRoutes(app: Api, ctx: ServerContext): Promise<void> {
  const { db } = ctx.handle;
  const t = { tags: ['projects', 'rules'] };

  async function project(req: ProjectRequest, action: 'gear_rules_view' | 'gear_rules_manage'): Promise<ContainersTable> {
    return accessOf(ctx, req).requireContainer('project', req.params.id, action);
  }

  async function loadRule(
    req: FastifyRequest & { params: Static<typeof ruleParams> },
    action: 'gear_rules_view' | 'gear_rules_manage',
  ): Promise<GearRulesTable> {
    const p = await project(req, action);
    const { rid } = req.params;
    const row = await getProjectRule(db, p.id, rid);
    if (!row) throw apiError('RULE_NOT_FOUND', { id: rid });
    return row;
  }

  app.get('/projects/:id/rules', { schema: { ...t, summary: "A project's gear rules", params: idParams } }, async (req) => {
    const p = await project(req, 'gear_rules_view');
    const rows = await projectRules(db, p.id);
    return rows.map(ruleDoc);
  });

  app.post('/projects/:id/rules', { schema: { ...t, summary: 'Add a gear rule', params: idParams, body: ruleInputBody } }, async (req) => {
    const p = await project(req, 'gear_rules_manage');
    const input: RuleInput = { ...req.body };
    const gear = await checkRule(ctx, p.id, input);
    const row = ruleRow({ id: newId(), project_id: p.id, created_by: accessOf(ctx, req).principal.userId, created: now() }, input, gear);
    await insertRule(db, row);
    return { _id: row.id };
  });

  app.get(
    '/projects/:id/rules/jobs',
    {
      schema: {
        ...t,
        summary:
          "Per gear rule of the project: how many jobs it launched and the states of their latest attempts (Sprocket's, for the Gear rules tab)",
        params: idParams,
      },
    },
    async (req) => {
      const p = await project(req, 'gear_rules_view');
      return ruleJobCounts(
        ctx,
        (await projectRules(db, p.id)).map((r) => r.id),
      );
    },
  );

  app.get('/projects/:id/rules/:rid', { schema: { ...t, params: ruleParams } }, async (req) =>
    ruleDoc(await loadRule(req, 'gear_rules_view')),
  );

  app.put(
    '/projects/:id/rules/:rid',
    { schema: { ...t, summary: 'Change a gear rule (fields given replace the stored ones)', params: ruleParams, body: ruleInputBody } },
    async (req) => {
      const row = await loadRule(req, 'gear_rules_manage');
      const patch = req.body;
      const { _id: _i, project_id: _p, ...fields } = patch;
      const merged: RuleInput = { ...ruleInputOf(row), ...fields };
      const gear = await checkRule(ctx, row.project_id, merged);
      const next = ruleRow({ id: row.id, project_id: row.project_id, created_by: row.created_by, created: row.created }, merged, gear);
      await replaceRule(db, next);
      return ruleDoc(next);
    },
  );

  app.delete('/projects/:id/rules/:rid', { schema: { ...t, params: ruleParams } }, async (req) => {
    const row = await loadRule(req, 'gear_rules_manage');
    await deleteRule(db, row.id);
    return { deleted: 1 };
  });

  app.post(
    '/projects/:id/rules/:rid/apply',
    {
      schema: {
        ...t,
        summary:
          'Run a rule over the files already in the project; files it already ran on are skipped. dry_run lists what it would launch',
        params: ruleParams,
        body: Type.Object({ dry_run: Type.Optional(Type.Boolean()) }, { additionalProperties: false }),
      },
    },
    async (req) => {
      const row = await loadRule(req, 'gear_rules_manage');
      const dryRun = req.body?.dry_run === true;
      const r = await applyRule(ctx, row, dryRun);
      return {
        dry_run: dryRun,
        [dryRun ? 'would_launch' : 'launched']: r.launches.length,
        jobs: r.launches,
        already_launched: r.already,
        refused: r.refused,
      };
    },
  );

  installGearRules(ctx);
}
