/**
 * tensorzip CLI: `tensorzip <command> [options] <file...>`.
 * Exit codes: 0 success, 1 bad input or failed job (one-line message on stderr), 2 usage, 75 (batch) retryable.
 */
import { parseArgs } from 'node:util';
import { removeLiveTempsSync } from '../engine/api';
import { describeError, TzError } from '../engine/core/errors';
import { COMMANDS } from './commands';
import type { Command } from './options';

const USAGE = `usage: tensorzip <command> [options] <file...>

commands:
${COMMANDS.map((c) => `  ${c.usage.padEnd(60)} ${c.summary}`).join('\n')}

Exit codes: 0 success, 1 bad input or failed job, 2 usage,
75 (batch) retryable failure: I/O error (EIO, ENOSPC, EAGAIN...), out of memory, killed or cancelled.`;

export class UsageError extends Error {}

async function main(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  if (!name || name === '--help' || name === '-h' || name === 'help') {
    process.stdout.write(USAGE + '\n');
    return name ? 0 : 2;
  }
  const cmd: Command | undefined = COMMANDS.find((c) => c.name === name);
  if (!cmd) {
    process.stderr.write(`tensorzip: unknown command "${name}"\n${USAGE}\n`);
    return 2;
  }
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: cmd.options, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`tensorzip ${name}: ${(e as Error).message.split('\n')[0]}\nusage: tensorzip ${cmd.usage}\n`);
    return 2;
  }
  try {
    return await cmd.run(parsed.values as Record<string, string | boolean | undefined>, parsed.positionals);
  } catch (e) {
    if (e instanceof UsageError || (e instanceof TzError && e.code === 'USAGE')) {
      process.stderr.write(`tensorzip ${name}: ${e.message}\nusage: tensorzip ${cmd.usage}\n`);
      return 2;
    }
    process.stderr.write(`tensorzip: ${describeError(e)}\n`);
    if (process.env.TENSORZIP_DEBUG && e instanceof Error) process.stderr.write(`${e.stack}\n`);
    return 1;
  }
}

// A closed pipe (`tensorzip analyze ... | head`) is not an error worth a stack trace.
for (const s of [process.stdout, process.stderr])
  s.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code === 'EPIPE') process.exit(process.exitCode ?? 0);
  });
if (process.env.TENSORZIP_REPORT_RSS)
  process.on('exit', () => process.stderr.write(`maxrss_kb=${process.resourceUsage().maxRSS}\n`));

// The edge guard: if the command's promise never settles (a lost reply or rejection somewhere below),
// the event loop runs dry and Node would exit 0 without a word. That is never a success.
let answered = false;
process.on('beforeExit', () => {
  if (answered) return;
  answered = true;
  const temps = removeLiveTempsSync();
  process.stderr.write(
    `tensorzip: internal error: ${process.argv[2] ?? 'command'} ended without an answer` +
      `${temps.length ? ` (removed ${temps.length} temp file${temps.length > 1 ? 's' : ''})` : ''}\n`,
  );
  process.exitCode = 1;
});

main(process.argv.slice(2)).then(
  (code) => {
    answered = true;
    process.exitCode = code;
  },
  (e) => {
    answered = true;
    process.stderr.write(`tensorzip: ${describeError(e)}\n`);
    process.exitCode = 1;
  },
);
