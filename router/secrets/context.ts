import type { Kysely, Selectable } from 'kysely';
import type { ApplicationsTable, Database, DevicesTable } from '../../core/storage/schema.ts';
import type { AuditEvent } from '../audit/events.ts';

export interface DeviceCallContext {
  db: Kysely<Database>;
  now: number;
  clientIp: string;
  device: Selectable<DevicesTable>;
  app: Selectable<ApplicationsTable>;
  audit: (event: Pick<AuditEvent, 'action' | 'outcome'> & Partial<Pick<AuditEvent, 'recordUid' | 'detail'>>) => Promise<void>;
}
