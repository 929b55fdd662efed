/**
 * Which task queue each campaign activity runs on: the MPI launches on `mpi` workers (hosts with mpirun and
 * the hostfile), everything else on `cpu` workers, which also run the workflows. Shared by the workflow (to
 * route calls) and the workers (to register activities), so the two cannot disagree.
 */
export interface Queues {
  cpu: string;
  mpi: string;
}

export const DEFAULT_QUEUES: Queues = { cpu: 'cpu', mpi: 'mpi' };

export const MPI_ACTIVITIES = ['refine', 'averageHalves', 'initialClasses', 'refineClasses', 'averageClassHalves'] as const;

export type QueueRole = keyof Queues;

export function roleOf(activity: string): QueueRole {
  return (MPI_ACTIVITIES as readonly string[]).includes(activity) ? 'mpi' : 'cpu';
}
