import { Command } from 'commander';
import * as login from './commands/login.js';
import * as logout from './commands/logout.js';
import * as download from './commands/download.js';
import * as importDicom from './commands/import-dicom.js';
import * as importFolder from './commands/import-folder.js';
import * as ls from './commands/ls.js';
import * as status from './commands/status.js';
import * as upload from './commands/upload.js';
import { CLI_VERSION } from './version.js';

/** Every command, each registered by its own module. */
export function buildProgram(): Command {
  const program = new Command('sprocket')
    .description('Sprocket from the terminal: browse, upload, download and import data; build, run and batch gears')
    .version(CLI_VERSION, '-V, --version')
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
  $ sprocket job run dcm2niix --dicom=lab/study1/sub-01/ses-01/T1w/files/T1w.dicom.zip`,
    );
  for (const mod of [login, logout, status, ls, upload, download]) mod.register(program);

  const imports = program
    .command('import')
    .description('import a folder of data into a project')
    .addHelpText('after', '\nExamples:\n  $ sprocket import dicom ./scans lab study1\n  $ sprocket import folder ./study lab study1');
  for (const mod of [importDicom, importFolder]) mod.register(imports);
  return program;
}
