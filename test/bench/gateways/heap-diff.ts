/**
 * Where a connection's JS heap goes: the difference between two V8 heap snapshots of the
 * Worker (written by `run.ts --profile` at the warm and the full point), grouped by
 * constructor / node type and divided by the number of connections in between.
 *
 *   npx tsx test/bench/gateways/heap-diff.ts WARM.heapsnapshot FULL.heapsnapshot CONNECTIONS [TOP]
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}

function aggregate(path: string): Map<string, { count: number; bytes: number }> {
  const snap = JSON.parse(readFileSync(path, 'utf8')) as Snapshot;
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const width = fields.length;
  const typeAt = fields.indexOf('type');
  const nameAt = fields.indexOf('name');
  const sizeAt = fields.indexOf('self_size');
  const groups = new Map<string, { count: number; bytes: number }>();
  for (let i = 0; i < snap.nodes.length; i += width) {
    const type = types[snap.nodes[i + typeAt]!] ?? '?';
    const name = snap.strings[snap.nodes[i + nameAt]!] ?? '?';
    // Objects and closures by constructor/function name; strings, numbers, code and the
    // like by type only (their "name" is their content).
    const key =
      type === 'object' || type === 'closure' || type === 'native' || type === 'hidden' || type === 'array' ? `${type} ${name.slice(0, 60)}` : `(${type})`;
    const g = groups.get(key) ?? { count: 0, bytes: 0 };
    g.count++;
    g.bytes += snap.nodes[i + sizeAt]!;
    groups.set(key, g);
  }
  return groups;
}

const [warmPath, fullPath, connections, top] = process.argv.slice(2);
if (!warmPath || !fullPath || !connections) {
  console.error('usage: heap-diff.ts WARM.heapsnapshot FULL.heapsnapshot CONNECTIONS [TOP]');
  process.exit(1);
}
const n = Number(connections);
const a = aggregate(warmPath);
const b = aggregate(fullPath);
const rows = [...new Set([...a.keys(), ...b.keys()])].map((key) => {
  const x = a.get(key) ?? { count: 0, bytes: 0 };
  const y = b.get(key) ?? { count: 0, bytes: 0 };
  return { key, perConnCount: (y.count - x.count) / n, perConnBytes: (y.bytes - x.bytes) / n };
});
rows.sort((p, q) => q.perConnBytes - p.perConnBytes);
const total = rows.reduce((sum, r) => sum + r.perConnBytes, 0);
console.log(`self size per connection, ${n} connections: ${total.toFixed(0)} bytes in total\n`);
console.log('bytes/conn  objects/conn  group');
for (const r of rows.slice(0, Number(top ?? 40))) {
  console.log(`${r.perConnBytes.toFixed(0).padStart(10)}  ${r.perConnCount.toFixed(2).padStart(12)}  ${r.key}`);
}
