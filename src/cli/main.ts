import { Command, CommanderError } from 'commander'
import { RADDIFF_VERSION } from '../version.js'
import { EXIT } from './exit-codes.js'
import { createReporter, describeUnexpected } from './report.js'
import { inspectCommand } from './commands/inspect.js'
import { convertCommand } from './commands/convert.js'
import { modelsCommand } from './commands/models.js'
import { serveCommand, type ServeCliOptions } from './commands/serve.js'
import { runTaskCommand, type TaskCliOptions } from './commands/task-runner.js'
import { addTaskOptions } from './commands/task-options.js'
import type { TaskName } from '../pipelines/task.js'

const TASK_COMMANDS: [TaskName, string][] = [
  ['denoise', 'remove noise by partial diffusion from the estimated noise level (MRI: Rician-aware)'],
  ['superres', 'raise resolution ×2 or ×4 (range–null-space consistent: the output downsampled gives the input back)'],
  ['translate', 'synthesise a CT in HU from an MRI with a conditional model'],
  ['anomaly', 'anomaly heatmap and mask by healing with a healthy prior (AnoDDPM-style)'],
]

function program(setCode: (c: number) => void, argv: string[] = []): Command {
  const cmd = new Command('raddiff')
    .description('Diffusion-model enhancement and anomaly maps for DICOM and NIfTI scans. NOT FOR CLINICAL USE.')
    .version(RADDIFF_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })

  cmd
    .command('inspect')
    .description('summarise the image series in files, folders or zips (headers only, no pixel decoding)')
    .argument('<inputs...>', 'DICOM files or folders, zips, NIfTI (.nii/.nii.gz), NRRD, MHA, MGZ, or a dicomweb+http(s)://…/studies/UID URL (series over QIDO-RS)')
    .option('--json', 'one JSON object per series (and per problem) on stdout')
    .action(async (inputs: string[], o: { json?: boolean }) => {
      setCode(await inspectCommand(inputs, createReporter(!!o.json)))
    })

  cmd
    .command('convert')
    .description('convert each input series to NIfTI, NRRD, MHA, a PNG preview, or a DICOM series folder')
    .argument('<inputs...>', 'DICOM files or folders, zips, NIfTI, NRRD, MHA, MGZ')
    .requiredOption('-o, --output <out>', 'output: *.nii.gz, *.nii, *.nrrd, *.mha, *.png, or a folder for a DICOM series')
    .option('--deidentify', 'DICOM output: PS3.15 Annex E basic profile (identifiers removed, UIDs replaced consistently)')
    .option('--json', 'one JSON result line per series on stdout')
    .action(async (inputs: string[], o: { output: string; json?: boolean; deidentify?: boolean }) => {
      setCode(await convertCommand(inputs, o.output, createReporter(!!o.json), { deidentify: !!o.deidentify }))
    })

  cmd
    .command('models')
    .description('list installed models with their files, sha256 (recomputed) and cards')
    .option('--models-dir <dir>', 'models folder (default: the shipped models/, or $RADDIFF_MODELS_DIR)')
    .option('--json', 'one JSON object per model on stdout')
    .action(async (o: { modelsDir?: string; json?: boolean }) => {
      setCode(await modelsCommand(o.modelsDir, createReporter(!!o.json)))
    })

  for (const [name, description] of TASK_COMMANDS) {
    const sub = cmd
      .command(name)
      .description(`${description}. NOT FOR CLINICAL USE`)
      .argument('<inputs...>', 'DICOM files or folders, zips, NIfTI, NRRD, MHA, MGZ, or dicomweb+http(s)://host/…/studies/UID[/series/UID]')
      .requiredOption('-o, --output <out>', 'a folder (one {stem}_desc-{role}.nii.gz per output, plus run.json) or, for one series, a .nii.gz/.nii/.nrrd/.mha file')
    addTaskOptions(sub, name)
    sub
      .option('--format <f>', 'nifti (default) | dicom (one derived DICOM series folder per output)')
      .option('--deidentify', 'DICOM outputs: PS3.15 Annex E basic profile (identifiers removed, UIDs replaced consistently across the run)')
      .option('--models-dir <dir>', 'models folder (default: the shipped models/, or $RADDIFF_MODELS_DIR)')
      .option('--resume', 'skip series whose outputs all exist')
      .option('--shard <i/n>', 'process only series with index % n == i-1 (1-based i), to split a batch over machines')
      .option('--push [url]', 'STOW-RS the outputs as DICOM (SEG for masks, Parametric Maps for heatmaps) to a dicomweb+http(s):// server; default: the server the input came from')
      .option('--json', 'one JSON result line per series on stdout')
      .action(async (inputs: string[], o: TaskCliOptions & { json?: boolean }) => {
        setCode(await runTaskCommand(name, inputs, o, createReporter(!!o.json), argv))
      })
  }

  cmd
    .command('serve')
    .description('serve the HTTP API on http://127.0.0.1:8080 (uploads, jobs, results; docs at /docs)')
    .option('--port <n>', 'port (default 8080, or $PORT)')
    .option('--host <addr>', 'address to bind (default 127.0.0.1; forced to loopback when no API tokens are configured)')
    .option('--data <dir>', 'storage root for uploads and results, and the SQLite store without --database (default ./data, or $RADDIFF_DATA_DIR); shared by all nodes')
    .option('--scratch <dir>', "this node's local folder for temporary files (default DATA/tmp, or $RADDIFF_SCRATCH_DIR)")
    .option('--database <url>', 'postgres://… : PostgreSQL as the record store, shared by nodes on several machines (or $RADDIFF_DATABASE_URL; default: SQLite in the data folder)')
    .option('--models-dir <dir>', 'models folder (default: the shipped models/, or $RADDIFF_MODELS_DIR)')
    .option('--concurrency <n>', 'jobs run at once, one worker process each (default 1)')
    .option('--redis-url <url>', 'share the job queue over Redis (BullMQ) with other processes using the same store and data folder (or $RADDIFF_REDIS_URL)')
    .option('--role <role>', 'Redis mode: all (API + worker, default), api (no jobs run here) or worker (no HTTP) (or $RADDIFF_ROLE)')
    .action(async (o: ServeCliOptions) => {
      setCode(await serveCommand(o))
    })

  return cmd
}

/** Runs the CLI and resolves to its exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.OK
  try {
    await program((c) => (code = c), argv).parseAsync(argv, { from: 'user' })
    return code
  } catch (e) {
    if (e instanceof CommanderError) {
      return e.exitCode === 0 ? EXIT.OK : EXIT.USAGE
    }
    const { code: errCode, message } = describeUnexpected(e)
    process.stderr.write(`raddiff: ${message} [${errCode}]\n`)
    if (process.env.RADDIFF_DEBUG) process.stderr.write(String((e as Error)?.stack ?? e) + '\n')
    return errCode === 'UNSUPPORTED_OUTPUT' ? EXIT.USAGE : errCode === 'INTERNAL' ? EXIT.INTERNAL : EXIT.NO_USABLE_INPUT
  }
}
