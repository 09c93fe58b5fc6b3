/** The webview side of the messaging: a typed wrapper over acquireVsCodeApi(). */
import type { HostToWebview, WebviewToHost } from '../protocol/webview';

interface VsCodeApi<S> {
  postMessage(msg: unknown): void;
  getState(): S | undefined;
  setState(state: S): void;
}

declare function acquireVsCodeApi<S>(): VsCodeApi<S>;

export interface Host<S> {
  post(msg: WebviewToHost): void;
  getState(): S | undefined;
  setState(state: S): void;
  onMessage(fn: (msg: HostToWebview) => void): void;
}

export function connectHost<S>(): Host<S> {
  const api: VsCodeApi<S> =
    typeof acquireVsCodeApi === 'function'
      ? acquireVsCodeApi<S>()
      : { postMessage: (m) => console.log('postMessage', m), getState: () => undefined, setState: () => undefined };
  return {
    post: (msg) => api.postMessage(msg),
    getState: () => api.getState(),
    setState: (st) => api.setState(st),
    onMessage: (fn) =>
      window.addEventListener('message', (e: MessageEvent) => {
        const d = e.data as HostToWebview | undefined;
        if (d && typeof d === 'object' && typeof d.type === 'string') fn(d);
      }),
  };
}
