import { randomBytes } from 'node:crypto';

// ObjectId layout (time, random, counter) keeps ids roughly creation-ordered, which after_id paging relies on.
const processRandom = randomBytes(5).toString('hex');
let counter = randomBytes(3).readUIntBE(0, 3);

export function newId(): string {
  counter = (counter + 1) % 0xffffff;
  const time = Math.floor(Date.now() / 1000)
    .toString(16)
    .padStart(8, '0');
  return time + processRandom + counter.toString(16).padStart(6, '0');
}

export function now(): string {
  return new Date().toISOString();
}
