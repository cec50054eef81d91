//! A small deterministic random source (xorshift64*), enough to pick sleeps, victims and
//! whether to delete; seeded so a run can be repeated.

pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        // xorshift must not start at 0.
        Rng(seed | 1)
    }

    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    /// A value in `0..bound` (`bound` > 0); the modulo bias is negligible for small bounds.
    pub fn below(&mut self, bound: u64) -> u64 {
        self.next_u64() % bound
    }
}
