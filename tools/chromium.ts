/** Where the test browser is and how it must be launched; shared by vitest, Playwright and the bench. */
import { existsSync } from 'node:fs';

export function chromiumPath(): string {
  const candidates = [process.env.CHROME_PATH, '/usr/bin/chromium', '/usr/bin/chromium-browser'];
  const found = candidates.find((p): p is string => !!p && existsSync(p));
  if (!found) {
    throw new Error(
      'No Chromium found. Install one (Debian: apt-get install -y chromium) or set CHROME_PATH to its binary.',
    );
  }
  return found;
}

/** WebGPU runs on SwiftShader where there is no GPU; without these requestAdapter() returns null. */
export const chromiumArgs = [
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
  '--use-webgpu-adapter=swiftshader',
  '--enable-unsafe-swiftshader',
  '--no-sandbox',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];
