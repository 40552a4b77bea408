/**
 * The job folder a gear sees (gear spec §1.1, §1.8): everything lives under `/flywheel/v0`, the inputs in
 * `input/<input name>/<file name>`, results in `output/`, scratch in `work/`, and the invocation in
 * `config.json`. The server writes these paths into config.json, the engine and `sprocket gear
 * local` lay the folder out by them, so they are defined once here.
 */
export const GEAR_BASE = '/flywheel/v0';
export const CONFIG_JSON = 'config.json';
export const INPUT_DIR_NAME = 'input';
export const OUTPUT_DIR_NAME = 'output';
export const WORK_DIR_NAME = 'work';
export const INPUT_DIR = `${GEAR_BASE}/${INPUT_DIR_NAME}`;

/** Entries the executor creates afresh in a job folder, whatever the gear shipped under those names. */
export const RESERVED_ENTRIES: readonly string[] = [CONFIG_JSON, INPUT_DIR_NAME, OUTPUT_DIR_NAME];

/** Folders every job folder has; `work/` may come from the gear, the others start empty. */
export const JOB_DIRS: readonly string[] = [INPUT_DIR_NAME, OUTPUT_DIR_NAME, WORK_DIR_NAME];

/** Where file input `input`'s file `fileName` is, as the gear sees it. */
export function inputPath(input: string, fileName: string): string {
  return `${INPUT_DIR}/${input}/${fileName}`;
}
