import fs from 'node:fs';
import path from 'node:path';
import type { Container, FileEntry } from '@sprocket/sdk';
import type { Command } from 'commander';
import { CliError } from '../errors.js';
import { humanSize, plain, printJson } from '../output.js';
import { lookupContainer } from '../paths.js';
import { eachLimit, positiveInt } from '../pool.js';
import { progress } from '../progress.js';
import { openSession } from '../session.js';
import { countedRead } from '../transfer/counted.js';
import { rateLimit } from '../transfer/rate.js';

export function register(program: Command): void {
  program
    .command('upload')
    .description('upload files to a project, subject, session, acquisition or analysis')
    .argument('<path>', 'the container: group/project[/subject/session/acquisition]')
    .argument('<file...>', 'files to upload (a file of the same name becomes a new version)')
    .option('-t, --type <type>', 'file type to record (default: from the extension)')
    .option('-j, --jobs <n>', 'files uploaded at once (default 2)')
    .option('--limit-rate <rate>', 'at most this many bytes per second in all, e.g. 500k, 2M')
    .option('--json', 'print the new file entries as JSON')
    .addHelpText(
      'after',
      `
Examples:
  $ sprocket upload lab/study1 protocol.pdf
  $ sprocket upload lab/study1/sub-01/ses-01/T1w t1.nii.gz t1.json
  $ sprocket upload lab/study1/sub-01/ses-01/T1w scan.zip --type dicom`,
    )
    .action(async (target: string, files: string[], opts: { type?: string; jobs?: string; json?: boolean; limitRate?: string }) => {
      const { client } = openSession();
      const jobs = positiveInt('--jobs', opts.jobs, 2);
      const limit = rateLimit(opts.limitRate);
      const sizes: number[] = [];
      for (const f of files) {
        const st = await fs.promises.stat(f);
        if (!st.isFile()) throw new CliError(`${f} is not a file (use 'sprocket import folder' for folders)`);
        sizes.push(st.size);
      }
      const container = await lookupContainer(client, target, 'a container files can be uploaded to');
      if (container.containerType === 'group') throw new CliError(`${target} is a group: upload to a project or below`);
      const dest = container as Container;
      const total = sizes.reduce((a, b) => a + b, 0);
      const bar = progress('Uploading', total, 'bytes');
      const uploaded: FileEntry[] = [];
      try {
        await eachLimit(files, jobs, async (f) => {
          const data = countedRead(f, (n) => bar.add(n), limit);
          const entry = await dest.uploadFile({ name: path.basename(f), data }, opts.type ? { metadata: { type: opts.type } } : {});
          uploaded.push(entry);
        });
      } finally {
        bar.stop();
      }
      if (opts.json) {
        printJson(plain(uploaded));
        return;
      }
      for (const e of uploaded) process.stdout.write(`Uploaded ${e.name} (${humanSize(e.size)}, version ${e.version}) to ${target}\n`);
    });
}
