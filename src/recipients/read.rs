//! Reading a recipient list: CSV with a header (the address column found
//! by its name or its content), or one address a line; `,`, `;` or tab
//! between fields. The file is read twice (domains first, rows after), so
//! standard input is spooled to a temporary file by the caller.

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
        Ok(list)
    }

    fn reader(&self) -> Result<csv::Reader<File>, String> {
        let file = File::open(&self.path).map_err(|e| e.to_string())?;
        Ok(csv::ReaderBuilder::new()
            .has_headers(false)
            .flexible(true)
            .delimiter(self.delimiter)
            .from_reader(file))
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
    /// with its error as the address.
    pub fn rows(&self) -> Result<impl Iterator<Item = Row> + use<>, String> {
        let reader = self.reader()?;
        let skip = usize::from(self.header);
        let column = self.column;
        let mut records = reader.into_byte_records().skip(skip);
        let mut number = 0u64;
        Ok(std::iter::from_fn(move || {
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
                    Row {
                        number,
                        record,
                        address,
                    }
                }
                Err(e) => Row {
                    number,
                    record: csv::ByteRecord::new(),
                    address: Err(format!("not readable as CSV: {e}")),
                },
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
        assert!(
            open("\u{feff}Email\n", None)
                .unwrap_err()
                .contains("only a header")
        );
        let l = open("\u{feff}Email\njane@example.com\n", None).unwrap();
        assert_eq!((l.header, l.column), (true, 0));
        let rows: Vec<_> = open("email\na@example.com\nb@example.com\n", None)
            .unwrap()
            .rows()
            .unwrap()
            .map(|r| (r.number, r.address.unwrap()))
            .collect();
        assert_eq!(
            rows,
            [(1, "a@example.com".into()), (2, "b@example.com".into())]
        );
    }
}
