/** What `sprocket gear create` writes: a small, working gear to start from. */

export const CATEGORIES = ['converter', 'utility', 'qa', 'classifier', 'analysis'] as const;

/** Flywheel's rule: the label lower-cased, runs of other characters turned into single hyphens. */
export function gearNameOf(label: string): string {
  return label
    .toLowerCase()
    .replace(/[^a-z0-9]+/g, '-')
    .replace(/^-+|-+$/g, '');
}

export function scaffoldManifest(opts: {
  name: string;
  label: string;
  author: string;
  category: string;
  description?: string;
}): Record<string, unknown> {
  return {
    name: opts.name,
    label: opts.label,
    description: opts.description ?? `${opts.label}: describe what the gear does here.`,
    version: '0.1.0',
    author: opts.author,
    maintainer: opts.author,
    license: 'Other',
    source: '',
    url: '',
    command: './run',
    inputs: {
      input_file: { base: 'file', description: 'The file to process.' },
    },
    config: {
      prefix: { type: 'string', default: 'summary', description: 'Name prefix of the output file.' },
      count_lines: { type: 'boolean', default: true, description: 'Count lines as well as bytes.' },
    },
    custom: { 'gear-builder': { category: opts.category, image: '' } },
  };
}

/** The gear's program: reads its input and config the way every gear does, writes one output. */
export function scaffoldRun(label: string): string {
  return `#!/usr/bin/env bash
# ${label.replace(/\n/g, ' ')}
#
# Runs in /flywheel/v0: config.json holds the config and inputs, input/<name>/ the input files,
# and everything left in output/ is saved when the run ends. Config values also arrive as
# FW_CONFIG_<NAME> environment variables. Exit non-zero to fail the job.
set -euo pipefail

input=$(ls -1 input/input_file/* | head -n 1)
prefix="\${FW_CONFIG_PREFIX:-summary}"
# notes.txt gives summary_notes.txt: the input's name without its extension(s), then .txt.
base=$(basename "$input")
stem="\${base%%.*}"
[ -n "$stem" ] || stem="$base"
out="output/\${prefix}_\${stem}.txt"

echo "reading $input"
{
  echo "file: $(basename "$input")"
  echo "bytes: $(wc -c < "$input")"
  if [ "\${FW_CONFIG_COUNT_LINES:-true}" = "true" ]; then
    echo "lines: $(wc -l < "$input")"
  fi
} > "$out"
echo "wrote $out"
`;
}
