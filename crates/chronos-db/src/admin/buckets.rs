//! Bucket existence checks and bucket creation, straight against each provider's REST API
//! (`chronos admin buckets`).
//!
//! `object_store` has no bucket-level operations, so these are single signed HTTP requests:
//!
//! * S3: `HEAD /<bucket>` (HeadBucket) and `PUT /<bucket>` (CreateBucket), signed with
//!   SigV4 by `object_store`'s public [`AwsAuthorizer`].
//! * Azure: `GET /<container>?restype=container` (Get Container Properties) and
//!   `PUT /<container>?restype=container` (Create Container), signed with SharedKey by
//!   `object_store`'s public [`AzureAuthorizer`].
//! * Local: the directory `<basePath>/<bucket>`.
//! * GCS and memory: not supported (reported as an error, never as a guess).
//!
//! Every message goes through `SpacesConnection::redact`, so no key of the connection (nor any other
//! credential, such as a URL's userinfo) is ever printed.

use super::BucketStatus;
use crate::config::{Provider, SpacesConnection};
use crate::payload::backends::azure_base;
use bytes::Bytes;
use object_store::aws::{AwsAuthorizer, AwsCredential};
use object_store::azure::{AzureAccessKey, AzureAuthorizer, AzureCredential};
use object_store::client::{HttpRequest, HttpRequestBody};
use reqwest::{Method, StatusCode};
use std::path::PathBuf;
use std::time::Duration;

/// Default per-request timeout (as for the payload stores).
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);

/// What one bucket check found.
pub(crate) struct Outcome {
    pub(crate) status: BucketStatus,
    pub(crate) message: String,
}

fn outcome(status: BucketStatus, message: impl Into<String>) -> Outcome {
    Outcome {
        status,
        message: message.into(),
    }
}

fn error(message: impl Into<String>) -> Outcome {
    outcome(BucketStatus::Error, message)
}

/// The provider a bucket of this connection is really stored with (`localStorage` wins).
pub(crate) fn effective_provider(
    conn: &SpacesConnection,
    local_override: Option<&str>,
) -> Provider {
    if local_override.is_some() {
        Provider::Local
    } else {
        conn.effective_provider()
    }
}

/// Checks (and with `create`, creates) one bucket of a connection. Never panics, never
/// returns a key of the connection in its message.
pub(crate) async fn check(
    conn: &SpacesConnection,
    local_override: Option<&str>,
    bucket: &str,
    create: bool,
) -> Outcome {
    let mut out = match effective_provider(conn, local_override) {
        Provider::Local => {
            let base = local_override
                .or(conn.base_path.as_deref())
                .unwrap_or(".");
            let mut o = local(base, bucket, create).await;
            if local_override.is_some() {
                o.message.push_str(" (localStorage is enabled: every bucket is a local directory)");
            }
            o
        }
        Provider::S3 => match client(conn) {
            Ok(c) => s3(&c, conn, bucket, create).await,
            Err(o) => o,
        },
        Provider::Azure => match client(conn) {
            Ok(c) => azure(&c, conn, bucket, create).await,
            Err(o) => o,
        },
        Provider::Gcs => error("not supported for this provider (gcs): check the bucket with gcloud"),
        Provider::Memory => error(
            "not supported for this provider (memory): in-memory buckets exist only inside a running process",
        ),
    };
    out.message = conn.redact(&out.message);
    out
}

// ------------------------------------------------------------------------------ local ---

async fn local(base: &str, bucket: &str, create: bool) -> Outcome {
    let dir = PathBuf::from(base).join(bucket);
    match tokio::fs::metadata(&dir).await {
        Ok(m) if m.is_dir() => outcome(
            BucketStatus::Exists,
            format!("directory {} exists", dir.display()),
        ),
        Ok(_) => error(format!("{} exists but is not a directory", dir.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            if !create {
                return outcome(
                    BucketStatus::Missing,
                    format!("directory {} does not exist", dir.display()),
                );
            }
            match tokio::fs::create_dir_all(&dir).await {
                Ok(()) => outcome(
                    BucketStatus::Created,
                    format!("directory {} created", dir.display()),
                ),
                Err(e) => error(format!("cannot create {}: {e}", dir.display())),
            }
        }
        Err(e) => error(format!("cannot read {}: {e}", dir.display())),
    }
}

// ------------------------------------------------------------------------------- HTTP ---

fn timeout(conn: &SpacesConnection) -> Duration {
    conn.timeout_ms
        .map(Duration::from_millis)
        .unwrap_or(DEFAULT_TIMEOUT)
}

fn client(conn: &SpacesConnection) -> Result<reqwest::Client, Outcome> {
    let t = timeout(conn);
    reqwest::Client::builder()
        .timeout(t)
        .connect_timeout(t.min(Duration::from_secs(5)))
        // A redirect (S3 answers 301 for a bucket of another region) is an answer to
        // report, not to follow.
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .map_err(|e| error(format!("cannot build an HTTP client: {e}")))
}

/// One request's answer.
struct Answer {
    status: StatusCode,
    headers: reqwest::header::HeaderMap,
    body: String,
}

/// Sends a request built as an `object_store` [`HttpRequest`] (so that its authorizers can
/// sign it) with reqwest.
async fn send(client: &reqwest::Client, req: HttpRequest) -> Result<Answer, String> {
    let (parts, body) = req.into_parts();
    let body: Bytes = body.as_bytes().cloned().unwrap_or_default();
    let url = parts.uri.to_string();
    let mut builder = client.request(parts.method.clone(), &url);
    for (name, value) in parts.headers.iter() {
        builder = builder.header(name, value);
    }
    let resp = builder.body(body).send().await.map_err(|e| {
        let kind = if e.is_timeout() {
            "timed out"
        } else if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        format!("{} {url}: {kind}: {}", parts.method, error_chain(&e))
    })?;
    let status = resp.status();
    let headers = resp.headers().clone();
    // Error bodies are small XML documents; a HEAD answer has none.
    let body = resp.text().await.unwrap_or_default();
    Ok(Answer {
        status,
        headers,
        body,
    })
}

/// The causes of an error, joined (reqwest's own text only repeats the URL, so it is left
/// out when there is a cause).
fn error_chain(e: &dyn std::error::Error) -> String {
    let Some(first) = e.source() else {
        return e.to_string();
    };
    let mut text = first.to_string();
    let mut source = first.source();
    while let Some(s) = source {
        let part = s.to_string();
        if !text.contains(&part) {
            text.push_str(": ");
            text.push_str(&part);
        }
        source = s.source();
    }
    text
}

fn request(method: Method, url: &str, body: Bytes) -> Result<HttpRequest, String> {
    let mut req = HttpRequest::new(HttpRequestBody::from(body));
    *req.method_mut() = method;
    match url.parse() {
        Ok(uri) => *req.uri_mut() = uri,
        Err(_) => return Err(format!("invalid URL '{url}'")),
    }
    Ok(req)
}

/// The text of the first `<tag>...</tag>` of an XML error document.
fn xml_tag<'a>(body: &'a str, tag: &str) -> Option<&'a str> {
    let start = body.find(&format!("<{tag}>"))? + tag.len() + 2;
    let end = body[start..].find(&format!("</{tag}>"))? + start;
    Some(body[start..end].trim())
}

/// "HTTP 403 SignatureDoesNotMatch: The request signature ..." from an error answer (only the
/// code and the message: S3 and Azure error documents also echo the string to sign).
fn describe(a: &Answer, code_header: Option<&str>) -> String {
    let code = code_header
        .and_then(|h| a.headers.get(h))
        .and_then(|v| v.to_str().ok())
        .or_else(|| xml_tag(&a.body, "Code"));
    let message = xml_tag(&a.body, "Message").map(|m| m.lines().next().unwrap_or(m));
    let mut text = format!("HTTP {}", a.status.as_u16());
    if let Some(c) = code {
        text.push(' ');
        text.push_str(c);
    }
    if let Some(m) = message {
        text.push_str(": ");
        text.push_str(m);
    }
    text
}

// --------------------------------------------------------------------------------- S3 ---

struct S3Target {
    region: String,
    /// The bucket's URL (path-style `<endpoint>/<bucket>`, or virtual-hosted
    /// `https://<bucket>.<host>/`).
    url: String,
    credential: Option<AwsCredential>,
}

fn s3_target(conn: &SpacesConnection, bucket: &str) -> Result<S3Target, String> {
    let region = conn.region.clone().unwrap_or_else(|| "us-east-1".into());
    let endpoint = conn
        .endpoint
        .as_deref()
        .map(|e| e.trim_end_matches('/').to_string())
        .unwrap_or_else(|| format!("https://s3.{region}.amazonaws.com"));
    let url = if conn.force_path_style.unwrap_or(true) {
        format!("{endpoint}/{bucket}")
    } else {
        let mut u = reqwest::Url::parse(&endpoint)
            .map_err(|e| format!("invalid endpoint '{endpoint}': {e}"))?;
        let host = u.host_str().unwrap_or_default().to_string();
        // An endpoint that already names the bucket is used as it is.
        if !host.starts_with(&format!("{bucket}.")) {
            u.set_host(Some(&format!("{bucket}.{host}")))
                .map_err(|e| format!("invalid endpoint '{endpoint}': {e}"))?;
        }
        u.to_string()
    };
    let credential = match (&conn.access_key, &conn.secret_key) {
        (Some(k), Some(s)) => Some(AwsCredential {
            key_id: k.clone(),
            secret_key: s.clone(),
            token: None,
        }),
        _ => None,
    };
    Ok(S3Target {
        region,
        url,
        credential,
    })
}

async fn s3_send(
    client: &reqwest::Client,
    t: &S3Target,
    method: Method,
    query: &str,
    body: Bytes,
) -> Result<Answer, String> {
    let url = format!("{}{query}", t.url);
    let mut req = request(method, &url, body)?;
    if let Some(cred) = &t.credential {
        AwsAuthorizer::new(cred, "s3", &t.region)
            .try_authorize(&mut req, None)
            .map_err(|e| format!("cannot sign the request: {e}"))?;
    }
    send(client, req).await
}

/// What a HeadBucket-style probe found.
enum Probe {
    Exists(String),
    Missing(String),
    Failed(String),
}

async fn s3_probe(client: &reqwest::Client, t: &S3Target) -> Probe {
    let head = match s3_send(client, t, Method::HEAD, "", Bytes::new()).await {
        Ok(a) => a,
        Err(e) => return Probe::Failed(e),
    };
    let status = head.status;
    // HEAD answers carry no body: for the reason of a failure ask again with a GET (a
    // ListObjectsV2 of at most one key), whose error document names the code. The same GET
    // stands in for HeadBucket on servers that do not implement it (405/501). s3s-fs 0.14.1
    // implements HeadBucket: 200 for a bucket, 404 for a missing one, 403 for a bad signature.
    let detail = |a: Answer| describe(&a, None);
    let list = || {
        s3_send(
            client,
            t,
            Method::GET,
            "?list-type=2&max-keys=1",
            Bytes::new(),
        )
    };
    match status {
        StatusCode::OK => Probe::Exists(format!("bucket exists (HEAD {})", t.url)),
        StatusCode::NOT_FOUND => {
            Probe::Missing(format!("no such bucket (HEAD {}: HTTP 404)", t.url))
        }
        StatusCode::METHOD_NOT_ALLOWED | StatusCode::NOT_IMPLEMENTED => match list().await {
            Ok(a) if a.status.is_success() => {
                Probe::Exists(format!("bucket exists (ListObjectsV2 {})", t.url))
            }
            Ok(a) if a.status == StatusCode::NOT_FOUND => Probe::Missing(format!(
                "no such bucket (ListObjectsV2 {}: {})",
                t.url,
                detail(a)
            )),
            Ok(a) => Probe::Failed(format!("ListObjectsV2 {}: {}", t.url, detail(a))),
            Err(e) => Probe::Failed(e),
        },
        s => {
            let why = match list().await {
                Ok(a) if !a.status.is_success() => detail(a),
                _ => format!("HTTP {}", s.as_u16()),
            };
            let what = match s {
                StatusCode::FORBIDDEN => {
                    "access denied (wrong credentials, or no permission on the bucket)".to_string()
                }
                StatusCode::MOVED_PERMANENTLY => format!(
                    "the bucket is in another region{}",
                    head.headers
                        .get("x-amz-bucket-region")
                        .and_then(|v| v.to_str().ok())
                        .map(|r| format!(" ({r}; the connection says {})", t.region))
                        .unwrap_or_default()
                ),
                StatusCode::BAD_REQUEST => "bad request (wrong region or endpoint?)".to_string(),
                _ => "unexpected answer".to_string(),
            };
            Probe::Failed(format!("{what}: HEAD {}: {why}", t.url))
        }
    }
}

async fn s3(
    client: &reqwest::Client,
    conn: &SpacesConnection,
    bucket: &str,
    create: bool,
) -> Outcome {
    let t = match s3_target(conn, bucket) {
        Ok(t) => t,
        Err(e) => return error(e),
    };
    let anonymous = if t.credential.is_none() {
        " (anonymous request: the connection has no accessKey/secretKey)"
    } else {
        ""
    };
    let with_note = |mut o: Outcome| {
        o.message.push_str(anonymous);
        o
    };
    match s3_probe(client, &t).await {
        Probe::Exists(m) => return with_note(outcome(BucketStatus::Exists, m)),
        Probe::Failed(m) => return with_note(error(m)),
        Probe::Missing(m) if !create => return with_note(outcome(BucketStatus::Missing, m)),
        Probe::Missing(_) => {}
    }
    // us-east-1 is the default location and takes no configuration body.
    let body = if t.region == "us-east-1" {
        Bytes::new()
    } else {
        Bytes::from(format!(
            "<CreateBucketConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\">\
             <LocationConstraint>{}</LocationConstraint></CreateBucketConfiguration>",
            t.region
        ))
    };
    let put = match s3_send(client, &t, Method::PUT, "", body).await {
        Ok(a) => a,
        Err(e) => return with_note(error(e)),
    };
    let o = if put.status.is_success() {
        outcome(
            BucketStatus::Created,
            format!("bucket created (PUT {})", t.url),
        )
    } else if put.status == StatusCode::CONFLICT {
        // BucketAlreadyOwnedByYou (AWS), or BucketAlreadyExists (another account's bucket on
        // AWS; s3s-fs answers it for any existing bucket): it is ours if we can reach it.
        let why = describe(&put, None);
        match s3_probe(client, &t).await {
            Probe::Exists(_) => outcome(
                BucketStatus::Exists,
                format!("bucket exists (PUT {}: {why})", t.url),
            ),
            _ => error(format!("the bucket name is taken (PUT {}: {why})", t.url)),
        }
    } else {
        error(format!(
            "cannot create the bucket: PUT {}: {}",
            t.url,
            describe(&put, None)
        ))
    };
    with_note(o)
}

// ------------------------------------------------------------------------------ Azure ---

async fn azure(
    client: &reqwest::Client,
    conn: &SpacesConnection,
    container: &str,
    create: bool,
) -> Outcome {
    let Some(account) = conn.access_key.as_deref() else {
        return error("the Azure connection has no accessKey (the storage account name)");
    };
    let Some(key) = conn.secret_key.as_deref() else {
        return error(
            "the Azure connection has no secretKey (the account key): only SharedKey authorization is supported here",
        );
    };
    let Ok(key) = AzureAccessKey::try_new(key) else {
        return error("the Azure secretKey is not a base64 account key");
    };
    let credential = AzureCredential::AccessKey(key);
    let url = format!(
        "{}/{container}?restype=container",
        azure_base(conn, account)
    );
    let call = |method: Method| {
        let url = url.clone();
        let credential = &credential;
        async move {
            let mut req = request(method, &url, Bytes::new())?;
            AzureAuthorizer::new(credential, account)
                .try_authorize(&mut req)
                .map_err(|e| format!("cannot sign the request: {e}"))?;
            send(client, req).await
        }
    };
    let describe = |a: &Answer| describe(a, Some("x-ms-error-code"));
    let get = match call(Method::GET).await {
        Ok(a) => a,
        Err(e) => return error(e),
    };
    match get.status {
        StatusCode::OK => {
            return outcome(
                BucketStatus::Exists,
                format!("container exists (GET {url})"),
            )
        }
        StatusCode::NOT_FOUND if !create => {
            return outcome(
                BucketStatus::Missing,
                format!("no such container (GET {url}: {})", describe(&get)),
            )
        }
        StatusCode::NOT_FOUND => {}
        StatusCode::FORBIDDEN => {
            return error(format!(
                "access denied (wrong account name or key, or no permission): GET {url}: {}",
                describe(&get)
            ))
        }
        _ => return error(format!("unexpected answer: GET {url}: {}", describe(&get))),
    }
    let put = match call(Method::PUT).await {
        Ok(a) => a,
        Err(e) => return error(e),
    };
    match put.status {
        s if s.is_success() => outcome(
            BucketStatus::Created,
            format!("container created (PUT {url})"),
        ),
        StatusCode::CONFLICT
            if put
                .headers
                .get("x-ms-error-code")
                .is_some_and(|c| c == "ContainerAlreadyExists") =>
        {
            outcome(
                BucketStatus::Exists,
                format!("container exists (PUT {url}: {})", describe(&put)),
            )
        }
        _ => error(format!(
            "cannot create the container: PUT {url}: {}",
            describe(&put)
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn s3_urls() {
        let mut c = SpacesConnection {
            endpoint: Some("http://127.0.0.1:9000/".into()),
            ..Default::default()
        };
        assert_eq!(
            s3_target(&c, "b-1").unwrap().url,
            "http://127.0.0.1:9000/b-1"
        );
        c.force_path_style = Some(false);
        c.endpoint = Some("https://nyc3.example.com".into());
        assert_eq!(
            s3_target(&c, "b-1").unwrap().url,
            "https://b-1.nyc3.example.com/"
        );
        c.endpoint = Some("https://b-1.nyc3.example.com".into());
        assert_eq!(
            s3_target(&c, "b-1").unwrap().url,
            "https://b-1.nyc3.example.com/"
        );
        c.endpoint = None;
        c.region = Some("eu-west-1".into());
        assert_eq!(
            s3_target(&c, "b-1").unwrap().url,
            "https://b-1.s3.eu-west-1.amazonaws.com/"
        );
    }

    #[test]
    fn azure_urls() {
        let mut c = SpacesConnection {
            endpoint: Some("http://127.0.0.1:10000/devstoreaccount1".into()),
            ..Default::default()
        };
        assert_eq!(
            azure_base(&c, "devstoreaccount1"),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        c.endpoint = Some("http://127.0.0.1:10000".into());
        assert_eq!(
            azure_base(&c, "devstoreaccount1"),
            "http://127.0.0.1:10000/devstoreaccount1"
        );
        c.endpoint = None;
        assert_eq!(azure_base(&c, "acct"), "https://acct.blob.core.windows.net");
    }

    #[test]
    fn error_documents() {
        let a = Answer {
            status: StatusCode::FORBIDDEN,
            headers: Default::default(),
            body: "<Error><Code>SignatureDoesNotMatch</Code><Message>no match</Message>\
                   <StringToSign>secret stuff</StringToSign></Error>"
                .into(),
        };
        assert_eq!(
            describe(&a, None),
            "HTTP 403 SignatureDoesNotMatch: no match"
        );
    }
}
