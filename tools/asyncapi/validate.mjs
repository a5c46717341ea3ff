// Validate an AsyncAPI document with the official parser: prints every diagnostic,
// exits 1 if any is an error. Usage: node validate.mjs <file>
import { Parser, fromFile } from '@asyncapi/parser';

const ERROR = 0;
const names = ['error', 'warning', 'info', 'hint'];
const { document, diagnostics } = await fromFile(new Parser(), process.argv[2]).parse();
for (const d of diagnostics) {
  console.log(`${names[d.severity]} ${d.code}: ${d.message} at ${JSON.stringify(d.path)}`);
}
const errors = diagnostics.filter((d) => d.severity === ERROR).length;
console.log(document ? `parsed: ${errors} errors` : 'not parsed');
process.exit(document && errors === 0 ? 0 : 1);
