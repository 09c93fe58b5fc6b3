// worker_threads entry for codec.test.ts: encodes what it is sent with its own codec instance.
import { parentPort, workerData } from 'node:worker_threads';
import { initCodec, encodeChunk, codecBackendName } from '../../engine/codec/index';

initCodec().then(
  () => {
    const payloads = (workerData as [Uint8Array, string][]).map(([d, t]) => encodeChunk(d, t));
    parentPort!.postMessage({ payloads, backend: codecBackendName() });
  },
  (e: unknown) => parentPort!.postMessage({ error: String(e) }),
);
