/**
 * `gateway-info`: what the administrator needs to see about a running gateway. Nothing here
 * comes from the configuration's keys or from a record.
 */
import { arch, hostname, platform } from 'node:os';
import type { ActionHandler } from './action.ts';

export const gatewayInfo: ActionHandler<'gateway-info'> = async (_params, ctx) => ({
  code: 'ok',
  data: {
    version: ctx.version,
    gatewayUid: ctx.gatewayUid(),
    hostname: hostname(),
    platform: platform(),
    arch: arch(),
    node: process.version,
    pid: process.pid,
    startedAt: ctx.startedAt,
    uptimeSeconds: Math.round((Date.now() - ctx.startedAt) / 1000),
    connectedSince: ctx.connectedSince(),
    runningTasks: ctx.tasks.runningCount,
  },
});
