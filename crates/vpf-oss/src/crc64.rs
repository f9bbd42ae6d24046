//! CRC-64/XZ (ECMA-182 polynomial, reflected, all-ones init and final XOR):
//! the checksum OSS returns in `x-oss-hash-crc64ecma`. Comparing it with our
//! own over the bytes we actually sent or wrote catches corruption that the
//! ETag cannot (multipart ETags are not content hashes).

/// The reflected ECMA-182 polynomial.
const POLY: u64 = 0xC96C_5795_D787_0F42;

/// Slicing-by-8 tables: eight bytes per step, fast enough even in debug builds.
static TABLES: [[u64; 256]; 8] = build_tables();

const fn build_tables() -> [[u64; 256]; 8] {
    let mut t = [[0u64; 256]; 8];
    let mut i = 0;
    while i < 256 {
        let mut crc = i as u64;
        let mut bit = 0;
        while bit < 8 {
            crc = if crc & 1 == 1 {
                (crc >> 1) ^ POLY
            } else {
                crc >> 1
            };
            bit += 1;
        }
        t[0][i] = crc;
        i += 1;
    }
    let mut k = 1;
    while k < 8 {
        let mut i = 0;
        while i < 256 {
            let prev = t[k - 1][i];
            t[k][i] = (prev >> 8) ^ t[0][(prev & 0xff) as usize];
            i += 1;
        }
        k += 1;
    }
    t
}

/// A running CRC-64/XZ.
#[derive(Debug, Clone, Copy)]
pub struct Crc64 {
    state: u64,
}

impl Default for Crc64 {
    fn default() -> Self {
        Crc64::new()
    }
}

impl Crc64 {
    pub fn new() -> Self {
        Crc64 { state: !0 }
    }

    pub fn update(&mut self, mut data: &[u8]) {
        let mut crc = self.state;
        while data.len() >= 8 {
            let mut word = [0u8; 8];
            word.copy_from_slice(&data[..8]);
            let v = u64::from_le_bytes(word) ^ crc;
            crc = TABLES[7][(v & 0xff) as usize]
                ^ TABLES[6][((v >> 8) & 0xff) as usize]
                ^ TABLES[5][((v >> 16) & 0xff) as usize]
                ^ TABLES[4][((v >> 24) & 0xff) as usize]
                ^ TABLES[3][((v >> 32) & 0xff) as usize]
                ^ TABLES[2][((v >> 40) & 0xff) as usize]
                ^ TABLES[1][((v >> 48) & 0xff) as usize]
                ^ TABLES[0][(v >> 56) as usize];
            data = &data[8..];
        }
        for &b in data {
            crc = TABLES[0][((crc ^ b as u64) & 0xff) as usize] ^ (crc >> 8);
        }
        self.state = crc;
    }

    /// The checksum of everything so far (the running state is kept).
    pub fn value(&self) -> u64 {
        !self.state
    }
}

/// The CRC-64/XZ of `data` in one call.
pub fn checksum(data: &[u8]) -> u64 {
    let mut c = Crc64::new();
    c.update(data);
    c.value()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn standard_check_value() {
        // The catalogue check value of CRC-64/XZ.
        assert_eq!(checksum(b"123456789"), 0x995D_C9BB_DF19_39FA);
        assert_eq!(checksum(b""), 0);
    }

    #[test]
    fn incremental_equals_one_shot_at_any_split() {
        let data: Vec<u8> = (0..1000u32).map(|i| (i * 31 % 251) as u8).collect();
        let whole = checksum(&data);
        for split in [0, 1, 7, 8, 9, 500, 999, 1000] {
            let mut c = Crc64::new();
            c.update(&data[..split]);
            c.update(&data[split..]);
            assert_eq!(c.value(), whole, "split at {split}");
        }
    }
}
