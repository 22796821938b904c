/**
 * Finding a Vulkan driver for Dawn in Node, so that a program needs no VK_ICD_FILENAMES of its own.
 *
 * The Vulkan loader looks for drivers only in its standard folders. Machines without a GPU often have
 * none there that Dawn accepts (Debian 12's lavapipe is too old), while SwiftShader's sits beside
 * Debian's chromium, and a container's NVIDIA driver under /usr/local/nvidia. The loader reads its
 * environment at each instance creation, so each candidate is tried with its own Dawn instance.
 */

/** Where the loader itself looks (the standard search path on Linux). */
export const SYSTEM_DRIVER_FOLDERS = ['/usr/local/etc/vulkan/icd.d', '/usr/local/share/vulkan/icd.d', '/etc/vulkan/icd.d', '/usr/share/vulkan/icd.d'];

/** Drivers outside the loader's search path that we know of, the real GPU first. */
export const KNOWN_DRIVERS = ['/usr/local/nvidia/share/vulkan/icd.d/nvidia_icd.json', '/usr/lib/chromium/vk_swiftshader_icd.json'];

const DRIVER_VARIABLES = ['VK_ICD_FILENAMES', 'VK_DRIVER_FILES'] as const;

/** One way to try: the loader's own search (`driver` undefined) or one driver file. */
export interface DriverCandidate {
  readonly driver?: string;
  /** For the message when nothing works. */
  readonly label: string;
}

interface FileSystem {
  existsSync(path: string): boolean;
  readdirSync(path: string): string[];
}

/**
 * What to try, in order. A driver the user named (VK_ICD_FILENAMES / VK_DRIVER_FILES) is the only
 * candidate. Otherwise the system's drivers when there are any, then the known ones that exist.
 * `skipped` lists what was looked for and not found, for the message.
 */
export function driverCandidates(env: Readonly<Record<string, string | undefined>>, fs: FileSystem): { candidates: DriverCandidate[]; skipped: string[] } {
  const named = DRIVER_VARIABLES.find((v) => env[v]);
  if (named) return { candidates: [{ label: `${named}=${env[named]}` }], skipped: [] };
  const system = SYSTEM_DRIVER_FOLDERS.flatMap((dir) => (fs.existsSync(dir) ? fs.readdirSync(dir).filter((f) => f.endsWith('.json')).map((f) => `${dir}/${f}`) : []));
  const candidates: DriverCandidate[] = [];
  const skipped: string[] = [];
  if (system.length > 0) candidates.push({ label: `the system's Vulkan drivers (${system.join(', ')})` });
  else skipped.push(`no system Vulkan driver in ${SYSTEM_DRIVER_FOLDERS.join(', ')}`);
  for (const driver of KNOWN_DRIVERS) {
    if (fs.existsSync(driver)) candidates.push({ driver, label: driver });
    else skipped.push(`${driver} (not there)`);
  }
  return { candidates, skipped };
}

/** Points the loader at `candidate` (or lets it search) for the next instance created. */
export function useDriver(candidate: DriverCandidate, env: Record<string, string | undefined>): void {
  if (candidate.driver === undefined) return;
  for (const v of DRIVER_VARIABLES) env[v] = candidate.driver;
}

/** Gives the driver a private runtime folder when there is none (drivers warn without one). */
export function ensureRuntimeDir(env: Record<string, string | undefined>, fs: { mkdirSync(path: string, options: { recursive: true; mode: number }): unknown }, tmp: string, uid: number | string): void {
  if (env['XDG_RUNTIME_DIR']) return;
  const dir = `${tmp}/loom-xdg-${uid}`;
  fs.mkdirSync(dir, { recursive: true, mode: 0o700 });
  env['XDG_RUNTIME_DIR'] = dir;
}

/** The advice when no candidate gave an adapter. */
export function noDriverAdvice(tried: readonly string[], skipped: readonly string[]): string {
  const parts = [tried.length > 0 ? `tried ${tried.join('; ')}: no adapter` : 'found no Vulkan driver to try', ...(skipped.length > 0 ? [`looked for ${skipped.join(', ')}`] : [])];
  return `${parts.join('; ')}. Install the Vulkan loader and a driver (Debian: apt-get install libvulkan1 chromium, whose SwiftShader driver Loom finds itself), or name one with VK_ICD_FILENAMES`;
}
