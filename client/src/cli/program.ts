/**
 * The `zkgate` command line: every command, and `run`, which executes one and returns its exit
 * status instead of exiting (the bin exits with it; tests call it in-process).
 */
import { Command, CommanderError, Option } from 'commander';
import { ZkgateError } from '../errors.js';
import { configCommands, typesCommand } from './config-commands.js';
import { CliExit, Context, EXIT, ensureNewline, exitStatusOf, type Io } from './context.js';
import { execCommand } from './exec.js';
import { aclCommands, clusterCommand, registryCommands } from './operator-commands.js';
import { transferCommands } from './transfer.js';

export { EXIT, type Io };

const EXIT_CODES_HELP = `
Exit status: 0 ok, 1 failure, 2 usage, 3 not found (for dispatch: nothing eligible),
4 conflict (version precondition), 5 unauthorized or forbidden, 6 no gateway available,
7 request refused as invalid, 8 differences found (config diff).

Environment: ZKGATE_ADDR (gateway URL; comma-separated for several replicas, default
http://127.0.0.1:8080), ZKGATE_TOKEN (a zkg_ secret).`;

export function buildProgram(ctx: Context): Command {
  const program = new Command('zkgate')
    .description("zkgate's command line: config, registry, dispatch, access control")
    .addOption(new Option('--addr <url>', 'gateway URL(s), comma-separated (default: $ZKGATE_ADDR)'))
    .addOption(new Option('--token <secret>', 'bearer token (default: $ZKGATE_TOKEN)'))
    .option('--json', 'machine-readable output')
    .addHelpText('after', EXIT_CODES_HELP)
    .showHelpAfterError();
  program.addCommand(configCommands(ctx));
  for (const command of transferCommands(ctx)) program.addCommand(command);
  for (const command of registryCommands(ctx)) program.addCommand(command);
  program.addCommand(aclCommands(ctx));
  program.addCommand(clusterCommand(ctx));
  program.addCommand(execCommand(ctx));
  program.addCommand(typesCommand(ctx));
  // Every command reports through `io` and hands its status back rather than exiting.
  const configure = (command: Command): void => {
    command.exitOverride();
    command.configureOutput({ writeOut: ctx.io.stdout, writeErr: ctx.io.stderr });
    command.commands.forEach(configure);
  };
  configure(program);
  return program;
}

/** Runs `zkgate <argv>` and resolves with its exit status. */
export async function run(argv: readonly string[], io: Io): Promise<number> {
  const program = buildProgram(new Context(io));
  try {
    await program.parseAsync([...argv], { from: 'user' });
    return EXIT.ok;
  } catch (err) {
    if (err instanceof CommanderError) {
      // --help and --version end here too, with exitCode 0.
      return err.exitCode === 0 ? EXIT.ok : EXIT.usage;
    }
    if (err instanceof CliExit) {
      if (err.message !== '') io.stderr(ensureNewline(`zkgate: ${err.message}`));
      return err.status;
    }
    if (err instanceof ZkgateError) {
      io.stderr(
        ensureNewline(`zkgate: ${err.message}${err.code.startsWith('ZKG_') ? ` (${err.code})` : ''}`),
      );
      return exitStatusOf(err);
    }
    io.stderr(ensureNewline(`zkgate: ${err instanceof Error ? err.message : String(err)}`));
    return EXIT.failure;
  }
}
