/**
 * Registers the service worker that precaches the app for offline use. A new version waits for
 * the user: the banner offers it, and never while a run is training, since reloading would cut it.
 */
import { registerSW } from 'virtual:pwa-register';

export function registerServiceWorker(opts: { isBusy: () => boolean }): void {
  if (!('serviceWorker' in navigator)) return;
  const banner = document.getElementById('update-banner') as HTMLDivElement;
  const updateSW = registerSW({
    immediate: true,
    onNeedRefresh() {
      banner.hidden = false;
      banner.replaceChildren('A new version of the app is ready. ');
      const button = document.createElement('button');
      button.type = 'button';
      button.textContent = 'Reload to update';
      button.addEventListener('click', () => {
        if (opts.isBusy()) {
          banner.replaceChildren('A new version is ready: it will be offered again when training stops or pauses.');
          return;
        }
        void updateSW(true);
      });
      banner.append(button);
    },
    onOfflineReady() {
      document.body.dataset.offlineReady = 'true';
    },
  });
}
