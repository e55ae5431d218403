//! S3: fetching a file (such as a deployment's `.sops.yaml`) from a bucket.

use std::io::Write;

use serde::Deserialize;
use serde_json::{Value, json};

use super::{
    Action, ApiError, ApiResult, Aws, AwsError, BoxFuture, OrFail, Outcome, Params, Planned, Typed,
    diff_text,
};

// ---------------------------------------------------------------------------------------------
// The service boundary

/// The S3 calls stepwise makes.
pub trait S3Api: Send + Sync {
    /// An object's bytes; `None` when the bucket has no such key.
    fn get_object<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Vec<u8>>>>;
}

impl S3Api for aws_sdk_s3::Client {
    fn get_object<'a>(
        &'a self,
        bucket: &'a str,
        key: &'a str,
    ) -> BoxFuture<'a, ApiResult<Option<Vec<u8>>>> {
        Box::pin(async move {
            let o = match self.get_object().bucket(bucket).key(key).send().await {
                Ok(o) => o,
                Err(e) => {
                    let e = ApiError::sdk("s3:GetObject", e);
                    return if e.is("NoSuchKey") { Ok(None) } else { Err(e) };
                }
            };
            let body = o.body.collect().await.map_err(|e| {
                ApiError::new(
                    "s3:GetObject",
                    "ReadFailed",
                    format!("reading the object: {e}"),
                )
            })?;
            Ok(Some(body.into_bytes().to_vec()))
        })
    }
}

// ---------------------------------------------------------------------------------------------
// Actions

pub fn actions() -> Vec<Box<dyn Action>> {
    vec![Box::new(GetObject)]
}

pub struct GetObject;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetObjectParams {
    bucket: String,
    key: String,
    path: String,
}

impl Params for GetObjectParams {
    fn check(&self) -> Result<(), String> {
        if self.path.trim().is_empty() {
            return Err("path: give the file to write, relative to where the run started".into());
        }
        Ok(())
    }
}

impl GetObject {
    async fn fetch(aws: &Aws, p: &GetObjectParams) -> Result<Vec<u8>, AwsError> {
        aws.s3()
            .get_object(&p.bucket, &p.key)
            .await
            .or_fail(aws, Self::NAME)?
            .ok_or_else(|| {
                AwsError::new(
                    Self::NAME,
                    "NoSuchKey",
                    format!("s3://{}/{} does not exist", p.bucket, p.key),
                )
                .hint("check `bucket` and `key` (and that the step that creates it has run)")
            })
    }
}

impl Typed for GetObject {
    const NAME: &'static str = "s3.get_object";
    const SUMMARY: &'static str = "download an object to a file (relative to where the run started), unless the file already has its content";
    const OUTPUTS: &'static [&'static str] = &["path", "bytes"];
    const READ_ONLY: bool = false;
    type P = GetObjectParams;

    fn request(&self, p: &GetObjectParams) -> Value {
        json!({ "service": "s3", "operation": "GetObject", "Bucket": p.bucket, "Key": p.key,
                "writes": p.path })
    }

    async fn plan(&self, aws: &Aws, p: &GetObjectParams) -> Result<Planned, AwsError> {
        let wanted = Self::fetch(aws, p).await?;
        let path = aws.path(&p.path);
        Ok(match std::fs::read(&path) {
            Ok(now) if now == wanted => {
                Planned::as_wanted(format_args!("{} has the object's content", p.path))
            }
            Ok(now) => match (std::str::from_utf8(&now), std::str::from_utf8(&wanted)) {
                (Ok(a), Ok(b)) => Planned::would(format_args!(
                    "change {}:\n{}",
                    p.path,
                    diff_text(&p.path, &format!("s3://{}/{}", p.bucket, p.key), a, b)
                )),
                _ => Planned::would(format_args!(
                    "replace {} ({} bytes) with the object ({} bytes)",
                    p.path,
                    now.len(),
                    wanted.len()
                )),
            },
            Err(_) => Planned::would(format_args!(
                "write {} ({} bytes, a new file)",
                p.path,
                wanted.len()
            )),
        })
    }

    async fn apply(&self, aws: &Aws, p: &GetObjectParams) -> Result<Outcome, AwsError> {
        let wanted = Self::fetch(aws, p).await?;
        let path = aws.path(&p.path);
        let result = json!({ "path": p.path, "bytes": wanted.len() });
        if std::fs::read(&path).is_ok_and(|now| now == wanted) {
            return Ok(Outcome::unchanged(
                format!(
                    "{} already has the content of s3://{}/{}",
                    p.path, p.bucket, p.key
                ),
                result,
            ));
        }
        let write = || -> std::io::Result<()> {
            if let Some(dir) = path.parent() {
                std::fs::create_dir_all(dir)?;
            }
            let mut f = atomic_write_file::AtomicWriteFile::open(&path)?;
            f.write_all(&wanted)?;
            f.commit()
        };
        write().map_err(|e| {
            AwsError::new(
                Self::NAME,
                "WriteFailed",
                format!("cannot write {}: {e}", path.display()),
            )
        })?;
        Ok(Outcome::changed(
            format!(
                "wrote s3://{}/{} to {} ({} bytes)",
                p.bucket,
                p.key,
                p.path,
                wanted.len()
            ),
            result,
        ))
    }
}
