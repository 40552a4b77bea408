import fs from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeHierarchy } from '../../server/test/helpers.js';
import { Cli, startTestServer, type TestServer, tempDir } from './helpers.js';

const LONG = 240_000;

describe('ambiguous paths: same-label sessions are an error listing them; ids work in their place', () => {
  let s: TestServer;
  let cli: Cli;
  let ids: Awaited<ReturnType<typeof makeHierarchy>>;
  let visits: string[];
  beforeAll(async () => {
    s = await startTestServer();
    ids = await makeHierarchy(s.admin, 'lab');
    const subject = (await s.admin.post('/subjects', { project: ids.project, label: 'sub-001' })).body._id;
    // Repeat visits with the same StudyDescription.
    visits = [];
    for (const timestamp of ['2024-01-10T09:00:00.000Z', '2024-06-10T09:00:00.000Z']) {
      visits.push(
        (await s.admin.post('/sessions', { project: ids.project, subject: { _id: subject }, label: 'Synthetic study', timestamp })).body
          ._id,
      );
    }
    await s.admin.post('/acquisitions', { session: visits[1], label: 'T1w' });
    cli = new Cli();
    await cli.login(s.admin.key!);
  }, LONG);
  afterAll(async () => {
    await s?.stop();
  });

  it(
    'ls, info, upload and rm refuse the shared label in one line naming both sessions with dates',
    async () => {
      const work = tempDir();
      fs.writeFileSync(path.join(work, 'notes.txt'), 'hi');
      const shared = 'lab/Project/sub-001/Synthetic study';
      for (const args of [
        ['ls', shared],
        ['info', shared],
        ['upload', shared, path.join(work, 'notes.txt')],
        ['rm', shared, '--yes'],
        ['ls', `${shared}/T1w`],
      ]) {
        const line = await cli.fails(args);
        expect(line, args.join(' ')).toMatch(
          /^error: path lab\/Project\/sub-001\/Synthetic study is ambiguous: it matches 2 sessions; name one by id \(lab\/Project\/sub-001\/<id>\): /,
        );
        expect(line).toContain(`${visits[0]} (created `);
        expect(line).toContain('timestamp 2024-01-10T09:00:00');
        expect(line).toContain(`${visits[1]} (created `);
        expect(line).toContain('timestamp 2024-06-10T09:00:00');
      }
      // Nothing was deleted or uploaded.
      for (const v of visits) expect((await s.admin.get(`/sessions/${v}`)).body.files).toEqual([]);
    },
    LONG,
  );

  it(
    'an id works where the label goes, and a bare container id is a path of its own',
    async () => {
      expect(await cli.ok(['ls', `lab/Project/sub-001/${visits[1]}`])).toMatch(/acquisition .* T1w/);
      expect(await cli.ok(['ls', `lab/Project/sub-001/${visits[0]}`])).toBe('(empty)\n');
      expect(await cli.ok(['ls', visits[1]!])).toMatch(/acquisition .* T1w/);
      const json = await cli.json(['ls', visits[1]!]);
      expect(json.path._id).toBe(visits[1]);
      expect(await cli.ok(['ls', `lab/${ids.project}/sub-001/${visits[1]}/T1w`])).toBe('(empty)\n');
      const work = tempDir();
      fs.writeFileSync(path.join(work, 'notes.txt'), 'hi');
      await cli.ok(['upload', `lab/Project/sub-001/${visits[0]}`, path.join(work, 'notes.txt')]);
      expect((await s.admin.get(`/sessions/${visits[0]}`)).body.files.map((f: any) => f.name)).toEqual(['notes.txt']);
      expect((await cli.json(['info', visits[0]!])).timestamp).toBe('2024-01-10T09:00:00.000Z');
      expect(await cli.ok(['rm', visits[0]!, '--yes'])).toBe(`Deleted session ${visits[0]}\n`);
      // With one left the label resolves again.
      expect(await cli.ok(['ls', 'lab/Project/sub-001/Synthetic study'])).toMatch(/acquisition .* T1w/);
      // A bare id that names nothing is looked up as a group, and says so.
      expect(await cli.fails(['ls', '0123456789abcdef01234567'])).toMatch(/^error: not found: 0123456789abcdef01234567/);
    },
    LONG,
  );
});
