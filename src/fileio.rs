//! Hardened file reading: an input, configuration, template or batch file is opened only
//! if it is a regular file (never a FIFO or device) within a size limit, and a stream reader
//! ([`Limited`]) errors, never truncates, once a file or one of its lines passes its limit.

use std::fs::File;
use std::io::Read;
use std::path::Path;

/// What kind of thing a path that is not a regular file names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    /// A directory.
    Directory,
    /// A named pipe.
    Fifo,
    /// A character device (`/dev/zero`, a terminal).
    CharDevice,
    /// A block device.
    BlockDevice,
    /// A Unix socket.
    Socket,
    /// Anything else.
    Other,
}

impl FileKind {
    fn of(ft: std::fs::FileType) -> Self {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_dir() {
            Self::Directory
        } else if ft.is_fifo() {
            Self::Fifo
        } else if ft.is_char_device() {
            Self::CharDevice
        } else if ft.is_block_device() {
            Self::BlockDevice
        } else if ft.is_socket() {
            Self::Socket
        } else {
            Self::Other
        }
    }
}

impl std::fmt::Display for FileKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Directory => "a directory",
            Self::Fifo => "a named pipe (FIFO)",
            Self::CharDevice => "a character device",
            Self::BlockDevice => "a block device",
            Self::Socket => "a socket",
            Self::Other => "not a regular file",
        })
    }
}

/// Why a file cannot be read as an input.
#[derive(Debug, thiserror::Error)]
pub enum FileProblem {
    /// Not a regular file (after following symlinks).
    #[error("not a regular file: it is {0}")]
    NotRegular(FileKind),
    /// Larger than the limit.
    #[error("the file is larger than {setting} = {limit} bytes")]
    TooLarge {
        /// The setting that sets the limit.
        setting: &'static str,
        /// The limit in bytes.
        limit: u64,
    },
    /// Opening or reading failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Opens `path` for reading if it is a regular file (symlinks followed) of at most
/// `limit` bytes. Never blocks on a FIFO: the type is checked before opening, and the
/// open itself does not wait for a writer.
pub fn open_regular(path: &Path, limit: u64, setting: &'static str) -> Result<File, FileProblem> {
    use std::os::unix::fs::OpenOptionsExt;
    let check = |meta: std::fs::Metadata| {
        if !meta.is_file() {
            return Err(FileProblem::NotRegular(FileKind::of(meta.file_type())));
        }
        if meta.len() > limit {
            return Err(FileProblem::TooLarge { setting, limit });
        }
        Ok(())
    };
    check(std::fs::metadata(path)?)?;
    let file = std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NONBLOCK)
        .open(path)?;
    // The path may have been swapped between the two checks.
    check(file.metadata()?)?;
    Ok(file)
}

/// Reads a whole regular file of at most `limit` bytes (see [`open_regular`]); a file
/// that grows past the limit while being read is an error, never silently cut.
pub fn read_regular(
    path: &Path,
    limit: u64,
    setting: &'static str,
) -> Result<Vec<u8>, FileProblem> {
    let file = open_regular(path, limit, setting)?;
    let mut bytes = Vec::new();
    file.take(limit.saturating_add(1)).read_to_end(&mut bytes)?;
    if bytes.len() as u64 > limit {
        return Err(FileProblem::TooLarge { setting, limit });
    }
    Ok(bytes)
}

/// A reader that errors (never truncates) once the file passes `max_total` bytes or a
/// line passes `max_line` bytes, so a hostile file costs bounded memory. Bytes before the
/// offending line are delivered first, so earlier errors keep their line numbers.
pub(crate) struct Limited<R> {
    pub(crate) inner: R,
    max_total: u64,
    max_line: Option<u64>,
    total: u64,
    line_len: u64,
    line: u64,
    pending: Option<Limit>,
}

/// Which limit a [`Limited`] reader hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum Limit {
    #[error("file too large")]
    File,
    #[error("line {0} too long")]
    Line(u64),
}

impl<R: Read> Limited<R> {
    pub(crate) fn new(inner: R, max_total: u64, max_line: Option<u64>) -> Self {
        Self {
            inner,
            max_total,
            max_line,
            total: 0,
            line_len: 0,
            line: 1,
            pending: None,
        }
    }
}

impl<R: Read> Read for Limited<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        if let Some(limit) = self.pending {
            return Err(std::io::Error::new(std::io::ErrorKind::InvalidData, limit));
        }
        let n = self.inner.read(buf)?;
        for (i, &b) in buf[..n].iter().enumerate() {
            self.total += 1;
            if self.total > self.max_total {
                self.pending = Some(Limit::File);
            } else if b == b'\n' {
                self.line += 1;
                self.line_len = 0;
                continue;
            } else {
                self.line_len += 1;
                if self.max_line.is_some_and(|m| self.line_len > m) {
                    self.pending = Some(Limit::Line(self.line));
                }
            }
            if self.pending.is_some() {
                if i == 0 {
                    return self.read(buf);
                }
                return Ok(i);
            }
        }
        Ok(n)
    }
}
