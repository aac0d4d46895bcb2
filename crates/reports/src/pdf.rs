//! A small A4 text layout on printpdf: headings, sections, label-value lines, wrapped, with new
//! pages as they fill.

use printpdf::{
    BuiltinFont, Mm, Op, PdfDocument, PdfFontHandle, PdfPage, PdfSaveOptions, Point, Pt, RawImage,
    RawImageData, RawImageFormat, TextItem, XObjectTransform,
};

const WIDTH_MM: f32 = 210.0;
const HEIGHT_MM: f32 = 297.0;
const MARGIN_MM: f32 = 20.0;

pub struct Pdf {
    doc: PdfDocument,
    pages: Vec<PdfPage>,
    ops: Vec<Op>,
    /// Distance from the top of the page, in mm.
    y: f32,
}

impl Pdf {
    pub fn new(title: &str) -> Self {
        Self {
            doc: PdfDocument::new(title),
            pages: Vec::new(),
            ops: Vec::new(),
            y: MARGIN_MM,
        }
    }

    fn text(&mut self, x_mm: f32, size: f32, bold: bool, s: &str) {
        let font = if bold {
            BuiltinFont::HelveticaBold
        } else {
            BuiltinFont::Helvetica
        };
        self.ops.extend([
            Op::StartTextSection,
            Op::SetFont {
                font: PdfFontHandle::Builtin(font),
                size: Pt(size),
            },
            Op::SetTextCursor {
                pos: Point::new(Mm(x_mm), Mm(HEIGHT_MM - self.y)),
            },
            Op::ShowText {
                items: vec![TextItem::Text(s.to_string())],
            },
            Op::EndTextSection,
        ]);
    }

    /// Move down by `mm`, starting a new page when the bottom margin is reached.
    fn advance(&mut self, mm: f32) {
        self.y += mm;
        if self.y > HEIGHT_MM - MARGIN_MM {
            let ops = std::mem::take(&mut self.ops);
            self.pages
                .push(PdfPage::new(Mm(WIDTH_MM), Mm(HEIGHT_MM), ops));
            self.y = MARGIN_MM + mm;
        }
    }

    pub fn heading(&mut self, s: &str) {
        self.advance(8.0);
        self.text(MARGIN_MM, 15.0, true, s);
        self.advance(2.0);
    }

    pub fn section(&mut self, s: &str) {
        self.advance(7.0);
        self.text(MARGIN_MM, 11.5, true, s);
        self.advance(1.0);
    }

    /// A label and its value; long values wrap under the value column.
    pub fn field(&mut self, label: &str, value: &str) {
        let lines = wrap(value, 70);
        self.advance(5.5);
        self.text(MARGIN_MM, 10.0, false, label);
        for (i, l) in lines.iter().enumerate() {
            if i > 0 {
                self.advance(4.8);
            }
            self.text(MARGIN_MM + 58.0, 10.0, false, l);
        }
    }

    pub fn small(&mut self, s: &str) {
        for l in wrap(s, 110) {
            self.advance(4.2);
            self.text(MARGIN_MM, 8.0, false, &l);
        }
    }

    /// A table line: a label column, then equal value columns, right-aligned by eye.
    pub fn table_row(&mut self, cells: &[String], bold: bool) {
        self.advance(4.6);
        let label_mm = 52.0;
        let col_mm = (WIDTH_MM - 2.0 * MARGIN_MM - label_mm) / (cells.len().max(2) - 1) as f32;
        for (i, c) in cells.iter().enumerate() {
            let x = if i == 0 {
                MARGIN_MM
            } else {
                MARGIN_MM + label_mm + (i - 1) as f32 * col_mm
            };
            self.text(x, 8.5, bold, c);
        }
    }

    /// An RGB image `width_mm` wide, on this page if it fits.
    pub fn image(&mut self, rgb: Vec<u8>, w: usize, h: usize, width_mm: f32) {
        let height_mm = width_mm * h as f32 / w as f32;
        self.advance(height_mm);
        let id = self.doc.add_image(&RawImage {
            pixels: RawImageData::U8(rgb),
            width: w,
            height: h,
            data_format: RawImageFormat::RGB8,
            tag: Vec::new(),
        });
        self.ops.push(Op::UseXobject {
            id,
            transform: XObjectTransform {
                translate_x: Some(Mm(MARGIN_MM).into()),
                translate_y: Some(Mm(HEIGHT_MM - self.y).into()),
                // Pixels per inch that make the image `width_mm` wide.
                dpi: Some(w as f32 / (width_mm / 25.4)),
                ..Default::default()
            },
        });
    }

    pub fn gap(&mut self) {
        self.advance(2.5);
    }

    pub fn finish(mut self) -> Vec<u8> {
        let ops = std::mem::take(&mut self.ops);
        self.pages
            .push(PdfPage::new(Mm(WIDTH_MM), Mm(HEIGHT_MM), ops));
        let mut warnings = Vec::new();
        self.doc
            .with_pages(self.pages)
            .save(&PdfSaveOptions::default(), &mut warnings)
    }
}

/// Greedy word wrap at `width` characters (Helvetica at these sizes fits the column).
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut out = vec![String::new()];
    for w in s.split_whitespace() {
        let cur = out.last_mut().expect("never empty");
        if !cur.is_empty() && cur.chars().count() + 1 + w.chars().count() > width {
            out.push(w.to_string());
        } else {
            if !cur.is_empty() {
                cur.push(' ');
            }
            cur.push_str(w);
        }
    }
    out
}
