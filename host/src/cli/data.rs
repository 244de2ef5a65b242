//! Reading vectors from files: fvecs/ivecs (TEXMEX), npy (NumPy, 2-d, f32 or f64, C order) and
//! jsonl (`{"id": …, "vector": […], "payload": {…}}` per line). Readers stream in batches and
//! report progress in bytes.

use anyhow::{Context, Result, anyhow, bail};
use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::path::Path;
use veles::Point;

/// A file format for vectors.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    Fvecs,
    Npy,
    Jsonl,
}

impl Format {
    /// The format a file name suggests.
    pub fn from_path(path: &Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "fvecs" => Some(Format::Fvecs),
            "npy" => Some(Format::Npy),
            "jsonl" | "ndjson" => Some(Format::Jsonl),
            _ => None,
        }
    }
}

/// Streams points from a file.
pub struct PointReader {
    inner: Inner,
    /// Bytes consumed so far, and the file's size.
    pub position: u64,
    pub size: u64,
    /// `None` once the ids have passed `u64::MAX`.
    next_id: Option<u64>,
    /// The error of a record after the points the last batch returned.
    pending: Option<anyhow::Error>,
    what: String,
}

enum Inner {
    Fvecs(BufReader<Box<dyn Read>>),
    Npy {
        r: BufReader<Box<dyn Read>>,
        dim: usize,
        /// Bytes per component: 2 (float16), 4 (float32) or 8 (float64).
        width: usize,
        left: u64,
    },
    Jsonl {
        r: BufReader<Box<dyn Read>>,
        line: u64,
    },
}

impl PointReader {
    /// Opens `path`; positional formats number points from `first_id`.
    pub fn open(path: &Path, format: Option<Format>, first_id: u64) -> Result<PointReader> {
        let stdin = path == Path::new("-");
        let format = format
            .or_else(|| Format::from_path(path))
            .or(stdin.then_some(Format::Jsonl))
            .ok_or_else(|| {
                anyhow!(
                    "cannot tell the format of {} (use --format fvecs|npy|jsonl)",
                    path.display()
                )
            })?;
        // `-` is standard input, whose size is unknown (0).
        let (input, size): (Box<dyn Read>, u64) = if stdin {
            (Box::new(std::io::stdin()), 0)
        } else {
            let file =
                File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
            let size = file.metadata()?.len();
            (Box::new(file), size)
        };
        let mut r = BufReader::with_capacity(1 << 20, input);
        let (inner, position) = match format {
            Format::Fvecs => (Inner::Fvecs(r), 0),
            Format::Jsonl => (Inner::Jsonl { r, line: 0 }, 0),
            Format::Npy => {
                let (dim, rows, width, header) = npy_header(&mut r)
                    .with_context(|| format!("{} is not a usable .npy file", path.display()))?;
                // Bounded by the file before anything is allocated by the header's word.
                let data = (rows as u128) * (dim as u128) * (width as u128);
                if size > 0 && data > u128::from(size.saturating_sub(header)) {
                    bail!(
                        "{}: the header says {rows} x {dim} values ({data} bytes), the file holds {} after it",
                        path.display(),
                        size.saturating_sub(header)
                    );
                }
                (
                    Inner::Npy {
                        r,
                        dim,
                        width,
                        left: rows,
                    },
                    header,
                )
            }
        };
        Ok(PointReader {
            inner,
            position,
            size,
            next_id: Some(first_id),
            pending: None,
            what: path.display().to_string(),
        })
    }

    /// Up to `max` more points; empty at the end. A bad record ends the batch before it: the
    /// points read so far come back, and the error with the next call.
    pub fn next_batch(&mut self, max: usize) -> Result<Vec<Point>> {
        if let Some(e) = self.pending.take() {
            return Err(e);
        }
        let mut out = Vec::with_capacity(max.min(1 << 16));
        while out.len() < max {
            match self.next_point() {
                Ok(Some(p)) => out.push(p),
                Ok(None) => break,
                Err(e) if out.is_empty() => return Err(e),
                Err(e) => {
                    self.pending = Some(e);
                    break;
                }
            }
        }
        Ok(out)
    }

    fn next_point(&mut self) -> Result<Option<Point>> {
        let what = &self.what;
        match &mut self.inner {
            Inner::Fvecs(r) => {
                let mut d = [0u8; 4];
                if !read_exact_or_eof(r, &mut d)? {
                    return Ok(None);
                }
                let dim = i32::from_le_bytes(d);
                if !(1..=veles::MAX_DIMENSION as i32).contains(&dim) {
                    bail!("{what}: bad dimension {dim} at byte {}", self.position);
                }
                let mut bytes = vec![0u8; dim as usize * 4];
                r.read_exact(&mut bytes).with_context(|| {
                    format!("{what}: truncated vector at byte {}", self.position)
                })?;
                self.position += 4 + bytes.len() as u64;
                let id = self.take_id()?;
                Ok(Some(Point::new(id, f32s(&bytes))))
            }
            Inner::Npy {
                r,
                dim,
                width,
                left,
            } => {
                if *left == 0 {
                    return Ok(None);
                }
                *left -= 1;
                let mut bytes = vec![0u8; *dim * *width];
                r.read_exact(&mut bytes)
                    .with_context(|| format!("{what}: truncated data"))?;
                self.position += bytes.len() as u64;
                let v = match width {
                    8 => bytes
                        .chunks_exact(8)
                        .map(|c| f64::from_le_bytes(c.try_into().unwrap_or_default()) as f32)
                        .collect(),
                    2 => bytes
                        .chunks_exact(2)
                        .map(|c| f16_to_f32(u16::from_le_bytes([c[0], c[1]])))
                        .collect(),
                    _ => f32s(&bytes),
                };
                let id = self.take_id()?;
                Ok(Some(Point::new(id, v)))
            }
            Inner::Jsonl { r, line } => loop {
                let mut text = String::new();
                let n = r
                    .read_line(&mut text)
                    .with_context(|| format!("{what}: read failed"))?;
                if n == 0 {
                    return Ok(None);
                }
                *line += 1;
                self.position += n as u64;
                if text.trim().is_empty() {
                    continue;
                }
                return parse_jsonl(&text)
                    .map(Some)
                    .with_context(|| format!("{what}, line {line}"));
            },
        }
    }
}

impl PointReader {
    /// The next positional id; an error past `u64::MAX` (never a wrap onto existing ids).
    fn take_id(&mut self) -> Result<u64> {
        let id = self.next_id.ok_or_else(|| {
            anyhow!(
                "{}: ids would pass 18446744073709551615 (lower --start-id)",
                self.what
            )
        })?;
        self.next_id = id.checked_add(1);
        Ok(id)
    }

    /// True for formats whose points are numbered from `--start-id` (fvecs, npy).
    pub fn positional(&self) -> bool {
        !matches!(self.inner, Inner::Jsonl { .. })
    }
}

/// An IEEE half-precision value as f32 (exact: every f16 is an f32).
fn f16_to_f32(h: u16) -> f32 {
    let sign = u32::from(h >> 15) << 31;
    let exp = u32::from((h >> 10) & 0x1f);
    let frac = u32::from(h & 0x3ff);
    let bits = match (exp, frac) {
        (0, 0) => sign,
        (0, f) => {
            // Subnormal: normalise.
            let shift = f.leading_zeros() - 21;
            sign | ((113 - shift) << 23) | (((f << shift) & 0x3ff) << 13)
        }
        (0x1f, 0) => sign | 0x7f80_0000,
        (0x1f, f) => sign | 0x7fc0_0000 | (f << 13),
        (e, f) => sign | ((e + 112) << 23) | (f << 13),
    };
    f32::from_bits(bits)
}

fn read_exact_or_eof(r: &mut impl Read, buf: &mut [u8]) -> Result<bool> {
    let mut got = 0;
    while got < buf.len() {
        match r.read(&mut buf[got..])? {
            0 if got == 0 => return Ok(false),
            0 => bail!("file ends inside a record"),
            n => got += n,
        }
    }
    Ok(true)
}

fn f32s(bytes: &[u8]) -> Vec<f32> {
    bytes
        .chunks_exact(4)
        .map(|c| f32::from_le_bytes(c.try_into().unwrap()))
        .collect()
}

fn parse_jsonl(text: &str) -> Result<Point> {
    let v: serde_json::Value = serde_json::from_str(text).context("not JSON")?;
    let id = v
        .get("id")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| anyhow!("\"id\" must be a non-negative integer"))?;
    let vector = v
        .get("vector")
        .and_then(|x| x.as_array())
        .ok_or_else(|| anyhow!("\"vector\" must be an array of numbers"))?
        .iter()
        .map(|x| {
            x.as_f64()
                .map(|f| f as f32)
                .ok_or_else(|| anyhow!("\"vector\" must hold numbers only"))
        })
        .collect::<Result<Vec<f32>>>()?;
    let payload = match v.get("payload") {
        None | Some(serde_json::Value::Null) => None,
        Some(p) => Some(p.clone()),
    };
    let mut point = Point::new(id, vector).with_payload_opt(payload);
    match v.get("sparse") {
        None | Some(serde_json::Value::Null) => {}
        Some(serde_json::Value::Object(fields)) => {
            for (name, x) in fields {
                let v = veles::SparseVector::from_json(x)
                    .with_context(|| format!("sparse field {name:?}"))?;
                point = point.with_sparse(name.clone(), v);
            }
        }
        Some(_) => bail!("\"sparse\" must be an object of {{field: {{indices, values}}}}"),
    }
    Ok(point)
}

/// `(columns, rows, bytes per value, header length)` of a 2-d little-endian float array.
fn npy_header(r: &mut impl Read) -> Result<(usize, u64, usize, u64)> {
    let mut magic = [0u8; 8];
    r.read_exact(&mut magic)?;
    if &magic[..6] != b"\x93NUMPY" {
        bail!("bad magic");
    }
    let (len, pre) = if magic[6] == 1 {
        let mut l = [0u8; 2];
        r.read_exact(&mut l)?;
        (u16::from_le_bytes(l) as usize, 10)
    } else {
        let mut l = [0u8; 4];
        r.read_exact(&mut l)?;
        (u32::from_le_bytes(l) as usize, 12)
    };
    if len > 1 << 20 {
        bail!("header too large");
    }
    let mut h = vec![0u8; len];
    r.read_exact(&mut h)?;
    let h = String::from_utf8(h).context("header not UTF-8")?;
    let header = super::npy::NpyHeader::parse(&h)?;
    let width = header.float_width()?;
    if header.fortran_order {
        bail!("Fortran-ordered arrays are not supported: save with np.ascontiguousarray");
    }
    let dims = header.shape;
    let shape = format!("{dims:?}");
    match dims[..] {
        [_, cols] if cols > u64::from(veles::MAX_DIMENSION) => {
            bail!(
                "{cols} columns: the most a vector may have is {}",
                veles::MAX_DIMENSION
            )
        }
        [rows, cols] if cols > 0 => Ok((cols as usize, rows, width, (pre + len) as u64)),
        _ => bail!("expected a 2-d array, shape ({shape})"),
    }
}

/// Reads every vector of a file in any format `import` reads (by its extension; fvecs when
/// it has none of theirs).
pub fn read_vectors(path: &Path) -> Result<Vec<Vec<f32>>> {
    let format = Format::from_path(path).unwrap_or(Format::Fvecs);
    let mut r = PointReader::open(path, Some(format), 0)?;
    Ok(r.next_batch(usize::MAX)?
        .into_iter()
        .map(|p| p.vector)
        .collect())
}

/// Reads every row of an ivecs file (e.g. ground-truth neighbour ids).
pub fn read_ivecs(path: &Path) -> Result<Vec<Vec<u32>>> {
    let bytes = std::fs::read(path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = Vec::new();
    let mut at = 0;
    while at < bytes.len() {
        let d = i32::from_le_bytes(
            bytes
                .get(at..at + 4)
                .ok_or_else(|| anyhow!("truncated"))?
                .try_into()?,
        ) as usize;
        let row = bytes
            .get(at + 4..at + 4 + 4 * d)
            .ok_or_else(|| anyhow!("{}: truncated row", path.display()))?;
        out.push(
            row.chunks_exact(4)
                .map(|c| u32::from_le_bytes(c.try_into().unwrap()))
                .collect(),
        );
        at += 4 + 4 * d;
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn half_precision_values_convert_exactly() {
        for (h, f) in [
            (0x3c00u16, 1.0f32),
            (0xc000, -2.0),
            (0x3800, 0.5),
            (0x7bff, 65504.0),
            (0x0001, 2f32.powi(-24)),
            (0x03ff, 1023.0 * 2f32.powi(-24)),
            (0x0000, 0.0),
            (0x7c00, f32::INFINITY),
        ] {
            assert_eq!(f16_to_f32(h), f, "{h:#06x}");
        }
        assert!(f16_to_f32(0x7e00).is_nan());
    }
    use std::io::Write;

    #[test]
    fn all_three_formats_read_the_same_points() {
        let dir = tempfile::tempdir().unwrap();
        let vs = [[1.0f32, 2.0, 3.0], [4.0, 5.0, 6.5]];
        let fv = dir.path().join("a.fvecs");
        let mut f = File::create(&fv).unwrap();
        for v in &vs {
            f.write_all(&3i32.to_le_bytes()).unwrap();
            for x in v {
                f.write_all(&x.to_le_bytes()).unwrap();
            }
        }
        let npy = dir.path().join("a.npy");
        let header = "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }";
        let mut f = File::create(&npy).unwrap();
        f.write_all(b"\x93NUMPY\x01\x00").unwrap();
        f.write_all(&(header.len() as u16).to_le_bytes()).unwrap();
        f.write_all(header.as_bytes()).unwrap();
        for v in &vs {
            for x in v {
                f.write_all(&x.to_le_bytes()).unwrap();
            }
        }
        let jl = dir.path().join("a.jsonl");
        std::fs::write(&jl, "{\"id\":0,\"vector\":[1,2,3]}\n\n{\"id\":1,\"vector\":[4,5,6.5],\"payload\":{\"a\":1}}\n").unwrap();
        for path in [&fv, &npy, &jl] {
            let mut r = PointReader::open(path, None, 0).unwrap();
            let pts = r.next_batch(10).unwrap();
            assert_eq!(pts.len(), 2, "{path:?}");
            assert_eq!(pts[1].vector, vs[1].to_vec());
            assert_eq!(pts[1].id, 1);
            assert_eq!(r.position, r.size, "{path:?}: progress reaches the end");
            assert!(r.next_batch(10).unwrap().is_empty());
        }
    }

    #[test]
    fn bad_files_are_reported_with_where() {
        let dir = tempfile::tempdir().unwrap();
        let jl = dir.path().join("bad.jsonl");
        std::fs::write(
            &jl,
            "{\"id\":0,\"vector\":[1]}\n{\"id\":-1,\"vector\":[1]}\n",
        )
        .unwrap();
        // The good record before the bad one comes back first; the error with the next call.
        let mut r = PointReader::open(&jl, None, 0).unwrap();
        assert_eq!(r.next_batch(10).unwrap().len(), 1);
        let e = r.next_batch(10).unwrap_err();
        assert!(format!("{e:#}").contains("line 2"), "{e:#}");
        let fv = dir.path().join("bad.fvecs");
        std::fs::write(&fv, [3, 0, 0, 0, 1, 2]).unwrap();
        assert!(
            PointReader::open(&fv, None, 0)
                .unwrap()
                .next_batch(10)
                .is_err()
        );
        assert!(PointReader::open(&dir.path().join("x.txt"), None, 0).is_err());
    }
}
