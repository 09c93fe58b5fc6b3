/** Webview entry (bundled for the browser into dist/webview/main.js). */
import '@vscode-elements/elements/dist/vscode-button/index.js';
import '@vscode-elements/elements/dist/vscode-checkbox/index.js';
import '@vscode-elements/elements/dist/vscode-option/index.js';
import '@vscode-elements/elements/dist/vscode-progress-bar/index.js';
import '@vscode-elements/elements/dist/vscode-single-select/index.js';
import '@vscode-elements/elements/dist/vscode-textfield/index.js';
import './styles.css';
import { connectHost } from './vscodeApi';
import { mountModelView, type ModelUiState } from './views/modelView';
import { mountWorkspaceView } from './views/workspaceView';
import { mountCompareView } from './views/compareView';

const root = document.getElementById('tz-app');
if (root) {
  const host = connectHost<ModelUiState>();
  window.addEventListener('error', (e) => host.post({ type: 'log', level: 'error', message: `webview: ${e.message}` }));
  if (root.dataset.view === 'workspace') mountWorkspaceView(root, host as never);
  else if (root.dataset.view === 'compare') mountCompareView(root, host as never);
  else mountModelView(root, host);
}
