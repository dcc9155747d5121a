import { Command, CommanderError } from 'commander'
import { RADDIFF_VERSION } from '../version.js'
import { EXIT } from './exit-codes.js'
import { createReporter, describeUnexpected } from './report.js'
import { inspectCommand } from './commands/inspect.js'
import { convertCommand } from './commands/convert.js'
import { modelsCommand } from './commands/models.js'

function program(setCode: (c: number) => void): Command {
  const cmd = new Command('raddiff')
    .description('Diffusion-model enhancement and anomaly maps for DICOM and NIfTI scans. NOT FOR CLINICAL USE.')
    .version(RADDIFF_VERSION)
    .exitOverride()
    .configureOutput({ writeOut: (s) => process.stdout.write(s), writeErr: (s) => process.stderr.write(s) })

  cmd
    .command('inspect')
    .description('summarise the image series in files, folders or zips (headers only, no pixel decoding)')
    .argument('<inputs...>', 'DICOM files or folders, zips, NIfTI (.nii/.nii.gz), NRRD, MHA, MGZ')
    .option('--json', 'one JSON object per series (and per problem) on stdout')
    .action(async (inputs: string[], o: { json?: boolean }) => {
      setCode(await inspectCommand(inputs, createReporter(!!o.json)))
    })

  cmd
    .command('convert')
    .description('convert each input series to NIfTI, NRRD, MHA, a PNG preview, or a DICOM series folder')
    .argument('<inputs...>', 'DICOM files or folders, zips, NIfTI, NRRD, MHA, MGZ')
    .requiredOption('-o, --output <out>', 'output: *.nii.gz, *.nii, *.nrrd, *.mha, *.png, or a folder for a DICOM series')
    .option('--json', 'one JSON result line per series on stdout')
    .action(async (inputs: string[], o: { output: string; json?: boolean }) => {
      setCode(await convertCommand(inputs, o.output, createReporter(!!o.json)))
    })

  cmd
    .command('models')
    .description('list installed models with their files, sha256 (recomputed) and cards')
    .option('--models-dir <dir>', 'models folder (default: the shipped models/, or $RADDIFF_MODELS_DIR)')
    .option('--json', 'one JSON object per model on stdout')
    .action(async (o: { modelsDir?: string; json?: boolean }) => {
      setCode(await modelsCommand(o.modelsDir, createReporter(!!o.json)))
    })

  return cmd
}

/** Runs the CLI and resolves to its exit code; never throws. */
export async function main(argv: string[]): Promise<number> {
  let code: number = EXIT.OK
  try {
    await program((c) => (code = c)).parseAsync(argv, { from: 'user' })
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
