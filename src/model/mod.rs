//! The networks of method.md §2: the ResNet encoder ([`resnet`]), the MLP heads
//! ([`mlp`]), the online and target networks with the prototypes ([`concurl`]) and
//! the target's moving average ([`ema`]).
pub mod concurl;
pub mod ema;
pub mod mlp;
pub mod resnet;

pub use concurl::{Networks, Online, OnlineOut, Target};
pub use ema::{copy_matching, cosine_tau, ema_update, is_packed, pack_contiguous};
pub use mlp::Mlp;
pub use resnet::{input_channels, Encoder, EncoderConfig};
