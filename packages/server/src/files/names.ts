import { fileNameProblem } from '@sprocket/types';
import { apiError } from '../errors.js';

/** Refuses a file name the store cannot hold (`where` names the part of the request it came from). */
export function checkFileName(name: string, where: string): void {
  const problem = fileNameProblem(name);
  if (problem) throw apiError('INVALID_FILE_NAME', { where, name: JSON.stringify(name), problem });
}
