// Runs every fuzz target under Jazzer.js for a short while (TZ_FUZZ_SECONDS, default 30), two at a
// time, so CI keeps fuzzing the readers of untrusted bytes; the long campaign is `npm run fuzz`.
// A finding fails the test and names the crashing input (in test/fuzz/.crashes/<target>/).
import { describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { TARGETS } from './targets';
import { fuzz, summary } from './run';

const seconds = Number(process.env.TZ_FUZZ_SECONDS ?? 30);

describe('coverage-guided fuzzing (Jazzer.js)', { concurrency: 2 }, () => {
  for (const name of Object.keys(TARGETS)) {
    test(
      `fuzz ${name} for ${seconds} s: only the reader's own errors, no hang, bounded memory`,
      { timeout: (seconds + 240) * 1000 },
      async (t) => {
        let out = '';
        const r = await fuzz(name, seconds, (s) => {
          out = (out + s).slice(-4000);
        });
        t.diagnostic(summary(r));
        assert.equal(r.exitCode, 0, `${summary(r)}\n${out}`);
        assert.ok(r.executions > 0 && r.cov > 0, `no executions or no coverage: ${summary(r)}\n${out}`);
      },
    );
  }
});
