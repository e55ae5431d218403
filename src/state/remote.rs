//! The run store on S3 (`--store s3://BUCKET/PREFIX`): S3 holds the truth, and a working copy
//! of each run is kept under `$STEPWISE_HOME/stores/` so that the readers of the local store
//! serve both.
//!
//! Under `PREFIX/runs/NAME/`:
//! - `state.json`, written with `If-Match` on the ETag this process last read or wrote
//!   (`If-None-Match: *` when the run is created): a writer that lost the run never writes
//!   over a newer state;
//! - `lock`, created with `If-None-Match: *` and renewed with `If-Match` every `RENEW_EVERY`;
//! - `journal/NNNNNNNN.json`, one object per entry, created with `If-None-Match: *`: the
//!   journal is append-only, and two writers cannot both add entry N;
//! - `logs/STEP.log`, put whole when the step ends; while it runs, what it adds is put every
//!   `RENEW_EVERY` as `logs/STEP.log.part-OFFSET`;
//! - `definitions/HASH.yaml`.
//!
//! Every object is written with server-side encryption: SSE-S3, or SSE-KMS with
//! `--store-kms-key`. The AWS SDK is async and the store is not: each call runs on a small
//! runtime of its own and the caller waits for its answer, as it waits for an fsync.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use aws_sdk_s3::error::ProvideErrorMetadata;
use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::ServerSideEncryption;

use super::*;
use crate::aws::ApiError;

mod copy;
mod lease;
pub use copy::{append_entry, refresh, refresh_state, remove_lock, remove_objects, touch_state};
pub use lease::{LockBody, Mirror, machine_id, read_lock};

/// How often the driver renews its lock and puts what running steps printed.
pub const RENEW_EVERY: Duration = Duration::from_secs(5);
/// How long a lock holds after its last renewal; `unlock` refuses a fresher one unless forced.
pub const LEASE: Duration = Duration::from_secs(30);
/// The most of a running step's log put in one part.
const PART_MAX: u64 = 8 * 1024 * 1024;
/// The largest object read whole (a state, a lock, a journal entry, a definition); logs are
/// streamed. A larger one is not stepwise's, and is refused rather than read into memory.
const OBJECT_MAX: i64 = 64 * 1024 * 1024;

/// An S3 run store.
pub struct Store {
    pub bucket: String,
    /// Empty, or ending with `/`.
    prefix: String,
    kms_key: Option<String>,
    client: aws_sdk_s3::Client,
}

static CHOSEN: OnceLock<Store> = OnceLock::new();
static RUNTIME: OnceLock<Option<tokio::runtime::Runtime>> = OnceLock::new();

/// Chooses the S3 store for this process (`--store`); without it, the local store is used.
pub fn choose(url: &str, kms_key: Option<&str>) -> Result<(), StoreError> {
    let bad = |why: &str| StoreError::BadStore {
        url: url.to_string(),
        why: why.to_string(),
    };
    let rest = url
        .strip_prefix("s3://")
        .ok_or_else(|| bad("a store is s3://BUCKET/PREFIX"))?;
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.is_empty() {
        return Err(bad("the bucket's name is missing"));
    }
    let prefix = prefix.trim_matches('/');
    // Each segment is a folder of the working copies: two stores never share one.
    if !prefix.is_empty() && prefix.split('/').any(|p| matches!(p, "" | "." | "..")) {
        return Err(bad("a prefix has no empty, `.` or `..` segment"));
    }
    let prefix = if prefix.is_empty() {
        String::new()
    } else {
        format!("{prefix}/")
    };
    let client = block(async {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .load()
            .await;
        let s3 = aws_sdk_s3::config::Builder::from(&config)
            // A custom endpoint (moto, MinIO, a VPC endpoint) is addressed by path.
            .force_path_style(config.endpoint_url().is_some())
            .build();
        aws_sdk_s3::Client::from_conf(s3)
    })?;
    let store = Store {
        bucket: bucket.to_string(),
        prefix,
        kms_key: kms_key.filter(|k| !k.is_empty()).map(str::to_string),
        client,
    };
    let _ = CHOSEN.set(store);
    Ok(())
}

/// The S3 store, when one was chosen.
pub fn chosen() -> Option<&'static Store> {
    CHOSEN.get()
}

/// Runs `f` on the store's runtime and waits for its answer: the store's callers are
/// synchronous, and may themselves be on another runtime.
fn block<F>(f: F) -> Result<F::Output, StoreError>
where
    F: Future + Send + 'static,
    F::Output: Send + 'static,
{
    let unavailable = |why: &str| StoreError::Remote {
        what: "the S3 store".into(),
        message: why.to_string(),
        hint: None,
    };
    let runtime = RUNTIME
        .get_or_init(|| {
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(1)
                .thread_name("stepwise-s3")
                .enable_all()
                .build()
                .ok()
        })
        .as_ref()
        .ok_or_else(|| unavailable("cannot start its runtime"))?;
    let (tx, rx) = std::sync::mpsc::sync_channel(1);
    runtime.spawn(async move {
        let _ = tx.send(f.await);
    });
    rx.recv()
        .map_err(|_| unavailable("a call to S3 ended without an answer"))
}

/// What a conditional write found instead of what it expected.
pub struct Conflict;

/// How a put is conditioned.
pub enum Put {
    /// Only if there is no object of that key yet.
    New,
    /// Only if the object is still the one with this ETag.
    Over(String),
    /// Whatever is there.
    Any,
}

/// What a put answers: the object's new ETag, or `Conflict` when its condition did not hold.
type PutResult = Result<Result<String, Conflict>, StoreError>;

impl Store {
    /// Where the store is, as a person writes it.
    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.bucket, self.prefix.trim_end_matches('/'))
    }

    /// The working copies' folder under `home`: one per bucket and prefix.
    pub fn cache_dir(&self, home: &Path) -> PathBuf {
        let mut dir = home.join("stores").join("s3").join(&self.bucket);
        for part in self.prefix.split('/').filter(|p| !p.is_empty()) {
            dir.push(part);
        }
        dir
    }

    /// The key of `rest` in run `name`'s objects (`rest` empty: the run's prefix).
    pub fn key(&self, name: &str, rest: &str) -> String {
        format!("{}runs/{name}/{rest}", self.prefix)
    }

    fn error<E>(&self, permission: &'static str, key: &str, e: SdkError<E>) -> StoreError
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let e = ApiError::sdk(permission, e);
        let kms = e.message.to_ascii_lowercase().contains("kms");
        let hint = match e.code.as_deref() {
            Some("AccessDenied" | "KMS.AccessDeniedException") if kms => Some(format!(
                "the store's KMS key needs kms:GenerateDataKey and kms:Decrypt for {permission} (README.md, \"A run store on S3\")"
            )),
            Some("AccessDenied" | "Forbidden" | "AllAccessDisabled") if permission == "s3:ListBucket" => Some(format!(
                "the store needs s3:ListBucket on arn:aws:s3:::{} for the prefix {key} (README.md, \"A run store on S3\", has the least policy)",
                self.bucket
            )),
            Some("AccessDenied" | "Forbidden" | "AllAccessDisabled") => Some(format!(
                "the store needs {permission} on arn:aws:s3:::{}/{key} (README.md, \"A run store on S3\", has the least policy)",
                self.bucket
            )),
            Some("NoSuchBucket") => Some(format!(
                "create the bucket {} first, or name another with --store",
                self.bucket
            )),
            Some("KMS.NotFoundException" | "KMS.DisabledException") => {
                Some("check the key given with --store-kms-key".into())
            }
            _ if e.code.is_none() => Some(
                "check the network and the AWS credentials and region (the same chain as AWS steps)"
                    .into(),
            ),
            _ => None,
        };
        StoreError::Remote {
            what: format!("{permission} s3://{}/{key}", self.bucket),
            message: e.message,
            hint,
        }
    }

    /// An object's bytes and ETag; `None` when there is none.
    pub fn get(&self, key: &str) -> Result<Option<(Vec<u8>, String)>, StoreError> {
        let call = self.client.get_object().bucket(&self.bucket).key(key);
        let got = block(async move {
            let o = call.send().await?;
            let etag = o.e_tag.clone().unwrap_or_default();
            let size = o.content_length().unwrap_or(0);
            if size > OBJECT_MAX {
                return Ok(Err(format!(
                    "it is {size} bytes, more than stepwise reads of such an object ({OBJECT_MAX})"
                )));
            }
            let body = o.body.collect().await.map(|b| b.into_bytes().to_vec());
            Ok::<_, SdkError<aws_sdk_s3::operation::get_object::GetObjectError>>(
                body.map(|b| (b, etag)).map_err(|e| e.to_string()),
            )
        })?;
        match got {
            Ok(Ok(got)) => Ok(Some(got)),
            Ok(Err(read)) => Err(StoreError::Remote {
                what: format!("s3:GetObject s3://{}/{key}", self.bucket),
                message: format!("reading the object: {read}"),
                hint: None,
            }),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => Ok(None),
            Err(e) => Err(self.error("s3:GetObject", key, e)),
        }
    }

    /// An object's ETag; `None` when there is none.
    pub fn head(&self, key: &str) -> Result<Option<String>, StoreError> {
        let call = self.client.head_object().bucket(&self.bucket).key(key);
        match block(call.send())? {
            Ok(o) => Ok(Some(o.e_tag.unwrap_or_default())),
            Err(e) if e.as_service_error().is_some_and(|e| e.is_not_found()) => Ok(None),
            Err(e) => Err(self.error("s3:GetObject", key, e)),
        }
    }

    /// Writes an object's bytes to `out` as they come (a log may be large); `false` when there
    /// is no such object.
    pub fn download(&'static self, key: &str, out: &mut impl Write) -> Result<bool, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Result<Vec<u8>, String>>(4);
        let call = self.client.get_object().bucket(&self.bucket).key(key);
        let sent = std::thread::scope(|scope| {
            let answer = scope.spawn(move || {
                block(async move {
                    let mut o = call.send().await?;
                    while let Some(chunk) = o.body.next().await {
                        let chunk = chunk.map(|c| c.to_vec()).map_err(|e| e.to_string());
                        let failed = chunk.is_err();
                        if tokio::task::block_in_place(|| tx.send(chunk)).is_err() || failed {
                            break;
                        }
                    }
                    Ok::<_, SdkError<aws_sdk_s3::operation::get_object::GetObjectError>>(())
                })
            });
            let mut written: Result<(), StoreError> = Ok(());
            for chunk in rx {
                let chunk = chunk.map_err(|e| StoreError::Remote {
                    what: format!("s3:GetObject s3://{}/{key}", self.bucket),
                    message: format!("reading the object: {e}"),
                    hint: None,
                });
                if let Err(e) = chunk.and_then(|c| {
                    out.write_all(&c).map_err(|e| StoreError::Remote {
                        what: format!("writing s3://{}/{key} here", self.bucket),
                        message: e.to_string(),
                        hint: None,
                    })
                }) {
                    written = Err(e);
                    break;
                }
            }
            (answer.join(), written)
        });
        match sent {
            (_, Err(e)) => Err(e),
            (Ok(Ok(Ok(()))), Ok(())) => Ok(true),
            (Ok(Ok(Err(e))), Ok(()))
                if e.as_service_error().is_some_and(|e| e.is_no_such_key()) =>
            {
                Ok(false)
            }
            (Ok(Ok(Err(e))), Ok(())) => Err(self.error("s3:GetObject", key, e)),
            (Ok(Err(e)), Ok(())) => Err(e),
            (Err(_), Ok(())) => Err(StoreError::Remote {
                what: format!("s3:GetObject s3://{}/{key}", self.bucket),
                message: "the download stopped".into(),
                hint: None,
            }),
        }
    }

    /// Puts an object (with the store's server-side encryption) and returns its ETag, or
    /// `Conflict` when its condition does not hold.
    pub fn put(&'static self, key: &str, body: ByteStream, when: Put) -> PutResult {
        block(self.put_async(key.to_string(), body, when))?
    }

    async fn put_async(&'static self, key: String, body: ByteStream, when: Put) -> PutResult {
        let mut call = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(&key)
            .body(body);
        call = match &self.kms_key {
            Some(k) => call
                .server_side_encryption(ServerSideEncryption::AwsKms)
                .ssekms_key_id(k),
            None => call.server_side_encryption(ServerSideEncryption::Aes256),
        };
        let over = matches!(when, Put::Over(_));
        call = match when {
            Put::New => call.if_none_match("*"),
            Put::Over(etag) => call.if_match(etag),
            Put::Any => call,
        };
        match call.send().await {
            Ok(o) => Ok(Ok(o.e_tag.unwrap_or_default())),
            Err(e) if conflict(&e) => Ok(Err(Conflict)),
            // Written over an object that is gone: not the one expected either.
            Err(e) if over && e.code() == Some("NoSuchKey") => Ok(Err(Conflict)),
            Err(e) => Err(self.error("s3:PutObject", &key, e)),
        }
    }

    /// Puts bytes.
    pub fn put_bytes(&'static self, key: &str, bytes: Vec<u8>, when: Put) -> PutResult {
        self.put(key, ByteStream::from(bytes), when)
    }

    /// Puts a file, streamed from disk.
    pub fn put_file(&'static self, key: &str, path: &Path) -> Result<(), StoreError> {
        let path_buf = path.to_path_buf();
        let body = block(async move { ByteStream::from_path(path_buf).await })?.map_err(|e| {
            StoreError::Io {
                path: path.to_path_buf(),
                source: std::io::Error::other(e),
            }
        })?;
        self.put(key, body, Put::Any).map(|_| ())
    }

    /// Puts objects at once, and waits for every answer (in the order given).
    fn put_all(
        &'static self,
        puts: Vec<(String, Vec<u8>, Put)>,
    ) -> Result<Vec<PutResult>, StoreError> {
        block(futures::future::join_all(puts.into_iter().map(
            |(key, bytes, when)| self.put_async(key, ByteStream::from(bytes), when),
        )))
    }

    /// Deletes an object (only if it still has `etag`, when given); `Conflict` when it has
    /// another.
    pub fn delete(
        &self,
        key: &str,
        etag: Option<&str>,
    ) -> Result<Result<(), Conflict>, StoreError> {
        let mut call = self.client.delete_object().bucket(&self.bucket).key(key);
        if let Some(etag) = etag {
            call = call.if_match(etag);
        }
        match block(call.send())? {
            Ok(_) => Ok(Ok(())),
            Err(e) if conflict(&e) => Ok(Err(Conflict)),
            Err(e) if e.code() == Some("NoSuchKey") => Ok(Ok(())),
            Err(e) => Err(self.error("s3:DeleteObject", key, e)),
        }
    }

    /// The keys and sizes of the objects under `prefix`, in key order.
    pub fn list(&self, prefix: &str) -> Result<Vec<(String, u64)>, StoreError> {
        let mut out = Vec::new();
        let mut token: Option<String> = None;
        loop {
            let call = self
                .client
                .list_objects_v2()
                .bucket(&self.bucket)
                .prefix(prefix)
                .set_continuation_token(token.take());
            let page = match block(call.send())? {
                Ok(p) => p,
                Err(e) => return Err(self.error("s3:ListBucket", prefix, e)),
            };
            for o in page.contents() {
                if let Some(k) = o.key() {
                    out.push((k.to_string(), o.size().unwrap_or(0).max(0) as u64));
                }
            }
            match page.next_continuation_token() {
                Some(t) if page.is_truncated() == Some(true) => token = Some(t.to_string()),
                _ => break,
            }
        }
        Ok(out)
    }

    /// The names of the runs in the store.
    pub fn names(&self) -> Result<Vec<String>, StoreError> {
        let base = format!("{}runs/", self.prefix);
        let mut names: Vec<String> = self
            .list(&base)?
            .into_iter()
            .filter_map(|(k, _)| {
                let rest = k.strip_prefix(&base)?;
                let (name, file) = rest.split_once('/')?;
                (file == "state.json" && valid_name(name)).then(|| name.to_string())
            })
            .collect();
        names.dedup();
        Ok(names)
    }
}

type SdkError<E> = aws_sdk_s3::error::SdkError<E, aws_sdk_s3::config::http::HttpResponse>;

/// Whether S3 refused a conditional write because its condition did not hold.
fn conflict<E: ProvideErrorMetadata>(e: &SdkError<E>) -> bool {
    let status = e.raw_response().map(|r| r.status().as_u16());
    matches!(status, Some(412 | 409))
        || matches!(
            e.code(),
            Some("PreconditionFailed" | "ConditionalRequestConflict")
        )
}
