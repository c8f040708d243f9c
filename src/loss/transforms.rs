//! The M fixed random maps A_m of the consensus loss L3 (method.md §3).
use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Normal};
use tch::{Device, Kind, Tensor};

pub use crate::config::run::TransformKind;
use crate::util::mix_seed;

/// Salt mixed into the run seed so the transforms' stream is independent of every
/// other use of the seed (data order, augmentation, torch initialisation).
const TRANSFORM_SALT: u64 = 0x4c33_5f74_7261_6e73; // "L3_trans"

/// The M maps, drawn once at start-up from the run's seed and fixed for the run.
///
/// Stored as one tensor so that L3 applies all M maps in one batched contraction:
/// `a` is M x d' x dim for `projection` and `gaussian`, M x dim (the diagonals)
/// for `diagonal`.
#[derive(Debug)]
pub struct Transforms {
    pub kind: TransformKind,
    pub a: Tensor,
    note: String,
}

impl Transforms {
    /// Draws the M maps from `seed` (the run seed) with ChaCha8 and rand_distr, so
    /// they depend on the seed alone and not on torch's global RNG state, nor on
    /// the device. Entries are drawn and orthonormalised in float64 on the CPU,
    /// then stored as float32 on `device`.
    /// * `projection`: A_m = d' x dim Gaussian whose rows are made orthonormal by
    ///   a QR factorisation of A_m^T when d' <= dim (the paper's "orthogonal
    ///   rows"); for d' > dim, d' orthonormal rows in dim dimensions do not exist,
    ///   so entries are plain N(0, 1/d') and [`Transforms::note`] says so;
    /// * `diagonal`: A_m = diag(a), a ~ N(0, 1)^dim (`d_prime` is ignored);
    /// * `gaussian`: entries N(0, 1/d'), no orthogonalisation (the authors' code).
    pub fn new(kind: TransformKind, m: usize, d_prime: usize, dim: usize, seed: u64, device: Device) -> Self {
        assert!(m > 0 && d_prime > 0 && dim > 0, "Transforms::new: m = {m}, d' = {d_prime}, dim = {dim} must be >= 1");
        let mut rng = ChaCha8Rng::seed_from_u64(mix_seed(seed, TRANSFORM_SALT));
        let (mi, di, dpi) = (m as i64, dim as i64, d_prime as i64);
        let mut draw = |n: usize, std: f64| -> Tensor {
            let normal = Normal::new(0.0, std).expect("a positive standard deviation");
            let v: Vec<f64> = (0..n).map(|_| normal.sample(&mut rng)).collect();
            Tensor::from_slice(&v)
        };
        let gaussian_std = 1.0 / (d_prime as f64).sqrt();
        let (a, note) = match kind {
            TransformKind::Diagonal => {
                (draw(m * dim, 1.0).view([mi, di]), format!("diagonal: {m} maps diag(a), a ~ N(0, 1)^{dim}"))
            }
            TransformKind::Gaussian => (
                draw(m * d_prime * dim, gaussian_std).view([mi, dpi, di]),
                format!("gaussian: {m} maps {d_prime} x {dim}, entries N(0, 1/{d_prime}), not orthogonalised"),
            ),
            TransformKind::Projection if d_prime <= dim => {
                let g = draw(m * d_prime * dim, 1.0).view([mi, dpi, di]);
                // Batched QR of A^T (dim x d'): Q has orthonormal columns, so Q^T has
                // orthonormal rows. Multiplying by sign(diag R) makes the factorisation
                // unique, so the result is a Haar-random orthonormal frame rather than
                // one biased by LAPACK's sign convention.
                let (q, r) = Tensor::linalg_qr(&g.transpose(1, 2), "reduced");
                let signs = r.diagonal(0, 1, 2).sign().unsqueeze(1);
                (
                    (q * signs).transpose(1, 2).contiguous(),
                    format!("projection: {m} maps {d_prime} x {dim} with orthonormal rows (QR)"),
                )
            }
            TransformKind::Projection => (
                draw(m * d_prime * dim, gaussian_std).view([mi, dpi, di]),
                format!(
                    "projection: d' = {d_prime} > dim = {dim}, so rows cannot be orthonormal; \
                     {m} maps with plain N(0, 1/{d_prime}) entries instead"
                ),
            ),
        };
        Self { kind, a: a.to_kind(Kind::Float).to_device(device), note }
    }

    /// Wraps given maps (tests, or maps read back from elsewhere). Shapes as in
    /// the struct's documentation.
    pub fn from_tensor(kind: TransformKind, a: Tensor) -> Self {
        let want = if kind == TransformKind::Diagonal { 2 } else { 3 };
        assert_eq!(a.dim(), want, "Transforms::from_tensor: {kind:?} maps need {want} dimensions, got {:?}", a.size());
        let note = format!("{kind:?}: given maps of shape {:?}", a.size());
        Self { kind, a, note }
    }

    /// M, the number of maps.
    pub fn m(&self) -> i64 {
        self.a.size()[0]
    }

    /// The input dimension the maps act on.
    pub fn in_dim(&self) -> i64 {
        *self.a.size().last().expect("non-empty shape")
    }

    /// d', the dimension after the map (dim itself for `diagonal`).
    pub fn out_dim(&self) -> i64 {
        match self.kind {
            TransformKind::Diagonal => self.in_dim(),
            _ => self.a.size()[1],
        }
    }

    /// What was drawn, in words, for the run's record (says when `projection` fell
    /// back to a plain Gaussian because d' > dim).
    pub fn note(&self) -> &str {
        &self.note
    }

    /// A_m x for every map and every row: `x` is N x dim, the result M x N x d'.
    /// One einsum (or one broadcast product for diagonals) over all M at once.
    pub fn apply(&self, x: &Tensor) -> Tensor {
        let (_, d) = super::dims2(x, "Transforms::apply: x");
        assert_eq!(d, self.in_dim(), "Transforms::apply: x has dimension {d}, the maps act on {}", self.in_dim());
        let a = self.a.to_kind(x.kind());
        match self.kind {
            TransformKind::Diagonal => x.unsqueeze(0) * a.unsqueeze(1),
            _ => Tensor::einsum("mpd,nd->mnp", &[&a, x], None::<i64>),
        }
    }
}
