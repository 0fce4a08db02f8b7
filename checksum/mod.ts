/**
 * checksum: CRC-32C (Castagnoli), the one implementation shared by the WAL and snap files
 * (record checksums), the backend (etcd's `backend.Hash`) and mvcc (HashKV).
 *
 * @module
 */

export { crc32c } from "./crc32c.ts";
