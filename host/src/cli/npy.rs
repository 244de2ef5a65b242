//! The header of a NumPy `.npy` file: a Python dict literal (`{'descr': '<f4',
//! 'fortran_order': False, 'shape': (2, 3), }`), parsed as one, key by key, so that spacing,
//! quotes, key order and text inside other values never change what it says.

use anyhow::{Result, anyhow, bail};

/// What a `.npy` header says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NpyHeader {
    /// The array's type, e.g. `<f4`.
    pub descr: String,
    pub fortran_order: bool,
    pub shape: Vec<u64>,
}

impl NpyHeader {
    /// Parses the header text (after the magic, version and length).
    pub fn parse(text: &str) -> Result<NpyHeader> {
        let mut p = Parser {
            s: text.as_bytes(),
            at: 0,
        };
        let (mut descr, mut fortran, mut shape) = (None, None, None);
        p.expect(b'{')?;
        loop {
            if p.eat(b'}') {
                break;
            }
            let key = p.string()?;
            p.expect(b':')?;
            match key.as_str() {
                "descr" => descr = Some(p.string()?),
                "fortran_order" => fortran = Some(p.boolean()?),
                "shape" => shape = Some(p.tuple()?),
                other => bail!("unknown key {other:?} in the header"),
            }
            if !p.eat(b',') {
                p.expect(b'}')?;
                break;
            }
        }
        if !p.rest().trim().is_empty() {
            bail!("text after the header's dict: {:?}", p.rest().trim());
        }
        Ok(NpyHeader {
            descr: descr.ok_or_else(|| anyhow!("no 'descr' in the header"))?,
            fortran_order: fortran.ok_or_else(|| anyhow!("no 'fortran_order' in the header"))?,
            shape: shape.ok_or_else(|| anyhow!("no 'shape' in the header"))?,
        })
    }

    /// Bytes per value of a little-endian float array (`<f2`, `<f4`, `<f8`).
    pub fn float_width(&self) -> Result<usize> {
        match self.descr.as_str() {
            "<f2" => Ok(2),
            "<f4" => Ok(4),
            "<f8" => Ok(8),
            d if d.starts_with('>') => {
                bail!("big-endian arrays ({d}) are not supported: save with .astype('<f4')")
            }
            d => bail!("only little-endian float16, float32 or float64 arrays are supported ({d})"),
        }
    }
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        std::str::from_utf8(&self.s[self.at..]).unwrap_or_default()
    }

    fn skip_space(&mut self) {
        while self.s.get(self.at).is_some_and(u8::is_ascii_whitespace) {
            self.at += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_space();
        let hit = self.s.get(self.at) == Some(&c);
        self.at += usize::from(hit);
        hit
    }

    fn expect(&mut self, c: u8) -> Result<()> {
        match self.eat(c) {
            true => Ok(()),
            false => bail!("expected '{}' at byte {} of the header", c as char, self.at),
        }
    }

    fn string(&mut self) -> Result<String> {
        self.skip_space();
        let quote = match self.s.get(self.at) {
            Some(&q @ (b'\'' | b'"')) => q,
            _ => bail!("expected a quoted string at byte {} of the header", self.at),
        };
        let start = self.at + 1;
        let len = self.s[start..]
            .iter()
            .position(|&c| c == quote)
            .ok_or_else(|| anyhow!("unterminated string in the header"))?;
        self.at = start + len + 1;
        Ok(String::from_utf8_lossy(&self.s[start..start + len]).into_owned())
    }

    fn word(&mut self) -> &str {
        self.skip_space();
        let start = self.at;
        while self.s.get(self.at).is_some_and(u8::is_ascii_alphanumeric) {
            self.at += 1;
        }
        std::str::from_utf8(&self.s[start..self.at]).unwrap_or_default()
    }

    fn boolean(&mut self) -> Result<bool> {
        match self.word() {
            "True" => Ok(true),
            "False" => Ok(false),
            w => bail!("expected True or False, got {w:?}"),
        }
    }

    fn tuple(&mut self) -> Result<Vec<u64>> {
        self.expect(b'(')?;
        let mut dims = Vec::new();
        loop {
            if self.eat(b')') {
                return Ok(dims);
            }
            let w = self.word();
            let n = w
                .strip_suffix('L')
                .unwrap_or(w)
                .parse::<u64>()
                .map_err(|_| anyhow!("bad dimension {w:?} in the shape"))?;
            dims.push(n);
            if !self.eat(b',') {
                self.expect(b')')?;
                return Ok(dims);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_parse_whatever_their_spacing_and_key_order() {
        let want = NpyHeader {
            descr: "<f4".into(),
            fortran_order: false,
            shape: vec![2, 3],
        };
        for text in [
            "{'descr': '<f4', 'fortran_order': False, 'shape': (2, 3), }",
            "{'descr':'<f4','fortran_order':False,'shape':(2,3)}",
            "{'shape': (2, 3), 'fortran_order': False, 'descr': '<f4'}    \n",
            "{\"descr\": \"<f4\", \"fortran_order\": False, \"shape\": (2, 3,)}",
        ] {
            assert_eq!(NpyHeader::parse(text).unwrap(), want, "{text}");
        }
        let one = NpyHeader::parse("{'descr': '<f8', 'fortran_order': False, 'shape': (5,), }");
        assert_eq!(one.unwrap().shape, vec![5]);
    }

    /// The two headers a substring match misread: `fortran_order` without a space, and a
    /// big-endian type whose header mentions `'<f4'` elsewhere.
    #[test]
    fn what_a_substring_match_misread_is_read_right() {
        let h = NpyHeader::parse("{'descr':'<f4','fortran_order':True,'shape':(2,3)}").unwrap();
        assert!(h.fortran_order);
        let h = NpyHeader::parse("{'descr': '>f4', 'fortran_order': False, 'shape': (2, 3), }")
            .unwrap();
        assert!(h.float_width().is_err());
        assert!(
            NpyHeader::parse(
                "{'descr': '>f4', 'x': '<f4', 'fortran_order': False, 'shape': (1, 1)}"
            )
            .is_err(),
            "an unknown key is refused, not skimmed"
        );
        for bad in [
            "",
            "{'descr': '<f4'}",
            "{'descr': '<f4', 'fortran_order': Maybe, 'shape': (1, 1)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, -1)}",
            "{'descr': '<f4', 'fortran_order': False, 'shape': (1, 1)} trailing",
        ] {
            assert!(NpyHeader::parse(bad).is_err(), "{bad:?}");
        }
    }
}
