//! Users' own tables: a CSV file read into named columns, each a number column or a category
//! column, with its missing cells known — the first step of the tabular experiment (#13).
//!
//! The `csv` crate does the RFC 4180 part (quotes, doubled quotes, newlines inside quotes, CRLF).
//! Around it: the delimiter (`,`, `;` or tab) is detected from the first lines; a UTF-8 byte-order
//! mark is dropped; the first row is the header; `?`, `NA`, `NaN` and empty cells (after trimming
//! spaces) are missing; a column is numeric when every present cell is a finite number, else
//! categorical, and either can be overridden where it makes sense. Everything a file can get
//! wrong — binary content, bad UTF-8, ragged rows, no rows, duplicate names, a file too large —
//! is a [`TableError`] that names the row and column; nothing panics (fuzzed in the tests).

use std::collections::HashMap;

/// The largest CSV file read, in bytes.
pub const MAX_CSV_BYTES: usize = 100_000_000;
/// The most columns a table may have.
pub const MAX_COLUMNS: usize = 1_000;
/// The most distinct values a categorical column may have to be used as a feature (one-hot).
pub const MAX_CATEGORIES: usize = 500;
/// Cells read as missing (compared after trimming spaces; `NA`/`NaN` in any case).
pub const MISSING: [&str; 4] = ["", "?", "NA", "NaN"];

/// What is wrong with a CSV file. Rows are counted as a spreadsheet shows them: the header is
/// row 1.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum TableError {
    /// Nothing but (perhaps) a header.
    #[error("the file has no data rows{0}")]
    Empty(&'static str),
    /// Over [`MAX_CSV_BYTES`].
    #[error("the file is {:.1} MB; at most {} MB can be read here", *.0 as f64 / 1e6, MAX_CSV_BYTES / 1_000_000)]
    TooLarge(usize),
    /// NUL bytes: an image, an archive, a spreadsheet file — not text.
    #[error("this is not a CSV file: it holds binary data (a zero byte at byte {0})")]
    Binary(usize),
    /// Not UTF-8.
    #[error("row {row}, column {column}: the text is not UTF-8 (save the file as UTF-8)")]
    NotUtf8 {
        /// Row (1 = the header).
        row: u64,
        /// Column, from 1.
        column: usize,
    },
    /// A row with another number of cells than the header.
    #[error("row {row} has {found} cells; the header has {expected}")]
    Ragged {
        /// Row (1 = the header).
        row: u64,
        /// Its cells.
        found: usize,
        /// The header's.
        expected: usize,
    },
    /// Two columns with one name, or a column without one.
    #[error("column {column}: {problem}")]
    Header {
        /// Column, from 1.
        column: usize,
        /// What is wrong with its name.
        problem: String,
    },
    /// More than [`MAX_COLUMNS`].
    #[error("the header has {0} columns; at most {MAX_COLUMNS} can be used")]
    TooWide(usize),
    /// The CSV reader's own complaint.
    #[error("row {row}: {message}")]
    Csv {
        /// Row (1 = the header).
        row: u64,
        /// What the reader said.
        message: String,
    },
    /// A column cannot be read as asked (a number column with a word in it).
    #[error("column '{column}', row {row}: '{value}' is not a number")]
    NotNumber {
        /// The column's name.
        column: String,
        /// Row (1 = the header).
        row: u64,
        /// The cell.
        value: String,
    },
}

/// How a column's values are read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Finite numbers.
    Numeric,
    /// Labels (one-hot as features).
    Categorical,
}

/// One column: its name, how it is read, and its cells as text (`None`: missing).
#[derive(Clone, Debug, PartialEq)]
pub struct Column {
    /// The header's name for it.
    pub name: String,
    /// How it is read now.
    pub kind: Kind,
    /// How it was inferred from the cells.
    pub inferred: Kind,
    cells: Vec<Option<String>>,
}

/// A table read from a CSV file.
#[derive(Clone, Debug, PartialEq)]
pub struct Table {
    /// The columns, in the file's order.
    pub columns: Vec<Column>,
    /// The delimiter found.
    pub delimiter: u8,
}

/// A column summarised for the table view.
#[derive(Clone, Debug, PartialEq)]
pub struct Profile {
    /// Missing cells.
    pub missing: usize,
    /// Distinct present values.
    pub distinct: usize,
    /// Smallest, largest and mean value (numeric columns).
    pub range: Option<(f64, f64, f64)>,
    /// The most frequent values with their counts, most frequent first (at most 10).
    pub top: Vec<(String, usize)>,
    /// Counts in 20 equal bins over the range (numeric columns; empty otherwise).
    pub histogram: Vec<usize>,
}

fn is_missing(cell: &str) -> bool {
    MISSING.iter().any(|m| cell.eq_ignore_ascii_case(m))
}

fn number(cell: &str) -> Option<f64> {
    cell.parse::<f64>().ok().filter(|x| x.is_finite())
}

/// The delimiter of the first lines: the one of `,`, `;`, tab that splits them into the same
/// number of cells (more than one), the most cells winning; `,` when none does.
fn detect_delimiter(bytes: &[u8]) -> u8 {
    let mut best = (b',', 1);
    for d in [b',', b';', b'\t'] {
        let mut reader = csv::ReaderBuilder::new().delimiter(d).has_headers(false).flexible(true).from_reader(bytes);
        let counts: Vec<usize> = reader.byte_records().take(20).map_while(Result::ok).map(|r| r.len()).collect();
        if let Some(&first) = counts.first() {
            if first > best.1 && counts.iter().all(|&c| c == first) {
                best = (d, first);
            }
        }
    }
    best.0
}

/// Refuses a file by its size (bytes, as a browser reports it) before it is read.
pub fn check_size(bytes: f64) -> Result<(), TableError> {
    if bytes.is_finite() && bytes <= MAX_CSV_BYTES as f64 { Ok(()) } else { Err(TableError::TooLarge(bytes.min(u64::MAX as f64) as usize)) }
}

impl Table {
    /// Reads a CSV file (see the module's account of what is accepted).
    pub fn parse(bytes: &[u8]) -> Result<Table, TableError> {
        if bytes.len() > MAX_CSV_BYTES {
            return Err(TableError::TooLarge(bytes.len()));
        }
        let bytes = bytes.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(bytes);
        if let Some(at) = bytes.iter().take(1 << 20).position(|&b| b == 0) {
            return Err(TableError::Binary(at));
        }
        let delimiter = detect_delimiter(bytes);
        let mut reader = csv::ReaderBuilder::new().delimiter(delimiter).has_headers(false).flexible(true).from_reader(bytes);
        let mut records = reader.byte_records();
        let text = |field: &[u8], row: u64, column: usize| -> Result<String, TableError> {
            std::str::from_utf8(field).map(|s| s.trim().to_string()).map_err(|_| TableError::NotUtf8 { row, column })
        };
        let header = match records.next() {
            None => return Err(TableError::Empty(": it is empty")),
            Some(Err(e)) => return Err(TableError::Csv { row: 1, message: e.to_string() }),
            Some(Ok(h)) => h,
        };
        if header.len() > MAX_COLUMNS {
            return Err(TableError::TooWide(header.len()));
        }
        let mut columns = Vec::with_capacity(header.len());
        for (k, field) in header.iter().enumerate() {
            let name = text(field, 1, k + 1)?;
            if name.is_empty() {
                return Err(TableError::Header { column: k + 1, problem: "it has no name in the header".into() });
            }
            if let Some(j) = columns.iter().position(|c: &Column| c.name == name) {
                return Err(TableError::Header { column: k + 1, problem: format!("'{name}' is also the name of column {}", j + 1) });
            }
            columns.push(Column { name, kind: Kind::Categorical, inferred: Kind::Categorical, cells: Vec::new() });
        }
        let mut row = 1u64;
        for record in records {
            row += 1;
            let record = record.map_err(|e| TableError::Csv { row, message: e.to_string() })?;
            // A blank line (one empty cell) is skipped, as spreadsheets do.
            if record.len() == 1 && record[0].iter().all(u8::is_ascii_whitespace) && columns.len() > 1 {
                continue;
            }
            if record.len() != columns.len() {
                return Err(TableError::Ragged { row, found: record.len(), expected: columns.len() });
            }
            for (k, field) in record.iter().enumerate() {
                let cell = text(field, row, k + 1)?;
                columns[k].cells.push((!is_missing(&cell)).then_some(cell));
            }
        }
        if columns[0].cells.is_empty() {
            return Err(TableError::Empty(": only a header"));
        }
        for c in &mut columns {
            let numeric = c.cells.iter().flatten().all(|v| number(v).is_some()) && c.cells.iter().any(Option::is_some);
            c.inferred = if numeric { Kind::Numeric } else { Kind::Categorical };
            c.kind = c.inferred;
        }
        Ok(Table { columns, delimiter })
    }

    /// Data rows (the header not counted).
    pub fn rows(&self) -> usize {
        self.columns.first().map_or(0, |c| c.cells.len())
    }

    /// The column with this name.
    pub fn column(&self, name: &str) -> Option<&Column> {
        self.columns.iter().find(|c| c.name == name)
    }

    /// Reads column `index` as `kind`: any column can be categorical; numeric only when every
    /// present cell is a number (else the first that is not is named). The table is unchanged on
    /// error.
    pub fn set_kind(&mut self, index: usize, kind: Kind) -> Result<(), TableError> {
        let Some(c) = self.columns.get_mut(index) else {
            return Err(TableError::Header { column: index + 1, problem: "there is no such column".into() });
        };
        if kind == Kind::Numeric {
            if let Some((i, v)) = c.cells.iter().enumerate().find_map(|(i, v)| v.as_ref().filter(|v| number(v).is_none()).map(|v| (i, v))) {
                return Err(TableError::NotNumber { column: c.name.clone(), row: i as u64 + 2, value: v.clone() });
            }
        }
        c.kind = kind;
        Ok(())
    }

    /// Rows with no missing cell in any of `columns` (indices): the essay's cleaning.
    pub fn complete_rows(&self, columns: &[usize]) -> Vec<usize> {
        (0..self.rows()).filter(|&r| columns.iter().all(|&c| self.columns[c].cells[r].is_some())).collect()
    }
}

impl Column {
    /// Its cells (`None`: missing).
    pub fn cells(&self) -> &[Option<String>] {
        &self.cells
    }

    /// Missing cells.
    pub fn missing(&self) -> usize {
        self.cells.iter().filter(|c| c.is_none()).count()
    }

    /// The cell of `row` as a number (a numeric column's present cells all are).
    pub fn number(&self, row: usize) -> Option<f64> {
        self.cells[row].as_deref().and_then(number)
    }

    /// Distinct present values with their counts, most frequent first (ties by value).
    pub fn categories(&self) -> Vec<(String, usize)> {
        let mut counts: HashMap<&str, usize> = HashMap::new();
        for v in self.cells.iter().flatten() {
            *counts.entry(v).or_default() += 1;
        }
        let mut out: Vec<(String, usize)> = counts.into_iter().map(|(v, n)| (v.to_string(), n)).collect();
        out.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
        out
    }

    /// Whether it can be a feature: numeric, or categorical with at most [`MAX_CATEGORIES`] values
    /// (else why not).
    pub fn usable_as_feature(&self) -> Result<(), String> {
        self.usable_as(self.kind)
    }

    /// [`Column::usable_as_feature`] if it were read as `kind`.
    pub fn usable_as(&self, kind: Kind) -> Result<(), String> {
        match kind {
            Kind::Numeric => Ok(()),
            Kind::Categorical => {
                let n = self.categories().len();
                if n > MAX_CATEGORIES {
                    Err(format!("'{}' has {n} different values; one-hot encoding takes at most {MAX_CATEGORIES}", self.name))
                } else {
                    Ok(())
                }
            }
        }
    }

    /// Its summary for the table view.
    pub fn profile(&self) -> Profile {
        let categories = self.categories();
        let mut p = Profile {
            missing: self.missing(),
            distinct: categories.len(),
            range: None,
            top: categories.into_iter().take(10).collect(),
            histogram: Vec::new(),
        };
        if self.kind == Kind::Numeric {
            let values: Vec<f64> = self.cells.iter().flatten().filter_map(|v| number(v)).collect();
            if !values.is_empty() {
                let lo = values.iter().copied().fold(f64::INFINITY, f64::min);
                let hi = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let mean = values.iter().sum::<f64>() / values.len() as f64;
                p.range = Some((lo, hi, mean));
                let mut bins = vec![0; 20];
                let width = (hi - lo).max(f64::MIN_POSITIVE);
                for v in values {
                    bins[(((v - lo) / width * 20.0) as usize).min(19)] += 1;
                }
                p.histogram = bins;
            }
        }
        p
    }
}
