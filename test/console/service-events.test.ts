/**
 * How the console applies the watch stream's service events to an instance list: the whole list,
 * one instance registered or changed, one removed, and event types it does not know.
 */
import { expect, it } from 'vitest';
import { applyServiceEvent, type Instance } from '../../src/controller/ui/model.js';

const instance = (id: string, status: Instance['status'] = 'UP'): Instance => ({
  service: 'orders',
  id,
  address: '10.0.0.1',
  weight: 100,
  status,
  healthy: status === 'UP',
  liveness: 'lease',
  metadata: {},
  index: '1',
});

it('replaces, upserts and removes, and ignores unknown event types', () => {
  let list = applyServiceEvent([instance('old')], 'instances', {
    service: 'orders',
    instances: [instance('a'), instance('b')],
  });
  expect(list.map((i) => i.id)).toEqual(['a', 'b']);
  list = applyServiceEvent(list, 'instance', { service: 'orders', instance: instance('b', 'DOWN') });
  expect(list.map((i) => [i.id, i.status])).toEqual([
    ['a', 'UP'],
    ['b', 'DOWN'],
  ]);
  list = applyServiceEvent(list, 'instance', { service: 'orders', instance: instance('c') });
  expect(list.map((i) => i.id)).toEqual(['a', 'b', 'c']);
  list = applyServiceEvent(list, 'instance-removed', { service: 'orders', id: 'a' });
  expect(list.map((i) => i.id)).toEqual(['b', 'c']);
  expect(applyServiceEvent(list, 'instances-v2', { service: 'orders', instances: [] })).toBe(list);
});
