import { zookeeperBackend } from '../support/backends.js';
import { describeStoreContract } from './contract.js';

describeStoreContract('zookeeper adapter on a real ZooKeeper 3.8', () => zookeeperBackend());
