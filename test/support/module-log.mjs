/**
 * `--import` this (through NODE_OPTIONS) to have every module the process loads through the ESM
 * loader appended, one URL a line, to the file named by ZKGATE_TEST_MODULE_LOG: what a test of
 * lazy loading reads to tell which libraries a boot pulled in.
 */
import { register } from 'node:module';

register('./module-log-hook.mjs', import.meta.url);
