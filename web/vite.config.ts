import react from '@vitejs/plugin-react';
import { defineConfig } from 'vite';

// Built into web/dist and served by Berth itself at `/` (see src/http/ui/ in the server).
// Everything under assets/ has a content hash in its name, so the server may cache it forever.
export default defineConfig({
  plugins: [react()],
  base: '/',
  build: {
    outDir: 'dist',
    emptyOutDir: true,
    assetsDir: 'assets',
    sourcemap: false,
    target: 'es2022',
  },
  server: {
    // `npm run dev -w web` against a Berth on :5000.
    proxy: { '/api': 'http://127.0.0.1:5000', '/v2': 'http://127.0.0.1:5000' },
  },
});
