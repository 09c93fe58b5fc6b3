/** worker_threads entry (dist/worker.js): runs codec tasks posted by WorkerPool. */
import { createHash } from 'node:crypto';
import { parentPort, workerData, type MessagePort } from 'node:worker_threads';
import type { FromCoder, FromHasher, TaskMessage, ToHasher } from '../../protocol/pool';
import { ChunkCorrupt, initTasks, runTask } from './tasks';

const port = parentPort;
if (!port) throw new Error('worker.ts must run as a worker thread');
if ((workerData as { role?: string } | null)?.role === 'hasher') runHasher(port);
else runCoder(port);

/** The hashing worker of OrderedHasher (hasher.ts): SHA-256 of shared-memory views, in order. */
function runHasher(port: MessagePort): void {
  const h = createHash('sha256');
  port.on('message', (m: ToHasher) => {
    if (m.hash === 'update') {
      h.update(new Uint8Array(m.buf, m.off, m.len));
      port.postMessage({ id: m.id } satisfies FromHasher);
    } else port.postMessage({ id: m.id, digest: h.digest('hex') } satisfies FromHasher);
  });
}

function runCoder(port: MessagePort): void {
  // Tells the pool this thread can take work; until a worker says so, the pool codes on the calling
  // thread (which would otherwise wait for Node to boot the workers).
  void initTasks().then(
    () => port.postMessage({ ready: true } satisfies FromCoder),
    () => undefined,
  );
  port.on('message', async (msg: TaskMessage) => {
    try {
      await initTasks();
      const reply = runTask(msg.task);
      const transfer: ArrayBuffer[] = [];
      for (const v of Object.values(reply))
        if (v instanceof Uint8Array && v.buffer instanceof ArrayBuffer && !transfer.includes(v.buffer))
          transfer.push(v.buffer);
      port.postMessage({ id: msg.id, reply } satisfies FromCoder, transfer);
    } catch (e) {
      port.postMessage({
        id: msg.id,
        error: {
          message: (e as Error).message,
          corrupt: e instanceof ChunkCorrupt,
          ...(e instanceof ChunkCorrupt && e.item !== undefined ? { item: e.item } : {}),
        },
      } satisfies FromCoder);
    }
  });
}
