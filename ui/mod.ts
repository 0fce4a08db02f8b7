/**
 * ui/: detcd's built-in web console (browser files and the small handler that serves them under
 * `/ui/`). It imports nothing of detcd's: `api/` mounts it on the client listeners and hands it
 * the storage report, so the console reaches the member only through the same HTTP surface as
 * any client (the JSON gateway, `/metrics`) plus the read-only `/ui/api/storage`.
 *
 * @module
 */

export {
  loadAssets,
  UI_PATH_PREFIX,
  uiHandler,
  type UiHttpHandler,
  type UiOptions,
} from "./handler.ts";
// The files themselves load on demand (`loadAssets`): only their type is exported here.
export type { Asset } from "./assets.ts";
