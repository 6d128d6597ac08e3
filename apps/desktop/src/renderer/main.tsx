import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import { App } from './app/App';
import { AppProvider } from './app/context';
import { createBridge } from './bridge';
import { applyTheme, loadTheme } from './features/settings/theme';
import { connectBridge } from './state/connect';
import { createAppStore } from './state/store';
import './styles/app.css';

applyTheme(loadTheme());

// A file dropped outside the drop zone must not make the window navigate to it.
for (const type of ['dragover', 'drop'] as const) window.addEventListener(type, (e) => e.preventDefault());

const bridge = createBridge();
const store = createAppStore(bridge.status);
connectBridge(bridge, store);
window.addEventListener('pagehide', () => bridge.close());

const root = document.getElementById('root');
if (!root) throw new Error('index.html has no #root');
createRoot(root).render(
  <StrictMode>
    <AppProvider bridge={bridge} store={store}>
      <App />
    </AppProvider>
  </StrictMode>,
);
