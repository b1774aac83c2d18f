//! Where a report (or another file mailaudit writes: a recipient list's
//! flagged rows and clean list) is written, safely: mailaudit is often run
//! as root on a mail server, in directories others can write to.
//!
//! A file is written to a temporary file created in the target's
//! directory (O_EXCL, a random name: `tempfile`), flushed, given the
//! target's permissions (a new file: 0666 less the umask), then renamed
//! over the target, so a reader never sees half a report and a failed run
//! leaves nothing behind. Nothing that is not a regular file is replaced:
//! a character device (`/dev/null`, `/dev/stdout`) is written to directly,
//! and a symbolic link, FIFO, socket, block device or directory at the
//! target stops the run before any work (exit 2).

use std::fs;
use std::io::Write;
use std::os::unix::fs::{FileTypeExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// A cell of a CSV file mailaudit composes, safe to open in a
/// spreadsheet: a cell that starts with `=`, `+`, `-`, `@`, a tab or a
/// carriage return would run as a formula there (a stranger's address
/// from a signup form, `=HYPERLINK(...)`), so it gets a leading `'`, as
/// OWASP's guidance on CSV injection says. Spreadsheets show the text as
/// written; a program that reads the file sees the `'`. The clean list
/// (`recipients --clean`) is the user's own rows and keeps their bytes.
pub fn spreadsheet_cell(cell: &str) -> std::borrow::Cow<'_, str> {
    if cell.starts_with(['=', '+', '-', '@', '\t', '\r']) {
        format!("'{cell}").into()
    } else {
        cell.into()
    }
}

/// A checked place to write the report.
#[derive(Debug, Clone)]
pub enum Destination {
    Stdout,
    /// Written to directly, never replaced.
    Device(PathBuf),
    /// Replaced atomically (or created).
    File(PathBuf),
}

/// Checks `path` (given with `flag`, as `-o`) before any work: the
/// reason it cannot take the file.
pub fn destination(flag: &str, path: Option<&Path>) -> Result<Destination, String> {
    let Some(path) = path else {
        return Ok(Destination::Stdout);
    };
    let shown = path.display();
    let meta = match fs::symlink_metadata(path) {
        Ok(m) => m,
        // Missing (created), or unreadable: the write says why.
        Err(_) => return Ok(Destination::File(path.to_path_buf())),
    };
    let kind = meta.file_type();
    if kind.is_file() {
        return Ok(Destination::File(path.to_path_buf()));
    }
    if kind.is_char_device() || (kind.is_symlink() && is_std_stream(path)) {
        return Ok(Destination::Device(path.to_path_buf()));
    }
    Err(if kind.is_symlink() {
        format!("{flag} {shown}: is a symbolic link; give the path of the file itself")
    } else if kind.is_dir() {
        format!("{flag} {shown}: is a directory")
    } else {
        format!(
            "{flag} {shown}: is a FIFO, socket or block device, not a file a report can replace"
        )
    })
}

/// `/dev/stdout`, `/dev/stderr`, `/dev/fd/N`, `/proc/self/fd/N`: links
/// to this process's own streams, written to as they are.
fn is_std_stream(path: &Path) -> bool {
    let p = path.to_string_lossy();
    matches!(p.as_ref(), "/dev/stdout" | "/dev/stderr")
        || p.starts_with("/dev/fd/")
        || p.starts_with("/proc/self/fd/")
}

/// Writes `bytes` to `dest`; any failure to write or flush is an error.
pub fn write(dest: &Destination, bytes: &[u8]) -> std::io::Result<()> {
    let mut sink = Sink::open(dest)?;
    sink.write_all(bytes)?;
    sink.commit()
}

/// Random characters in a temporary file's name.
const TEMPORARY_RANDOM_CHARS: usize = 6;

/// A new temporary file `.mailaudit-<random>.tmp` in `dir`, created
/// exclusively (O_EXCL: whatever already has the name, a planted symlink
/// too, is never opened; another name is drawn).
fn temporary_in(dir: &Path, random: usize) -> std::io::Result<tempfile::NamedTempFile> {
    tempfile::Builder::new()
        .prefix(".mailaudit-")
        .suffix(".tmp")
        .rand_bytes(random)
        // The mode a new file gets (less the umask); the target's own
        // mode is set at commit when it has one.
        .permissions(fs::Permissions::from_mode(0o666))
        .tempfile_in(dir)
}

/// A report being written, piece by piece (a batch streams its reports):
/// to standard output or a device as it comes, to a file through a
/// temporary file that [`Sink::commit`] renames over the target. Dropped
/// without a commit (a failed run), the temporary file is removed.
pub enum Sink {
    Stdout(std::io::BufWriter<std::io::Stdout>),
    Device(std::io::BufWriter<fs::File>),
    File {
        tmp: std::io::BufWriter<tempfile::NamedTempFile>,
        path: PathBuf,
        keep: Option<fs::Permissions>,
    },
}

impl Sink {
    pub fn open(dest: &Destination) -> std::io::Result<Sink> {
        Ok(match dest {
            Destination::Stdout => Sink::Stdout(std::io::BufWriter::new(std::io::stdout())),
            Destination::Device(path) => Sink::Device(std::io::BufWriter::new(
                fs::OpenOptions::new().write(true).open(path)?,
            )),
            Destination::File(path) => {
                let dir = path
                    .parent()
                    .filter(|p| !p.as_os_str().is_empty())
                    .unwrap_or(Path::new("."));
                let tmp = temporary_in(dir, TEMPORARY_RANDOM_CHARS)?;
                Sink::File {
                    tmp: std::io::BufWriter::new(tmp),
                    path: path.clone(),
                    keep: fs::metadata(path).ok().map(|m| m.permissions()),
                }
            }
        })
    }

    /// Flushes everything; a file replaces its target only now.
    pub fn commit(self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(mut w) => w.flush(),
            Sink::Device(mut w) => w.flush(),
            Sink::File { tmp, path, keep } => {
                let tmp = tmp.into_inner().map_err(|e| e.into_error())?;
                tmp.as_file().sync_all()?;
                if let Some(perms) = keep {
                    fs::set_permissions(tmp.path(), perms)?;
                }
                tmp.persist(&path).map_err(|e| e.error)?;
                Ok(())
            }
        }
    }
}

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        match self {
            Sink::Stdout(w) => w.write(buf),
            Sink::Device(w) => w.write(buf),
            Sink::File { tmp, .. } => tmp.write(buf),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        match self {
            Sink::Stdout(w) => w.flush(),
            Sink::Device(w) => w.flush(),
            Sink::File { tmp, .. } => tmp.flush(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every name `temporary_in` can draw with one random character.
    fn names() -> Vec<String> {
        ('0'..='9')
            .chain('a'..='z')
            .chain('A'..='Z')
            .map(|c| format!(".mailaudit-{c}.tmp"))
            .collect()
    }

    #[test]
    fn a_planted_temporary_name_is_never_followed() {
        use std::os::unix::fs::symlink;
        let dir = tempfile::tempdir().unwrap();
        let victim = dir.path().join("victim.txt");
        fs::write(&victim, "precious").unwrap();
        // Symlinks at every name but one: the file is made at that one.
        let all = names();
        for name in &all[1..] {
            symlink(&victim, dir.path().join(name)).unwrap();
        }
        let mut tmp = temporary_in(dir.path(), 1).unwrap();
        assert_eq!(
            tmp.path().file_name().unwrap().to_str(),
            Some(all[0].as_str())
        );
        tmp.write_all(b"report").unwrap();
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");

        // Every name taken: an error, and still nothing written through.
        fs::remove_file(tmp.path()).unwrap();
        symlink(&victim, dir.path().join(&all[0])).unwrap();
        assert!(temporary_in(dir.path(), 1).is_err());
        assert_eq!(fs::read_to_string(&victim).unwrap(), "precious");
    }
}
