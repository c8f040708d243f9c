//! The two-layer MLP of BYOL's projector g_theta and predictor h_theta and of
//! the cluster head g (method.md §2): Linear(in -> hidden), BatchNorm1d, ReLU,
//! Linear(hidden -> out).
use tch::nn::{self, ModuleT};
use tch::Tensor;

/// Variable names under its path: `fc1.{weight,bias}`, `bn1.{weight,bias,
/// running_mean,running_var}`, `fc2.{weight,bias}`.
#[derive(Debug)]
pub struct Mlp {
    fc1: nn::Linear,
    bn1: nn::BatchNorm,
    fc2: nn::Linear,
}

/// PyTorch's nn.Linear initialisation (weights and bias U(-1/sqrt(in), 1/sqrt(in))),
/// which the BYOL reference implementations use; tch's own default is ReLU-scaled
/// Kaiming, sqrt(6) times wider.
fn linear(p: nn::Path, c_in: i64, c_out: i64) -> nn::Linear {
    let ws_init = nn::Init::Kaiming {
        dist: nn::init::NormalOrUniform::Uniform,
        fan: nn::init::FanInOut::FanIn,
        non_linearity: nn::init::NonLinearity::ExplicitGain(1.0 / 3f64.sqrt()),
    };
    nn::linear(p, c_in, c_out, nn::LinearConfig { ws_init, ..Default::default() })
}

impl Mlp {
    pub fn new(p: &nn::Path, c_in: i64, hidden: i64, c_out: i64) -> Self {
        Self {
            fc1: linear(p / "fc1", c_in, hidden),
            bn1: nn::batch_norm1d(p / "bn1", hidden, Default::default()),
            fc2: linear(p / "fc2", hidden, c_out),
        }
    }

    pub fn out_dim(&self) -> i64 {
        self.fc2.ws.size()[0]
    }
}

impl ModuleT for Mlp {
    /// N x in to N x out. BatchNorm1d needs N >= 2 in training mode.
    fn forward_t(&self, xs: &Tensor, train: bool) -> Tensor {
        xs.apply(&self.fc1).apply_t(&self.bn1, train).relu_().apply(&self.fc2)
    }
}
