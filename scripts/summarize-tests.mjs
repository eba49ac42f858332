// Prints the suite's closing line, "N passed, N failed, N skipped", from vitest's JSON report.
import { readFileSync } from 'node:fs';

const report = JSON.parse(readFileSync(process.argv[2], 'utf8'));
const failedFiles = report.testResults.filter((r) => r.status === 'failed' && r.assertionResults.length === 0).length;
console.log(`tests: ${report.numPassedTests} passed, ${report.numFailedTests + failedFiles} failed, ${report.numPendingTests + report.numTodoTests} skipped`);
if (report.numTotalTests === 0) {
  console.error('no tests ran');
  process.exit(1);
}
