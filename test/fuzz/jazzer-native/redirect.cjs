// Preloaded (node -r) into the Jazzer.js process when its prebuilt native part cannot load here:
// requests for the prebuilt addon get the one test/fuzz/native.ts built from this folder.
const Module = require('node:module');
const built = process.env.TZ_JAZZER_ADDON;
if (built) {
  const resolve = Module._resolveFilename;
  Module._resolveFilename = function (request, ...rest) {
    const r = resolve.call(this, request, ...rest);
    return /[\\/]@jazzer\.js[\\/]fuzzer[\\/]prebuilds[\\/]fuzzer-[^\\/]+\.node$/.test(r) ? built : r;
  };
}
