/**
 * The HTML shell of every TensorZip webview: one nonce'd script, one stylesheet, a strict CSP
 * (no inline script or style, no remote content), and a root element naming the view.
 * Pure string building (no vscode import), unit-tested.
 */
import { randomBytes } from 'node:crypto';

export interface ShellOptions {
  /** webview.cspSource */
  cspSource: string;
  /** webview URIs (as strings) of dist/webview/main.js and main.css */
  scriptUri: string;
  styleUri: string;
  view: 'model' | 'workspace' | 'compare';
  title: string;
  nonce?: string;
}

export function makeNonce(): string {
  return randomBytes(18).toString('base64').replace(/[+/=]/g, '');
}

export function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function contentSecurityPolicy(cspSource: string, nonce: string): string {
  return [
    "default-src 'none'",
    `script-src 'nonce-${nonce}'`,
    // the stylesheet file only; lit's component styles use constructable stylesheets (not inline <style>)
    `style-src ${cspSource}`,
    `font-src ${cspSource}`,
    `img-src ${cspSource} data:`,
  ].join('; ');
}

export function webviewShell(o: ShellOptions): string {
  const nonce = o.nonce ?? makeNonce();
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${escapeHtml(contentSecurityPolicy(o.cspSource, nonce))}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
<link rel="stylesheet" href="${escapeHtml(o.styleUri)}">
<title>${escapeHtml(o.title)}</title>
</head>
<body>
<main id="tz-app" data-view="${o.view}"></main>
<script nonce="${nonce}" src="${escapeHtml(o.scriptUri)}"></script>
</body>
</html>`;
}
