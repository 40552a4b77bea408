/**
 * The condition types a gear rule may test (reference §2.12), shared by the server that evaluates
 * them and the CLI that parses `--when type=value`, so a new type cannot reach one and not the other.
 */
export const CONDITION_TYPES = [
  'file.type',
  'file.name',
  'file.modality',
  'file.classification',
  'container.has-type',
  'container.has-classification',
] as const;
export type ConditionType = (typeof CONDITION_TYPES)[number];

export function isConditionType(s: string): s is ConditionType {
  return (CONDITION_TYPES as readonly string[]).includes(s);
}
