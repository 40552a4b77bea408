import type { Command } from 'commander';
import { openSession } from '../session.js';
import { collectionAt, membersAt } from './collection-ref.js';

/** `collection add` and `collection remove`: both take session and acquisition paths. */
function members(parent: Command, name: 'add' | 'remove'): void {
  const adding = name === 'add';
  parent
    .command(name)
    .description(
      adding
        ? 'put sessions and acquisitions into a collection, by path (a session brings all its acquisitions)'
        : 'take sessions and acquisitions out of a collection, by path (the data itself stays)',
    )
    .argument('<collection>', 'label or id')
    .argument('<path...>', 'session paths (group/project/subject/session) or acquisition paths (…/session/acquisition)')
    .addHelpText(
      'after',
      `\nExamples:\n  $ sprocket collection ${name} "QA failures" lab/study1/sub-01/ses-01\n  $ sprocket collection ${name} "QA failures" lab/study1/sub-02/ses-01/T1w lab/study1/sub-03/ses-02/T1w`,
    )
    .action(async (ref: string, paths: string[]) => {
      const { client } = openSession();
      const c = await collectionAt(client, ref);
      const { sessions, acquisitions } = await membersAt(client, paths);
      if (adding) {
        if (sessions.length) await c.addSessions(sessions);
        if (acquisitions.length) await c.addAcquisitions(acquisitions);
      } else {
        if (sessions.length) await c.removeSessions(sessions);
        if (acquisitions.length) await c.removeAcquisitions(acquisitions);
      }
      const what = [
        sessions.length ? `${sessions.length} session(s)` : '',
        acquisitions.length ? `${acquisitions.length} acquisition(s)` : '',
      ]
        .filter(Boolean)
        .join(' and ');
      process.stdout.write(`${adding ? 'Added' : 'Removed'} ${what} ${adding ? 'to' : 'from'} collection ${c.label} (${c.id})\n`);
    });
}

export function register(parent: Command): void {
  members(parent, 'add');
  members(parent, 'remove');
}
