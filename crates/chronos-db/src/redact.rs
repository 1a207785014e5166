//! Removing credentials from text before anyone sees it: error messages built from backend
//! errors, connection checks, and log lines (the CLI passes every log line through
//! [`redact`]; an HTTP server should do the same with its responses and logs).
//!
//! What is removed, whatever the source of the text:
//! * the userinfo of every URL (`scheme://user:password@host` becomes `scheme://***@host`),
//!   and a bare `user:password@host`;
//! * the values of credential-bearing query parameters (`sig`, `X-Amz-Signature`,
//!   `X-Amz-Credential`, `X-Amz-Security-Token`, `password`, `token`, `key`, `code`, …);
//! * `password=…`, `secret_key: "…"`, `Signature=…`-like assignments and the value of an
//!   `Authorization` header;
//! * every secret registered with [`register_secret`] (the configured keys and passwords;
//!   [`crate::Chronos::open`] registers them), and the ones passed to [`redact_with`].
//!
//! Over-redacting a message is preferred to leaking a key.

use regex::Regex;
use std::sync::{OnceLock, RwLock};

/// What replaces a removed value.
pub const MASK: &str = "***";

/// Secrets shorter than this are not searched for: they would mask ordinary words.
const MIN_SECRET_LEN: usize = 4;

/// Query parameters whose value is a credential (compared without case).
const SECRET_PARAMS: &str = "sig|signature|x-amz-signature|x-amz-credential|x-amz-security-token|\
     x-goog-signature|x-goog-credential|x-goog-security-token|password|passwd|pwd|secret|\
     client_secret|token|access_token|refresh_token|id_token|session_token|sessiontoken|\
     security_token|key|apikey|api_key|api-key|access_key|secret_key|code|sas|auth|credential";

/// Names that mark an assignment's value as a credential (`password=x`, `secret_key: "x"`).
const SECRET_NAMES: &str = "password|passwd|pwd|secret|token|signature|credential";

struct Rules {
    /// `scheme://userinfo@`: everything up to the last `@` of the authority.
    userinfo: Regex,
    /// `user:password@host` without a scheme.
    bare_userinfo: Regex,
    /// `?name=value` / `&name=value` / `;name=value` of a secret parameter.
    params: Regex,
    /// `name=value` / `name:value` without spaces.
    assigned: Regex,
    /// `name: "value"` / `"name": "value"` (debug and JSON output).
    quoted: Regex,
    /// The value of an `Authorization` header, and `Bearer` / `SharedKey` tokens.
    authorization: Regex,
    schemes: Regex,
}

fn rules() -> Option<&'static Rules> {
    static RULES: OnceLock<Option<Rules>> = OnceLock::new();
    RULES
        .get_or_init(|| {
            let params = SECRET_PARAMS.replace(char::is_whitespace, "");
            Some(Rules {
                userinfo: Regex::new(r#"(?i)\b([a-z][a-z0-9+.\-]*://)[^/?#\s"'<>]*@"#).ok()?,
                bare_userinfo: Regex::new(r#"[^\s/@,;:"'<>()\[\]]+:[^\s/@"'<>]*@"#).ok()?,
                params: Regex::new(&format!(r#"(?i)([?&;](?:{params})=)[^&#\s"'<>]*"#)).ok()?,
                assigned: Regex::new(&format!(
                    r#"(?i)((?:{SECRET_NAMES})[a-z_\-]*[=:])[^&\s,;"'<>)\]}}]+"#
                ))
                .ok()?,
                quoted: Regex::new(&format!(
                    r#"(?i)((?:{SECRET_NAMES})[a-z_\-]*"?\s*[=:]\s*(?:Some\()?")[^"]*"#
                ))
                .ok()?,
                authorization: Regex::new(
                    r#"(?i)(authorization"?\s*[=:]\s*"?)[^"\r\n]+|\b(bearer|sharedkey|sharedkeylite)\s+[^\s",]+"#,
                )
                .ok()?,
                schemes: Regex::new(r"(?i)^[a-z][a-z0-9+.\-]*://").ok()?,
            })
        })
        .as_ref()
}

fn registry() -> &'static RwLock<Vec<String>> {
    static SECRETS: RwLock<Vec<String>> = RwLock::new(Vec::new());
    &SECRETS
}

/// Adds a secret that [`redact`] removes from every text from now on (a configured key or
/// password). Too-short values are ignored.
pub fn register_secret(secret: &str) {
    if secret.len() < MIN_SECRET_LEN {
        return;
    }
    let mut list = registry().write().unwrap_or_else(|p| p.into_inner());
    if !list.iter().any(|s| s == secret) {
        list.push(secret.to_owned());
        // Longest first, so that a secret containing another is removed whole.
        list.sort_by_key(|s| std::cmp::Reverse(s.len()));
    }
}

/// Removes credentials (see the module documentation) from a text.
///
/// ```
/// use chronos_db::redact::redact;
/// assert_eq!(
///     redact("GET http://user:hunter2@127.0.0.1:9/b?sig=abc&sv=2024 failed"),
///     "GET http://***@127.0.0.1:9/b?sig=***&sv=2024 failed"
/// );
/// ```
pub fn redact(text: &str) -> String {
    redact_with(text, std::iter::empty::<&str>())
}

/// [`redact`], also removing each of `secrets` (the keys of the connection a message is
/// about).
pub fn redact_with<'a>(text: &str, secrets: impl IntoIterator<Item = &'a str>) -> String {
    let mut out = text.to_owned();
    let mut own: Vec<&str> = secrets
        .into_iter()
        .filter(|s| s.len() >= MIN_SECRET_LEN)
        .collect();
    own.sort_by_key(|s| std::cmp::Reverse(s.len()));
    for s in own {
        out = out.replace(s, MASK);
    }
    {
        let registered = registry().read().unwrap_or_else(|p| p.into_inner());
        for s in registered.iter() {
            if out.contains(s.as_str()) {
                out = out.replace(s.as_str(), MASK);
            }
        }
    }
    if let Some(r) = rules() {
        out = r.userinfo.replace_all(&out, "${1}***@").into_owned();
        out = r.bare_userinfo.replace_all(&out, "***@").into_owned();
        out = r.params.replace_all(&out, "${1}***").into_owned();
        out = r.quoted.replace_all(&out, "${1}***").into_owned();
        out = r.assigned.replace_all(&out, "${1}***").into_owned();
        out = r
            .authorization
            .replace_all(&out, |c: &regex::Captures<'_>| match (c.get(1), c.get(2)) {
                (Some(header), _) => format!("{}{MASK}", header.as_str()),
                (None, Some(scheme)) => format!("{} {MASK}", scheme.as_str()),
                _ => MASK.to_string(),
            })
            .into_owned();
    }
    out
}

/// Whether a URL carries credentials: a userinfo (`user:password@`) or a credential query
/// parameter (a SAS signature, a presigned request's signature or token).
///
/// ```
/// use chronos_db::redact::url_has_credentials;
/// assert!(url_has_credentials("http://user:pw@127.0.0.1:9000"));
/// assert!(url_has_credentials("https://acct.blob.core.windows.net/?sv=2024&sig=abc"));
/// assert!(!url_has_credentials("https://s3.eu-west-1.amazonaws.com"));
/// ```
pub fn url_has_credentials(url: &str) -> bool {
    match rules() {
        Some(r) => (r.schemes.is_match(url) && r.userinfo.is_match(url)) || r.params.is_match(url),
        // Without the rules nothing can be shown safely: treat it as carrying credentials.
        None => true,
    }
}

/// The password of a URI's userinfo (`scheme://user:password@host`).
pub(crate) fn uri_password(uri: &str) -> Option<&str> {
    let rest = uri.split_once("://")?.1;
    let authority = rest.split(['/', '?', '#']).next()?;
    let (userinfo, _) = authority.rsplit_once('@')?;
    Some(userinfo.split_once(':')?.1).filter(|p| !p.is_empty())
}

/// `%XX` escapes decoded (a URI's password is written percent-encoded, and may be quoted
/// decoded).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = bytes
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok())
            .and_then(|h| u8::from_str_radix(h, 16).ok());
        match (bytes[i], hex) {
            (b'%', Some(b)) => {
                out.push(b);
                i += 3;
            }
            (b, _) => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The values inside a GCS service-account key (JSON) that are secret on their own: an
/// error may quote the private key without the rest of the document.
pub(crate) fn service_account_secrets(key_json: &str) -> Vec<String> {
    let Ok(serde_json::Value::Object(doc)) = serde_json::from_str(key_json) else {
        return Vec::new();
    };
    [
        "private_key",
        "private_key_id",
        "client_secret",
        "refresh_token",
    ]
    .iter()
    .filter_map(|k| doc.get(*k).and_then(|v| v.as_str()))
    .flat_map(|v| {
        // A PEM key is also quoted line by line.
        std::iter::once(v.to_string()).chain(
            v.lines()
                .filter(|l| l.len() >= 16 && !l.starts_with("-----"))
                .map(str::to_string),
        )
    })
    .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn clean(text: &str, secret: &str) -> String {
        let out = redact(text);
        assert!(!out.contains(secret), "{secret} left in {out}");
        out
    }

    #[test]
    fn userinfo_of_any_scheme() {
        for (text, want) in [
            (
                "error sending request for url (http://user:SUPERSECRET@127.0.0.1:9/b/k)",
                "error sending request for url (http://***@127.0.0.1:9/b/k)",
            ),
            (
                "HEAD https://AKID:SUPERSECRET@s3.example.com/bucket: timed out",
                "HEAD https://***@s3.example.com/bucket: timed out",
            ),
            (
                "mongodb+srv://chronos:SUPERSECRET@cluster0.example.net/?retryWrites=true",
                "mongodb+srv://***@cluster0.example.net/?retryWrites=true",
            ),
            (
                "mongodb://u:SUPER@SECRET@h1:27017,h2:27017/db",
                "mongodb://***@h1:27017,h2:27017/db",
            ),
            ("ftp://SUPERSECRET@host/x", "ftp://***@host/x"),
            (
                "connecting to u:SUPERSECRET@db.example:27017",
                "connecting to ***@db.example:27017",
            ),
            (
                r#"{"endpoint":"http://a:SUPERSECRET@h:1","x":"y@z"}"#,
                r#"{"endpoint":"http://***@h:1","x":"y@z"}"#,
            ),
        ] {
            assert_eq!(clean(text, "SUPERSECRET"), want);
        }
        // Nothing to remove: unchanged.
        for text in [
            "http://127.0.0.1:9000/bucket/users/a/v0.x/item.json: HTTP 404",
            "item 'a:b' not found; key users/x",
            "mongodb://db.example:27017/?replicaSet=rs0",
            "spaces connection 's3', bucket 'chronos-runtime': the Azure secretKey is not a base64 account key",
            "$.spacesConnections.s3.secretKey: must be a string (value not shown)",
            "unknown token 'objectId'",
        ] {
            assert_eq!(redact(text), text);
        }
    }

    #[test]
    fn credential_parameters_and_assignments() {
        for (text, secret) in [
            ("https://a.blob.core.windows.net/c/k?sv=2024-01-01&se=2030&sig=SUPERSECRET", "SUPERSECRET"),
            ("https://b.s3.amazonaws.com/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIDSECRET%2F20240101%2Fus-east-1&X-Amz-Signature=SUPERSECRET", "SUPERSECRET"),
            ("https://b.s3.amazonaws.com/k?X-Amz-Credential=AKIDSECRET%2F2024", "AKIDSECRET"),
            ("https://h/k?X-Amz-Security-Token=SUPERSECRET&x=1", "SUPERSECRET"),
            ("https://h/cb?code=SUPERSECRET", "SUPERSECRET"),
            ("https://h/x?a=1&key=SUPERSECRET#frag", "SUPERSECRET"),
            ("https://h/x?access_token=SUPERSECRET", "SUPERSECRET"),
            ("mongodb://h/?authSource=admin&password=SUPERSECRET", "SUPERSECRET"),
            ("authMechanismProperties=AWS_SESSION_TOKEN:SUPERSECRET", "SUPERSECRET"),
            ("Authorization: AWS4-HMAC-SHA256 Credential=AKID/2024/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=SUPERSECRET", "SUPERSECRET"),
            (r#"headers: {"authorization": "SharedKey devstoreaccount1:SUPERSECRET"}"#, "SUPERSECRET"),
            ("Bearer SUPERSECRET", "SUPERSECRET"),
            (r#"AwsCredential { key_id: "AKID", secret_key: "SUPERSECRET", token: None }"#, "SUPERSECRET"),
            (r#"token: Some("SUPERSECRET")"#, "SUPERSECRET"),
        ] {
            clean(text, secret);
        }
        assert_eq!(
            redact("https://h/k?sv=2024&sig=abc&se=2030"),
            "https://h/k?sv=2024&sig=***&se=2030"
        );
    }

    #[test]
    fn given_and_registered_secrets() {
        assert_eq!(
            redact_with(
                "key AKIDEXAMPLE, secret wJalr/XUtnFEMI",
                ["wJalr/XUtnFEMI", "AKIDEXAMPLE", "ab"]
            ),
            "key ***, secret ***"
        );
        assert_eq!(redact_with("ab abc", ["ab"]), "ab abc");
        register_secret("Registered-Secret-Value-1");
        assert_eq!(redact("x Registered-Secret-Value-1 y"), "x *** y");
    }

    #[test]
    fn credentials_in_urls_are_recognised() {
        assert!(url_has_credentials("http://user:SUPERSECRET@127.0.0.1:9"));
        assert!(url_has_credentials("https://user@host"));
        assert!(url_has_credentials("https://h/?X-Amz-Signature=x"));
        assert!(!url_has_credentials("http://127.0.0.1:9000/"));
        assert!(!url_has_credentials("https://nyc3.digitaloceanspaces.com"));
    }

    #[test]
    fn mongo_passwords() {
        assert_eq!(
            uri_password("mongodb://u:p%40ss@h1,h2/db?x=1"),
            Some("p%40ss")
        );
        assert_eq!(percent_decode("p%40ss%zz%4"), "p@ss%zz%4");
        assert_eq!(uri_password("mongodb://h/db"), None);
        assert_eq!(uri_password("mongodb://u@h/db"), None);
    }

    #[test]
    fn service_account_parts() {
        let key = r#"{"type":"service_account","private_key_id":"abcdef0123456789",
            "private_key":"-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----\n",
            "client_email":"x@y.iam.gserviceaccount.com"}"#;
        let parts = service_account_secrets(key);
        assert!(parts.contains(&"abcdef0123456789".to_string()));
        assert!(parts.contains(&"MIIEvQIBADANBgkqhkiG9w0BAQEFAASC".to_string()));
        assert!(service_account_secrets("not json").is_empty());
    }
}
