import type { KeyboardEvent } from 'react';

const STEP: Record<string, number | 'first' | 'last'> = { ArrowRight: 1, ArrowLeft: -1, Home: 'first', End: 'last' };

/**
 * Left/Right arrows, Home and End move focus along a row of tabs or section links (the WAI-ARIA
 * tabs pattern's keys; Tab itself leaves the row). Returns the element now focused, for a tab list
 * that also selects what it moves to.
 */
export function moveAlongRow(e: KeyboardEvent<HTMLElement>, selector = 'a[href], [role="tab"]'): HTMLElement | undefined {
  const step = STEP[e.key];
  if (step === undefined || e.altKey || e.ctrlKey || e.metaKey) return undefined;
  const items = [...e.currentTarget.querySelectorAll<HTMLElement>(selector)];
  const at = items.indexOf(document.activeElement as HTMLElement);
  if (at < 0) return undefined;
  e.preventDefault();
  const next = step === 'first' ? 0 : step === 'last' ? items.length - 1 : (at + step + items.length) % items.length;
  items[next]!.focus();
  return items[next];
}
