// The benches' language-server client: `dist/server.js --stdio` as a child process, a JSON-RPC
// connection to it, the LSP handshake and a clean shutdown (used by inspect, server-speed and
// server-eventloop).
import { spawn } from 'node:child_process';
import * as path from 'node:path';
import { fileURLToPath } from 'node:url';
import { createMessageConnection, StreamMessageReader, StreamMessageWriter } from 'vscode-jsonrpc/node.js';

export const SERVER = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../dist/server.js');

/**
 * Starts the server; `handlers(conn)` registers notification handlers before the connection listens.
 * `stop()` shuts it down; a server that does not answer within 5 s (or has died) is killed 2 s later,
 * and stop() then rejects with why.
 */
export function spawnServer(handlers = () => {}) {
  const proc = spawn(process.execPath, [SERVER, '--stdio'], { stdio: ['pipe', 'pipe', 'inherit'] });
  const conn = createMessageConnection(new StreamMessageReader(proc.stdout), new StreamMessageWriter(proc.stdin));
  handlers(conn);
  conn.listen();
  const stop = async () => {
    let timer;
    try {
      const late = new Promise((_, reject) => {
        timer = setTimeout(() => reject(new Error('server: no answer to shutdown within 5 s')), 5000);
      });
      await Promise.race([conn.sendRequest('shutdown'), late]);
      await conn.sendNotification('exit');
    } finally {
      clearTimeout(timer);
      conn.dispose();
      if (proc.exitCode === null) setTimeout(() => proc.kill(), 2000).unref();
    }
  };
  return { proc, conn, stop };
}

/** The LSP handshake: initialize (with these initializationOptions and client capabilities), initialized. */
export async function initialize(conn, initializationOptions = {}, capabilities = {}) {
  await conn.sendRequest('initialize', { processId: process.pid, rootUri: null, capabilities, initializationOptions });
  await conn.sendNotification('initialized', {});
}
