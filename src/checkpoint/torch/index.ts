/** PyTorch checkpoint files (`.th`): read and write them, and the zip they are made of. */
export {
  COPY_BYTES_EXTRA,
  COPY_BYTES_PER_FILE_BYTE,
  archiveNameFor,
  defaultReadLimits,
  readTorchFile,
  writeTorchFile,
} from './torch-file';
export type { TorchReadLimits, TorchReadOptions, TorchReadStats } from './torch-file';
export { MAX_OPCODES } from './pickle-read';
export {
  DTYPES,
  PyDict,
  PyFloat,
  PyTuple,
  asDict,
  asStateDict,
  asTensor,
  bfloat16ToFloat32,
  float32ToBfloat16,
  float32ToHalf,
  getItem,
  halfToFloat32,
  isTensor,
  num,
  pyFloat,
  pyTuple,
  tensor,
  tensorToNumbers,
  toPlain,
} from './values';
export type { DType, Plain, PyKey, PyValue, Tensor, TensorData, TensorDataByDType } from './values';
export { ZipArchive, concatChunks, crc32, readZip, writeZip, zipChunks } from './zip';
export type { ZipEntryInfo, ZipInputEntry, ZipWriteOptions } from './zip';
