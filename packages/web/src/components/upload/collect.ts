/** A file picked or dropped, with its path inside the dropped folder (or just its name). */
export interface Picked {
  file: File;
  path: string;
}

/** Bounds on one drop: a folder of a whole study is fine, a whole disk is not. */
export const MAX_FILES = 20_000;

function readEntries(reader: FileSystemDirectoryReader): Promise<FileSystemEntry[]> {
  return new Promise((resolve, reject) => reader.readEntries(resolve, reject));
}

function fileOf(entry: FileSystemFileEntry): Promise<File> {
  return new Promise((resolve, reject) => entry.file(resolve, reject));
}

async function walk(entry: FileSystemEntry, prefix: string, out: Picked[]): Promise<void> {
  if (out.length >= MAX_FILES) throw new Error(`a drop may hold at most ${MAX_FILES.toLocaleString()} files`);
  // Hidden files and folders (.DS_Store, .git) are never data.
  if (entry.name.startsWith('.')) return;
  if (entry.isFile) {
    out.push({ file: await fileOf(entry as FileSystemFileEntry), path: prefix + entry.name });
    return;
  }
  if (entry.isDirectory) {
    const reader = (entry as FileSystemDirectoryEntry).createReader();
    // readEntries answers in batches (100 in Chromium) until it answers none.
    for (;;) {
      const batch = await readEntries(reader);
      if (!batch.length) break;
      for (const e of batch.sort((a, b) => a.name.localeCompare(b.name))) await walk(e, `${prefix}${entry.name}/`, out);
    }
  }
}

/** Every file of a drop, folders walked (the entries API is the only way a drop exposes a folder's contents). */
export async function collectDrop(dt: DataTransfer): Promise<Picked[]> {
  const out: Picked[] = [];
  // Entries must be taken before the first await: the DataTransfer empties when the event returns.
  const items = [...dt.items].filter((i) => i.kind === 'file');
  const entries = items.map((i) => ({ entry: i.webkitGetAsEntry?.() ?? null, file: i.getAsFile() }));
  for (const { entry, file } of entries) {
    if (entry) await walk(entry, '', out);
    else if (file) out.push({ file, path: file.name });
  }
  return out;
}

/** Files from an <input type="file"> (with `webkitdirectory`, each knows its path in the folder). */
export function collectInput(list: FileList): Picked[] {
  const files = [...list].filter((f) => !(f.webkitRelativePath || f.name).split('/').some((p) => p.startsWith('.')));
  if (files.length > MAX_FILES) throw new Error(`a drop may hold at most ${MAX_FILES.toLocaleString()} files`);
  return files.map((file) => ({ file, path: file.webkitRelativePath || file.name }));
}
