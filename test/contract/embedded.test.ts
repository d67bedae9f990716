import { embeddedBackend } from '../support/backends.js';
import { describeStoreContract } from './contract.js';

describeStoreContract('embedded adapter', () => embeddedBackend());
