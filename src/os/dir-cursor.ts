/**
 * Listings a part at a time (Host.openDir), from a real folder through opendir(3)'s buffered
 * reads: in the folder's order (readDir's is sorted by name).
 */
import * as fs from "node:fs";
import { type DirCursor, type DirEntry, hostIoError } from "./host.js";

/** Entries opendir reads from the kernel at a time (getdents64): Node's default is 32. */
const BUFFER_ENTRIES = 128;

/** `local` listed a part at a time; errors name `shown` (the machine's path, for a fixture). */
export function folderCursor(local: string, shown: string = local): DirCursor {
  let dir: fs.Dir | undefined;
  try {
    dir = fs.opendirSync(local, { bufferSize: BUFFER_ENTRIES });
  } catch (err) {
    throw hostIoError("list", shown, err);
  }
  const close = () => {
    const d = dir;
    dir = undefined;
    try {
      d?.closeSync();
    } catch {
      // Closing a listing that failed: nothing more to give back.
    }
  };
  return {
    next(max: number): DirEntry[] {
      const out: DirEntry[] = [];
      while (dir !== undefined && out.length < max) {
        let d: fs.Dirent | null;
        try {
          d = dir.readSync();
        } catch (err) {
          close();
          throw hostIoError("list", shown, err);
        }
        if (d === null) close();
        else out.push({ name: d.name, isDirectory: d.isDirectory() });
      }
      return out;
    },
    close,
  };
}
