//! Holding a message while it is received: in memory up to a threshold, then in an unnamed
//! temporary file (deleted by the kernel when closed), so a 50 MB message never sits in RAM.

use std::io::Write;

use mailstack_store::MessageSource;

/// Messages up to this size stay in memory.
pub const MEMORY_LIMIT: usize = 1 << 20;

/// A message being received or ready for delivery.
#[derive(Debug, Default)]
pub struct Spool {
    memory: Vec<u8>,
    file: Option<std::fs::File>,
    size: u64,
}

impl Spool {
    /// An empty spool.
    pub fn new() -> Self {
        Self::default()
    }

    /// Append bytes; spills to a temporary file past [`MEMORY_LIMIT`].
    pub fn write(&mut self, bytes: &[u8]) -> std::io::Result<()> {
        self.size += bytes.len() as u64;
        if let Some(f) = &mut self.file {
            return f.write_all(bytes);
        }
        if self.memory.len() + bytes.len() <= MEMORY_LIMIT {
            self.memory.extend_from_slice(bytes);
            return Ok(());
        }
        let mut f = tempfile::tempfile()?;
        f.write_all(&self.memory)?;
        f.write_all(bytes)?;
        self.memory = Vec::new();
        self.file = Some(f);
        Ok(())
    }

    /// Bytes held.
    pub fn size(&self) -> u64 {
        self.size
    }

    /// The content, for the store.
    pub fn source(&self) -> MessageSource<'_> {
        match &self.file {
            Some(f) => MessageSource::File(f),
            None => MessageSource::Bytes(&self.memory),
        }
    }

    /// The first `n` bytes (for header inspection), wherever they are held.
    pub fn head(&self, n: usize) -> Vec<u8> {
        match &self.file {
            None => self.memory[..n.min(self.memory.len())].to_vec(),
            Some(f) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0; n.min(self.size as usize)];
                let got = f.read_at(&mut buf, 0).unwrap_or(0);
                buf.truncate(got);
                buf
            }
        }
    }
}

impl Spool {
    /// The whole message in memory (it is at most the session's size limit).
    pub fn read_all(&self) -> std::io::Result<Vec<u8>> {
        match &self.file {
            None => Ok(self.memory.clone()),
            Some(f) => {
                use std::os::unix::fs::FileExt;
                let mut buf = vec![0; self.size as usize];
                f.read_exact_at(&mut buf, 0)?;
                Ok(buf)
            }
        }
    }
}
