/**
 * The package version, the one place it is read: esbuild defines TENSORZIP_VERSION from
 * package.json at build time (esbuild.mjs); run from TypeScript sources (tests, tsx) it is read
 * from package.json at load time.
 */
declare const TENSORZIP_VERSION: string | undefined;

export const VERSION: string =
  typeof TENSORZIP_VERSION === 'string'
    ? TENSORZIP_VERSION
    : (
        JSON.parse(
          require('node:fs').readFileSync(require('node:path').join(__dirname, '../../package.json'), 'utf8'),
        ) as { version: string }
      ).version;

/** the "tool" field of a .tzip index */
export const TOOL = `tensorzip ${VERSION}`;
