import { SPROCKET_VERSION } from '@sprocket/types';
import { Command } from 'commander';
import * as batchCancel from './commands/batch-cancel.js';
import * as batchLs from './commands/batch-ls.js';
import * as batchRetryFailed from './commands/batch-retry-failed.js';
import * as batchRun from './commands/batch-run.js';
import * as batchStatus from './commands/batch-status.js';
import * as collectionCreate from './commands/collection-create.js';
import * as collectionDelete from './commands/collection-delete.js';
import * as collectionLs from './commands/collection-ls.js';
import * as collectionMembers from './commands/collection-members.js';
import * as collectionShow from './commands/collection-show.js';
import * as download from './commands/download.js';
import * as fileMembers from './commands/file-members.js';
import * as fileVersions from './commands/file-versions.js';
import * as gearCreate from './commands/gear-create.js';
import * as gearLocal from './commands/gear-local.js';
import * as gearLs from './commands/gear-ls.js';
import * as gearUpload from './commands/gear-upload.js';
import * as groupAdmin from './commands/group-admin.js';
import * as importDicom from './commands/import-dicom.js';
import * as importFolder from './commands/import-folder.js';
import * as infoEdit from './commands/info-edit.js';
import * as infoShow from './commands/info-show.js';
import * as jobCancel from './commands/job-cancel.js';
import * as jobLogs from './commands/job-logs.js';
import * as jobLs from './commands/job-ls.js';
import * as jobRetry from './commands/job-retry.js';
import * as jobRun from './commands/job-run.js';
import * as jobStatus from './commands/job-status.js';
import * as jobWait from './commands/job-wait.js';
import * as keyAdmin from './commands/key-admin.js';
import * as login from './commands/login.js';
import * as logout from './commands/logout.js';
import * as ls from './commands/ls.js';
import * as mvPath from './commands/mv-path.js';
import * as permissionAdmin from './commands/permission-admin.js';
import * as rmPath from './commands/rm-path.js';
import * as ruleAdd from './commands/rule-add.js';
import * as ruleApply from './commands/rule-apply.js';
import * as ruleDisable from './commands/rule-disable.js';
import * as ruleLs from './commands/rule-ls.js';
import * as status from './commands/status.js';
import * as tagEdit from './commands/tag-edit.js';
import * as upload from './commands/upload.js';
import * as userAdmin from './commands/user-admin.js';
import * as view from './commands/view.js';

/** Every command, each registered by its own module. */
export function buildProgram(): Command {
  const program = new Command('sprocket')
    .description('Sprocket from the terminal: browse, upload, download and import data; build, run and batch gears')
    .version(SPROCKET_VERSION, '-V, --version')
    .showSuggestionAfterError(true)
    .addHelpText(
      'after',
      `
Paths name things on the server: <group>/<project>/<subject>/<session>/<acquisition>, then
files/<name> or analyses/<label>. Log in once with 'sprocket login <key>'.

Examples:
  $ sprocket login 127.0.0.1:8080:__force_insecure:AbCdEf0123
  $ sprocket ls lab/study1
  $ sprocket import dicom ./scans lab study1
  $ sprocket job run dcm2niix --dcm2niix_input=lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip`,
    );
  for (const mod of [login, logout, status, ls, upload, download]) mod.register(program);

  const imports = program
    .command('import')
    .description('import a folder of data into a project')
    .addHelpText('after', '\nExamples:\n  $ sprocket import dicom ./scans lab study1\n  $ sprocket import folder ./study lab study1');
  for (const mod of [importDicom, importFolder]) mod.register(imports);

  const gear = program
    .command('gear')
    .description('build gears: scaffold, run locally, upload, list')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket gear create\n  $ sprocket gear local --input_file=notes.txt\n  $ sprocket gear upload\n  $ sprocket gear ls',
    );
  for (const mod of [gearCreate, gearLocal, gearUpload, gearLs]) mod.register(gear);

  const job = program
    .command('job')
    .description('run gears on data in Sprocket and follow their jobs')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket job run dcm2niix --dcm2niix_input=lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip\n  $ sprocket job ls --state failed\n  $ sprocket job logs -f <id>',
    );
  for (const mod of [jobRun, jobLs, jobStatus, jobWait, jobLogs, jobCancel, jobRetry]) mod.register(job);

  const batch = program
    .command('batch')
    .description('run a gear over many containers at once')
    .addHelpText('after', '\nExamples:\n  $ sprocket batch run dcm2niix lab/study1 --dry-run\n  $ sprocket batch status <id>');
  for (const mod of [batchRun, batchStatus, batchLs, batchCancel, batchRetryFailed]) mod.register(batch);

  const rule = program
    .command('rule')
    .description("manage a project's gear rules (gears that run on new files by themselves)")
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket rule add lab/study1 --gear dcm2niix --any file.type=dicom\n  $ sprocket rule ls lab/study1',
    );
  for (const mod of [ruleLs, ruleAdd, ruleDisable, ruleApply]) mod.register(rule);

  const collection = program
    .command('collection')
    .description('curate collections: sets of sessions and acquisitions from any projects')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket collection create "QA failures"\n  $ sprocket collection add "QA failures" lab/study1/sub-01/ses-01 lab/study1/sub-02/ses-01/T1w\n  $ sprocket collection show "QA failures"\n  $ sprocket collection delete "QA failures" --yes',
    );
  for (const mod of [collectionCreate, collectionLs, collectionShow, collectionMembers, collectionDelete]) mod.register(collection);

  const file = program
    .command('file')
    .description('look inside files on the server')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket file members lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip\n  $ sprocket file versions lab/study1/sub-01/ses-01/T1w/files/T1w.nii.gz',
    );
  for (const mod of [fileMembers, fileVersions]) mod.register(file);

  const info = program
    .command('info')
    .description("show a container's or file's metadata (info, tags, classification, DICOM header, origin); set or remove info fields")
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket info lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip\n  $ sprocket info 6650f0c2a1b2c3d4e5f60718 --json\n  $ sprocket info set lab/study1/sub-01 cohort=pilot\n  $ sprocket info rm lab/study1/sub-01 cohort',
    );
  infoShow.register(info);
  infoEdit.register(info);

  const tag = program
    .command('tag')
    .description('add or remove tags on containers and files')
    .addHelpText(
      'after',
      '\nExamples:\n  $ sprocket tag add lab/study1/sub-01/ses-01 reviewed\n  $ sprocket tag rm lab/study1/sub-01/ses-01 reviewed',
    );
  tagEdit.register(tag);
  for (const mod of [rmPath, mvPath]) mod.register(program);

  const admin: [string, string, string, { register(c: ReturnType<Command['command']>): void }][] = [
    ['group', 'create and list groups (site admins create)', '  $ sprocket group add lab\n  $ sprocket group ls', groupAdmin],
    [
      'user',
      'create, list and disable users (site admins)',
      '  $ sprocket user add ana@lab.org --key\n  $ sprocket user ls\n  $ sprocket user disable ana@lab.org',
      userAdmin,
    ],
    [
      'key',
      'issue, list and revoke API keys',
      '  $ sprocket key add --label laptop\n  $ sprocket key ls\n  $ sprocket key revoke <id>',
      keyAdmin,
    ],
    [
      'permission',
      'who may see and change a group or project: group access ro/rw/admin, project roles by name',
      '  $ sprocket permission add lab ana@lab.org rw\n  $ sprocket permission add lab/study1 bob@lab.org read-only\n  $ sprocket permission ls lab/study1\n  $ sprocket permission rm lab ana@lab.org',
      permissionAdmin,
    ],
  ];
  for (const [name, description, examples, mod] of admin)
    mod.register(program.command(name).description(description).addHelpText('after', `\nExamples:\n${examples}`));

  view.register(program);
  return program;
}
