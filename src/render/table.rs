//! Aligned text tables. The last column is truncated to the terminal's width
//! on a terminal and never in a pipe.
//!
//! Column widths are only known once every row has been seen, and a listing
//! may have 100,000 rows; rather than keep them all, callers make two passes
//! over their rows: `measure` each, then `write_header` and `write_row` each.

use crate::printable::printable;
use std::borrow::Cow;
use std::io::{self, Write};

use super::style::{Paint, Style};

/// One cell: borrowed text where it can be, so that rows cost few allocations.
pub struct Cell<'a> {
    pub text: Cow<'a, str>,
    pub paint: Paint,
    /// A shorter form of `text`, shown in the last column when `text` does
    /// not fit the terminal (before anything is cut): a command line with
    /// its program's name instead of the program's path.
    pub compact: Option<Cow<'a, str>>,
}

impl<'a> Cell<'a> {
    /// A cell; control characters in `text` are escaped (see `printable`).
    pub fn new(text: impl Into<Cow<'a, str>>) -> Self {
        Cell::painted(text, Paint::Plain)
    }

    /// A cell of text berth made itself (numbers, addresses, labels): no
    /// control characters can be in it, so it skips the escaping scan.
    pub fn trusted(text: impl Into<Cow<'a, str>>, paint: Paint) -> Self {
        Cell { text: text.into(), paint, compact: None }
    }

    /// The shorter form for a last column that does not fit (trusted: the
    /// caller escaped it, as it did `text`).
    pub fn or_compact(mut self, compact: Option<impl Into<Cow<'a, str>>>) -> Self {
        self.compact = compact.map(Into::into);
        self
    }

    pub fn painted(text: impl Into<Cow<'a, str>>, paint: Paint) -> Self {
        let text = match text.into() {
            Cow::Borrowed(b) => printable(b),
            Cow::Owned(o) => match printable(&o) {
                Cow::Borrowed(_) => Cow::Owned(o),
                Cow::Owned(safe) => Cow::Owned(safe),
            },
        };
        Cell { text, paint, compact: None }
    }
}

pub struct Table {
    headers: Vec<&'static str>,
    widths: Vec<usize>,
    /// Columns aligned to the right (numbers).
    right: Vec<bool>,
    rows: usize,
}

impl Table {
    pub fn new(headers: Vec<(&'static str, bool)>) -> Self {
        let right = headers.iter().map(|(_, r)| *r).collect();
        let widths = headers.iter().map(|(h, _)| h.len()).collect();
        Table { headers: headers.into_iter().map(|(h, _)| h).collect(), widths, right, rows: 0 }
    }

    /// First pass: widen the columns to fit this row. The last column is
    /// never padded, so a row may leave it out.
    pub fn measure(&mut self, row: &[Cell]) {
        debug_assert!(row.len() + 1 >= self.headers.len());
        for (i, cell) in row.iter().enumerate() {
            self.widths[i] = self.widths[i].max(cell.text.chars().count());
        }
        self.rows += 1;
    }

    /// Rows measured so far.
    pub fn rows(&self) -> usize {
        self.rows
    }

    pub fn write_header(&self, out: &mut impl Write, style: &Style) -> io::Result<()> {
        let header: Vec<Cell> = self.headers.iter().map(|h| Cell::trusted(*h, Paint::Bold)).collect();
        self.write_row(out, &header, style)
    }

    /// Second pass: write a row, padded to the measured widths.
    pub fn write_row(&self, out: &mut impl Write, row: &[Cell], style: &Style) -> io::Result<()> {
        let mut line = String::with_capacity(160);
        let mut used = 0usize;
        let last = row.len() - 1;
        for (i, cell) in row.iter().enumerate() {
            let width = self.widths[i];
            let mut text = Cow::Borrowed(cell.text.as_ref());
            if i == last {
                if let Some(total) = style.width {
                    let room = total.saturating_sub(used).max(8);
                    if text.chars().count() > room {
                        if let Some(compact) = &cell.compact {
                            text = Cow::Borrowed(compact.as_ref());
                        }
                    }
                    if text.chars().count() > room {
                        text = (text.chars().take(room.saturating_sub(1)).collect::<String>() + "…").into();
                    }
                }
            }
            let pad = width.saturating_sub(text.chars().count());
            let right = self.right[i];
            if right {
                line.extend(std::iter::repeat_n(' ', pad));
            }
            line.push_str(&style.paint(cell.paint, &text));
            if i != last {
                line.extend(std::iter::repeat_n(' ', if right { 2 } else { pad + 2 }));
            }
            used += width + 2;
        }
        line.push('\n');
        out.write_all(line.as_bytes())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn aligns_and_escapes() {
        let rows = vec![
            vec![Cell::new("a"), Cell::new("10"), Cell::new("x\ny")],
            vec![Cell::new("long-name"), Cell::new("2"), Cell::painted("z", Paint::Dim)],
        ];
        let mut table = Table::new(vec![("NAME", false), ("N", true), ("CMD", false)]);
        rows.iter().for_each(|r| table.measure(r));
        let mut out = Vec::new();
        table.write_header(&mut out, &Style::plain()).unwrap();
        for row in &rows {
            table.write_row(&mut out, row, &Style::plain()).unwrap();
        }
        let text = String::from_utf8(out).unwrap();
        assert_eq!(text, "NAME        N  CMD\na          10  x\\ny\nlong-name   2  z\n");
    }
}
