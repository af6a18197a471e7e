import { type ConfigData, findInstance, nodeOfUuid } from '../cluster/config.js';
import { type JobRecord, shownJob } from '../cluster/jobs.js';
import { asJobId } from '../cluster/model.js';
import { type ConfigView, toConfigView } from '../cluster/views.js';
import { CorralError } from '../common/errors.js';
import type { NodeId } from '../common/ids.js';
import type { ControlTimings } from '../master/timings.js';
import type { ClusterService } from './cluster-service.js';
import type { ControlHandlers } from './control-server.js';
import type { NodeAgent } from './node-agent.js';

type ClusterOp =
  | 'cluster-init'
  | 'master'
  | 'cluster-destroy'
  | 'config'
  | 'jobs'
  | 'job-wait'
  | 'nodes-live'
  | 'os-diagnose'
  | 'console';

export interface ClusterControlDeps {
  readonly self: NodeId;
  readonly cluster: Pick<
    ClusterService,
    'init' | 'forward' | 'view' | 'destroy' | 'raftStatus' | 'waitJob' | 'nodesLive' | 'osDiagnose'
  >;
  readonly agent: Pick<NodeAgent, 'consolePath' | 'remoteConsole'>;
  /** Where the local ends of consoles bridged from other nodes are made. */
  readonly consoleDir: string;
  /** nodeCallTimeoutMs: how long the node running an instance has to say so before its console is bridged. */
  readonly timings: Pick<ControlTimings, 'nodeCallTimeoutMs'>;
}

/** The cluster as this node's replica has it, and the changes it sends on to the master. */
export function clusterControls(deps: ClusterControlDeps): Pick<ControlHandlers, ClusterOp> {
  const { self, cluster, agent, consoleDir, timings } = deps;
  // Records are immutable and every change makes a new configuration object, so one view serves every read
  // of the same configuration (RAPI reads it on every request).
  const views = new WeakMap<ConfigData, ConfigView>();
  const viewOf = (config: ConfigData): ConfigView => {
    let view = views.get(config);
    if (view === undefined) {
      view = toConfigView(config);
      views.set(config, view);
    }
    return view;
  };
  return {
    async 'cluster-init'(request) {
      await cluster.init(request);
      return { name: request.name };
    },
    master: (request) =>
      cluster.forward(request.request, {
        ...(request.deadlineMs !== undefined && { deadlineMs: request.deadlineMs }),
      }),
    'cluster-destroy': async () => ({ cluster: await cluster.destroy() }),
    async config(request) {
      const view = await cluster.view(request.consistent);
      const raft = cluster.raftStatus();
      return {
        ...(view.config !== undefined && { config: viewOf(view.config) }),
        ...(view.master !== undefined && { master: view.master }),
        ...(view.staleMs !== undefined && { staleMs: view.staleMs }),
        self,
        ...(raft !== undefined && {
          raft: {
            role: raft.role,
            term: raft.term,
            voters: [...raft.membership.voters],
            learners: [...raft.membership.learners],
          },
        }),
      };
    },
    async jobs(request) {
      const view = await cluster.view(request.consistent);
      const wanted = request.ids === undefined ? undefined : new Set(request.ids);
      const pick = (jobs: readonly JobRecord[]) =>
        jobs.filter((job) => wanted === undefined || wanted.has(job.id)).map(shownJob);
      return {
        jobs: pick(view.jobs.jobs()),
        ...(request.archived === true && { archived: pick(view.jobs.archivedJobs()) }),
        ...(view.staleMs !== undefined && { staleMs: view.staleMs }),
      };
    },
    async 'job-wait'(request) {
      const job = await cluster.waitJob(asJobId(request.job), request.afterVersion, request.waitMs);
      return { job: shownJob(job) };
    },
    'nodes-live': async () => ({ nodes: await cluster.nodesLive() }),
    'os-diagnose': async () => ({ nodes: await cluster.osDiagnose() }),
    async console(request) {
      const view = await cluster.view(false);
      const instance = view.config === undefined ? undefined : findInstance(view.config, request.instance);
      if (view.config === undefined || instance === undefined)
        throw new CorralError('not_found', `instance ${request.instance} does not exist`);
      const primary = nodeOfUuid(view.config, instance.primaryNode);
      if (primary.id === self) return { path: agent.consolePath(instance.name, instance.hypervisor) };
      const open = { instance: instance.name, hypervisor: instance.hypervisor };
      const path = await agent.remoteConsole(
        primary.id,
        primary.name,
        open,
        consoleDir,
        timings.nodeCallTimeoutMs,
      );
      return { path };
    },
  };
}
