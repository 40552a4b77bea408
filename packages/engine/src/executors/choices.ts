/** The executors an engine can be told to use (SPROCKET_EXECUTOR), apart from select.ts so settings can name them without loading the executors. */
export const EXECUTOR_CHOICES = ['auto', 'bwrap', 'process', 'podman', 'charliecloud', 'slurm'] as const;
export type ExecutorChoice = (typeof EXECUTOR_CHOICES)[number];
