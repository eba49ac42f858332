// s3rver (the S3 protocol over real HTTP, the same fake the tests use) in a process of
// its own, so it doesn't share the benchmark client's event loop. Prints one JSON line
// with its endpoint and credentials, then serves until killed.
import { startS3Server } from '../test/support/s3-server.js';

const server = await startS3Server({ partCopy: true });
process.stdout.write(JSON.stringify({ endpoint: server.endpoint, bucket: server.bucket, region: server.region, accessKeyId: server.accessKeyId, secretAccessKey: server.secretAccessKey }) + '\n');
const stop = () => void server.stop().finally(() => process.exit(0));
process.once('SIGTERM', stop);
process.once('SIGINT', stop);
