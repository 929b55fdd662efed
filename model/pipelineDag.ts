/**
 * The state of a pipeline's nodes as the workflow reports it (its status query) and as the CLI prints it and
 * the report draws it: shared vocabulary of workflows/, activities/ and app/.
 */

/**
 * `waiting` for its inputs; `running`; `done` (something was computed) or `reused` (every step came from the
 * artifact store, or a completed child workflow was adopted); `failed`; `skipped` because an input failed;
 * `cancelled`.
 */
export type NodeState = 'waiting' | 'running' | 'done' | 'reused' | 'failed' | 'skipped' | 'cancelled';

export const FINISHED_STATES: readonly NodeState[] = ['done', 'reused', 'failed', 'skipped', 'cancelled'];

/** A node as drawn: its name, type, state, the nodes it waits for, and one line of what it did or does. */
export interface DagNode {
  name: string;
  type: string;
  state: NodeState;
  deps: readonly string[];
  detail?: string;
  /** The sweep a member belongs to. */
  sweep?: string;
}

/** Column of each node when the DAG is drawn left to right: 0 for nodes without dependencies, else 1 + the deepest dependency. */
export function dagDepths(nodes: readonly DagNode[]): Map<string, number> {
  const byName = new Map(nodes.map((n) => [n.name, n]));
  const depth = new Map<string, number>();
  const of = (name: string, seen: Set<string>): number => {
    const known = depth.get(name);
    if (known !== undefined) return known;
    const n = byName.get(name);
    if (!n || seen.has(name)) return 0;
    seen.add(name);
    const d = n.deps.length === 0 ? 0 : 1 + Math.max(...n.deps.map((x) => of(x, seen)));
    depth.set(name, d);
    return d;
  };
  for (const n of nodes) of(n.name, new Set());
  return depth;
}
