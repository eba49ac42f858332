/** The BERTH_STORAGE_* settings of a Berth on PostgreSQL (one schema) + an S3 server (one key prefix). */
export interface S3Endpoint {
  endpoint: string;
  region: string;
  bucket: string;
  forcePathStyle: boolean;
  accessKeyId: string;
  secretAccessKey: string;
}

export function scaleOutEnv(postgresUrl: string, schema: string, s3: S3Endpoint, prefix = ''): Record<string, string> {
  return {
    BERTH_STORAGE_METADATA: 'postgres',
    BERTH_STORAGE_POSTGRES_URL: postgresUrl,
    BERTH_STORAGE_POSTGRES_SCHEMA: schema,
    BERTH_STORAGE_BLOBS: 's3',
    BERTH_STORAGE_S3_ENDPOINT: s3.endpoint,
    BERTH_STORAGE_S3_REGION: s3.region,
    BERTH_STORAGE_S3_BUCKET: s3.bucket,
    BERTH_STORAGE_S3_PREFIX: prefix,
    BERTH_STORAGE_S3_FORCE_PATH_STYLE: String(s3.forcePathStyle),
    BERTH_STORAGE_S3_ACCESS_KEY_ID: s3.accessKeyId,
    BERTH_STORAGE_S3_SECRET_ACCESS_KEY: s3.secretAccessKey,
  };
}
