//! Log output with credentials removed.
//!
//! At `RUST_LOG=debug` or `trace`, dependencies (reqwest, hyper, object_store, the MongoDB
//! driver) log request URLs and connection strings, which may carry a userinfo or a signed
//! query. Every log line goes through [`chronos_db::redact::redact`] before it is written,
//! which also removes the keys of the opened configuration.

use std::io::Write;
use tracing_subscriber::fmt::MakeWriter;

/// Wraps a [`MakeWriter`]: each event is collected whole, then written redacted (a pattern
/// split across two writes would otherwise escape).
pub(crate) struct Redacting<M>(pub(crate) M);

impl<'a, M: MakeWriter<'a>> MakeWriter<'a> for Redacting<M> {
    type Writer = EventWriter<M::Writer>;

    fn make_writer(&'a self) -> Self::Writer {
        EventWriter::new(self.0.make_writer())
    }

    fn make_writer_for(&'a self, meta: &tracing::Metadata<'_>) -> Self::Writer {
        EventWriter::new(self.0.make_writer_for(meta))
    }
}

/// One event's output, written redacted when the event is done (the writer is dropped).
pub(crate) struct EventWriter<W: Write> {
    buf: Vec<u8>,
    inner: W,
}

impl<W: Write> EventWriter<W> {
    fn new(inner: W) -> Self {
        EventWriter {
            buf: Vec::new(),
            inner,
        }
    }
}

impl<W: Write> Write for EventWriter<W> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.buf.extend_from_slice(bytes);
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<W: Write> Drop for EventWriter<W> {
    fn drop(&mut self) {
        if self.buf.is_empty() {
            return;
        }
        let text = chronos_db::redact::redact(&String::from_utf8_lossy(&self.buf));
        // A log line that cannot be written is dropped, as the plain writer would.
        let _ = self
            .inner
            .write_all(text.as_bytes())
            .and_then(|()| self.inner.flush());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::{Arc, Mutex};

    #[derive(Clone, Default)]
    struct Sink(Arc<Mutex<Vec<u8>>>);

    impl Write for Sink {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn log_lines_are_redacted_whole() {
        let sink = Sink::default();
        let out = sink.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_ansi(false)
            .with_writer(Redacting(move || sink.clone()))
            .finish();
        tracing::subscriber::with_default(subscriber, || {
            tracing::trace!(url = "http://user:SUPERSECRET@127.0.0.1:9/b", "connecting");
            tracing::debug!("GET https://h/k?sv=1&sig=SUPERSECRET done");
        });
        let text = String::from_utf8(out.0.lock().unwrap().clone()).unwrap();
        assert!(text.contains("http://***@127.0.0.1:9/b"), "{text}");
        assert!(text.contains("sig=***"), "{text}");
        assert!(!text.contains("SUPERSECRET"), "{text}");
        assert_eq!(text.lines().count(), 2, "{text}");
    }
}
