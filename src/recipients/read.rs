//! Reading a recipient list: CSV with a header (the address column found
//! by its name or its content), or one address a line; `,`, `;` or tab
//! between fields. The file is read more than once (whole when opened,
//! then for its domains, then its rows), so standard input is spooled to
//! a temporary file by the caller. No row may grow past [`MAX_RECORD`].

use std::fs::File;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};

/// Header names taken for the address column (compared in lower case,
/// without spaces, `-` and `_`).
const ADDRESS_HEADERS: &[&str] = &[
    "email",
    "emailaddress",
    "mail",
    "mailaddress",
    "address",
    "recipient",
    "recipientemail",
    "to",
    "courriel",
    "correo",
    "correoelectronico",
];

/// Rows looked at to find the address column by its content.
const SNIFF_ROWS: usize = 100;

/// The longest record read, in bytes (the CSV reader holds a whole
/// record in memory, and a quoted field may run over many lines).
pub const MAX_RECORD: usize = 1 << 20;

/// Where a byte falls in CSV, as the csv crate reads it (a quote opens a
/// quoted field only at the start of a field).
#[derive(Clone, Copy, PartialEq, Eq)]
enum At {
    FieldStart,
    Unquoted,
    Quoted,
    /// A quote inside a quoted field: its end, or the first of `""`.
    QuoteInQuoted,
}

/// A reader that fails on a record longer than [`MAX_RECORD`].
struct Bounded<R> {
    inner: R,
    delimiter: u8,
    at: At,
    in_record: usize,
    line: u64,
}

impl<R> Bounded<R> {
    fn new(inner: R, delimiter: u8) -> Bounded<R> {
        Bounded {
            inner,
            delimiter,
            at: At::FieldStart,
            in_record: 0,
            line: 1,
        }
    }

    fn step(&mut self, b: u8) -> bool {
        if b == b'\n' {
            self.line += 1;
        }
        let end_of_record = matches!(b, b'\n' | b'\r');
        self.at = match (self.at, b) {
            (At::Quoted, b'"') => At::QuoteInQuoted,
            (At::Quoted, _) => At::Quoted,
            (At::QuoteInQuoted, b'"') => At::Quoted,
            (At::FieldStart, b'"') => At::Quoted,
            (_, d) if d == self.delimiter => At::FieldStart,
            (_, _) if end_of_record => At::FieldStart,
            _ => At::Unquoted,
        };
        if end_of_record && self.at == At::FieldStart {
            self.in_record = 0;
        } else {
            self.in_record += 1;
        }
        self.in_record <= MAX_RECORD
    }
}

impl<R: std::io::Read> std::io::Read for Bounded<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        for b in &buf[..n] {
            if !self.step(*b) {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidData,
                    format!(
                        "a row runs past line {} and {MAX_RECORD} bytes: not a recipient list",
                        self.line
                    ),
                ));
            }
        }
        Ok(n)
    }
}

/// A recipient list, opened and understood.
#[derive(Debug, Clone)]
pub struct ListFile {
    pub path: PathBuf,
    /// How reports name it (`-` for standard input).
    pub shown: String,
    pub delimiter: u8,
    /// The first row is a header.
    pub header: bool,
    /// The address column (0-based).
    pub column: usize,
    /// Its header, when there is one.
    pub column_name: Option<String>,
}

/// One data row.
#[derive(Debug)]
pub struct Row {
    /// 1-based, counting data rows (not the header).
    pub number: u64,
    pub record: csv::ByteRecord,
    /// The address field (`Err`: not UTF-8, or the row has no such field).
    pub address: Result<String, String>,
}

fn squash(h: &str) -> String {
    h.trim()
        .trim_start_matches('\u{feff}')
        .to_lowercase()
        .chars()
        .filter(|c| !matches!(c, ' ' | '-' | '_' | '.'))
        .collect()
}

impl ListFile {
    /// Opens `path` and finds its delimiter, header and address column
    /// (`column`: a header name, or a 1-based number, chosen by the user).
    pub fn open(path: &Path, shown: &str, column: Option<&str>) -> Result<ListFile, String> {
        let file = File::open(path).map_err(|e| e.to_string())?;
        let mut first = String::new();
        BufReader::new(file)
            .read_line(&mut first)
            .map_err(|e| e.to_string())?;
        let delimiter = [b'\t', b';', b',']
            .into_iter()
            .max_by_key(|d| first.bytes().filter(|b| b == d).count())
            .filter(|d| first.as_bytes().contains(d))
            .unwrap_or(b',');
        let mut list = ListFile {
            path: path.to_path_buf(),
            shown: shown.to_string(),
            delimiter,
            header: false,
            column: 0,
            column_name: None,
        };
        let mut reader = list.reader()?;
        let mut sample: Vec<csv::ByteRecord> = Vec::new();
        for r in reader.byte_records().take(SNIFF_ROWS + 1) {
            match r {
                Ok(r) => sample.push(r),
                Err(e) => return Err(format!("not readable as CSV: {e}")),
            }
        }
        let Some(head) = sample.first() else {
            return Err("empty: no rows".into());
        };
        let names: Vec<String> = head
            .iter()
            .map(|f| String::from_utf8_lossy(f).into_owned())
            .collect();
        let has_at = |r: &csv::ByteRecord, i: usize| r.get(i).is_some_and(|f| f.contains(&b'@'));
        let named = names
            .iter()
            .position(|n| ADDRESS_HEADERS.contains(&squash(n).as_str()));
        list.header = named.is_some() || !(0..names.len()).any(|i| has_at(head, i));
        if let Some(wanted) = column {
            let by_name = names.iter().position(|n| squash(n) == squash(wanted));
            let by_number = wanted
                .parse::<usize>()
                .ok()
                .filter(|n| (1..=names.len()).contains(n))
                .map(|n| n - 1);
            list.column = match (by_name, by_number) {
                (Some(i), _) => {
                    list.header = true;
                    i
                }
                (None, Some(i)) => i,
                (None, None) => {
                    return Err(format!(
                        "no column {wanted:?} (the columns: {})",
                        names.join(", ")
                    ));
                }
            };
        } else if let Some(i) = named {
            list.column = i;
        } else {
            let rows = if list.header {
                &sample[1..]
            } else {
                &sample[..]
            };
            let best = (0..names.len())
                .map(|i| (rows.iter().filter(|r| has_at(r, i)).count(), i))
                .max_by_key(|(n, i)| (*n, usize::MAX - i));
            match best {
                Some((n, i)) if n > 0 => list.column = i,
                _ => {
                    return Err(format!(
                        "no address column: no header names one (email, address, ...) and no column holds an @ in the first {SNIFF_ROWS} rows; name it with --column"
                    ));
                }
            }
        }
        if list.header {
            if sample.len() == 1 {
                return Err("only a header: no addresses".into());
            }
            list.column_name = names.get(list.column).cloned();
        }
        // Read once to the end now: a file that cannot be read whole is an
        // input error before anything is asked, not a report on part of it.
        for row in list.rows()? {
            row?;
        }
        Ok(list)
    }

    fn reader(&self) -> Result<csv::Reader<Bounded<File>>, String> {
        let file = File::open(&self.path).map_err(|e| e.to_string())?;
        Ok(csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .from_reader(Bounded::new(file, self.delimiter)))
    }

    /// The header row, when there is one.
    pub fn header_record(&self) -> Result<Option<csv::ByteRecord>, String> {
        if !self.header {
            return Ok(None);
        }
        let mut r = self.reader()?;
        let mut rec = csv::ByteRecord::new();
        r.read_byte_record(&mut rec).map_err(|e| e.to_string())?;
        Ok(Some(rec))
    }

    /// The data rows, in order. A row that cannot be read as CSV comes
    /// with its error as the address; a file that cannot be read on (an
    /// I/O error, a record over [`MAX_RECORD`]) ends with `Err`, so that no
    /// verdict rests on part of the list.
    pub fn rows(&self) -> Result<impl Iterator<Item = Result<Row, String>> + use<>, String> {
        let reader = self.reader()?;
        let skip = usize::from(self.header);
        let column = self.column;
        let mut records = reader.into_byte_records().skip(skip);
        let mut number = 0u64;
        let mut failed = false;
        Ok(std::iter::from_fn(move || {
            if failed {
                return None;
            }
            let r = records.next()?;
            number += 1;
            Some(match r {
                Ok(record) => {
                    let address = match record.get(column) {
                        None => Err("the row has no address field".to_string()),
                        Some(f) => std::str::from_utf8(f)
                            .map(str::to_string)
                            .map_err(|_| "not valid UTF-8".to_string()),
                    };
                    Ok(Row {
                        number,
                        record,
                        address,
                    })
                }
                Err(e) if e.is_io_error() => {
                    failed = true;
                    Err(match e.into_kind() {
                        csv::ErrorKind::Io(io) => io.to_string(),
                        other => format!("{other:?}"),
                    })
                }
                Err(e) => Ok(Row {
                    number,
                    record: csv::ByteRecord::new(),
                    address: Err(format!("not readable as CSV: {e}")),
                }),
            })
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn open(text: &str, column: Option<&str>) -> Result<ListFile, String> {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        let l = ListFile::open(f.path(), "t", column);
        // Keep the file alive for the rows of the caller.
        std::mem::forget(f);
        l
    }

    #[test]
    fn finds_the_address_column_by_header_or_content() {
        let l = open("Name,E-Mail\nJane,jane@example.com\n", None).unwrap();
        assert_eq!(
            (l.header, l.column, l.column_name.as_deref()),
            (true, 1, Some("E-Mail"))
        );
        let l = open("jane@example.com\njohn@example.com\n", None).unwrap();
        assert_eq!((l.header, l.column), (false, 0));
        let l = open("id;who;x\n1;jane@example.com;a\n", None).unwrap();
        assert_eq!((l.delimiter, l.header, l.column), (b';', true, 1));
        let l = open("name\tcontact\nJane\tjane@example.com\n", Some("contact")).unwrap();
        assert_eq!((l.delimiter, l.column), (b'\t', 1));
        assert!(
            open("name,phone\nJane,555\n", None)
                .unwrap_err()
                .contains("--column")
        );
        assert!(
            open("a,b\n", Some("nope"))
                .unwrap_err()
                .contains("no column")
        );
        assert!(open("", None).unwrap_err().contains("empty"));
        // A runaway row (a long line, or a quoted field that never ends):
        // refused when the column is looked for, or ends the rows with an
        // error (no verdict on part of the list).
        let huge = "x".repeat(MAX_RECORD + 1);
        let early = format!("email\na@example.com\n{huge}\n");
        assert!(open(&early, None).unwrap_err().contains("runs past line 3"));
        let ok = "a@example.com\n".repeat(150);
        let late = format!("email\n{ok}{huge}\nb@example.com\n");
        assert!(
            open(&late, None)
                .unwrap_err()
                .contains("runs past line 152")
        );
        let open_quote = format!(
            "email\n{ok}\"b@example.com\n{}",
            "short line\n".repeat(100_000)
        );
        assert!(
            open(&open_quote, None)
                .unwrap_err()
                .contains("runs past line")
        );
        // Quotes inside fields and doubled quotes are what CSV says.
        let fine = format!(
            "email,note\n{}",
            "o\"brien@example.com,\"say \"\"hi\"\"\nthere\"\n".repeat(200_000)
        );
        let rows: Vec<_> = open(&fine, None).unwrap().rows().unwrap().collect();
        assert_eq!(rows.len(), 200_000);
        assert!(rows.iter().all(|r| r.is_ok()));
        let rows: Vec<_> = open("email\na@example.com\nb@example.com\n", None)
            .unwrap()
            .rows()
            .unwrap()
            .map(|r| r.unwrap())
            .map(|r| (r.number, r.address.unwrap()))
            .collect();
        assert_eq!(
            rows,
            [(1, "a@example.com".into()), (2, "b@example.com".into())]
        );
    }
}
