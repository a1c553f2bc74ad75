/**
 * Transition module: the spin-yield-sleep wait moved to `lib/util/wait.ts`
 * ({@linkcode backoffWait} is {@linkcode waitUntil}). Kept only until every
 * importer has switched.
 *
 * @module
 */

export {
  type WaitOptions as BackoffOptions,
  waitUntil as backoffWait,
  yieldTurn,
} from "../util/wait.ts";
